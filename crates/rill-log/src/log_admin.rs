//! Truncation, DeleteRecords and retention of a `PartitionLog`.
//!
//! Truncation cuts at a batch boundary (a batch straddling the target is removed whole, as in
//! Kafka), fixes indexes, the leader epoch cache, producer state and the recovery point, and
//! fsyncs before returning. Retention deletes whole segments, oldest first, never the active
//! one; DeleteRecords only moves the (checkpointed) log start offset and deletes segments
//! wholly below it.
//!
//! Thread-safety: every method takes `&mut self` (the caller's lock).

use crate::checkpoint::{CheckpointWrite, OrderedCheckpoint};
use crate::error::{LogError, Result};
use crate::io;
use crate::log::PartitionLog;
use crate::recovery;
use crate::segment::LogSegment;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

impl PartitionLog {
    /// Drops everything at and above `offset` (replica divergence). A batch containing
    /// `offset` is removed whole. Indexes, epochs and producer state are fixed.
    ///
    /// At or past the log end no batch goes, but leader epochs starting at the log end are
    /// still dropped (as Kafka does): a replica that led an epoch without appending anything
    /// keeps an entry that describes no data, and a follower must not keep it, or it would
    /// claim that the older epochs it replicates next belong to that epoch.
    ///
    /// # Errors
    /// I/O failures.
    pub fn truncate_to(&mut self, offset: i64) -> Result<()> {
        self.guarded(|log| log.truncate_to_unguarded(offset))
    }

    /// [`PartitionLog::truncate_to`] without the offline guard.
    fn truncate_to_unguarded(&mut self, offset: i64) -> Result<()> {
        self.dirty = true;
        if offset >= self.log_end_offset() {
            return self.epochs.truncate_from_end(self.log_end_offset());
        }
        if offset <= self.log_start_offset {
            return self.truncate_fully_and_start_at(offset);
        }
        while self.segments.len() > 1
            && self
                .segments
                .last_key_value()
                .is_some_and(|(b, _)| *b >= offset)
        {
            if let Some((_, seg)) = self.segments.pop_last() {
                seg.delete_files()?;
            }
        }
        let interval = self.config.index_interval_bytes;
        let gaps = recovery::Gaps::for_dir(&self.dir)?;
        let seg = self.active_mut()?;
        let file = seg.file()?;
        if let Some(loc) = seg.locate(&file, offset)? {
            seg.cut_at(loc.position)?;
        }
        let (_, _, problem) = recovery::rescan(seg, false, interval, gaps)?;
        if let Some(p) = problem {
            tracing::warn!(segment = %seg.log_path().display(), "after truncation: {p}");
        }
        seg.sync()?;
        let key = seg.log_key.clone();
        let new_end = seg.next_offset;
        io::sync_dir(&self.dir)?;
        if new_end < self.log_start_offset {
            // The removed batch straddled the log start: nothing visible is left.
            self.log_start_offset = new_end;
            self.start_checkpoint.write_now(vec![vec![new_end]])?;
        }
        self.epochs.truncate_from_end(new_end)?;
        crate::cleaner::checkpoint::lower_to(&self.dir, new_end)?;
        self.producers.delete_snapshots_above(new_end)?;
        let mut dropped = Vec::new();
        self.rebuild_producer_state(&mut dropped)?;
        self.durability.reset(new_end, &key, true);
        self.write_recovery_point()
    }

    /// Deletes all segments and starts empty at `new_start_offset`.
    ///
    /// # Errors
    /// I/O failures.
    pub fn truncate_fully_and_start_at(&mut self, new_start_offset: i64) -> Result<()> {
        self.guarded(|log| log.truncate_fully_and_start_at_unguarded(new_start_offset))
    }

    /// [`PartitionLog::truncate_fully_and_start_at`] without the offline guard.
    fn truncate_fully_and_start_at_unguarded(&mut self, new_start_offset: i64) -> Result<()> {
        self.dirty = true;
        let start = new_start_offset.clamp(0, crate::recovery::MAX_BASE_OFFSET);
        // The new start may be below the spares' offsets (`recycle`, rule 1).
        self.spares.drop_all()?;
        while let Some((_, seg)) = self.segments.pop_first() {
            seg.delete_files()?;
        }
        self.producers.delete_snapshots_above(-1)?;
        self.producers.clear();
        let seg = LogSegment::create(&self.dir, start)?;
        let key = seg.log_key.clone();
        self.segments.insert(start, seg);
        io::sync_dir(&self.dir)?;
        self.log_start_offset = start;
        self.start_checkpoint.write_now(vec![vec![start]])?;
        crate::cleaner::checkpoint::lower_to(&self.dir, start)?;
        self.epochs.clear()?;
        self.durability.reset(start, &key, true);
        self.write_recovery_point()
    }

    /// DeleteRecords: advances the log start offset to `offset` (persisted) and deletes
    /// segments wholly below it. Returns the new log start offset.
    ///
    /// # Errors
    /// [`LogError::OffsetOutOfRange`] if `offset` is above the log end offset; I/O failures.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64> {
        let (start, removed) = self.delete_records_before_deferred(offset)?;
        removed.delete()?;
        Ok(start)
    }

    /// [`PartitionLog::delete_records_before`], except that the segments taken out of the
    /// log are returned for the caller to delete after releasing its lock on the log, as
    /// [`PartitionLog::enforce_retention_deferred`] does.
    ///
    /// # Errors
    /// As [`PartitionLog::delete_records_before`].
    pub fn delete_records_before_deferred(
        &mut self,
        offset: i64,
    ) -> Result<(i64, RemovedSegments)> {
        self.guarded(|log| log.delete_records_before_deferred_unguarded(offset))
    }

    /// [`PartitionLog::delete_records_before_deferred`] without the offline guard.
    fn delete_records_before_deferred_unguarded(
        &mut self,
        offset: i64,
    ) -> Result<(i64, RemovedSegments)> {
        self.dirty = true;
        let log_end = self.log_end_offset();
        if offset > log_end || offset < 0 {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                log_start: self.log_start_offset,
                log_end,
            });
        }
        let mut removed = self.removed_segments();
        if offset <= self.log_start_offset {
            return Ok((self.log_start_offset, removed));
        }
        self.log_start_offset = offset;
        removed.writes.push((
            self.start_checkpoint.clone(),
            self.start_checkpoint.ticket(vec![vec![offset]]),
        ));
        removed
            .writes
            .extend(self.epochs.truncate_from_start_deferred(offset));
        if offset == log_end && self.active()?.size > 0 {
            self.roll(0)?;
        }
        self.remove_oldest_while(&mut removed, wholly_below_log_start)?;
        Ok((self.log_start_offset, removed))
    }

    /// Retention: rolls an active segment older than `segment.ms`, then deletes old segments
    /// (never the active one) by `retention.ms` (segment max timestamp older than
    /// `now_ms - retention.ms`) and `retention.bytes`. Returns segments deleted.
    ///
    /// # Errors
    /// I/O failures.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<usize> {
        let (n, removed) = self.enforce_retention_deferred(now_ms)?;
        removed.delete()?;
        Ok(n)
    }

    /// [`PartitionLog::enforce_retention`], except that the removed segments' files are
    /// returned for the caller to delete *after* releasing its lock on the log: unlinking a
    /// 1 GiB segment drops its page cache, which can take hundreds of milliseconds, and
    /// appends should not wait for that. The segments are already out of the log and the
    /// log start offset checkpointed; a crash before the files are deleted leaves them below
    /// the log start offset, where reads do not reach and the next retention removes them.
    ///
    /// # Errors
    /// I/O failures.
    pub fn enforce_retention_deferred(&mut self, now_ms: i64) -> Result<(usize, RemovedSegments)> {
        self.guarded(|log| log.enforce_retention_deferred_unguarded(now_ms))
    }

    /// [`PartitionLog::enforce_retention_deferred`] without the offline guard.
    fn enforce_retention_deferred_unguarded(
        &mut self,
        now_ms: i64,
    ) -> Result<(usize, RemovedSegments)> {
        self.dirty = true;
        let active = self.active()?;
        if let (Some(ms), Some(first)) = (self.config.segment_ms, active.first_batch_timestamp) {
            if active.size > 0 && now_ms.saturating_sub(first) > ms as i64 {
                self.roll(now_ms)?;
            }
        }
        let mut removed = self.removed_segments();
        // Spares no roll took in time: below the log start on disk, deleted with this
        // pass's segments.
        let expired = self.spares.take_expired(now_ms);
        removed.segments.extend(expired);
        let retired_from = removed.segments.len();
        // Kafka's log-start rule: segments that a truncation and a roll left wholly below the
        // log start offset (DeleteRecords removes its own at once).
        self.remove_oldest_while(&mut removed, wholly_below_log_start)?;
        // `cleanup.policy=compact` alone keeps every segment the cleaner leaves (Kafka).
        let retain = self.config.cleanup_policy.delete;
        if let Some(ms) = self.config.retention_ms.filter(|_| retain) {
            let limit = now_ms.saturating_sub(ms as i64);
            self.remove_oldest_while(&mut removed, |_, seg| seg.max_timestamp < limit)?;
        }
        if let Some(max) = self.config.retention_bytes.filter(|_| retain) {
            self.remove_oldest_while(&mut removed, |log, seg| log.size_bytes() - seg.size >= max)?;
        }
        self.keep_spares(&mut removed, retired_from, now_ms);
        Ok((removed.taken, removed))
    }

    /// Removes the oldest non-active segment while `pred` holds (into `removed`, files not yet
    /// deleted); moves the log start offset up and checkpoints it.
    fn remove_oldest_while(
        &mut self,
        removed: &mut RemovedSegments,
        pred: impl Fn(&PartitionLog, &LogSegment) -> bool,
    ) -> Result<()> {
        let before = removed.segments.len();
        while self.segments.len() > 1 {
            let Some((_, first)) = self.segments.first_key_value() else {
                break;
            };
            if !pred(self, first) {
                break;
            }
            if let Some((_, seg)) = self.segments.pop_first() {
                seg.forget_handles();
                removed.segments.push(seg);
                removed.taken += 1;
            }
        }
        if removed.segments.len() > before {
            let first_base = self.segments.keys().next().copied().unwrap_or(0);
            if first_base > self.log_start_offset {
                self.log_start_offset = first_base;
                removed
                    .writes
                    .extend(self.epochs.truncate_from_start_deferred(first_base));
            }
            let start = vec![vec![self.log_start_offset]];
            removed.writes.push((
                self.start_checkpoint.clone(),
                self.start_checkpoint.ticket(start),
            ));
        }
        Ok(())
    }

    /// Keeps segments removed from index `from` on as spares (`recycle`) when recycling is
    /// on. They become usable once `removed`'s log start checkpoint is written. Only
    /// retention keeps spares: it is what retires segments steadily; DeleteRecords frees
    /// the space its caller asked to free. `now_ms` dates them (see `recycle::SPARE_KEEP`).
    fn keep_spares(&mut self, removed: &mut RemovedSegments, from: usize, now_ms: i64) {
        if !self.config.recycle_segments || removed.segments.len() <= from {
            return;
        }
        let ready = Arc::new(AtomicBool::new(false));
        let retired = removed.segments.split_off(from);
        let rest = self.spares.keep(retired, &ready, now_ms);
        removed.segments.extend(rest);
        removed.ready.push(ready);
    }

    /// An empty [`RemovedSegments`] for this log.
    fn removed_segments(&self) -> RemovedSegments {
        RemovedSegments {
            segments: Vec::new(),
            writes: Vec::new(),
            ready: Vec::new(),
            taken: 0,
            dir: self.dir.clone(),
            dir_id: self.dir_id,
        }
    }
}

/// What retention or DeleteRecords took out of a log and has still to persist: the new log
/// start offset and leader epoch checkpoints, then the removed segments' files
/// ([`PartitionLog::enforce_retention_deferred`]). Both wait for [`RemovedSegments::delete`],
/// which the caller runs after releasing the log's lock: the checkpoint's fsync can wait
/// behind other writes to the disk for long, and unlinking a big file drops its page cache.
/// Until then a crash keeps the old log start and the files, which agree with each other.
#[derive(Debug)]
#[must_use = "the log start checkpoint and the removed files wait for `delete`"]
pub struct RemovedSegments {
    segments: Vec<LogSegment>,
    /// Checkpoints to write first (log start offset, leader epochs), with their tickets.
    writes: Vec<(Arc<OrderedCheckpoint>, CheckpointWrite)>,
    /// Spares taken from these segments, ready once the checkpoints are written.
    ready: Vec<Arc<AtomicBool>>,
    /// Segments taken out of the log (spares kept from them included).
    taken: usize,
    /// The partition directory and its identity when the log was opened.
    dir: std::path::PathBuf,
    dir_id: Option<io::DirIdentity>,
}

impl RemovedSegments {
    /// Writes the new log start offset and leader epoch checkpoints, then deletes the
    /// segments' files (log and both indexes): in that order, so that a crash never leaves a
    /// log start checkpoint below deleted files.
    ///
    /// # Errors
    /// I/O failures (after a checkpoint failure nothing is deleted; after that, the remaining
    /// files are still attempted).
    pub fn delete(self) -> Result<()> {
        self.write_log_start()?.delete()
    }

    /// The first half of [`RemovedSegments::delete`]: writes the log start offset and leader
    /// epoch checkpoints and hands back the files, still to delete. A caller that answers a
    /// client (DeleteRecords) can do so now and delete the files later: a crash in between
    /// leaves segments below the log start, which [`PartitionLog::open`] deletes.
    ///
    /// # Errors
    /// I/O failures writing a checkpoint (the files are then left alone).
    pub fn write_log_start(self) -> Result<RemovedFiles> {
        let mut files = RemovedFiles {
            segments: self.segments,
            dir: self.dir,
            dir_id: self.dir_id,
        };
        if io::dir_identity(&files.dir) != files.dir_id {
            // The partition was deleted meanwhile (and maybe made again under the same
            // name): these files and checkpoints are not the new partition's.
            files.segments.clear();
            return Ok(files);
        }
        for (file, w) in &self.writes {
            file.write(w)?;
        }
        crate::recycle::mark_ready(&self.ready);
        Ok(files)
    }
}

/// Segment files taken out of a log whose new log start is already checkpointed
/// ([`RemovedSegments::write_log_start`]), still to delete.
#[derive(Debug)]
#[must_use = "the files stay on disk until `delete` runs (or the log is opened again)"]
pub struct RemovedFiles {
    segments: Vec<LogSegment>,
    dir: std::path::PathBuf,
    dir_id: Option<io::DirIdentity>,
}

impl RemovedFiles {
    /// Bytes of the `.log` files still to delete.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    /// The cuts [`RemovedFiles::delete_paced`] makes in all (for
    /// [`crate::segment::gentle_pause`]).
    pub fn steps(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| crate::segment::gentle_steps(s.size))
            .sum()
    }

    /// [`RemovedFiles::delete_paced`] at the full pause
    /// ([`crate::segment::GENTLE_DELETE_PAUSE`]).
    ///
    /// # Errors
    /// I/O failures (the remaining files are still attempted).
    pub fn delete(self) -> Result<()> {
        self.delete_paced(crate::segment::GENTLE_DELETE_PAUSE)
    }

    /// Deletes the files, each `.log` cut down a few MiB at a time first with `pause` between
    /// cuts (`LogSegment::delete_files_gently`); nothing if the partition directory is no
    /// longer the one the log opened.
    ///
    /// # Errors
    /// I/O failures (the remaining files are still attempted).
    pub fn delete_paced(self, pause: std::time::Duration) -> Result<()> {
        if io::dir_identity(&self.dir) != self.dir_id {
            return Ok(());
        }
        let mut first_err = None;
        for seg in self.segments {
            if let Err(e) = seg.delete_files_gently(pause) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// Whether every record of `seg` is below the log start offset (the next segment starts at or
/// below it).
fn wholly_below_log_start(log: &PartitionLog, seg: &LogSegment) -> bool {
    log.segments
        .range(seg.base_offset + 1..)
        .next()
        .is_some_and(|(next, _)| *next <= log.log_start_offset)
}
