//! Small atomic checkpoint files of a partition directory.
//!
//! Format (Kafka's text checkpoint style): line 1 the version `0`, line 2 the number of entries
//! `n`, then `n` lines of space-separated integers. Files are replaced atomically (write
//! `<name>.tmp`, fsync, rename, fsync directory), so a reader sees the old or the new content.
//! A file that does not parse is reported and ignored (the caller falls back to a safe default:
//! recovery from the first segment, no checkpointed high watermark, ...); it never panics.
//!
//! Files: `recovery-point` (`offset segment_base segment_size`), `high-watermark`,
//! `log-start-offset`, `leader-epoch-checkpoint` (`epoch start_offset` per line).
//! Thread-safety: free functions; callers serialise writes to one file (the log's lock).

use crate::error::Result;
use crate::io;
use std::path::Path;

/// Recovery point file name.
pub const RECOVERY_POINT_FILE: &str = "recovery-point";
/// High watermark file name.
pub const HIGH_WATERMARK_FILE: &str = "high-watermark";
/// Log start offset file name.
pub const LOG_START_OFFSET_FILE: &str = "log-start-offset";
/// Leader epoch cache file name.
pub const LEADER_EPOCH_FILE: &str = "leader-epoch-checkpoint";

const VERSION: &str = "0";
const MAX_ENTRIES: usize = 1 << 20;

/// Writes `rows` of integers atomically.
///
/// # Errors
/// I/O failures; the previous file is then intact.
pub fn write_rows(path: &Path, rows: &[Vec<i64>]) -> Result<()> {
    let mut s = format!("{VERSION}\n{}\n", rows.len());
    for r in rows {
        let line: Vec<String> = r.iter().map(i64::to_string).collect();
        s.push_str(&line.join(" "));
        s.push('\n');
    }
    io::write_atomic(path, s.as_bytes())
}

/// Reads rows of `width` integers. `Ok(None)` if missing; `Ok(Some(Err(reason)))` if the file
/// exists but does not parse.
///
/// # Errors
/// I/O failures other than not-found.
pub fn read_rows(
    path: &Path,
    width: usize,
) -> Result<Option<std::result::Result<Vec<Vec<i64>>, String>>> {
    let Some(bytes) = io::read_optional(path)? else {
        return Ok(None);
    };
    Ok(Some(parse_rows(&bytes, width)))
}

fn parse_rows(bytes: &[u8], width: usize) -> std::result::Result<Vec<Vec<i64>>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    let mut lines = text.lines();
    if lines.next() != Some(VERSION) {
        return Err("unknown version line".into());
    }
    let n: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or("bad entry count")?;
    if n > MAX_ENTRIES {
        return Err(format!("entry count {n} too large"));
    }
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        let line = lines.next().ok_or(format!("missing entry {i}"))?;
        let row: std::result::Result<Vec<i64>, _> =
            line.split_whitespace().map(str::parse::<i64>).collect();
        let row = row.map_err(|_| format!("entry {i} is not integers"))?;
        if row.len() != width {
            return Err(format!("entry {i} has {} fields, want {width}", row.len()));
        }
        rows.push(row);
    }
    if lines.any(|l| !l.trim().is_empty()) {
        return Err("trailing content".into());
    }
    Ok(rows)
}

/// Writes a single-integer checkpoint.
///
/// # Errors
/// I/O failures.
pub fn write_single(path: &Path, value: i64) -> Result<()> {
    write_rows(path, &[vec![value]])
}

/// Reads a single-integer checkpoint; see [`read_rows`] for the shape.
///
/// # Errors
/// I/O failures other than not-found.
pub fn read_single(path: &Path) -> Result<Option<std::result::Result<i64, String>>> {
    Ok(read_rows(path, 1)?.map(|r| {
        r.and_then(|rows| match rows.as_slice() {
            [row] => Ok(row[0]),
            _ => Err("want exactly one entry".to_string()),
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_garbage_is_reported_not_panicked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cp");
        write_rows(&p, &[vec![1, 2], vec![3, -4]]).unwrap();
        assert_eq!(
            read_rows(&p, 2).unwrap().unwrap().unwrap(),
            vec![vec![1, 2], vec![3, -4]]
        );
        assert!(read_rows(&p, 3).unwrap().unwrap().is_err());
        assert!(read_rows(&dir.path().join("none"), 1).unwrap().is_none());
        for garbage in [
            &b"\xff\xfe"[..],
            b"0\n2\n1\n",
            b"1\n1\n5\n",
            b"0\nx\n",
            b"0\n1\n5\n6\n",
        ] {
            std::fs::write(&p, garbage).unwrap();
            assert!(read_rows(&p, 1).unwrap().unwrap().is_err(), "{garbage:?}");
        }
        write_single(&p, 42).unwrap();
        assert_eq!(read_single(&p).unwrap().unwrap().unwrap(), 42);
        assert!(!dir.path().join("cp.tmp").exists());
    }
}

/// A checkpoint file written in the order the log decided its contents: each change takes a
/// [`CheckpointWrite`] ticket under the log's lock, and a write whose ticket is older than one
/// already written is skipped. So retention and DeleteRecords can write (and fsync) the log
/// start and leader epoch checkpoints after releasing the log's lock, behind other fsyncs,
/// without an older content ever overwriting a newer one.
#[derive(Debug)]
pub struct OrderedCheckpoint {
    path: std::path::PathBuf,
    next: std::sync::atomic::AtomicU64,
    written: std::sync::Mutex<u64>,
}

/// One decided content of an [`OrderedCheckpoint`], to write with [`OrderedCheckpoint::write`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointWrite {
    seq: u64,
    rows: Vec<Vec<i64>>,
}

impl OrderedCheckpoint {
    /// The checkpoint file at `path`.
    pub fn new(path: std::path::PathBuf) -> OrderedCheckpoint {
        OrderedCheckpoint {
            path,
            next: std::sync::atomic::AtomicU64::new(0),
            written: std::sync::Mutex::new(0),
        }
    }

    /// A ticket for `rows` (take it under the log's lock, where they were decided).
    pub fn ticket(&self, rows: Vec<Vec<i64>>) -> CheckpointWrite {
        let seq = self.next.fetch_add(1, std::sync::atomic::Ordering::AcqRel) + 1;
        CheckpointWrite { seq, rows }
    }

    /// Writes `w` unless a later ticket was written already.
    ///
    /// # Errors
    /// I/O failures.
    pub fn write(&self, w: &CheckpointWrite) -> Result<()> {
        let mut last = self.written.lock().unwrap_or_else(|p| p.into_inner());
        if w.seq <= *last {
            return Ok(());
        }
        write_rows(&self.path, &w.rows)?;
        *last = w.seq;
        Ok(())
    }

    /// Decides and writes `rows` now (under the log's lock).
    ///
    /// # Errors
    /// I/O failures.
    pub fn write_now(&self, rows: Vec<Vec<i64>>) -> Result<()> {
        self.write(&self.ticket(rows))
    }
}
