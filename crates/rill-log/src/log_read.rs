//! Reads of a `PartitionLog`: whole batches as file ranges (zero-copy) or copied into a
//! buffer, and offset lookups by timestamp.
//!
//! A read starts at the batch containing the requested offset (Kafka semantics: the first
//! returned batch may begin below it) and returns whole batches only. Positions come from the
//! offset index (verified) and a header walk; a file-range read jumps once from its first
//! batch to the last indexed batch that still fits (verified too), so it reads a few headers
//! rather than one per batch; record bytes are never parsed.
//!
//! Thread-safety: all methods take `&self` and use positioned reads, so they may run
//! concurrently with each other; the caller serialises them against mutation.

use crate::batch::BatchHeader;
use crate::error::{LogError, Result};
use crate::file_cache::FileKey;
use crate::io;
use crate::log::PartitionLog;
use std::fs::File;
use std::sync::Arc;

/// A byte range of a segment file holding whole batches.
#[derive(Clone, Debug)]
pub struct FileSlice {
    /// The segment's `.log` file (kept open while the slice lives).
    pub file: Arc<File>,
    /// First byte.
    pub position: u64,
    /// Number of bytes.
    pub len: u64,
    /// The segment's file key while the slice lives: a roll does not write over (recycle) a
    /// file a slice still reads.
    _segment: Option<Arc<FileKey>>,
}

impl FileSlice {
    /// `len` bytes of `file` from `position`, outside any log (tests, tools).
    pub fn new(file: Arc<File>, position: u64, len: u64) -> FileSlice {
        FileSlice {
            file,
            position,
            len,
            _segment: None,
        }
    }
}

/// Result of [`PartitionLog::read`].
#[derive(Clone, Debug, Default)]
pub struct ReadResult {
    /// Ranges to send, in order.
    pub slices: Vec<FileSlice>,
    /// Sum of the slice lengths.
    pub total_len: u64,
    /// Base offset of the first batch returned, if any.
    pub first_batch_base_offset: Option<i64>,
    /// Records in the batches returned (from their headers).
    pub records: u64,
    /// The offset after the last batch returned (its last offset + 1), if any: the upper
    /// bound of the range whose aborted transactions a read_committed consumer needs.
    pub next_offset: Option<i64>,
}

impl PartitionLog {
    /// Whole batches from the one containing `start_offset`, up to `max_bytes` (at least one
    /// whole batch when `min_one`), never a batch whose base offset is `>= max_offset`.
    ///
    /// # Errors
    /// [`LogError::OffsetOutOfRange`] when `start_offset` is below the log start or above the
    /// log end; I/O failures.
    pub fn read(
        &self,
        start_offset: i64,
        max_bytes: u64,
        max_offset: i64,
        min_one: bool,
    ) -> Result<ReadResult> {
        let (log_start, log_end) = (self.log_start_offset, self.log_end_offset());
        if start_offset < log_start || start_offset > log_end {
            return Err(LogError::OffsetOutOfRange {
                requested: start_offset,
                log_start,
                log_end,
            });
        }
        let mut out = ReadResult::default();
        let from_base = self
            .segments
            .range(..=start_offset)
            .next_back()
            .map_or(i64::MIN, |(b, _)| *b);
        for seg in self.segments.range(from_base..).map(|(_, s)| s) {
            if seg.next_offset <= start_offset || seg.size == 0 {
                continue;
            }
            let file = seg.file()?;
            let Some(loc) = seg.locate(&file, start_offset)? else {
                continue;
            };
            let (mut pos, start_pos) = (loc.position, loc.position);
            let mut full = false;
            let mut next = seg.header_at(&file, pos)?;
            let mut skipped = false;
            while let Some(h) = next {
                let len = h.total_len() as u64;
                let first = out.total_len == 0 && pos == start_pos;
                if h.base_offset >= max_offset
                    || (out.total_len + (pos - start_pos) + len > max_bytes && !(min_one && first))
                {
                    full = true;
                    break;
                }
                out.first_batch_base_offset.get_or_insert(h.base_offset);
                out.records += h.record_count.max(0) as u64;
                out.next_offset = Some(h.last_offset() + 1);
                pos += len;
                next = None;
                if !skipped {
                    // Jump over the batches the offset index vouches for instead of reading
                    // each header (a 16 MiB fetch of 64 KiB batches read 256 of them).
                    skipped = true;
                    let limit = start_pos + max_bytes.saturating_sub(out.total_len);
                    if let Some((at, header)) =
                        seg.indexed_batch_start(&file, pos, limit, max_offset)?
                    {
                        // Offsets are dense in a log: the jumped batches hold the records
                        // between this batch's end and the indexed one's base.
                        let jumped = header.base_offset.saturating_sub(h.last_offset() + 1);
                        out.records += jumped.max(0) as u64;
                        // The jumped batches end where the indexed one begins.
                        out.next_offset = Some(header.base_offset);
                        pos = at;
                        next = Some(header);
                    }
                }
                if next.is_none() {
                    next = seg.header_at(&file, pos)?;
                }
            }
            if pos > start_pos {
                out.total_len += pos - start_pos;
                out.slices.push(FileSlice {
                    file: file.clone(),
                    position: start_pos,
                    len: pos - start_pos,
                    _segment: Some(seg.log_key.clone()),
                });
            }
            if full {
                break;
            }
        }
        Ok(out)
    }

    /// Same as [`PartitionLog::read`], appending the bytes to `buf`; returns bytes appended.
    /// Reads each segment's window with one `pread` and walks the batch headers in memory.
    ///
    /// # Errors
    /// As [`PartitionLog::read`].
    pub fn read_into(
        &self,
        start_offset: i64,
        max_bytes: u64,
        max_offset: i64,
        min_one: bool,
        buf: &mut Vec<u8>,
    ) -> Result<u64> {
        let (log_start, log_end) = (self.log_start_offset, self.log_end_offset());
        if start_offset < log_start || start_offset > log_end {
            return Err(LogError::OffsetOutOfRange {
                requested: start_offset,
                log_start,
                log_end,
            });
        }
        let start_len = buf.len();
        let from_base = self
            .segments
            .range(..=start_offset)
            .next_back()
            .map_or(i64::MIN, |(b, _)| *b);
        for seg in self.segments.range(from_base..).map(|(_, s)| s) {
            if seg.next_offset <= start_offset || seg.size == 0 {
                continue;
            }
            let file = seg.file()?;
            let Some(loc) = seg.locate(&file, start_offset)? else {
                continue;
            };
            let in_segment = seg.size - loc.position;
            let taken = (buf.len() - start_len) as u64;
            let mut window = in_segment.min(max_bytes.saturating_sub(taken));
            if min_one && taken == 0 {
                if let Some(h) = seg.header_at(&file, loc.position)? {
                    window = window.max(h.total_len() as u64);
                }
            }
            if window == 0 {
                break;
            }
            let at = buf.len();
            buf.resize(at + window as usize, 0);
            let n = io::read_at(&file, seg.log_path(), loc.position, &mut buf[at..])?;
            buf.truncate(at + n);
            let whole = whole_batches(&buf[at..], max_offset);
            buf.truncate(at + whole);
            if window < in_segment || (whole as u64) < window {
                break; // stopped by max_bytes, max_offset or damage: later segments not reached
            }
        }
        Ok((buf.len() - start_len) as u64)
    }

    /// ListOffsets by time: the first batch whose max timestamp is `>= timestamp_ms`, as
    /// (its base offset, raised to the log start offset; its max timestamp). Batch
    /// granularity: records are not decoded.
    ///
    /// # Errors
    /// I/O failures.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<(i64, i64)>> {
        for seg in self.segments.values() {
            if seg.max_timestamp < timestamp_ms || seg.next_offset <= self.log_start_offset {
                continue;
            }
            let file = seg.file()?;
            let from = match seg.time_index.lookup_before(timestamp_ms) {
                Ok(Some((_, off))) => off + 1,
                _ => seg.base_offset,
            }
            .max(self.log_start_offset);
            let mut pos = match seg.locate(&file, from)? {
                Some(l) => l.position,
                None => continue,
            };
            while let Some(h) = seg.header_at(&file, pos)? {
                if h.max_timestamp >= timestamp_ms && h.last_offset() >= self.log_start_offset {
                    return Ok(Some((
                        h.base_offset.max(self.log_start_offset),
                        h.max_timestamp,
                    )));
                }
                pos += h.total_len() as u64;
            }
        }
        Ok(None)
    }

    /// ListOffsets MAX_TIMESTAMP: (offset, timestamp) of the batch with the largest timestamp
    /// (its last offset, as Kafka records it for v2 batches); `None` for an empty log.
    ///
    /// # Errors
    /// None at present; kept fallible for index reads.
    pub fn max_timestamp_offset(&self) -> Result<Option<(i64, i64)>> {
        let best = self
            .segments
            .values()
            .filter(|s| s.max_timestamp >= 0 && s.offset_of_max_timestamp >= self.log_start_offset)
            .max_by_key(|s| s.max_timestamp);
        Ok(best.map(|s| (s.offset_of_max_timestamp, s.max_timestamp)))
    }
}

/// Length of the prefix of `bytes` made of whole batches whose base offset is `< max_offset`.
fn whole_batches(bytes: &[u8], max_offset: i64) -> usize {
    let mut p = 0;
    while let Ok(h) = BatchHeader::parse(&bytes[p..]) {
        let len = h.total_len();
        if h.base_offset >= max_offset || len > bytes.len() - p {
            break;
        }
        p += len;
    }
    p
}
