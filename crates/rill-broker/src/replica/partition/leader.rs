//! A partition's leader side: followers' progress, the high watermark, ISR proposals, the
//! acks=all commit status, appends and their durability.

use std::sync::atomic::Ordering;

use rill_log::{AppendInfo, Durability, LogError, ValidBatch};

use super::{sync_rolled_segments, CommitError, Partition};

impl Partition {
    /// Leader: raises the high watermark to what this broker's durable end and the ISR's
    /// fetches allow; wakes waiters when it moved. Returns whether it moved.
    pub(super) fn advance_high_watermark(&self) -> bool {
        let state = self.state();
        if !state.is_leader() {
            return false;
        }
        let candidate = state.high_watermark(self.local_durable_end.load(Ordering::Acquire));
        drop(state);
        let before = self.high_watermark.fetch_max(candidate, Ordering::AcqRel);
        if candidate > before {
            self.watchers.committed.notify_waiters();
            true
        } else {
            false
        }
    }

    /// Leader: a follower fetched from `fetch_offset`. Returns whether the high watermark
    /// moved (parked consumer fetches may then be answered).
    ///
    /// # Errors
    /// A poisoned lock.
    pub fn record_follower_fetch(
        &self,
        replica: i32,
        fetch_offset: i64,
        log_start_offset: i64,
        now_ms: i64,
    ) -> Result<bool, LogError> {
        let end = self.log_end_offset()?;
        if fetch_offset > end {
            // The follower has what this log does not: it must truncate first.
            return Ok(false);
        }
        let start_moved = {
            let mut state = self.state();
            state.record_fetch(replica, fetch_offset, end, now_ms);
            state.record_log_start(replica, log_start_offset)
        };
        if start_moved {
            // DeleteRecords waits for the low watermark on this watcher.
            self.watchers.committed.notify_waiters();
        }
        Ok(self.advance_high_watermark())
    }

    /// Leader: the low watermark, the smallest log start offset of the ISR (Kafka's
    /// `lowWatermarkIfLeader`; a member that never reported one counts as -1).
    ///
    /// # Errors
    /// A poisoned lock.
    pub fn low_watermark(&self) -> Result<i64, LogError> {
        let local = self.log_start_offset()?;
        Ok(self.state().low_watermark(local))
    }

    /// DeleteRecords' purgatory: waits until the low watermark reaches `offset` while this
    /// broker leads in `leader_epoch`, or `deadline`. Returns the low watermark and whether
    /// it reached `offset`.
    ///
    /// # Errors
    /// A poisoned lock.
    pub async fn wait_low_watermark(
        &self,
        offset: i64,
        leader_epoch: i32,
        deadline: tokio::time::Instant,
    ) -> Result<(i64, bool), LogError> {
        loop {
            let notified = self.watchers.committed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let low = self.low_watermark()?;
            if low >= offset {
                return Ok((low, true));
            }
            if !self.is_leader() || self.leader_epoch() != leader_epoch {
                return Ok((low, false));
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok((self.low_watermark()?, false));
            }
        }
    }

    /// Leader: one follower fetch's progress on each of its partitions, every one recorded
    /// (a partition left out would wait for the follower's next fetch, up to
    /// `replica.fetch.wait.max.ms` later). Returns whether some high watermark moved.
    /// Partitions whose log cannot be read are skipped.
    pub fn record_follower_fetches<'a>(
        fetches: impl IntoIterator<Item = (&'a Partition, i64, i64)>,
        replica: i32,
        now_ms: i64,
    ) -> bool {
        fetches
            .into_iter()
            .fold(false, |moved, (p, offset, log_start)| {
                p.record_follower_fetch(replica, offset, log_start, now_ms)
                    .unwrap_or(false)
                    || moved
            })
    }

    /// Leader: the ISR change to ask the controller for now, with the epochs it is based
    /// on: (new ISR, leader epoch, partition epoch). Marks it pending.
    pub fn isr_proposal(&self, now_ms: i64, lag_max_ms: i64) -> Option<(Vec<i32>, i32, i32)> {
        let hw = self.high_watermark();
        let mut state = self.state();
        let isr = state.isr_proposal(hw, now_ms, lag_max_ms)?;
        Some((isr, state.leader_epoch, state.partition_epoch))
    }

    /// Leader: the pending ISR change to send again (its commit got no answer), with the
    /// epochs it was decided on: (ISR, leader epoch, partition epoch).
    pub fn pending_isr_proposal(&self) -> Option<(Vec<i32>, i32, i32)> {
        let state = self.state();
        let isr = state.pending_isr_retry()?;
        Some((isr, state.leader_epoch, state.partition_epoch))
    }

    /// Forgets a pending ISR change that the controller refused.
    pub fn clear_pending_isr(&self) {
        self.state().clear_pending();
    }

    /// acks=all: waits until the ISR has every offset below `end_offset` (the high watermark
    /// reached it) while this broker still leads in `leader_epoch`, then checks the ISR is
    /// still at least `min.insync.replicas`.
    ///
    /// # Errors
    /// [`CommitError`] as above.
    pub async fn wait_committed(
        &self,
        end_offset: i64,
        leader_epoch: i32,
        deadline: tokio::time::Instant,
    ) -> Result<(), CommitError> {
        loop {
            let notified = self.watchers.committed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(outcome) = self.commit_status(end_offset, leader_epoch) {
                return outcome;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(CommitError::TimedOut);
            }
        }
    }

    /// acks=all, checked once: `None` while the high watermark has not reached `end_offset`
    /// and this broker still leads in `leader_epoch`; otherwise the answer
    /// [`Partition::wait_committed`] gives.
    pub fn commit_status(
        &self,
        end_offset: i64,
        leader_epoch: i32,
    ) -> Option<Result<(), CommitError>> {
        let state = self.state();
        if !state.is_leader() || state.leader_epoch != leader_epoch {
            return Some(Err(CommitError::NotLeader));
        }
        if self.high_watermark() < end_offset {
            return None;
        }
        Some(if (state.isr.len() as i64) < self.min_insync_replicas() {
            Err(CommitError::NotEnoughReplicasAfterAppend)
        } else {
            Ok(())
        })
    }

    /// Appends one batch as leader (offsets assigned in place). Does not wait for durability.
    ///
    /// # Errors
    /// Validation and storage errors; nothing is written then.
    pub fn append(&self, batch: &mut [u8], now_ms: i64) -> Result<AppendInfo, LogError> {
        let epoch = self.leader_epoch.load(Ordering::Acquire);
        let (info, rolled) = {
            let mut log = self.log()?;
            let info = log.append(batch, epoch, now_ms)?;
            (info, log.has_pending_roll_syncs())
        };
        self.watchers.appended.notify_waiters();
        if rolled {
            self.sync_rolled_segments_later();
        }
        Ok(info)
    }

    /// Appends a transaction marker as leader (WriteTxnMarkers; see
    /// `rill_log::PartitionLog::append_marker` for the epoch checks). Does not wait for
    /// durability: the caller waits as for acks=all. Followers are woken to replicate it;
    /// parked read_committed fetches are woken when it moves the last stable offset (when
    /// the log's lock is released, see `LogGuard`).
    ///
    /// # Errors
    /// INVALID_PRODUCER_EPOCH / TRANSACTION_COORDINATOR_FENCED cases and storage errors.
    pub fn append_txn_marker(
        &self,
        spec: &rill_log::MarkerSpec,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let epoch = self.leader_epoch.load(Ordering::Acquire);
        let (info, rolled) = {
            let mut log = self.log()?;
            let info = log.append_marker(spec, epoch, now_ms)?;
            (info, log.has_pending_roll_syncs())
        };
        self.watchers.appended.notify_waiters();
        if rolled {
            self.sync_rolled_segments_later();
        }
        Ok(info)
    }

    /// Whether `producer_id` has a transaction open in this partition (its first
    /// transactional batch here was appended and no marker ended it yet).
    ///
    /// # Errors
    /// A poisoned lock.
    pub fn has_open_txn(&self, producer_id: i64) -> Result<bool, LogError> {
        Ok(self
            .log()?
            .producer_state()
            .producer(producer_id)
            .is_some_and(|e| e.current_txn_first_offset.is_some()))
    }

    /// Appends one batch validated beforehand (outside the lock), as leader: the lock is held
    /// only for the offset assignment and the write. Does not wait for durability.
    ///
    /// # Errors
    /// Size, sequence and storage errors; nothing is written then.
    pub fn append_valid(
        &self,
        batch: &ValidBatch<'_>,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let epoch = self.leader_epoch.load(Ordering::Acquire);
        let (info, rolled) = {
            let mut log = self.log()?;
            let info = log.append_valid(batch, epoch, now_ms)?;
            (info, log.has_pending_roll_syncs())
        };
        self.watchers.appended.notify_waiters();
        if rolled {
            self.sync_rolled_segments_later();
        }
        Ok(info)
    }

    /// Page-cache mode: fsyncs the segments the log rolled without their fsync on a thread of
    /// its own, without the log's lock, so neither appends to this partition nor the request
    /// that rolled wait for up to a segment of dirty bytes to reach the disk. One such thread
    /// per partition at a time; after a failed fsync none again (the log's flush retries).
    pub(super) fn sync_rolled_segments_later(&self) {
        if self.roll_sync_running.swap(true, Ordering::AcqRel) {
            return;
        }
        let (log, running) = (self.log.clone(), self.roll_sync_running.clone());
        let spawned = std::thread::Builder::new()
            .name("rill-roll-sync".into())
            .spawn(move || loop {
                if !sync_rolled_segments(&log) {
                    // `running` stays set, so appends stop starting threads that would fail
                    // the same way; the log's next flush fsyncs them again and reports it.
                    break;
                }
                running.store(false, Ordering::Release);
                // A roll that came after the last look, while this thread still counted as
                // running, spawned no thread: take it here.
                let more = log
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .has_pending_roll_syncs();
                if !more || running.swap(true, Ordering::AcqRel) {
                    break;
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no thread for the rolled segments' fsync; next roll or flush does it");
            self.roll_sync_running.store(false, Ordering::Release);
        }
    }

    /// Waits until offsets below `end_offset` are durable here, then raises the high
    /// watermark as far as the ISR allows (on a lone leader: to `end_offset`).
    ///
    /// # Errors
    /// fsync failures: the append must not be acknowledged.
    pub fn wait_durable(&self, end_offset: i64) -> Result<(), LogError> {
        self.durability.wait_durable(end_offset)?;
        self.now_durable(end_offset);
        Ok(())
    }

    /// Whether the log fsyncs through group commit (see [`Durability::group_commit`]).
    pub fn group_commit(&self) -> bool {
        self.durability.group_commit()
    }

    /// Whether an append may fsync inline (see [`Durability::append_may_fsync`]).
    pub fn append_may_fsync(&self) -> bool {
        self.durability.append_may_fsync()
    }

    /// [`Partition::wait_durable`] for several batches (of one or more partitions) at once,
    /// for async callers: they are queued together, so one group-commit round covers them
    /// all, and the wait holds no thread (the log directory's helper threads run the fsyncs).
    /// A batch the log's policy does not fsync for (page-cache mode) or that is durable
    /// already answers without waiting. One result per `(partition, end offset)`.
    pub async fn wait_durable_all_async(waits: &[(&Partition, i64)]) -> Vec<Result<(), LogError>> {
        let pairs: Vec<(&Durability, i64)> = waits
            .iter()
            .map(|(p, end)| (p.durability.as_ref(), *end))
            .collect();
        Self::publish_durable(rill_log::flush::wait_durable_all_async(&pairs).await, waits)
    }

    /// For each durable batch of `waits` (in order with `results`), raises its partition's
    /// high watermark as far as the ISR allows; passes the results on.
    pub(super) fn publish_durable(
        results: Vec<Result<(), LogError>>,
        waits: &[(&Partition, i64)],
    ) -> Vec<Result<(), LogError>> {
        results
            .into_iter()
            .zip(waits)
            .map(|(r, (p, end))| r.map(|()| p.now_durable(*end)))
            .collect()
    }

    /// Offsets below `end_offset` are durable here: raise the high watermark if the ISR allows.
    pub(super) fn now_durable(&self, end_offset: i64) {
        self.local_durable_end
            .fetch_max(end_offset, Ordering::AcqRel);
        self.advance_high_watermark();
    }

    /// The high watermark.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// `min.insync.replicas`.
    pub fn min_insync_replicas(&self) -> i64 {
        self.min_insync_replicas.load(Ordering::Relaxed)
    }
}
