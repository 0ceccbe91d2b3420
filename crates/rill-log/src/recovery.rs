//! Recovery on open: find the segments, trust what the recovery point vouches for, scan and
//! CRC-check the rest, cut a torn or corrupt tail, rebuild missing or wrong indexes.
//!
//! Rules. Segments wholly below the recovery point (fsynced and checkpointed) are trusted if
//! their indexes pass a cheap check and a header walk from the last index entry ends exactly
//! at the file end with the expected offset; otherwise they are rescanned. The segment holding
//! the recovery point is trusted only if the checkpoint also recorded its exact file size.
//! Every other segment is scanned batch by batch (header, length, offsets contiguous from the
//! segment's base offset (the log never leaves gaps inside a segment, except where the
//! cleaner removed records: below the cleaner checkpoint offsets only increase), CRC-32C);
//! the file is cut before the first bad batch and every later segment is deleted, so the log
//! keeps exactly the intact prefix. One exception: a batch with offsets below the segment's
//! base is an older segment's, the tail of a recycled file (`recycle`); the file is cut there
//! and later segments stay. Segments wholly below the checkpointed log start are deleted
//! before any scan. Each cut is described in `RecoveryReport::dropped`.
//! Any byte pattern in any file gives a report entry, never a panic.
//!
//! Thread-safety: runs inside `PartitionLog::open` before the log is shared.

use crate::batch::{verify_integrity, BatchHeader, BATCH_HEADER_LEN};
use crate::error::{LogError, Result};
use crate::segment::LogSegment;
use std::collections::BTreeMap;
use std::path::Path;

/// What recovery found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments in the log after recovery.
    pub segments: usize,
    /// Batches read and CRC-checked.
    pub batches_scanned: u64,
    /// Bytes cut from `.log` files (torn or corrupt tails, deleted later segments).
    pub truncated_bytes: u64,
    /// Human-readable account of everything cut or ignored, and why.
    pub dropped: Vec<String>,
    /// Segments whose indexes were rebuilt.
    pub indexes_rebuilt: usize,
}

/// The recovery point checkpoint: everything below `offset` was fsynced; the segment with
/// base `segment_base` then had exactly `segment_size` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecoveryPoint {
    pub(crate) offset: i64,
    pub(crate) segment_base: i64,
    pub(crate) segment_size: u64,
}

const CHUNK: usize = 1 << 20;

/// Largest base offset accepted from a file name or checkpoint: far beyond any real log, and
/// low enough that offset arithmetic (base + u32 deltas) can never overflow.
pub(crate) const MAX_BASE_OFFSET: i64 = i64::MAX / 4;

/// Where a scan accepts gaps between batches: in segments whose base is below `below` (the
/// cleaner checkpoint; the cleaner rewrites only segments below it, and the log never leaves
/// a gap inside any other segment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Gaps {
    /// Segments with a base offset below this may have gaps.
    pub(crate) below: i64,
}

impl Gaps {
    /// The rule for the log in `dir`, from its cleaner checkpoint.
    pub(crate) fn for_dir(dir: &Path) -> Result<Gaps> {
        Ok(Gaps {
            below: crate::cleaner::checkpoint::read(dir)?.unwrap_or(i64::MIN),
        })
    }
}

/// Why a scan stopped before the end of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    /// What was found where.
    pub(crate) what: String,
    /// The bytes there are an older segment's batch (offsets below the segment's base): the
    /// leftover tail of a recycled file (`recycle`), not damage.
    pub(crate) stale: bool,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.what)
    }
}

impl Problem {
    fn damage(what: String) -> Problem {
        Problem { what, stale: false }
    }
}

/// Scans a whole segment from position 0, cutting at the first bad batch, and rebuilds its
/// indexes and in-memory summary. Returns (batches, bytes cut, problem).
///
/// # Errors
/// I/O failures only; bad bytes are a returned problem.
pub(crate) fn rescan(
    seg: &mut LogSegment,
    verify: bool,
    index_interval: u32,
    gaps: Gaps,
) -> Result<(u64, u64, Option<Problem>)> {
    let gaps_allowed = seg.base_offset < gaps.below;
    let file = seg.file()?;
    let path = seg.log_path().to_path_buf();
    let file_len = file
        .metadata()
        .map_err(|e| LogError::io("stat", &path, e))?
        .len();
    let (mut buf, mut buf_start) = (Vec::new(), 0u64);
    let (mut pos, mut expected, mut batches) = (0u64, seg.base_offset, 0u64);
    let (mut oi, mut ti) = (Vec::new(), Vec::new());
    let (mut max_ts, mut max_ts_off, mut first_ts, mut since) = (-1i64, -1i64, None, 0u64);
    let mut problem = None;
    while pos < file_len {
        let need = (file_len - pos).min(BATCH_HEADER_LEN as u64) as usize;
        if need < BATCH_HEADER_LEN {
            problem = Some(Problem::damage(format!(
                "torn batch header: {need} bytes at position {pos}"
            )));
            break;
        }
        let h = match BatchHeader::parse(fill(
            &file,
            &path,
            &mut buf,
            &mut buf_start,
            pos,
            need,
            file_len,
        )?) {
            Ok(h) => h,
            Err(e) => {
                problem = Some(Problem::damage(format!(
                    "bad batch header at position {pos}: {e}"
                )));
                break;
            }
        };
        let len = h.total_len() as u64;
        if let Some(p) = header_problem(
            &h,
            pos,
            len,
            file_len,
            expected,
            seg.base_offset,
            gaps_allowed,
        ) {
            problem = Some(Problem {
                what: p,
                stale: h.magic == 2 && h.base_offset < seg.base_offset,
            });
            break;
        }
        if verify {
            let bytes = fill(
                &file,
                &path,
                &mut buf,
                &mut buf_start,
                pos,
                len as usize,
                file_len,
            )?;
            if let Err(e) = verify_integrity(bytes) {
                problem = Some(Problem::damage(format!(
                    "batch at position {pos} (offset {}): {e}",
                    h.base_offset
                )));
                break;
            }
        }
        batches += 1;
        first_ts.get_or_insert(h.max_timestamp);
        if h.max_timestamp > max_ts {
            (max_ts, max_ts_off) = (h.max_timestamp, h.last_offset());
        }
        since += len;
        if since >= u64::from(index_interval) {
            oi.push((h.last_offset(), pos as u32));
            if ti.last().is_none_or(|&(t, _)| t < max_ts) {
                ti.push((max_ts, max_ts_off));
            }
            since = 0;
        }
        expected = h.last_offset() + 1;
        pos += len;
    }
    let cut = file_len - pos;
    if cut > 0 {
        crate::io::set_len(&file, &path, pos)?;
    }
    if max_ts >= 0 && ti.last().is_none_or(|&(t, _)| t < max_ts) {
        ti.push((max_ts, max_ts_off));
    }
    seg.offset_index.rewrite(&oi)?;
    seg.time_index.rewrite(&ti)?;
    seg.size = pos;
    seg.file_len = pos;
    seg.next_offset = expected;
    seg.max_timestamp = max_ts;
    seg.offset_of_max_timestamp = max_ts_off;
    seg.first_batch_timestamp = first_ts;
    seg.bytes_since_index = since;
    Ok((batches, cut, problem))
}

fn header_problem(
    h: &BatchHeader,
    pos: u64,
    len: u64,
    file_len: u64,
    expected: i64,
    base: i64,
    gaps_allowed: bool,
) -> Option<String> {
    if h.magic != 2 {
        return Some(format!("batch at position {pos} has magic {}", h.magic));
    }
    if pos + len > file_len {
        return Some(format!(
            "torn batch at position {pos}: declares {len} bytes, {} remain",
            file_len - pos
        ));
    }
    // Offsets are contiguous, except in a cleaned segment (below the cleaner checkpoint),
    // where removed records leave gaps: there a batch may start above the offset expected.
    let misplaced = if gaps_allowed {
        h.base_offset < expected
    } else {
        h.base_offset != expected
    };
    if misplaced || h.last_offset_delta < 0 {
        return Some(format!(
            "batch at position {pos} has offsets {}..={} but {expected} was expected next",
            h.base_offset,
            h.last_offset()
        ));
    }
    if h.last_offset() - base > i64::from(u32::MAX) {
        return Some(format!(
            "batch at position {pos} is too far from the segment base"
        ));
    }
    None
}

/// Makes `buf` hold bytes `[pos, pos+need)` of the file and returns them.
fn fill<'a>(
    file: &std::fs::File,
    path: &Path,
    buf: &'a mut Vec<u8>,
    buf_start: &mut u64,
    pos: u64,
    need: usize,
    file_len: u64,
) -> Result<&'a [u8]> {
    let have = pos >= *buf_start && pos + need as u64 <= *buf_start + buf.len() as u64;
    if !have {
        let want = (need.max(CHUNK) as u64).min(file_len - pos) as usize;
        buf.resize(want, 0);
        let n = crate::io::read_at(file, path, pos, buf)?;
        buf.truncate(n);
        *buf_start = pos;
        if n < need {
            return Err(LogError::corrupt(format!(
                "{} shrank while being recovered",
                path.display()
            )));
        }
    }
    let off = (pos - *buf_start) as usize;
    Ok(&buf[off..off + need])
}

/// Trusts a checkpointed segment if its indexes look sane and a header walk from the last
/// index entry ends exactly at the file end at `next_offset`. Fills the in-memory summary.
pub(crate) fn try_trust(seg: &mut LogSegment, next_offset: i64, gaps: Gaps) -> Result<bool> {
    if next_offset < seg.base_offset
        || !seg.offset_index.looks_sane(seg.size, next_offset)
        || !seg.time_index.looks_sane(next_offset)
    {
        return Ok(false);
    }
    let file = seg.file()?;
    let mut pos = seg
        .offset_index
        .last_entry()
        .map_or(0, |(_, p)| u64::from(p));
    let mut last = None;
    let mut first_ts = None;
    if let Some(h) = seg.header_at(&file, 0)? {
        first_ts = Some(h.max_timestamp);
    }
    while pos < seg.size {
        let Some(h) = seg.header_at(&file, pos)? else {
            return Ok(false);
        };
        if h.magic != 2 || last.is_some_and(|l| h.base_offset <= l) {
            return Ok(false);
        }
        last = Some(h.last_offset());
        pos += h.total_len() as u64;
    }
    // A cleaned segment's last batches may be gone: it ends at or below the next one.
    let cleaned = seg.base_offset < gaps.below;
    let ends_right = match last {
        Some(l) => l + 1 == next_offset || (cleaned && l < next_offset),
        None => seg.size == 0 && (next_offset == seg.base_offset || cleaned),
    };
    if pos != seg.size || !ends_right {
        return Ok(false);
    }
    seg.next_offset = next_offset;
    seg.first_batch_timestamp = first_ts;
    if let Some((t, o)) = seg.time_index.last_entry() {
        seg.max_timestamp = t;
        seg.offset_of_max_timestamp = o;
    }
    let last_indexed = seg
        .offset_index
        .last_entry()
        .map_or(0, |(_, p)| u64::from(p));
    seg.bytes_since_index = seg.size - last_indexed;
    Ok(true)
}

/// Lists the segment base offsets in `dir` and removes leftovers (`*.tmp`, orphan indexes).
pub(crate) fn list_segments(dir: &Path, report: &mut RecoveryReport) -> Result<Vec<i64>> {
    let (mut logs, mut indexes) = (Vec::new(), Vec::new());
    for name in crate::io::list(dir)? {
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".tmp") {
            crate::io::remove_if_exists(&dir.join(name))?;
            continue;
        }
        let Some((stem, ext)) = name.split_once('.') else {
            continue;
        };
        let Some(base) = (stem.len() == 20)
            .then(|| stem.parse::<i64>().ok())
            .flatten()
        else {
            continue;
        };
        if base > MAX_BASE_OFFSET {
            report.dropped.push(format!(
                "{name} ignored: base offset beyond {MAX_BASE_OFFSET}"
            ));
            continue;
        }
        match ext {
            "log" => logs.push(base),
            "index" | "timeindex" | "txnindex" => indexes.push((base, dir.join(name))),
            _ => {}
        }
    }
    logs.sort_unstable();
    for (base, path) in indexes {
        if logs.binary_search(&base).is_err() {
            report
                .dropped
                .push(format!("orphan index {} removed", path.display()));
            crate::io::remove_if_exists(&path)?;
        }
    }
    Ok(logs)
}

/// Opens and recovers every segment in `dir`. Segments wholly below `log_start` (the
/// checkpointed log start offset: the next segment starts at or below it) are deleted
/// unread: retention checkpoints the log start before it deletes or recycles them, and a
/// recycled file whose rename a crash lost holds new bytes under its old name.
///
/// # Errors
/// I/O failures; corrupt bytes are cut and reported instead.
pub(crate) fn load_segments(
    dir: &Path,
    rp: Option<RecoveryPoint>,
    log_start: Option<i64>,
    index_interval: u32,
    report: &mut RecoveryReport,
) -> Result<BTreeMap<i64, LogSegment>> {
    crate::cleaner::swap::recover(dir, report)?;
    let gaps = Gaps::for_dir(dir)?;
    let bases = list_segments(dir, report)?;
    let mut out: BTreeMap<i64, LogSegment> = BTreeMap::new();
    let mut damaged = false;
    for (i, &base) in bases.iter().enumerate() {
        let (mut seg, missing_index) = LogSegment::open_files(dir, base)?;
        let next_base = bases.get(i + 1).copied();
        if out.is_empty() && next_base.zip(log_start).is_some_and(|(n, s)| n <= s) {
            report.dropped.push(format!(
                "segment {base} ends below the log start offset {}: deleted",
                log_start.unwrap_or_default()
            ));
            seg.delete_files()?;
            continue;
        }
        let prev_end = out.values().next_back().map(|s| s.next_offset);
        if damaged || prev_end.is_some_and(|e| base < e) {
            let why = if damaged {
                "follows a cut"
            } else {
                "overlaps the previous segment"
            };
            report.truncated_bytes += seg.size;
            report.dropped.push(format!(
                "segment {} deleted: it {why}",
                seg.log_path().display()
            ));
            seg.delete_files()?;
            damaged = true;
            continue;
        }
        let trusted_end = match (rp, next_base) {
            (Some(rp), Some(nb)) if nb <= rp.offset => Some(nb),
            (Some(rp), _) if rp.segment_base == base && rp.segment_size == seg.size => {
                Some(rp.offset)
            }
            _ => None,
        };
        let trusted = match trusted_end {
            Some(end) if !missing_index => try_trust(&mut seg, end, gaps)?,
            _ => false,
        };
        if !trusted {
            let (batches, cut, problem) = rescan(&mut seg, true, index_interval, gaps)?;
            report.batches_scanned += batches;
            report.indexes_rebuilt += 1;
            report.truncated_bytes += cut;
            match problem {
                Some(p) if p.stale => {
                    tracing::info!(segment = %seg.log_path().display(), cut_bytes = cut, "recovery cut a recycled file's old tail: {p}");
                    report.dropped.push(format!(
                        "{}: cut {cut} bytes of an older segment at offset {}: {p}",
                        seg.log_path().display(),
                        seg.next_offset
                    ));
                }
                Some(p) => {
                    tracing::warn!(segment = %seg.log_path().display(), cut_bytes = cut, "recovery cut: {p}");
                    report.dropped.push(format!(
                        "{}: cut {cut} bytes at offset {}: {p}",
                        seg.log_path().display(),
                        seg.next_offset
                    ));
                    damaged = true;
                }
                None => {}
            }
        }
        out.insert(base, seg);
    }
    Ok(out)
}
