//! Time index of one segment: max timestamp so far → offset, for ListOffsets by time.
//!
//! On disk (`<base offset, 20 digits>.timeindex`): 12-byte entries, big-endian `i64` timestamp
//! then `u32` relative offset (the last offset of the batch that carried that timestamp).
//! An entry is added with each offset index entry when the segment's max timestamp grew, and
//! once more when the segment becomes inactive (roll, flush), so the last entry holds the
//! segment's largest timestamp. Timestamps strictly increase along the file.
//!
//! Thread-safety: reads take `&self`, appends `&mut self`.

use crate::error::Result;
use crate::index_file::IndexFile;
use std::path::PathBuf;

/// Width of one entry.
pub const TIME_INDEX_ENTRY_LEN: usize = 12;

/// The time index of one segment.
#[derive(Debug)]
pub struct TimeIndex {
    file: IndexFile<TIME_INDEX_ENTRY_LEN>,
    base_offset: i64,
}

fn encode(ts: i64, rel: u32) -> [u8; 12] {
    let mut e = [0u8; 12];
    e[..8].copy_from_slice(&ts.to_be_bytes());
    e[8..].copy_from_slice(&rel.to_be_bytes());
    e
}

fn decode(e: &[u8; 12]) -> (i64, u32) {
    let mut t = [0u8; 8];
    t.copy_from_slice(&e[..8]);
    (
        i64::from_be_bytes(t),
        u32::from_be_bytes([e[8], e[9], e[10], e[11]]),
    )
}

impl TimeIndex {
    /// Creates an empty time index file.
    ///
    /// # Errors
    /// I/O failures.
    pub(crate) fn create(path: PathBuf, base_offset: i64) -> Result<Self> {
        Ok(TimeIndex {
            file: IndexFile::create(path)?,
            base_offset,
        })
    }

    /// Opens an existing time index; `Ok(None)` if missing.
    ///
    /// # Errors
    /// I/O failures.
    pub(crate) fn open(path: PathBuf, base_offset: i64) -> Result<Option<Self>> {
        Ok(IndexFile::open(path)?.map(|file| TimeIndex { file, base_offset }))
    }

    pub(crate) fn file(&self) -> &IndexFile<TIME_INDEX_ENTRY_LEN> {
        &self.file
    }

    /// Number of entries.
    pub fn entries(&self) -> u64 {
        self.file.len()
    }

    /// The last entry as (timestamp, absolute offset).
    pub fn last_entry(&self) -> Option<(i64, i64)> {
        self.file
            .last()
            .map(|e| decode(&e))
            .map(|(t, r)| (t, self.base_offset + i64::from(r)))
    }

    /// Entry with the largest timestamp `< timestamp` as (timestamp, absolute offset): the
    /// first batch with max timestamp `>= timestamp` lies after that offset.
    ///
    /// # Errors
    /// I/O failures.
    pub fn lookup_before(&self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        Ok(self
            .file
            .search(|e| decode(e).0 < timestamp)?
            .map(|(_, e)| decode(&e))
            .map(|(t, r)| (t, self.base_offset + i64::from(r))))
    }

    /// Appends (timestamp, offset) if the timestamp is larger than the last entry's.
    ///
    /// # Errors
    /// I/O failures.
    pub(crate) fn maybe_append(&mut self, timestamp: i64, offset: i64) -> Result<()> {
        if self.last_entry().is_some_and(|(t, _)| t >= timestamp) {
            return Ok(());
        }
        let rel = (offset - self.base_offset).clamp(0, i64::from(u32::MAX)) as u32;
        self.file.append(encode(timestamp, rel))
    }

    /// Replaces the content with (timestamp, absolute offset) entries.
    ///
    /// # Errors
    /// I/O failures.
    pub(crate) fn rewrite(&mut self, entries: &[(i64, i64)]) -> Result<()> {
        let enc: Vec<_> = entries
            .iter()
            .map(|&(t, o)| encode(t, (o - self.base_offset).clamp(0, u32::MAX as i64) as u32))
            .collect();
        self.file.rewrite(&enc)
    }

    /// Cheap consistency check used on open.
    pub(crate) fn looks_sane(&self, next_offset: i64) -> bool {
        self.last_entry()
            .is_none_or(|(_, o)| o >= self.base_offset && o < next_offset.max(self.base_offset + 1))
    }
}
