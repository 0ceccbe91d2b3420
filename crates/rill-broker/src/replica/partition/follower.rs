//! A partition's follower side: appending what the leader sent, follower durability,
//! leader-epoch lookups, and truncation after divergence.

use std::sync::atomic::Ordering;

use rill_log::{AppendInfo, Durability, LogError};

use super::Partition;

impl Partition {
    /// Whether this broker follows `leader` in `leader_epoch` (a fetch or truncation made
    /// for that leader still applies).
    pub(super) fn follows(&self, leader: i32, leader_epoch: i32) -> bool {
        let st = self.state();
        st.is_follower() && st.leader == leader && st.leader_epoch == leader_epoch
    }

    /// Follower: appends batches fetched from `leader` in `leader_epoch` (offsets and epochs
    /// kept), unless a metadata change overtook the fetch or the divergence point is still
    /// to be found: then `Ok(None)` and nothing is written.
    ///
    /// # Errors
    /// Corrupt or non-contiguous batches, storage errors; nothing is written then.
    pub fn append_from_leader(
        &self,
        leader: i32,
        leader_epoch: i32,
        batches: &[u8],
    ) -> Result<Option<AppendInfo>, LogError> {
        let (info, rolled) = {
            let mut log = self.log()?;
            if !self.follows(leader, leader_epoch) || self.needs_truncation() {
                return Ok(None);
            }
            let info = log.append_replicated(batches)?;
            (info, log.has_pending_roll_syncs())
        };
        if rolled {
            self.sync_rolled_segments_later();
        }
        Ok(info)
    }

    /// Follower: moves this log's start up to the leader's (Kafka's
    /// `LeaderOffsetIncremented`), bounded by the high watermark, so records the leader
    /// deleted (DeleteRecords, retention) go here too and never come back after a leader
    /// change. Nothing happens when a metadata change overtook the fetch. Returns the log
    /// start offset.
    ///
    /// # Errors
    /// Storage errors.
    pub fn follow_leader_log_start(
        &self,
        leader: i32,
        leader_epoch: i32,
        leader_log_start: i64,
    ) -> Result<i64, LogError> {
        let target = leader_log_start.min(self.high_watermark());
        let (start, removed) = {
            let mut log = self.log()?;
            let current = log.log_start_offset();
            if !self.follows(leader, leader_epoch) || target <= current {
                return Ok(current);
            }
            log.delete_records_before_deferred(target)?
        };
        super::super::file_deleter::delete_later(removed.write_log_start()?);
        Ok(start)
    }

    /// Follower: the fetched data did not fit this log (it holds what the leader does not):
    /// find the divergence point again before the next fetch.
    pub fn mark_diverged(&self) {
        self.state().needs_truncation = true;
    }

    /// Follower: waits until everything appended to each partition of one fetch answer is
    /// durable, then takes the leader's high watermark (bounded by the log end). Their fsyncs
    /// are queued together, so one group-commit round covers them all instead of one round
    /// after another. Blocking. One result per `(partition, leader high watermark)`: whether
    /// that partition's high watermark moved, or its fsync failure.
    pub fn follower_sync_all(syncs: &[(&Partition, i64)]) -> Vec<Result<bool, LogError>> {
        let ends: Vec<Result<i64, LogError>> =
            syncs.iter().map(|(p, _)| p.log_end_offset()).collect();
        let pairs: Vec<(&Durability, i64)> = syncs
            .iter()
            .zip(&ends)
            .filter_map(|((p, _), end)| end.as_ref().ok().map(|e| (p.durability.as_ref(), *e)))
            .collect();
        let mut synced = rill_log::flush::wait_durable_all(&pairs).into_iter();
        syncs
            .iter()
            .zip(ends)
            .map(|((p, leader_hw), end)| {
                let end = end?;
                // One result per queued pair; without one, nothing is taken as durable.
                match synced.next() {
                    Some(r) => r?,
                    None => return Ok(false),
                }
                Ok(p.follower_synced(end, *leader_hw))
            })
            .collect()
    }

    /// Follower: offsets below `end` are durable here; takes the leader's high watermark
    /// (bounded by `end`). Returns whether the high watermark moved.
    pub(super) fn follower_synced(&self, end: i64, leader_high_watermark: i64) -> bool {
        self.local_durable_end.fetch_max(end, Ordering::AcqRel);
        self.state().leader_high_watermark = leader_high_watermark;
        let candidate = leader_high_watermark.min(end);
        let moved = self.high_watermark.fetch_max(candidate, Ordering::AcqRel) < candidate;
        if moved {
            self.watchers.committed.notify_waiters();
        }
        moved
    }

    /// The latest leader epoch in this log's epoch cache.
    ///
    /// # Errors
    /// A poisoned lock.
    pub fn latest_epoch(&self) -> Result<Option<i32>, LogError> {
        Ok(self.log()?.leader_epoch_cache().latest_epoch())
    }

    /// OffsetForLeaderEpoch: (the largest epoch <= `epoch` this log has, the end offset of
    /// that epoch), as Kafka's leader epoch cache answers.
    ///
    /// # Errors
    /// A poisoned lock.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Result<(i32, i64), LogError> {
        let log = self.log()?;
        Ok(log
            .leader_epoch_cache()
            .end_offset_for(epoch, log.log_end_offset()))
    }

    /// Whether this follower must find its divergence point before fetching.
    pub fn needs_truncation(&self) -> bool {
        self.state().needs_truncation
    }

    /// Follower of `leader` in `leader_epoch`: removes everything at and above `offset`
    /// (divergence from the leader) and marks the truncation done. The high watermark only
    /// drops when the leader's log is shorter than it (after an unclean election). At the
    /// log end nothing is cut but leader epochs without data go (see
    /// `PartitionLog::truncate_to`).
    ///
    /// # Errors
    /// Storage errors.
    pub fn truncate_to(&self, leader: i32, leader_epoch: i32, offset: i64) -> Result<(), LogError> {
        self.truncate(leader, leader_epoch, offset, true)
    }

    /// Follower of `leader` in `leader_epoch`: one step of the divergence search (KIP-279):
    /// removes everything at and above `offset`; the divergence point is still to be found
    /// (the next OffsetForLeaderEpoch asks about an older epoch).
    ///
    /// # Errors
    /// Storage errors.
    pub fn truncate_and_search_on(
        &self,
        leader: i32,
        leader_epoch: i32,
        offset: i64,
    ) -> Result<(), LogError> {
        self.truncate(leader, leader_epoch, offset, false)
    }

    pub(super) fn truncate(
        &self,
        leader: i32,
        leader_epoch: i32,
        offset: i64,
        found: bool,
    ) -> Result<(), LogError> {
        let mut log = self.log()?;
        if !self.follows(leader, leader_epoch) {
            return Ok(());
        }
        if offset < log.log_end_offset() {
            tracing::info!(topic = %self.topic, partition = self.index, from = log.log_end_offset(), to = offset, "truncating to the leader's log");
        }
        log.truncate_to(offset)?;
        self.after_truncation(log.log_end_offset(), found);
        Ok(())
    }

    /// Follower of `leader` in `leader_epoch`: drops the whole log and starts empty at
    /// `offset` (the leader's log start is past this log's end).
    ///
    /// # Errors
    /// Storage errors.
    pub fn truncate_fully_and_start_at(
        &self,
        leader: i32,
        leader_epoch: i32,
        offset: i64,
    ) -> Result<(), LogError> {
        let mut log = self.log()?;
        if !self.follows(leader, leader_epoch) {
            return Ok(());
        }
        tracing::info!(topic = %self.topic, partition = self.index, start = offset, "replacing the log: the leader's log starts later");
        log.truncate_fully_and_start_at(offset)?;
        self.after_truncation(offset, true);
        Ok(())
    }

    /// After a follower truncation to `end`: durable end and high watermark bounded by it;
    /// `found`: the divergence point was found (fetching may start).
    pub(super) fn after_truncation(&self, end: i64, found: bool) {
        self.local_durable_end.fetch_min(end, Ordering::AcqRel);
        let before = self.high_watermark.fetch_min(end, Ordering::AcqRel);
        if before > end {
            tracing::warn!(topic = %self.topic, partition = self.index, high_watermark = before, log_end = end, "high watermark lowered by truncation");
        }
        self.state().needs_truncation = !found;
    }
}
