//! Page-cache mode's deferred roll fsyncs: a roll under the interval flush policy leaves the
//! closed segment (and the producer snapshot and directory entries it wrote) unsynced and
//! records it as an [`UnsyncedRoll`]; the caller takes them as [`RollSyncs`]
//! ([`PartitionLog::pending_roll_syncs`]), fsyncs them without the log's lock and reports back
//! ([`PartitionLog::roll_syncs_done`]), which moves the durable offset and the recovery point.
//!
//! Thread-safety: [`RollSyncs`] is `Send + Sync` and used without the log's lock; the rest
//! takes `&mut PartitionLog` (the caller's lock).

use crate::checkpoint::{self, RECOVERY_POINT_FILE};
use crate::error::Result;
use crate::file_cache::FileKey;
use crate::flush::Durability;
use crate::io;
use crate::log::PartitionLog;
use std::path::PathBuf;
use std::sync::Arc;

/// A segment rolled without its fsync (page-cache mode): its files, the producer snapshot
/// written at the roll (also not yet fsynced) and the offset its data ends at (the base of the
/// segment after it). The directory entries the roll made (the new segment, the snapshot) are
/// not fsynced either: [`RollSyncs::sync`] fsyncs the directory after the files.
#[derive(Debug, Clone)]
pub(crate) struct UnsyncedRoll {
    /// The segment's `.log`, `.index` and `.timeindex` files.
    pub(crate) keys: [Arc<FileKey>; 3],
    /// The producer snapshot written at the roll.
    pub(crate) snapshot: PathBuf,
    /// The offset the segment's data ends at.
    pub(crate) end: i64,
}

/// Rolled segments still to fsync, handed out by [`PartitionLog::pending_roll_syncs`] so the
/// fsync can run without the log's lock.
#[derive(Debug)]
#[must_use = "the segments stay unsynced until `sync` runs and `roll_syncs_done` is told"]
pub struct RollSyncs {
    keys: Vec<Arc<FileKey>>,
    /// The producer snapshots the rolls wrote (some may be deleted by newer ones since).
    pub(crate) snapshots: Vec<PathBuf>,
    /// The partition directory.
    pub(crate) dir: PathBuf,
    end: i64,
    /// Told of a failed fsync (the log goes offline).
    durability: Arc<Durability>,
}

impl RollSyncs {
    /// The offset below which these fsyncs make the log durable.
    pub fn end(&self) -> i64 {
        self.end
    }

    /// fsyncs the segments' files (log and indexes), the producer snapshots written at the
    /// rolls, then the partition directory (the entries of the segments and snapshots the
    /// rolls created). A file deleted meanwhile (retention, truncation, a newer snapshot) is
    /// skipped: its bytes are no longer part of the log; so is a directory deleted with its
    /// partition.
    ///
    /// # Errors
    /// fsync failures, which also take the log offline (see [`PartitionLog`]).
    pub fn sync(&self) -> Result<()> {
        let res = self.sync_all();
        if let Err(e) = &res {
            self.durability.fail(e);
        }
        res
    }

    fn sync_all(&self) -> Result<()> {
        for key in &self.keys {
            crate::dir_sync::sync_file(key)?;
        }
        for path in &self.snapshots {
            io::sync_path_if_exists(path)?;
        }
        io::sync_path_if_exists(&self.dir)
    }
}

/// Most rolled segments left unsynced at once; a roll past it fsyncs the older ones itself.
pub(crate) const MAX_UNSYNCED_ROLLS: usize = 4;

impl PartitionLog {
    /// Whether segments rolled in page-cache mode still wait for their fsync.
    pub fn has_pending_roll_syncs(&self) -> bool {
        !self.unsynced_rolls.is_empty()
    }

    /// The segments rolled in page-cache mode that still wait for their fsync, for the caller
    /// to fsync ([`RollSyncs::sync`]) without holding the log's lock and then report with
    /// [`PartitionLog::roll_syncs_done`]; `None` when none waits.
    pub fn pending_roll_syncs(&self) -> Option<RollSyncs> {
        let last = self.unsynced_rolls.last()?;
        Some(RollSyncs {
            keys: self
                .unsynced_rolls
                .iter()
                .flat_map(|r| r.keys.iter().cloned())
                .collect(),
            snapshots: self
                .unsynced_rolls
                .iter()
                .map(|r| r.snapshot.clone())
                .collect(),
            dir: self.dir.clone(),
            end: last.end,
            durability: self.durability.clone(),
        })
    }

    /// Records that `done` was fsynced: the rolls it covered leave the list, everything
    /// below its end counts as durable and the recovery point moves there (unless a flush or
    /// a truncation got there first).
    ///
    /// # Errors
    /// I/O failures writing the recovery point.
    pub fn roll_syncs_done(&mut self, done: &RollSyncs) -> Result<()> {
        self.guarded(|log| log.roll_syncs_done_unguarded(done))
    }

    /// [`PartitionLog::roll_syncs_done`] without the offline guard.
    fn roll_syncs_done_unguarded(&mut self, done: &RollSyncs) -> Result<()> {
        let before = self.unsynced_rolls.len();
        self.unsynced_rolls.retain(|r| r.end > done.end);
        if self.unsynced_rolls.len() == before
            || done.end > self.log_end_offset()
            || io::dir_identity(&self.dir) != self.dir_id
        {
            return Ok(());
        }
        self.durability.mark_durable(done.end);
        // Everything below `end` is on disk; the segment starting there is not vouched for
        // (size 0 recorded), so recovery scans it and every later one.
        checkpoint::write_rows(
            &self.dir.join(RECOVERY_POINT_FILE),
            &[vec![done.end, done.end, 0]],
        )
    }

    /// fsyncs every segment rolled without its fsync, here and now.
    pub(crate) fn sync_unsynced_rolls(&mut self) -> Result<()> {
        if let Some(syncs) = self.pending_roll_syncs() {
            syncs.sync()?;
            self.unsynced_rolls.clear();
            self.durability.mark_durable(syncs.end);
        }
        Ok(())
    }
}
