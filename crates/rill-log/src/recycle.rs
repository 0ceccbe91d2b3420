//! Segment file recycling: retention keeps one retired segment's `.log` file per log as a
//! spare, and the next roll renames it to the new segment's name and writes over it, as
//! RocksDB's `recycle_log_file_num` and PostgreSQL's WAL segment recycling do.
//!
//! Why: a new segment's appends need new page-cache pages (on a VM, memory new to the guest
//! costs a host fault per page) and new blocks (ext4's delayed allocation, then a journal
//! commit in every fdatasync that grows the file), and deleting the old file frees its blocks,
//! which stalls other fsyncs on the filesystem. Writing over a file the filesystem has already
//! allocated needs none of that: an fdatasync that does not grow the file flushes data only.
//!
//! Why stale bytes never become log data:
//! 1. A spare comes only from segments wholly below the log start, and is used only after the
//!    log start checkpoint that retired it is on disk ([`Spare::usable`]). All its offsets are
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
//! A spare costs up to one segment of disk per log beyond retention. It is deleted when the
//! log has not rolled for [`SPARE_KEEP`], so only logs that roll often hold one.
//!
//! Thread-safety: owned by the log, mutated under its lock.

use crate::segment::LogSegment;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a spare waits for a roll before retention deletes it.
pub const SPARE_KEEP: Duration = Duration::from_secs(60);

/// Smallest retired segment worth keeping as a spare.
pub const MIN_SPARE_BYTES: u64 = 1 << 20;

/// A retired segment kept for the next roll. See the module docs.
#[derive(Debug)]
pub(crate) struct Spare {
    seg: LogSegment,
    /// Set once the log start checkpoint that retired the segment is on disk.
    ready: Arc<AtomicBool>,
    retired: Instant,
}

impl Spare {
    /// Keeps `seg` (already out of the log) as a spare; `ready` is set by whoever writes the
    /// log start checkpoint that retired it.
    pub(crate) fn new(seg: LogSegment, ready: Arc<AtomicBool>) -> Spare {
        Spare {
            seg,
            ready,
            retired: Instant::now(),
        }
    }

    /// Whether the log start checkpoint that retired the segment is on disk.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Whether a roll may take it now: ready, and no read holds its file.
    pub(crate) fn usable(&self) -> bool {
        self.is_ready() && Arc::strong_count(&self.seg.log_key) == 1
    }

    /// Whether it has waited longer than [`SPARE_KEEP`].
    pub(crate) fn expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.retired) > SPARE_KEEP
    }

    /// Makes the spare look retired `by` earlier (tests of expiry).
    #[cfg(test)]
    pub(crate) fn backdate(&mut self, by: Duration) {
        self.retired = self.retired.checked_sub(by).unwrap_or(self.retired);
    }

    /// The retired segment.
    pub(crate) fn segment(&self) -> &LogSegment {
        &self.seg
    }

    /// The retired segment, for a roll or for deletion.
    pub(crate) fn into_segment(self) -> LogSegment {
        self.seg
    }
}

/// Marks spares ready once their log start checkpoint is written.
pub(crate) fn mark_ready(flags: &[Arc<AtomicBool>]) {
    for f in flags {
        f.store(true, Ordering::Release);
    }
}
