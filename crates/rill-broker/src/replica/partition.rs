//! One hosted partition: its log, its replication state, its high watermark, and the
//! produce, fetch and replication primitives.
//!
//! Thread-safety: the log sits behind a mutex held only for an append or for locating and
//! copying a read; durability waits (fsync group commit) run without it, so one fsync covers
//! every append that arrived meanwhile. The replication state ([`ReplicaState`]) has its own
//! mutex, never held across I/O. The high watermark only grows (except when a follower must
//! truncate below it after an unclean election) and is published with release ordering after
//! the bytes below it are durable here and, on a leader, present on every ISR member.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rill_log::{
    AppendInfo, Durability, FileSlice, LogConfig, LogError, PartitionLog, RemovedFiles, ValidBatch,
};
use rill_meta::PartitionImage;
use uuid::Uuid;

use super::purgatory::Watchers;
use super::state::{ReplicaState, Transition};

/// Why an acks=all produce was not acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitError {
    /// Leadership moved before the ISR had the batch.
    NotLeader,
    /// The ISR had the batch but had shrunk below `min.insync.replicas`.
    NotEnoughReplicasAfterAppend,
    /// The request's timeout passed first.
    TimedOut,
}

/// What a fetch read from one partition.
#[derive(Debug, Default)]
pub struct FetchRead {
    /// Whole record batches, as stored.
    pub records: Vec<u8>,
    /// High watermark at the time of the read.
    pub high_watermark: i64,
    /// Log start offset at the time of the read.
    pub log_start_offset: i64,
}

/// What a fetch read from one partition, as file ranges.
#[derive(Debug, Default)]
pub struct FetchSlices {
    /// Whole record batches, as ranges of segment files.
    pub slices: Vec<FileSlice>,
    /// Sum of the slice lengths.
    pub len: u64,
    /// Records in those batches.
    pub records: u64,
    /// Log start offset at the time of the read.
    pub log_start_offset: i64,
}

/// A partition's log figures at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogStats {
    /// First offset in the log.
    pub log_start_offset: i64,
    /// Offset after the last record appended.
    pub log_end_offset: i64,
    /// Offsets below this are committed and visible to consumers.
    pub high_watermark: i64,
    /// Bytes on disk (segments).
    pub size_bytes: u64,
    /// Number of segments.
    pub segments: usize,
    /// Retired segment files held for rolls to write over (see `rill_log::recycle`).
    pub spare_segments: usize,
    /// Rolls that wrote over a retired segment file since the log was opened.
    pub segments_recycled: u64,
}

/// A partition hosted by this broker.
#[derive(Debug)]
pub struct Partition {
    /// Topic name.
    pub topic: String,
    /// Topic id.
    pub topic_id: Uuid,
    /// Partition index.
    pub index: i32,
    /// The partition's directory.
    dir: PathBuf,
    /// The log; the mutex is the single append lock.
    log: Arc<Mutex<PartitionLog>>,
    /// A background thread fsyncs segments rolled in page-cache mode now (see
    /// [`Partition::sync_rolled_segments_later`]).
    roll_sync_running: Arc<AtomicBool>,
    /// Durability waits without the log lock.
    durability: Arc<Durability>,
    /// Offsets below this are durable and visible to consumers.
    high_watermark: AtomicI64,
    /// `min.insync.replicas` of the topic.
    min_insync_replicas: AtomicI64,
    /// When the periodic flush last ran (for `flush.ms`).
    last_flush_ms: AtomicI64,
    /// The leader epoch appended batches are stamped with (from the metadata image).
    leader_epoch: std::sync::atomic::AtomicI32,
    /// Offsets below this are durable in this broker's log.
    local_durable_end: AtomicI64,
    /// Role, ISR and follower progress.
    state: Mutex<ReplicaState>,
    /// The delayed produces and fetches waiting on this partition (see [`super::purgatory`]).
    watchers: Watchers,
}

/// Which partition to open and where it lives.
#[derive(Debug, Clone)]
pub struct PartitionId<'a> {
    /// The partition's directory.
    pub dir: &'a Path,
    /// Topic name.
    pub topic: &'a str,
    /// Topic id.
    pub topic_id: Uuid,
    /// Partition index.
    pub index: i32,
}

impl Partition {
    /// Opens (or creates) the partition's log, running recovery. `local_id` is this broker's
    /// id.
    ///
    /// # Errors
    /// Storage errors from opening the log.
    pub fn open(
        id: PartitionId<'_>,
        config: LogConfig,
        min_insync_replicas: u32,
        local_id: i32,
    ) -> Result<Self, LogError> {
        let PartitionId {
            dir,
            topic,
            topic_id,
            index,
        } = id;
        let (log, report) = PartitionLog::open(dir, config)?;
        if report.truncated_bytes > 0 || !report.dropped.is_empty() {
            tracing::warn!(
                topic, partition = index, truncated_bytes = report.truncated_bytes,
                dropped = ?report.dropped, "recovery cut a damaged tail"
            );
        }
        // What survived recovery is durable here; whether it is committed (on every ISR
        // member) is only known up to the checkpointed high watermark. A lone leader raises
        // it to its log end as soon as its role is applied.
        let end = log.log_end_offset();
        let hw = log.checkpointed_high_watermark().unwrap_or(0).clamp(0, end);
        crate::observe::log_flush::watch(&log.durability());
        Ok(Partition {
            topic: topic.to_string(),
            topic_id,
            index,
            dir: dir.to_path_buf(),
            durability: log.durability(),
            log: Arc::new(Mutex::new(log)),
            roll_sync_running: Arc::new(AtomicBool::new(false)),
            high_watermark: AtomicI64::new(hw),
            min_insync_replicas: AtomicI64::new(i64::from(min_insync_replicas)),
            last_flush_ms: AtomicI64::new(crate::clock::now_ms()),
            leader_epoch: std::sync::atomic::AtomicI32::new(0),
            local_durable_end: AtomicI64::new(end),
            state: Mutex::new(ReplicaState::new(local_id)),
            watchers: Watchers::default(),
        })
    }

    /// The replication state, locked (never across I/O).
    fn state(&self) -> MutexGuard<'_, ReplicaState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes this partition's state from the metadata image: role, epochs, replicas, ISR.
    /// A new leader records its epoch's start offset in the leader epoch cache.
    ///
    /// # Errors
    /// Storage errors writing the epoch checkpoint.
    pub fn apply_image(&self, image: &PartitionImage, now_ms: i64) -> Result<Transition, LogError> {
        let mut log = self.log()?;
        let end = log.log_end_offset();
        let transition = self.state().apply(image, end, now_ms);
        let epoch = image.leader_epoch;
        if transition == Transition::BecameLeader
            && log
                .leader_epoch_cache()
                .latest_epoch()
                .is_none_or(|e| e < epoch)
        {
            log.assign_leader_epoch(epoch, end)?;
        }
        drop(log);
        self.leader_epoch.fetch_max(epoch, Ordering::AcqRel);
        if transition != Transition::Unchanged && image.replicas.len() > 1 {
            tracing::info!(
                topic = %self.topic, partition = self.index, leader = image.leader,
                leader_epoch = epoch, isr = ?image.isr, role = ?transition, "partition role changed"
            );
        }
        self.advance_high_watermark();
        self.watchers.committed.notify_waiters();
        Ok(transition)
    }

    /// The delayed operations waiting on this partition.
    pub fn watchers(&self) -> &Watchers {
        &self.watchers
    }

    /// A copy of the replication state.
    pub fn replica_state(&self) -> ReplicaState {
        self.state().clone()
    }

    /// How many offsets this replica trails its leader by (DescribeLogDirs): on a follower
    /// the leader's last reported high watermark minus this log's end; 0 on a leader.
    pub fn offset_lag(&self) -> i64 {
        let state = self.state();
        if !state.is_follower() {
            return 0;
        }
        let leader_hw = state.leader_high_watermark;
        drop(state);
        let end = self.log_end_offset().unwrap_or(0);
        (leader_hw - end).max(0)
    }

    /// Whether this broker leads the partition.
    pub fn is_leader(&self) -> bool {
        self.state().is_leader()
    }

    /// The committed ISR's size.
    pub fn isr_len(&self) -> usize {
        self.state().isr.len()
    }

    /// The leader epoch batches are stamped with.
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    /// Leader: raises the high watermark to what this broker's durable end and the ISR's
    /// fetches allow; wakes waiters when it moved. Returns whether it moved.
    fn advance_high_watermark(&self) -> bool {
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
        now_ms: i64,
    ) -> Result<bool, LogError> {
        let end = self.log_end_offset()?;
        if fetch_offset > end {
            // The follower has what this log does not: it must truncate first.
            return Ok(false);
        }
        self.state()
            .record_fetch(replica, fetch_offset, end, now_ms);
        Ok(self.advance_high_watermark())
    }

    /// Leader: one follower fetch's progress on each of its partitions, every one recorded
    /// (a partition left out would wait for the follower's next fetch, up to
    /// `replica.fetch.wait.max.ms` later). Returns whether some high watermark moved.
    /// Partitions whose log cannot be read are skipped.
    pub fn record_follower_fetches<'a>(
        fetches: impl IntoIterator<Item = (&'a Partition, i64)>,
        replica: i32,
        now_ms: i64,
    ) -> bool {
        fetches.into_iter().fold(false, |moved, (p, offset)| {
            p.record_follower_fetch(replica, offset, now_ms)
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

    /// Whether this broker follows `leader` in `leader_epoch` (a fetch or truncation made
    /// for that leader still applies).
    fn follows(&self, leader: i32, leader_epoch: i32) -> bool {
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
    fn follower_synced(&self, end: i64, leader_high_watermark: i64) -> bool {
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

    fn truncate(
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
    fn after_truncation(&self, end: i64, found: bool) {
        self.local_durable_end.fetch_min(end, Ordering::AcqRel);
        let before = self.high_watermark.fetch_min(end, Ordering::AcqRel);
        if before > end {
            tracing::warn!(topic = %self.topic, partition = self.index, high_watermark = before, log_end = end, "high watermark lowered by truncation");
        }
        self.state().needs_truncation = !found;
    }

    /// Reads for a follower: whole batches from `offset` up to the log end (not only the
    /// high watermark: followers replicate what is not yet committed).
    ///
    /// # Errors
    /// `OffsetOutOfRange` outside `[log start, log end]`; storage errors.
    pub fn read_for_follower(&self, offset: i64, max_bytes: u64) -> Result<FetchRead, LogError> {
        let log = self.log()?;
        let mut records = Vec::new();
        let end = log.log_end_offset();
        if offset < end {
            log.read_into(offset, max_bytes, end, true, &mut records)?;
        } else if offset > end || offset < log.log_start_offset() {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                log_start: log.log_start_offset(),
                log_end: end,
            });
        }
        Ok(FetchRead {
            records,
            high_watermark: self.high_watermark(),
            log_start_offset: log.log_start_offset(),
        })
    }

    /// The log, locked. A panic while holding the lock cannot leave the log half-written in
    /// memory (appends validate before they write), so a poisoned lock is taken over.
    fn log(&self) -> Result<MutexGuard<'_, PartitionLog>, LogError> {
        Ok(self.log.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The partition's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
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
    fn sync_rolled_segments_later(&self) {
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
    fn publish_durable(
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
    fn now_durable(&self, end_offset: i64) {
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

    /// Log start offset.
    ///
    /// # Errors
    /// A poisoned lock.
    pub fn log_start_offset(&self) -> Result<i64, LogError> {
        Ok(self.log()?.log_start_offset())
    }

    /// Log end offset.
    ///
    /// # Errors
    /// A poisoned lock.
    pub fn log_end_offset(&self) -> Result<i64, LogError> {
        Ok(self.log()?.log_end_offset())
    }

    /// Size of the log on disk.
    ///
    /// # Errors
    /// A poisoned lock.
    pub fn size_bytes(&self) -> Result<u64, LogError> {
        Ok(self.log()?.size_bytes())
    }

    /// Log start/end offsets, size and segment count under one lock (metrics, admin API).
    ///
    /// # Errors
    /// A poisoned lock.
    pub fn log_stats(&self) -> Result<LogStats, LogError> {
        let log = self.log()?;
        Ok(LogStats {
            log_start_offset: log.log_start_offset(),
            log_end_offset: log.log_end_offset(),
            high_watermark: self.high_watermark(),
            size_bytes: log.size_bytes(),
            segments: log.segment_count(),
            spare_segments: log.spare_count(),
            segments_recycled: log.recycled_count(),
        })
    }

    /// Reads whole batches from `offset` up to the high watermark. A position past the high
    /// watermark but within the log gets nothing, not an error, as in Kafka: a new leader (or
    /// a restarted one) learns the high watermark its consumers already saw only after its
    /// followers fetch again (found by the replication simulation).
    ///
    /// # Errors
    /// `OffsetOutOfRange` when `offset` is outside `[log start, log end]`, storage errors.
    pub fn read(&self, offset: i64, max_bytes: u64, min_one: bool) -> Result<FetchRead, LogError> {
        let log = self.log()?;
        let high_watermark = self.high_watermark();
        let log_start_offset = log.log_start_offset();
        in_log(&log, offset)?;
        let mut records = Vec::new();
        if offset < high_watermark {
            log.read_into(offset, max_bytes, high_watermark, min_one, &mut records)?;
        }
        Ok(FetchRead {
            records,
            high_watermark,
            log_start_offset,
        })
    }

    /// Whole batches from `offset` up to `bound` (exclusive) as file ranges, for a fetch: no
    /// byte is copied. `bound` is the fetch's read bound (the high watermark for consumers).
    /// A position at or past `bound` but within the log gets nothing, not an error (see
    /// [`Partition::read`]).
    ///
    /// # Errors
    /// `OffsetOutOfRange` when `offset` is outside `[log start, log end]`, storage errors.
    pub fn read_slices(
        &self,
        offset: i64,
        bound: i64,
        max_bytes: u64,
        min_one: bool,
    ) -> Result<FetchSlices, LogError> {
        let log = self.log()?;
        let log_start_offset = log.log_start_offset();
        in_log(&log, offset)?;
        let read = if offset < bound {
            log.read(offset, max_bytes, bound, min_one)?
        } else {
            rill_log::ReadResult::default()
        };
        Ok(FetchSlices {
            slices: read.slices,
            len: read.total_len,
            records: read.records,
            log_start_offset,
        })
    }

    /// [`Partition::read_slices`] of a position with nothing below `bound` to read (an idle
    /// consumer's fetch), cheap enough for an async worker: no file is touched. `None` when
    /// there is data to read or the log's lock is busy (an append holds it): the caller then
    /// reads on the blocking pool.
    pub fn read_nothing_now(
        &self,
        offset: i64,
        bound: i64,
    ) -> Option<Result<FetchSlices, LogError>> {
        if offset < bound {
            return None;
        }
        let log = match self.log.try_lock() {
            Ok(log) => log,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        let log_start_offset = log.log_start_offset();
        Some(in_log(&log, offset).map(|()| FetchSlices {
            log_start_offset,
            ..FetchSlices::default()
        }))
    }

    /// Copies the one batch that contains `offset`.
    fn batch_at(&self, offset: i64) -> Result<bytes::Bytes, LogError> {
        let mut buf = Vec::new();
        self.log()?.read_into(offset, 1, i64::MAX, true, &mut buf)?;
        Ok(bytes::Bytes::from(buf))
    }

    /// ListOffsets by timestamp: the first record (below the high watermark) whose timestamp
    /// is at least `ts`, as (offset, timestamp).
    ///
    /// # Errors
    /// Storage errors.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, LogError> {
        // The log names the first batch whose max timestamp reaches `ts` (so one of its
        // records does); the record inside it is found by decoding that batch.
        let Some(found) = self.log()?.offset_for_timestamp(ts)? else {
            return Ok(None);
        };
        let hw = self.high_watermark();
        if found.0 >= hw {
            return Ok(None);
        }
        let batch = self.batch_at(found.0)?;
        let exact = super::timestamps::first_at_or_after(batch, found.0, ts).unwrap_or(found);
        Ok((exact.0 < hw).then_some(exact))
    }

    /// ListOffsets MAX_TIMESTAMP: the first record with the largest timestamp.
    ///
    /// # Errors
    /// Storage errors.
    pub fn max_timestamp_offset(&self) -> Result<Option<(i64, i64)>, LogError> {
        let Some((offset, ts)) = self.log()?.max_timestamp_offset()? else {
            return Ok(None);
        };
        if offset >= self.high_watermark() {
            return Ok(None);
        }
        let batch = self.batch_at(offset)?;
        Ok(super::timestamps::max_timestamp(batch).or(Some((offset, ts))))
    }

    /// DeleteRecords: `offset` -1 means the high watermark. Returns the new log start offset.
    ///
    /// # Errors
    /// `OffsetOutOfRange` above the high watermark; storage errors.
    pub fn delete_records(&self, offset: i64) -> Result<i64, LogError> {
        let hw = self.high_watermark();
        let target = if offset == -1 { hw } else { offset };
        let (start, removed) = {
            let mut log = self.log()?;
            if target < 0 || target > hw {
                return Err(LogError::OffsetOutOfRange {
                    requested: offset,
                    log_start: log.log_start_offset(),
                    log_end: hw,
                });
            }
            log.delete_records_before_deferred(target)?
        };
        // The log start is checkpointed without the log's lock, as retention does (see
        // `enforce_retention`); the files go on a background thread, after the answer.
        super::file_deleter::delete_later(removed.write_log_start()?);
        Ok(start)
    }

    /// Applies new topic configs.
    ///
    /// # Errors
    /// A poisoned lock.
    pub fn set_config(&self, config: LogConfig, min_insync_replicas: u32) -> Result<(), LogError> {
        self.min_insync_replicas
            .store(i64::from(min_insync_replicas), Ordering::Relaxed);
        self.log()?.set_config(config);
        Ok(())
    }

    /// Rolls and takes segments out by time and size, and checkpoints the new log start;
    /// returns how many went and their files, for the caller to delete.
    ///
    /// # Errors
    /// Storage errors.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<(usize, RemovedFiles), LogError> {
        // The checkpoint and the files are written and deleted after the log's lock is
        // released: appends (which run on the async workers under group commit) do not wait
        // for them.
        let (n, removed) = self.log()?.enforce_retention_deferred(now_ms)?;
        Ok((n, removed.write_log_start()?))
    }

    /// Flushes the log and checkpoints the high watermark (shutdown, periodic flush).
    ///
    /// # Errors
    /// Storage errors.
    pub fn flush(&self) -> Result<(), LogError> {
        let hw = self.high_watermark();
        let mut log = self.log()?;
        log.flush()?;
        log.checkpoint_high_watermark(hw)
    }

    /// Clean shutdown: trims the active segment's file to its size and flushes
    /// ([`PartitionLog::close`]), then checkpoints the high watermark.
    ///
    /// # Errors
    /// Storage errors.
    pub fn close(&self) -> Result<(), LogError> {
        let hw = self.high_watermark();
        let mut log = self.log()?;
        log.close()?;
        log.checkpoint_high_watermark(hw)
    }

    /// Flushes when the topic relaxes fsync with `flush.ms` and that much time has passed.
    ///
    /// # Errors
    /// Storage errors.
    pub fn flush_if_due(&self, now_ms: i64) -> Result<(), LogError> {
        let interval = match self.log()?.config().flush {
            rill_log::FlushPolicy::Interval { ms: Some(ms), .. } => ms as i64,
            _ => return Ok(()),
        };
        if now_ms - self.last_flush_ms.load(Ordering::Relaxed) < interval {
            return Ok(());
        }
        self.last_flush_ms.store(now_ms, Ordering::Relaxed);
        self.flush()
    }

    /// Deletes the partition's data (DeleteTopics). The partition must no longer be reachable.
    ///
    /// # Errors
    /// Storage errors.
    pub fn delete(self) -> Result<(), LogError> {
        // A rolled-segment fsync thread may still hold the log for a moment.
        let mut shared = self.log;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let log = loop {
            match Arc::try_unwrap(shared) {
                Ok(log) => break log,
                Err(back) if std::time::Instant::now() < deadline => {
                    shared = back;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(_) => {
                    return Err(LogError::StorageOffline {
                        path: self.dir,
                        reason: "a rolled segment's fsync did not finish within 60 s".into(),
                    })
                }
            }
        };
        // Renamed out of the way at once (a topic of the same name may be made again right
        // away); the files go gently on the background thread.
        if let Some(trashed) = log
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .trash()?
        {
            super::file_deleter::delete_dir_later(trashed);
        }
        Ok(())
    }
}

/// `OffsetOutOfRange` unless `offset` is within `[log start, log end]` (a read position).
fn in_log(log: &PartitionLog, offset: i64) -> Result<(), LogError> {
    if offset > log.log_end_offset() || offset < log.log_start_offset() {
        return Err(LogError::OffsetOutOfRange {
            requested: offset,
            log_start: log.log_start_offset(),
            log_end: log.log_end_offset(),
        });
    }
    Ok(())
}

/// Fsyncs the segments `log` rolled without their fsync until none is left (the lock is held
/// only to list them and to record the result). Returns false after a failure, which is
/// logged and leaves them listed: the log's next flush or recovery-point write fsyncs them
/// again and reports the error.
fn sync_rolled_segments(log: &Mutex<PartitionLog>) -> bool {
    let lock = || log.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let Some(syncs) = lock().pending_roll_syncs() else {
            return true;
        };
        if let Err(e) = syncs.sync() {
            tracing::error!(error = %e, "fsync of rolled segments failed");
            return false;
        }
        if let Err(e) = lock().roll_syncs_done(&syncs) {
            tracing::error!(error = %e, "recording the rolled segments' fsync failed");
            return false;
        }
    }
}
