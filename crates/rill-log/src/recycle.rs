//! Segment file recycling: retention keeps the `.log` files of the segments it retires as
//! spares (up to [`MAX_SPARES`] per log), and a later roll renames one to the new segment's
//! name and writes over it, as RocksDB's `recycle_log_file_num` and PostgreSQL's WAL segment
//! recycling do.
//!
//! Why: a new segment's appends need new page-cache pages (on a VM, memory new to the guest
//! costs a host fault per page) and new blocks (ext4's delayed allocation, then a journal
//! commit in every fdatasync that grows the file), and deleting the old file frees its blocks,
//! which stalls other fsyncs on the filesystem. Writing over a file the filesystem has already
//! allocated needs none of that: an fdatasync that does not grow the file flushes data only.
//!
//! Why stale bytes never become log data:
//! 1. A spare comes only from segments wholly below the log start, and is used only after the
//!    log start checkpoint that retired it is on disk (`Spare::usable`). All its offsets are
//!    below the log start, so below any offset the log writes later. The one exception,
//!    `truncate_fully_and_start_at` (which may restart lower), drops the spare.
//! 2. Past the segment's size a recycled file still holds the spare's batches. Reads stop at
//!    the size. Recovery scans batch by batch and expects offsets contiguous from the
//!    segment's base: an old batch's offsets are lower, so the scan stops there and cuts the
//!    file (reported as stale bytes, not damage: later segments stay).
//! 3. A roll trims the closed segment's file to its size before the fsync after which the
//!    recovery point may pass it, so a segment recovery trusts without a scan has no stale
//!    tail; a clean shutdown ([`crate::log::PartitionLog::close`]) trims the active one.
//! 4. A crash that loses the rename (page-cache mode defers the directory fsync) leaves the
//!    file under its old name, below the checkpointed log start: recovery deletes segments
//!    wholly below the log start before it scans anything.
//! 5. A spare is reused only when no read holds its file: a [`crate::log_read::FileSlice`]
//!    keeps its segment's [`crate::file_cache::FileKey`], and a consumer mid-`sendfile` would otherwise send the
//!    new bytes.
//!
//! Spares hold disk beyond retention, as Kafka's deleted segments do for
//! `file.delete.delay.ms`: one not taken by a roll within [`SPARE_KEEP`] is deleted by the
//! next retention pass, so only logs that roll often hold them for long.
//!
//! Thread-safety: owned by the log, mutated under its lock.

use crate::error::Result;
use crate::segment::LogSegment;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a spare waits for a roll before retention deletes it (Kafka keeps deleted
/// segments on disk as long, `file.delete.delay.ms`).
pub const SPARE_KEEP: Duration = Duration::from_secs(60);

/// Smallest retired segment worth keeping as a spare.
pub const MIN_SPARE_BYTES: u64 = 1 << 20;

/// Most spares one log keeps: a retention pass of a busy log retires several segments at once.
pub const MAX_SPARES: usize = 4;

/// A retired segment kept for a later roll. See the module docs.
#[derive(Debug)]
struct Spare {
    seg: LogSegment,
    /// Set once the log start checkpoint that retired the segment is on disk.
    ready: Arc<AtomicBool>,
    /// When retention retired it (the caller's clock, milliseconds).
    retired_ms: i64,
}

impl Spare {
    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Whether a roll may take it now: ready, and no read holds its file.
    fn usable(&self) -> bool {
        self.is_ready() && Arc::strong_count(&self.seg.log_key) == 1
    }
}

/// A log's spares, oldest first. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Spares {
    kept: Vec<Spare>,
}

impl Spares {
    /// Number of spares held.
    pub(crate) fn len(&self) -> usize {
        self.kept.len()
    }

    /// Keeps the newest of `segs` (already out of the log, oldest first) that are at least
    /// [`MIN_SPARE_BYTES`], up to [`MAX_SPARES`] in all, and returns the others. Those kept
    /// become usable once `ready` is set by whoever writes the log start checkpoint that
    /// retired them. `now_ms` is the retention pass's time (the caller's clock).
    pub(crate) fn keep(
        &mut self,
        segs: Vec<LogSegment>,
        ready: &Arc<AtomicBool>,
        now_ms: i64,
    ) -> Vec<LogSegment> {
        let mut rest = Vec::new();
        for seg in segs.into_iter().rev() {
            if self.kept.len() < MAX_SPARES && seg.size >= MIN_SPARE_BYTES {
                self.kept.push(Spare {
                    seg,
                    ready: ready.clone(),
                    retired_ms: now_ms,
                });
            } else {
                rest.push(seg);
            }
        }
        self.kept.sort_by_key(|s| s.seg.base_offset);
        rest.reverse();
        rest
    }

    /// Takes the newest usable spare (its pages are the likeliest to be cached still).
    pub(crate) fn take_usable(&mut self) -> Option<LogSegment> {
        let i = self.kept.iter().rposition(Spare::usable)?;
        Some(self.kept.remove(i).seg)
    }

    /// Takes the spares older than [`SPARE_KEEP`] at `now_ms` (the clock [`Spares::keep`]
    /// was given): those whose checkpoint is on disk are returned for deletion; the others
    /// (their checkpoint failed) are forgotten, their files left for the next open.
    pub(crate) fn take_expired(&mut self, now_ms: i64) -> Vec<LogSegment> {
        let keep_ms = SPARE_KEEP.as_millis() as i64;
        let (old, young): (Vec<Spare>, Vec<Spare>) = std::mem::take(&mut self.kept)
            .into_iter()
            .partition(|s| now_ms.saturating_sub(s.retired_ms) > keep_ms);
        self.kept = young;
        old.into_iter()
            .filter_map(|s| {
                if s.is_ready() {
                    Some(s.seg)
                } else {
                    s.seg.forget_handles();
                    None
                }
            })
            .collect()
    }

    /// Drops every spare: files deleted where their checkpoint is on disk, and otherwise
    /// left for the next open, which deletes them once below the log start.
    ///
    /// # Errors
    /// I/O failures deleting (the others are still attempted).
    pub(crate) fn drop_all(&mut self) -> Result<()> {
        let mut first_err = None;
        for s in self.kept.drain(..) {
            let done = if s.is_ready() {
                s.seg.delete_files()
            } else {
                s.seg.forget_handles();
                Ok(())
            };
            if let Err(e) = done {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Returns the spares' cached file handles (the log is dropped or moved away).
    pub(crate) fn forget_handles(&self) {
        for s in &self.kept {
            s.seg.forget_handles();
        }
    }

    /// The spares' `.log` paths, oldest first (tests).
    #[cfg(test)]
    pub(crate) fn paths(&self) -> Vec<std::path::PathBuf> {
        self.kept
            .iter()
            .map(|s| s.seg.log_path().to_path_buf())
            .collect()
    }

    /// Makes every spare look retired `by` earlier (tests of expiry).
    #[cfg(test)]
    pub(crate) fn backdate(&mut self, by: Duration) {
        for s in &mut self.kept {
            s.retired_ms = s.retired_ms.saturating_sub(by.as_millis() as i64);
        }
    }
}

/// Marks spares ready once their log start checkpoint is written.
pub(crate) fn mark_ready(flags: &[Arc<AtomicBool>]) {
    for f in flags {
        f.store(true, Ordering::Release);
    }
}
