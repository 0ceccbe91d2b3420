//! Writes one cleaned segment: `<base>.log.cleaned` and its three indexes beside it (the
//! aborted-transaction index carries the replaced segments' entries).
//!
//! Batches are buffered up to `FLUSH_BYTES` and written with positioned writes through the
//! storage seam; the index entries follow the log's rules (an offset index entry every
//! `index.interval.bytes`, a time index entry when the max timestamp grew, and a last one
//! with the segment's max), so a swapped-in segment reads as if it had been appended.
//! [`SegmentWriter::finish`] writes the indexes and fsyncs all three files.
//! Thread-safety: owned by one pass.

use crate::batch::BatchHeader;
use crate::error::Result;
use crate::io;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Bytes buffered before a write.
const FLUSH_BYTES: usize = 1 << 20;
/// Suffix of files being written by a pass.
pub const CLEANED_SUFFIX: &str = "cleaned";
/// Suffix of cleaned files committed but not yet renamed to their final names.
pub const SWAP_SUFFIX: &str = "swap";
/// Suffix of replaced files waiting for deletion.
pub const DELETED_SUFFIX: &str = "deleted";
/// The extensions of a segment's files (a cleaned segment always has all four; a segment
/// written by appends has a `.txnindex` only once a transaction was aborted in it).
pub const SEGMENT_EXTS: [&str; 4] = ["log", "index", "timeindex", "txnindex"];

/// `<dir>/<base, 20 digits>.<ext>[.<suffix>]`.
pub fn segment_file(dir: &Path, base: i64, ext: &str, suffix: Option<&str>) -> PathBuf {
    match suffix {
        Some(s) => dir.join(format!("{base:020}.{ext}.{s}")),
        None => dir.join(format!("{base:020}.{ext}")),
    }
}

/// What a finished cleaned segment holds (its in-memory summary once swapped in).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CleanedSegment {
    /// Base offset (the group's first segment's).
    pub base_offset: i64,
    /// The end of the offsets it covers (the group's last segment's end).
    pub next_offset: i64,
    /// Bytes of batches.
    pub size: u64,
    /// Largest batch max timestamp, -1 if empty.
    pub max_timestamp: i64,
    /// Last offset of the batch with that timestamp.
    pub offset_of_max_timestamp: i64,
    /// First batch's max timestamp.
    pub first_batch_timestamp: Option<i64>,
    /// Bytes after the last offset index entry.
    pub bytes_since_index: u64,
    /// Base offsets of the segments it replaces.
    pub replaces: Vec<i64>,
}

/// Writer of one cleaned segment. See the module docs.
pub(crate) struct SegmentWriter {
    /// The partition directory.
    dir: PathBuf,
    /// The `.log.cleaned` file.
    file: File,
    /// Its path.
    path: PathBuf,
    /// Batches not yet written.
    pending: Vec<u8>,
    /// Encoded offset index.
    index: Vec<u8>,
    /// Encoded time index.
    time_index: Vec<u8>,
    /// Largest timestamp of the last time index entry.
    last_indexed_ts: i64,
    /// The aborted-transaction entries of the segments replaced, in marker order.
    aborted: Vec<crate::txn_index::AbortedTxn>,
    /// `index.interval.bytes`.
    interval: u32,
    /// The summary so far.
    out: CleanedSegment,
}

impl SegmentWriter {
    /// Creates (empties) the `.cleaned` log file for the segment at `base`.
    ///
    /// # Errors
    /// I/O failures.
    pub(crate) fn create(
        dir: &Path,
        base: i64,
        next_offset: i64,
        interval: u32,
        replaces: Vec<i64>,
    ) -> Result<Self> {
        let path = segment_file(dir, base, "log", Some(CLEANED_SUFFIX));
        let file = io::open_rw(&path)?;
        io::set_len(&file, &path, 0)?;
        // Every aborted transaction of the replaced segments keeps its entry while its
        // marker stays (a marker removed by the pass takes its entry along: `forget_aborted`).
        let mut aborted = Vec::new();
        for b in &replaces {
            aborted.extend(crate::txn_index::read_all(&crate::txn_index::path_for(
                dir, *b,
            ))?);
        }
        Ok(SegmentWriter {
            dir: dir.to_path_buf(),
            file,
            path,
            pending: Vec::with_capacity(FLUSH_BYTES),
            index: Vec::new(),
            time_index: Vec::new(),
            last_indexed_ts: -1,
            aborted,
            interval,
            out: CleanedSegment {
                base_offset: base,
                next_offset,
                size: 0,
                max_timestamp: -1,
                offset_of_max_timestamp: -1,
                first_batch_timestamp: None,
                bytes_since_index: 0,
                replaces,
            },
        })
    }

    /// Drops the aborted-transaction entry of the abort marker of `producer_id` at
    /// `marker_offset`, which the pass removed (the transaction has no data left).
    pub(crate) fn forget_aborted(&mut self, producer_id: i64, marker_offset: i64) {
        self.aborted
            .retain(|a| !(a.producer_id == producer_id && a.last_offset == marker_offset));
    }

    fn rel(&self, offset: i64) -> u32 {
        (offset - self.out.base_offset).clamp(0, i64::from(u32::MAX)) as u32
    }

    fn push_time_entry(&mut self) {
        if self.out.max_timestamp > self.last_indexed_ts {
            self.time_index
                .extend_from_slice(&self.out.max_timestamp.to_be_bytes());
            let rel = self.rel(self.out.offset_of_max_timestamp);
            self.time_index.extend_from_slice(&rel.to_be_bytes());
            self.last_indexed_ts = self.out.max_timestamp;
        }
    }

    /// Appends one whole batch; returns the bytes written to the file by this call.
    ///
    /// # Errors
    /// I/O failures.
    pub(crate) fn append(&mut self, batch: &[u8], h: &BatchHeader) -> Result<u64> {
        let position = self.out.size + self.pending.len() as u64;
        self.pending.extend_from_slice(batch);
        let o = &mut self.out;
        o.first_batch_timestamp.get_or_insert(h.max_timestamp);
        if h.max_timestamp > o.max_timestamp {
            o.max_timestamp = h.max_timestamp;
            o.offset_of_max_timestamp = h.last_offset();
        }
        o.bytes_since_index += batch.len() as u64;
        if o.bytes_since_index >= u64::from(self.interval) {
            let rel = self.rel(h.last_offset());
            self.index.extend_from_slice(&rel.to_be_bytes());
            self.index
                .extend_from_slice(&(position.min(u64::from(u32::MAX)) as u32).to_be_bytes());
            self.push_time_entry();
            self.out.bytes_since_index = 0;
        }
        if self.pending.len() >= FLUSH_BYTES {
            return self.flush();
        }
        Ok(0)
    }

    fn flush(&mut self) -> Result<u64> {
        if self.pending.is_empty() {
            return Ok(0);
        }
        io::write_at(&self.file, &self.path, self.out.size, &self.pending)?;
        let n = self.pending.len() as u64;
        self.out.size += n;
        self.pending.clear();
        Ok(n)
    }

    /// Writes what is buffered and the three indexes, fsyncs the four files, and returns the
    /// summary and the bytes written by this call.
    ///
    /// # Errors
    /// I/O failures.
    pub(crate) fn finish(mut self) -> Result<(CleanedSegment, u64)> {
        let mut written = self.flush()?;
        self.push_time_entry();
        io::sync_data(&self.file, &self.path)?;
        let base = self.out.base_offset;
        let txn = crate::txn_index::encode_all(&self.aborted);
        for (ext, bytes) in [
            ("index", &self.index),
            ("timeindex", &self.time_index),
            ("txnindex", &txn),
        ] {
            let p = segment_file(&self.dir, base, ext, Some(CLEANED_SUFFIX));
            let f = io::open_rw(&p)?;
            io::set_len(&f, &p, 0)?;
            io::write_at(&f, &p, 0, bytes)?;
            io::sync_data(&f, &p)?;
            written += bytes.len() as u64;
        }
        Ok((self.out, written))
    }
}
