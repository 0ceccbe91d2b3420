//! The cleaner's files in a partition directory.
//!
//! - `cleaner-offset-checkpoint`: one integer, the first dirty offset (everything below it
//!   was cleaned by a committed pass). Kafka keeps one such file per log directory; here each
//!   partition directory has its own, written with the other checkpoints' atomic replace.
//!   Read with [`effective_first_dirty`]: below the log start it counts as the log start;
//!   past the log end (the log was truncated below it) the log counts as wholly dirty again.
//!   Truncation lowers it ([`lower_to`]).
//! - `cleaner-swap`: the swap manifest of a pass being committed ([`SwapManifest`]); present
//!   only between the commit point and the end of the swap (see `swap`).
//!
//! Thread-safety: free functions; callers hold the log's lock.

use crate::checkpoint::{read_rows, read_single, write_rows, write_single};
use crate::error::Result;
use std::path::Path;

/// The cleaner checkpoint file name.
pub const CLEANER_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";
/// The swap manifest file name.
pub const SWAP_MANIFEST_FILE: &str = "cleaner-swap";

/// The checkpointed first dirty offset, if the file exists and parses.
///
/// # Errors
/// I/O failures other than a missing file.
pub fn read(dir: &Path) -> Result<Option<i64>> {
    Ok(read_single(&dir.join(CLEANER_CHECKPOINT_FILE))?.and_then(|r| r.ok()))
}

/// Writes the checkpoint (atomic replace).
///
/// # Errors
/// I/O failures; the previous file is then intact.
pub fn write(dir: &Path, first_dirty_offset: i64) -> Result<()> {
    write_single(&dir.join(CLEANER_CHECKPOINT_FILE), first_dirty_offset)
}

/// Lowers the checkpoint to `offset` if it is above (a truncation to `offset`: what is
/// appended there later is dirty).
///
/// # Errors
/// I/O failures.
pub fn lower_to(dir: &Path, offset: i64) -> Result<()> {
    match read(dir)? {
        Some(cp) if cp > offset => write(dir, offset),
        _ => Ok(()),
    }
}

/// The first dirty offset to use: the checkpoint within `[log_start, log_end]`, the log
/// start when it is missing or below it, and the log start again when it is beyond the log
/// end (as Kafka's `LogCleanerManager.cleanableOffsets` resets it).
pub fn effective_first_dirty(checkpoint: Option<i64>, log_start: i64, log_end: i64) -> i64 {
    match checkpoint {
        Some(cp) if cp >= log_start && cp <= log_end => cp,
        _ => log_start,
    }
}

/// What a committed pass swaps in: written (atomically) after every cleaned segment is
/// durable under its `.swap` name; its presence is the commit point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwapManifest {
    /// First offset of the replaced range (the first replaced segment's base).
    pub range_start: i64,
    /// End of the replaced range (the last replaced segment's next offset).
    pub range_end: i64,
    /// The cleaner checkpoint the pass sets.
    pub first_dirty_offset: i64,
    /// Base offsets of the new segments (each has `.log.swap`, `.index.swap`,
    /// `.timeindex.swap` until swapped in).
    pub new_bases: Vec<i64>,
}

impl SwapManifest {
    /// Writes the manifest (atomic replace, directory fsynced).
    ///
    /// # Errors
    /// I/O failures.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let mut rows = vec![vec![
            self.range_start,
            self.range_end,
            self.first_dirty_offset,
        ]];
        rows.extend(self.new_bases.iter().map(|b| vec![*b, 0, 0]));
        write_rows(&dir.join(SWAP_MANIFEST_FILE), &rows)
    }

    /// Reads the manifest; `None` if missing or unreadable (it is written atomically, so an
    /// unreadable one was damaged on disk: the swap is rolled back).
    ///
    /// # Errors
    /// I/O failures other than a missing file.
    pub fn read(dir: &Path) -> Result<Option<SwapManifest>> {
        let Some(Ok(rows)) = read_rows(&dir.join(SWAP_MANIFEST_FILE), 3)? else {
            return Ok(None);
        };
        let Some((head, bases)) = rows.split_first() else {
            return Ok(None);
        };
        Ok(Some(SwapManifest {
            range_start: head[0],
            range_end: head[1],
            first_dirty_offset: head[2],
            new_bases: bases.iter().map(|r| r[0]).collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_and_manifest_round_trip_and_reset_rules() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read(d.path()).unwrap(), None);
        write(d.path(), 50).unwrap();
        lower_to(d.path(), 70).unwrap();
        assert_eq!(read(d.path()).unwrap(), Some(50));
        lower_to(d.path(), 20).unwrap();
        assert_eq!(read(d.path()).unwrap(), Some(20));
        assert_eq!(effective_first_dirty(Some(20), 30, 100), 30);
        assert_eq!(effective_first_dirty(Some(120), 30, 100), 30);
        assert_eq!(effective_first_dirty(Some(60), 30, 100), 60);
        assert_eq!(effective_first_dirty(None, 30, 100), 30);
        let m = SwapManifest {
            range_start: 0,
            range_end: 90,
            first_dirty_offset: 95,
            new_bases: vec![0, 40],
        };
        m.write(d.path()).unwrap();
        assert_eq!(SwapManifest::read(d.path()).unwrap(), Some(m));
        std::fs::write(d.path().join(SWAP_MANIFEST_FILE), b"junk").unwrap();
        assert_eq!(SwapManifest::read(d.path()).unwrap(), None);
    }
}
