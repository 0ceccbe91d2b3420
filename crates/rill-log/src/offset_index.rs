//! Sparse offset index of one segment: relative offset → byte position in the `.log` file.
//!
//! On disk (`<base offset, 20 digits>.index`): 8-byte entries, big-endian `u32` relative offset
//! (a batch's last offset minus the segment's base offset) then `u32` file position of that
//! batch's first byte. One entry is added after every `index.interval.bytes` of batches, so
//! both columns strictly increase. A lookup for `target` returns the entry with the largest
//! offset `<= target`; the batch containing `target` starts at or after that position.
//! The index is a hint: readers verify the batch header found at a position and fall back to
//! scanning from position 0 if it does not match, so a damaged index never yields wrong data.
//!
//! Thread-safety: reads take `&self`, appends `&mut self`.

use crate::error::Result;
use crate::index_file::IndexFile;
use std::path::PathBuf;

/// Width of one entry.
pub const OFFSET_INDEX_ENTRY_LEN: usize = 8;

/// The sparse offset index of one segment.
#[derive(Debug)]
pub struct OffsetIndex {
    file: IndexFile<OFFSET_INDEX_ENTRY_LEN>,
    base_offset: i64,
}

fn encode(rel: u32, pos: u32) -> [u8; 8] {
    let mut e = [0u8; 8];
    e[..4].copy_from_slice(&rel.to_be_bytes());
    e[4..].copy_from_slice(&pos.to_be_bytes());
    e
}

fn decode(e: &[u8; 8]) -> (u32, u32) {
    (
        u32::from_be_bytes([e[0], e[1], e[2], e[3]]),
        u32::from_be_bytes([e[4], e[5], e[6], e[7]]),
    )
}

impl OffsetIndex {
    /// Creates an empty index file.
    ///
    /// # Errors
    /// I/O failures.
    pub(crate) fn create(path: PathBuf, base_offset: i64) -> Result<Self> {
        Ok(OffsetIndex {
            file: IndexFile::create(path)?,
            base_offset,
        })
    }

    /// Opens an existing index; `Ok(None)` if the file is missing.
    ///
    /// # Errors
    /// I/O failures.
    pub(crate) fn open(path: PathBuf, base_offset: i64) -> Result<Option<Self>> {
        Ok(IndexFile::open(path)?.map(|file| OffsetIndex { file, base_offset }))
    }

    pub(crate) fn file(&self) -> &IndexFile<OFFSET_INDEX_ENTRY_LEN> {
        &self.file
    }

    /// Number of entries.
    pub fn entries(&self) -> u64 {
        self.file.len()
    }

    /// The last entry as (absolute offset, position).
    pub fn last_entry(&self) -> Option<(i64, u32)> {
        self.file
            .last()
            .map(|e| decode(&e))
            .map(|(r, p)| (self.base_offset + i64::from(r), p))
    }

    /// Entry with the largest offset `<= target` as (absolute offset, position).
    ///
    /// # Errors
    /// I/O failures or a file that shrank underneath.
    pub fn lookup(&self, target: i64) -> Result<Option<(i64, u32)>> {
        let rel = target - self.base_offset;
        if rel < 0 {
            return Ok(None);
        }
        let found = self
            .file
            .search(|e| i64::from(decode(e).0) <= rel)?
            .map(|(_, e)| decode(&e));
        Ok(found.map(|(r, p)| (self.base_offset + i64::from(r), p)))
    }

    /// The entry with the largest position `<= max_position` whose offset is `< below_offset`,
    /// as (absolute offset, position): both columns increase, so this is a binary search.
    ///
    /// # Errors
    /// I/O failures or a file that shrank underneath.
    pub fn last_at_or_before(
        &self,
        max_position: u64,
        below_offset: i64,
    ) -> Result<Option<(i64, u32)>> {
        let base = self.base_offset;
        let found = self
            .file
            .search(|e| {
                let (rel, pos) = decode(e);
                u64::from(pos) <= max_position && base + i64::from(rel) < below_offset
            })?
            .map(|(_, e)| decode(&e));
        Ok(found.map(|(r, p)| (base + i64::from(r), p)))
    }

    /// Adds an entry for the batch ending at `last_offset` that starts at `position`.
    ///
    /// # Errors
    /// I/O failures.
    pub(crate) fn append(&mut self, last_offset: i64, position: u32) -> Result<()> {
        let rel = (last_offset - self.base_offset).clamp(0, i64::from(u32::MAX)) as u32;
        self.file.append(encode(rel, position))
    }

    /// Drops entries whose position is `>= position`.
    ///
    /// # Errors
    /// I/O failures.
    pub(crate) fn truncate_to_position(&mut self, position: u32) -> Result<()> {
        let keep = self
            .file
            .search(|e| decode(e).1 < position)?
            .map_or(0, |(i, _)| i + 1);
        self.file.truncate_entries(keep)
    }

    /// Replaces the content with `entries` of (absolute last offset, position).
    ///
    /// # Errors
    /// I/O failures.
    pub(crate) fn rewrite(&mut self, entries: &[(i64, u32)]) -> Result<()> {
        let enc: Vec<_> = entries
            .iter()
            .map(|&(o, p)| encode((o - self.base_offset).clamp(0, u32::MAX as i64) as u32, p))
            .collect();
        self.file.rewrite(&enc)
    }

    /// Cheap consistency check used on open: last entry inside the log file, offsets in range.
    pub(crate) fn looks_sane(&self, log_size: u64, next_offset: i64) -> bool {
        match self.last_entry() {
            None => true,
            Some((o, p)) => {
                u64::from(p) < log_size.max(1) && o < next_offset.max(self.base_offset + 1)
            }
        }
    }
}
