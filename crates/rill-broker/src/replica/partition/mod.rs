//! One hosted partition: its log, its replication state, its high watermark, and the
//! produce, fetch and replication primitives. This file has the type, opening, metadata
//! images and the replication state; the methods are split by role: [`leader`] (followers'
//! progress, high watermark, ISR proposals, appends and their durability), [`follower`]
//! (appends from the leader, truncation after divergence), [`reads`] (fetch reads,
//! offsets, timestamps, sizes), [`txn`] (the last stable offset, transaction markers,
//! producer state) and [`log_admin`] (DeleteRecords, configs, retention, flushes, close,
//! delete).
//!
//! Thread-safety: the log sits behind a mutex held only for an append or for locating and
//! copying a read; durability waits (fsync group commit) run without it, so one fsync covers
//! every append that arrived meanwhile. The replication state ([`ReplicaState`]) has its own
//! mutex, never held across I/O. The high watermark only grows (except when a follower must
//! truncate below it after an unclean election) and is published with release ordering after
//! the bytes below it are durable here and, on a leader, present on every ISR member.
//! The log's first unstable offset (its oldest open transaction) is published in an atomic
//! each time the log's lock is released ([`LogGuard`]), so the last stable offset is two
//! atomic loads and never lags a change made under the lock.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rill_log::{AbortedTxn, Durability, FileSlice, LogConfig, LogError, PartitionLog};
use rill_meta::PartitionImage;
use uuid::Uuid;

use super::purgatory::Watchers;
use super::state::{ReplicaState, Transition};
use crate::topic_config::ProduceRules;

mod follower;
mod leader;
mod log_admin;
mod reads;
mod txn;

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
    /// The aborted transactions overlapping the batches read (read_committed only; empty
    /// otherwise and when nothing was read).
    pub aborted: Vec<AbortedTxn>,
}

/// Which records a client's read may see (Kafka's `IsolationLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Everything below the high watermark (`isolation_level` 0).
    #[default]
    ReadUncommitted,
    /// Everything below the last stable offset, with the aborted transactions of the range
    /// (`isolation_level` 1).
    ReadCommitted,
}

impl Isolation {
    /// From the wire's `isolation_level` (1: read_committed; anything else reads
    /// uncommitted, as v0 requests without the field do).
    pub fn from_level(level: i8) -> Self {
        if level == 1 {
            Isolation::ReadCommitted
        } else {
            Isolation::ReadUncommitted
        }
    }
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
    /// Offsets below this are stable: no open transaction starts below it (what
    /// read_committed consumers read up to; at most the high watermark).
    pub last_stable_offset: i64,
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
    /// The log's first unstable offset (its oldest open transaction's first offset, raised
    /// to the log start), `i64::MAX` with none open: published by [`LogGuard`] under the
    /// log's lock, read without it ([`Partition::last_stable_offset`]).
    first_unstable_offset: AtomicI64,
    /// `min.insync.replicas` of the topic.
    min_insync_replicas: AtomicI64,
    /// The topic's produce checks (`compression.type`, timestamp bounds, keys on compacted
    /// topics); copied out per append.
    produce_rules: Mutex<ProduceRules>,
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
        let first_unstable = first_unstable_of(&log);
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
            first_unstable_offset: AtomicI64::new(first_unstable),
            min_insync_replicas: AtomicI64::new(i64::from(min_insync_replicas)),
            produce_rules: Mutex::new(ProduceRules::default()),
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

    /// The log, locked. A panic while holding the lock cannot leave the log half-written in
    /// memory (appends validate before they write), so a poisoned lock is taken over.
    /// Every use of the log goes through this guard, so whatever changed its transactions
    /// (appends, markers, truncation, DeleteRecords, retention) is published when the lock
    /// is released (see [`LogGuard`]).
    fn log(&self) -> Result<LogGuard<'_>, LogError> {
        Ok(LogGuard {
            log: self.log.lock().unwrap_or_else(|p| p.into_inner()),
            partition: self,
        })
    }

    /// The partition's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The partition's log, locked. When it is released (still under the lock) the log's first
/// unstable offset is published to [`Partition::last_stable_offset`]'s atomic, and when it
/// rose (a transaction ended, the log start passed it) the partition's `committed` watchers
/// are woken: the last stable offset may have moved without the high watermark (a marker
/// appended after its transaction's data was committed), and parked read_committed fetches
/// must read again. A new transaction lowers it only from "none" to an offset at or above
/// the log end, so no reader's last stable offset goes back.
pub(super) struct LogGuard<'a> {
    /// The lock held.
    log: MutexGuard<'a, PartitionLog>,
    /// Where to publish.
    partition: &'a Partition,
}

impl Deref for LogGuard<'_> {
    type Target = PartitionLog;

    fn deref(&self) -> &PartitionLog {
        &self.log
    }
}

impl DerefMut for LogGuard<'_> {
    fn deref_mut(&mut self) -> &mut PartitionLog {
        &mut self.log
    }
}

impl Drop for LogGuard<'_> {
    fn drop(&mut self) {
        let now = first_unstable_of(&self.log);
        let before = self
            .partition
            .first_unstable_offset
            .swap(now, Ordering::AcqRel);
        if now > before {
            self.partition.watchers.committed.notify_waiters();
        }
    }
}

/// The first unstable offset of `log` as the partition publishes it: its oldest open
/// transaction's first offset raised to the log start (Kafka's `updateFirstUnstableOffset`:
/// the records below the log start are gone), `i64::MAX` when none is open.
fn first_unstable_of(log: &PartitionLog) -> i64 {
    log.first_unstable_offset()
        .map_or(i64::MAX, |o| o.max(log.log_start_offset()))
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
