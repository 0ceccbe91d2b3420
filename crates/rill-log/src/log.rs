//! `PartitionLog`: one partition's log: append, roll, flush, open-time recovery glue.
//!
//! A directory of segments keyed by base offset (see `segment`), plus checkpoints
//! (`recovery-point`, `log-start-offset`, `high-watermark`, `leader-epoch-checkpoint`) and
//! producer snapshots. Invariants: the last segment is the active one and the only one
//! appended to; segments are ordered and non-overlapping; `log_start_offset` lies in
//! `[first segment base, log_end_offset]`; `log_end_offset` is the active segment's next offset.
//! Reads live in `log_read`, truncation and retention in `log_admin`.
//!
//! Offline after a failed fsync: every mutating method (appends, rolls, truncation,
//! DeleteRecords, retention, flush, close) fails with [`LogError::StorageOffline`] once an
//! fsync of the log failed, anywhere (see `PartitionLog::guarded`); reads still work, and
//! opening the log again brings it back. Time comes from the caller (`now_ms` arguments).
//!
//! Thread-safety: `Send + Sync`. Mutating methods take `&mut self`, so the caller wraps the
//! log in a `Mutex`; `read` takes `&self` (an `RwLock` works too). Durability waits go through
//! [`Durability`], which works without the log's lock.

use crate::batch::{BatchHeader, ValidBatch, BATCH_HEADER_LEN};
use crate::checkpoint::{
    self, HIGH_WATERMARK_FILE, LEADER_EPOCH_FILE, LOG_START_OFFSET_FILE, RECOVERY_POINT_FILE,
};
use crate::config::{FlushPolicy, LogConfig, TimestampType};
use crate::control::{ControlKind, MarkerSpec, TxnOutcome};
use crate::epoch_cache::LeaderEpochCache;
use crate::error::{LogError, Result};
use crate::flush::Durability;
use crate::io;
use crate::producer_state::{self, CompletedTxn, ProducerStateManager, SeqCheck};
use crate::recovery::{self, RecoveryPoint, RecoveryReport};
use crate::recycle::Spares;
use crate::segment::LogSegment;
use crate::txn_index::{self, AbortedTxn};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Result of an append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset assigned to the first record.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// Broker append time for LogAppendTime topics, -1 for CreateTime.
    pub log_append_time_ms: i64,
    /// Largest timestamp in the batch (after LogAppendTime patching).
    pub max_timestamp: i64,
    /// Offset reported for the max timestamp (the batch's last offset).
    pub offset_of_max_timestamp: i64,
    /// Log start offset after the append.
    pub log_start_offset: i64,
    /// Set when the producer state says this batch is a retry of one already in the log:
    /// offsets above are the original ones and nothing was written.
    pub duplicate: bool,
    /// Records in the batch.
    pub record_count: i32,
    /// Bytes written (0 for a duplicate).
    pub bytes: usize,
}

/// The storage of one partition. See the module docs.
#[derive(Debug)]
pub struct PartitionLog {
    pub(crate) dir: PathBuf,
    pub(crate) config: LogConfig,
    pub(crate) segments: BTreeMap<i64, LogSegment>,
    pub(crate) log_start_offset: i64,
    pub(crate) high_watermark: Option<i64>,
    pub(crate) epochs: LeaderEpochCache,
    pub(crate) producers: ProducerStateManager,
    pub(crate) durability: Arc<Durability>,
    /// Records appended since the last fsync (Interval policy).
    pub(crate) unflushed_messages: u64,
    /// Append time of the last fsync (Interval policy).
    pub(crate) last_flush_ms: Option<i64>,
    /// Something changed since the last `flush` (which is skipped when nothing did).
    pub(crate) dirty: bool,
    /// The log start offset checkpoint (written in decision order, see
    /// [`checkpoint::OrderedCheckpoint`]).
    pub(crate) start_checkpoint: Arc<checkpoint::OrderedCheckpoint>,
    /// The partition directory's identity at open ([`io::dir_identity`]): work finished after
    /// the log's lock was released checks it, so it never writes into a directory that was
    /// deleted and made again for a new partition of the same name.
    pub(crate) dir_id: Option<io::DirIdentity>,
    /// Segments rolled in page-cache mode whose fsync was left for later, oldest first (see
    /// [`PartitionLog::pending_roll_syncs`]).
    pub(crate) unsynced_rolls: Vec<UnsyncedRoll>,
    /// Retired segments a roll may write over (see `recycle`).
    pub(crate) spares: Spares,
    /// Rolls that wrote over a spare since the log was opened.
    pub(crate) recycled: u64,
}

pub(crate) use crate::roll_sync::{UnsyncedRoll, MAX_UNSYNCED_ROLLS};

impl Drop for PartitionLog {
    /// Returns this log's cached file handles (no flush: a dropped log behaves like a crash;
    /// call [`PartitionLog::flush`] at shutdown).
    fn drop(&mut self) {
        for seg in self.segments.values() {
            seg.forget_handles();
        }
        self.spares.forget_handles();
    }
}

fn read_checkpoint_single(path: &Path, report: &mut RecoveryReport) -> Result<Option<i64>> {
    match checkpoint::read_single(path)? {
        None => Ok(None),
        Some(Ok(v)) => Ok(Some(v)),
        Some(Err(reason)) => {
            report
                .dropped
                .push(format!("checkpoint {} ignored: {reason}", path.display()));
            Ok(None)
        }
    }
}

fn read_recovery_point(dir: &Path, report: &mut RecoveryReport) -> Result<Option<RecoveryPoint>> {
    let path = dir.join(RECOVERY_POINT_FILE);
    match checkpoint::read_rows(&path, 3)? {
        Some(Ok(rows)) if rows.len() == 1 && rows[0][2] >= 0 => Ok(Some(RecoveryPoint {
            offset: rows[0][0],
            segment_base: rows[0][1],
            segment_size: rows[0][2] as u64,
        })),
        None => Ok(None),
        Some(Ok(_)) => {
            report.dropped.push(format!(
                "checkpoint {} ignored: bad entries",
                path.display()
            ));
            Ok(None)
        }
        Some(Err(reason)) => {
            report
                .dropped
                .push(format!("checkpoint {} ignored: {reason}", path.display()));
            Ok(None)
        }
    }
}

impl PartitionLog {
    /// Opens (creating if missing) a partition directory, runs recovery, loads checkpoints,
    /// rebuilds producer state.
    ///
    /// # Errors
    /// I/O failures. Damaged bytes are not errors: they are cut and listed in the report.
    pub fn open(dir: &Path, config: LogConfig) -> Result<(PartitionLog, RecoveryReport)> {
        io::create_dir_all(dir)?;
        let mut report = RecoveryReport::default();
        let rp = read_recovery_point(dir, &mut report)?;
        let start_cp = read_checkpoint_single(&dir.join(LOG_START_OFFSET_FILE), &mut report)?;
        let hw = read_checkpoint_single(&dir.join(HIGH_WATERMARK_FILE), &mut report)?;
        let mut segments =
            recovery::load_segments(dir, rp, start_cp, config.index_interval_bytes, &mut report)?;
        if segments.is_empty() {
            // No directory fsync: losing an empty segment to a power cut loses nothing.
            let base = start_cp.unwrap_or(0).clamp(0, recovery::MAX_BASE_OFFSET);
            segments.insert(base, LogSegment::create(dir, base)?);
        }
        let (first_base, log_end) = match (segments.values().next(), segments.values().next_back())
        {
            (Some(f), Some(l)) => (f.base_offset, l.next_offset),
            _ => (0, 0),
        };
        let log_start_offset = start_cp.unwrap_or(first_base).clamp(first_base, log_end);
        if let Some(cp) = start_cp.filter(|cp| *cp > log_start_offset) {
            // DeleteRecords past offsets a power cut then lost: those offsets go to new
            // records, which the old checkpoint must not hide at the next open (found by the
            // power-loss test).
            checkpoint::write_single(&dir.join(LOG_START_OFFSET_FILE), log_start_offset)?;
            report.dropped.push(format!(
                "log start checkpoint {cp} is past the log end: lowered to {log_start_offset}"
            ));
        }
        // Retention and DeleteRecords checkpoint the log start before they delete the files
        // below it (`RemovedSegments::write_log_start`): a crash in between leaves whole
        // segments below the log start, deleted here.
        while segments.len() > 1 {
            match segments.first_key_value() {
                Some((_, first)) if first.next_offset <= log_start_offset => {}
                _ => break,
            }
            if let Some((base, seg)) = segments.pop_first() {
                seg.delete_files()?;
                report.dropped.push(format!(
                    "segment {base} ends below the log start offset {log_start_offset}: deleted"
                ));
            }
        }
        let (mut epochs, problem) = LeaderEpochCache::load(dir.join(LEADER_EPOCH_FILE))?;
        report.dropped.extend(problem);
        epochs.truncate_from_end(log_end)?;
        // Retention writes this checkpoint after releasing the log's lock: a crash in between
        // leaves entries below the log start, dropped here.
        epochs.truncate_from_start(log_start_offset)?;
        let durability = Arc::new(Durability::new(dir.to_path_buf(), log_end, &config.flush));
        let mut log = PartitionLog {
            dir: dir.to_path_buf(),
            config,
            segments,
            log_start_offset,
            high_watermark: hw,
            epochs,
            producers: ProducerStateManager::new(dir.to_path_buf()),
            durability,
            unflushed_messages: 0,
            last_flush_ms: None,
            dirty: true,
            start_checkpoint: Arc::new(checkpoint::OrderedCheckpoint::new(
                dir.join(LOG_START_OFFSET_FILE),
            )),
            unsynced_rolls: Vec::new(),
            spares: Spares::default(),
            recycled: 0,
            dir_id: io::dir_identity(dir),
        };
        log.rebuild_producer_state(&mut report.dropped)?;
        // Bytes recovered from a crashed process may still be only in the page cache: not
        // only the active segment's, but (page-cache mode) those of segments rolled without
        // their fsync and their directory entries. Every segment from the recovery point's on
        // is fsynced, then the directory, before the log reports them durable (the power-loss
        // test found rolled segments reported durable after a crash and lost to a power cut).
        if report.batches_scanned > 0 || report.truncated_bytes > 0 {
            let from = rp.map_or(i64::MIN, |r| r.segment_base);
            for seg in log.segments.range(from..).map(|(_, s)| s) {
                seg.sync()?;
            }
            io::sync_dir(dir)?;
        }
        let active = log.active()?;
        log.durability.reset(log_end, &active.log_key, true);
        report.segments = log.segments.len();
        Ok((log, report))
    }

    /// Runs a mutating operation unless the log is offline: after a failed fsync (here, in a
    /// group-commit round or in [`RollSyncs::sync`]) the kernel may have dropped unsynced
    /// pages, and a later fsync that succeeds proves nothing about them, so the log refuses
    /// every write, truncation, roll and checkpoint with [`LogError::StorageOffline`] until
    /// it is opened again (as Kafka takes a failed log directory offline). An fsync failure
    /// in `f` takes the log offline.
    pub(crate) fn guarded<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.durability.ensure_online()?;
        let res = f(self);
        if let Err(e) = &res {
            if e.is_sync_failure() {
                tracing::error!(dir = %self.dir.display(), error = %e, "fsync failed: log offline");
                self.durability.fail(e);
            }
        }
        res
    }

    pub(crate) fn active(&self) -> Result<&LogSegment> {
        self.segments
            .values()
            .next_back()
            .ok_or_else(|| LogError::invalid("log has no segment"))
    }

    pub(crate) fn active_mut(&mut self) -> Result<&mut LogSegment> {
        self.segments
            .values_mut()
            .next_back()
            .ok_or_else(|| LogError::invalid("log has no segment"))
    }

    /// Rebuilds producer state from the newest snapshot plus the batches after it (headers,
    /// and the control record of each marker). Aborted-transaction index entries past the
    /// end of their segment (a crash cut the log) are dropped, and those the replayed aborts
    /// need are written if missing.
    pub(crate) fn rebuild_producer_state(&mut self, dropped: &mut Vec<String>) -> Result<()> {
        let log_end = self.log_end_offset();
        let from = self
            .producers
            .load_latest(log_end, dropped)?
            .unwrap_or(self.log_start_offset)
            .max(self.log_start_offset);
        for seg in self.segments.values().filter(|s| s.next_offset >= from) {
            txn_index::truncate_from(
                &txn_index::path_for(&self.dir, seg.base_offset),
                seg.next_offset,
            )?;
        }
        let mut batches = Vec::new();
        self.for_each_header_from(from, |h| batches.push(*h))?;
        for h in &batches {
            if !h.is_control() {
                self.producers.update(h);
                continue;
            }
            let bytes = self.read_batch_bytes(h)?;
            match crate::control::read_control(&bytes) {
                Ok(ControlKind::Marker {
                    outcome,
                    coordinator_epoch,
                }) => {
                    if let Some(done) = self.producers.update_marker(h, outcome, coordinator_epoch)
                    {
                        self.index_if_aborted(&done, true)?;
                    }
                }
                Ok(ControlKind::Other) => {}
                Err(e) => dropped.push(format!(
                    "control batch at offset {} unreadable ({e}); its transaction stays open",
                    h.base_offset
                )),
            }
        }
        Ok(())
    }

    /// The whole bytes of the batch `h` of this log (found by its base offset).
    fn read_batch_bytes(&self, h: &BatchHeader) -> Result<Vec<u8>> {
        let seg = self
            .segments
            .range(..=h.base_offset)
            .next_back()
            .map(|(_, s)| s)
            .ok_or_else(|| {
                LogError::invalid(format!("no segment holds offset {}", h.base_offset))
            })?;
        let file = seg.file()?;
        let loc = seg
            .locate(&file, h.base_offset)?
            .ok_or_else(|| LogError::invalid(format!("batch at {} not found", h.base_offset)))?;
        let mut buf = vec![0u8; h.total_len()];
        let n = io::read_at(&file, seg.log_path(), loc.position, &mut buf)?;
        if n < buf.len() {
            return Err(LogError::corrupt(format!(
                "batch at offset {} is cut short",
                h.base_offset
            )));
        }
        Ok(buf)
    }

    /// A marker was written: updates the producer state and, for an abort, the index of
    /// aborted transactions.
    fn apply_control(&mut self, head: &[u8], body: &[u8], h: &BatchHeader) -> Result<()> {
        let mut bytes = Vec::with_capacity(head.len() + body.len());
        bytes.extend_from_slice(head);
        bytes.extend_from_slice(body);
        if let ControlKind::Marker {
            outcome,
            coordinator_epoch,
        } = crate::control::read_control(&bytes)?
        {
            if let Some(done) = self.producers.update_marker(h, outcome, coordinator_epoch) {
                self.index_if_aborted(&done, false)?;
            }
        }
        Ok(())
    }

    /// Writes the index entry of an aborted transaction to its marker's segment; with
    /// `if_missing`, only when the entry is not there already (replay at open).
    fn index_if_aborted(&mut self, done: &CompletedTxn, if_missing: bool) -> Result<()> {
        if done.outcome != TxnOutcome::Abort {
            return Ok(());
        }
        let Some((&base, _)) = self.segments.range(..=done.last_offset).next_back() else {
            return Ok(());
        };
        let path = txn_index::path_for(&self.dir, base);
        let entry = AbortedTxn {
            producer_id: done.producer_id,
            first_offset: done.first_offset,
            last_offset: done.last_offset,
            last_stable_offset: self
                .producers
                .first_unstable_offset()
                .unwrap_or(done.last_offset + 1)
                .min(done.last_offset + 1),
        };
        if if_missing
            && txn_index::read_all(&path)?
                .iter()
                .any(|e| e.producer_id == entry.producer_id && e.last_offset == entry.last_offset)
        {
            return Ok(());
        }
        txn_index::append(&path, &entry)?;
        if let Some(seg) = self.segments.get_mut(&base) {
            seg.txn_index_entries = true;
        }
        Ok(())
    }

    /// Leader append of a transaction marker the coordinator asked for (WriteTxnMarkers):
    /// checks the producer and coordinator epochs, writes a control batch at the log end and
    /// ends the producer's transaction here (an abort gets its index entry).
    ///
    /// # Errors
    /// [`LogError::InvalidProducerEpoch`], [`LogError::TransactionCoordinatorFenced`], I/O
    /// failures.
    pub fn append_marker(
        &mut self,
        spec: &MarkerSpec,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo> {
        self.producers.check_marker(
            spec.producer_id,
            spec.producer_epoch,
            spec.coordinator_epoch,
        )?;
        let mut bytes = crate::control::build_marker(spec)?;
        let valid = ValidBatch::new(&bytes)?;
        let (info, head) = self.guarded(|log| {
            let h = *valid.header();
            let base = log.log_end_offset();
            if log
                .active()?
                .must_roll(valid.bytes().len(), base, &log.config, now_ms)
            {
                log.roll(now_ms)?;
            }
            let head = valid.patched_header(base, leader_epoch, None);
            let ph = BatchHeader::parse(&head)?;
            log.write_batch_parts(&head, &valid.bytes()[BATCH_HEADER_LEN..], &ph, now_ms)?;
            if leader_epoch >= 0 && log.epochs.latest_epoch().is_none_or(|e| e < leader_epoch) {
                log.epochs.assign(leader_epoch, base)?;
            }
            Ok((
                AppendInfo {
                    base_offset: base,
                    last_offset: base,
                    log_append_time_ms: -1,
                    max_timestamp: h.max_timestamp,
                    offset_of_max_timestamp: base,
                    log_start_offset: log.log_start_offset,
                    duplicate: false,
                    record_count: 1,
                    bytes: valid.bytes().len(),
                },
                head,
            ))
        })?;
        bytes[..BATCH_HEADER_LEN].copy_from_slice(&head);
        Ok(info)
    }

    /// The first offset of any ongoing transaction: read_committed consumers see nothing at
    /// or above it (the last stable offset is the smaller of it and the high watermark).
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.producers.first_unstable_offset()
    }

    /// The aborted transactions a read_committed consumer must know of to read `[from,
    /// upper)`: those with a record below `upper` and a marker at or after `from`, from the
    /// index of every segment from the one holding `from` on (stopping once an entry shows
    /// every transaction overlapping the range was complete). Segments whose index has no
    /// entries are skipped without touching a file (see [`PartitionLog::has_aborted_transactions`]),
    /// so a log in which no transaction was ever aborted answers with no I/O at all.
    ///
    /// # Errors
    /// I/O failures reading an index.
    pub fn aborted_transactions(&self, from: i64, upper: i64) -> Result<Vec<AbortedTxn>> {
        let mut out = Vec::new();
        let start = self
            .segments
            .range(..=from)
            .next_back()
            .map_or(i64::MIN, |(b, _)| *b);
        let indexed = self
            .segments
            .range(start..)
            .filter(|(_, s)| s.txn_index_entries)
            .map(|(b, _)| *b);
        for base in indexed {
            for e in txn_index::read_all(&txn_index::path_for(&self.dir, base))? {
                if e.last_offset >= from && e.first_offset < upper {
                    out.push(e);
                }
                if e.last_stable_offset >= upper {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    /// Whether any segment from the one holding `from` on may have aborted transactions in
    /// its index (no file is touched: see `LogSegment::txn_index_entries`). When false,
    /// [`PartitionLog::aborted_transactions`] from `from` is empty and reads nothing.
    pub fn has_aborted_transactions(&self, from: i64) -> bool {
        let start = self
            .segments
            .range(..=from)
            .next_back()
            .map_or(i64::MIN, |(b, _)| *b);
        self.segments
            .range(start..)
            .any(|(_, s)| s.txn_index_entries)
    }

    /// Calls `f` on every batch header whose last offset is `>= from`, in order.
    pub(crate) fn for_each_header_from(
        &self,
        from: i64,
        mut f: impl FnMut(&BatchHeader),
    ) -> Result<()> {
        for seg in self.segments.values() {
            if seg.next_offset <= from {
                continue;
            }
            let file = seg.file()?;
            let mut pos = match seg.locate(&file, from)? {
                Some(l) => l.position,
                None => continue,
            };
            while let Some(h) = seg.header_at(&file, pos)? {
                f(&h);
                pos += h.total_len() as u64;
            }
        }
        Ok(())
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current configuration.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Replaces the configuration; takes effect at the next operation.
    pub fn set_config(&mut self, c: LogConfig) {
        if c.flush == FlushPolicy::GroupCommit {
            // Group-commit rounds fsync the active segment only: older segments rolled
            // without their fsync must be on disk before any offset counts as durable.
            if let Err(e) = self.sync_unsynced_rolls() {
                tracing::error!(dir = %self.dir.display(), error = %e, "fsync of rolled segments failed");
                self.durability.fail(&e);
            }
        }
        self.durability.set_policy(&c.flush);
        self.config = c;
    }

    /// First offset still in the log.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// Offset the next record will get.
    pub fn log_end_offset(&self) -> i64 {
        self.segments
            .values()
            .next_back()
            .map_or(0, |s| s.next_offset)
    }

    /// Bytes in all `.log` files.
    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.size).sum()
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Handle for durability waits that works without holding the log's lock.
    pub fn durability(&self) -> Arc<Durability> {
        self.durability.clone()
    }

    /// The leader epoch cache.
    pub fn leader_epoch_cache(&self) -> &LeaderEpochCache {
        &self.epochs
    }

    /// Idempotent producer state.
    pub fn producer_state(&self) -> &ProducerStateManager {
        &self.producers
    }

    /// Record that `epoch` starts at `start_offset` (persisted atomically).
    ///
    /// # Errors
    /// I/O failures writing the checkpoint.
    pub fn assign_leader_epoch(&mut self, epoch: i32, start_offset: i64) -> Result<()> {
        self.epochs.assign(epoch, start_offset)
    }

    /// Persists the caller's high watermark (atomic checkpoint file).
    ///
    /// # Errors
    /// I/O failures; the previous checkpoint is then intact.
    pub fn checkpoint_high_watermark(&mut self, hw: i64) -> Result<()> {
        checkpoint::write_single(&self.dir.join(HIGH_WATERMARK_FILE), hw)?;
        self.high_watermark = Some(hw);
        Ok(())
    }

    /// The last checkpointed high watermark, if any.
    pub fn checkpointed_high_watermark(&self) -> Option<i64> {
        self.high_watermark
    }

    /// Leader append; see the API contract: validates, checks producer sequence, assigns
    /// offsets in place, rolls if needed, writes, updates indexes. `batch` is patched in place
    /// (base offset, leader epoch, LogAppendTime) like the bytes written.
    ///
    /// # Errors
    /// [`LogError::CorruptBatch`], [`LogError::InvalidBatch`], [`LogError::BatchTooLarge`],
    /// [`LogError::OutOfOrderSequence`], [`LogError::InvalidProducerEpoch`], I/O failures.
    /// On error nothing is written.
    pub fn append(
        &mut self,
        batch: &mut [u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo> {
        if batch.len() > self.config.max_message_bytes as usize {
            return Err(LogError::BatchTooLarge {
                size: batch.len(),
                max: self.config.max_message_bytes as usize,
            });
        }
        let (info, head) = {
            let valid = ValidBatch::new(batch)?;
            self.append_checked(&valid, leader_epoch, now_ms)?
        };
        if let Some(head) = head {
            batch[..BATCH_HEADER_LEN].copy_from_slice(&head);
        }
        Ok(info)
    }

    /// Leader append of a batch validated beforehand (outside the lock that serialises
    /// appends): checks size and producer sequence, assigns offsets, rolls if needed and
    /// writes the client's bytes as they are behind a patched copy of the 61-byte header
    /// (one `pwritev`, no copy of the records).
    ///
    /// # Errors
    /// As [`PartitionLog::append`], except validation errors, which [`ValidBatch::new`] gave.
    pub fn append_valid(
        &mut self,
        batch: &ValidBatch<'_>,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo> {
        let size = batch.bytes().len();
        if size > self.config.max_message_bytes as usize {
            return Err(LogError::BatchTooLarge {
                size,
                max: self.config.max_message_bytes as usize,
            });
        }
        self.append_checked(batch, leader_epoch, now_ms)
            .map(|(info, _)| info)
    }

    /// The append itself; also returns the header written (`None` for a duplicate).
    fn append_checked(
        &mut self,
        batch: &ValidBatch<'_>,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<(AppendInfo, Option<[u8; BATCH_HEADER_LEN]>)> {
        self.guarded(|log| log.append_unguarded(batch, leader_epoch, now_ms))
    }

    /// [`PartitionLog::append_checked`] without the offline guard.
    fn append_unguarded(
        &mut self,
        batch: &ValidBatch<'_>,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<(AppendInfo, Option<[u8; BATCH_HEADER_LEN]>)> {
        let h = *batch.header();
        if h.is_control() {
            // Markers come from the transaction coordinator (`append_marker`), never from a
            // client (Kafka's LogValidator refuses them too).
            return Err(LogError::invalid(
                "clients may not write control batches (transaction markers)",
            ));
        }
        if let SeqCheck::Duplicate(m) = self.producers.check(&h)? {
            let info = AppendInfo {
                base_offset: m.base_offset,
                last_offset: m.last_offset,
                log_append_time_ms: -1,
                max_timestamp: m.timestamp,
                offset_of_max_timestamp: m.last_offset,
                log_start_offset: self.log_start_offset,
                duplicate: true,
                record_count: h.record_count,
                bytes: 0,
            };
            return Ok((info, None));
        }
        let bytes = batch.bytes();
        let base = self.log_end_offset();
        let last = base + i64::from(h.last_offset_delta);
        if self
            .active()?
            .must_roll(bytes.len(), last, &self.config, now_ms)
        {
            self.roll(now_ms)?;
        }
        let log_append = self.config.timestamp_type == TimestampType::LogAppendTime;
        let head = batch.patched_header(base, leader_epoch, log_append.then_some(now_ms));
        let h = BatchHeader::parse(&head)?;
        self.write_batch_parts(&head, &bytes[BATCH_HEADER_LEN..], &h, now_ms)?;
        if leader_epoch >= 0 && self.epochs.latest_epoch().is_none_or(|e| e < leader_epoch) {
            self.epochs.assign(leader_epoch, base)?;
        }
        let info = AppendInfo {
            base_offset: base,
            last_offset: last,
            log_append_time_ms: if log_append { now_ms } else { -1 },
            max_timestamp: h.max_timestamp,
            offset_of_max_timestamp: last,
            log_start_offset: self.log_start_offset,
            duplicate: false,
            record_count: h.record_count,
            bytes: bytes.len(),
        };
        Ok((info, Some(head)))
    }

    /// Writes a batch with final offsets to the active segment and updates derived state.
    pub(crate) fn write_batch(&mut self, bytes: &[u8], h: &BatchHeader, now_ms: i64) -> Result<()> {
        let split = BATCH_HEADER_LEN.min(bytes.len());
        self.write_batch_parts(&bytes[..split], &bytes[split..], h, now_ms)
    }

    /// [`PartitionLog::write_batch`] for a batch given as header and rest.
    fn write_batch_parts(
        &mut self,
        head: &[u8],
        body: &[u8],
        h: &BatchHeader,
        now_ms: i64,
    ) -> Result<()> {
        let interval = self.config.index_interval_bytes;
        self.dirty = true;
        let seg = self.active_mut()?;
        seg.append(head, body, h, interval)?;
        let key = seg.log_key.clone();
        if h.is_control() {
            self.apply_control(head, body, h)?;
        } else {
            self.producers.update(h);
        }
        self.durability.note_written(h.last_offset() + 1, &key);
        self.maybe_interval_flush(h.record_count, now_ms)
    }

    fn maybe_interval_flush(&mut self, records: i32, now_ms: i64) -> Result<()> {
        let FlushPolicy::Interval { messages, ms } = self.config.flush else {
            return Ok(());
        };
        self.unflushed_messages += records.max(0) as u64;
        let last = *self.last_flush_ms.get_or_insert(now_ms);
        let by_count = messages.is_some_and(|m| self.unflushed_messages >= m);
        let by_time = ms.is_some_and(|m| now_ms.saturating_sub(last) >= m as i64);
        if by_count || by_time {
            self.sync_unsynced_rolls()?;
            self.active()?.sync()?;
            self.durability.mark_durable(self.log_end_offset());
            self.unflushed_messages = 0;
            self.last_flush_ms = Some(now_ms);
        }
        Ok(())
    }

    /// Closes the active segment (fsynced, time index sealed) and starts a new one at the log
    /// end offset; a no-op if the active segment is empty.
    ///
    /// # Errors
    /// I/O failures.
    ///
    /// In page-cache mode (the interval flush policy) the closed segment is not fsynced here:
    /// with up to a segment of dirty bytes that took half a second, and every append to the
    /// partition waited behind the lock. It joins [`PartitionLog::pending_roll_syncs`]
    /// instead, and the recovery point stays where it was until that fsync is done, so a
    /// crash before it rescans the segment on open.
    pub fn roll(&mut self, now_ms: i64) -> Result<()> {
        self.guarded(|log| log.roll_unguarded(now_ms))
    }

    /// [`PartitionLog::roll`] without the offline guard.
    fn roll_unguarded(&mut self, _now_ms: i64) -> Result<()> {
        let log_end = self.log_end_offset();
        let deferred = matches!(self.config.flush, FlushPolicy::Interval { .. });
        let snapshot = producer_state::snapshot_path(&self.dir, log_end);
        let active = self.active_mut()?;
        if active.size == 0 {
            return Ok(());
        }
        active.seal_time_index()?;
        // A recycled file's leftover tail goes before the fsync that lets the recovery point
        // pass this segment: recovery trusts a checkpointed segment's file length.
        active.trim()?;
        let closed = UnsyncedRoll {
            keys: [
                active.log_key.clone(),
                active.offset_index.file().key().clone(),
                active.time_index.file().key().clone(),
            ],
            snapshot,
            end: log_end,
        };
        if !deferred {
            active.sync()?;
        }
        self.dirty = true;
        if deferred {
            if self.unsynced_rolls.len() >= MAX_UNSYNCED_ROLLS {
                self.sync_unsynced_rolls()?;
            }
            self.unsynced_rolls.push(closed);
        } else {
            self.durability.mark_durable(log_end);
        }
        let seg = self.new_segment(log_end)?;
        if !deferred {
            io::sync_dir(&self.dir)?;
        }
        self.durability.note_written(log_end, &seg.log_key);
        self.segments.insert(log_end, seg);
        tracing::info!(dir = %self.dir.display(), base_offset = log_end, segments = self.segments.len(), deferred_fsync = deferred, "rolled to a new segment");
        if deferred {
            // Page-cache mode (as Kafka since KAFKA-15046): the snapshot, the new segment's
            // directory entry and the closed segment are fsynced later, together, without the
            // log's lock. A snapshot torn by a crash fails its CRC on open and is ignored.
            return self.producers.write_snapshot_unsynced(log_end);
        }
        self.producers.write_snapshot(log_end)?;
        self.write_recovery_point()
    }

    /// The next segment's files: a spare written over when one is usable (`recycle`), new
    /// ones otherwise.
    fn new_segment(&mut self, base: i64) -> Result<LogSegment> {
        if self.config.recycle_segments {
            if let Some(spare) = self.spares.take_usable() {
                match LogSegment::recycle(spare, &self.dir, base) {
                    Ok(seg) => {
                        self.recycled += 1;
                        tracing::debug!(dir = %self.dir.display(), base_offset = base, "segment file recycled");
                        return Ok(seg);
                    }
                    // The spare is below the log start under either name: the next open
                    // deletes it, and `create` below empties it if it has the new one.
                    Err(e) => {
                        tracing::warn!(dir = %self.dir.display(), error = %e, "recycling a segment file failed; making a new one")
                    }
                }
            }
        }
        LogSegment::create(&self.dir, base)
    }

    /// Rolls that wrote over a retired segment's file since the log was opened.
    pub fn recycled_count(&self) -> u64 {
        self.recycled
    }

    /// Retired segments held for later rolls to write over (`recycle`).
    pub fn spare_count(&self) -> usize {
        self.spares.len()
    }

    /// Writes the recovery point for the active segment; segments rolled without their fsync
    /// are fsynced first, since the checkpoint vouches for everything before the active one.
    pub(crate) fn write_recovery_point(&mut self) -> Result<()> {
        self.sync_unsynced_rolls()?;
        let a = self.active()?;
        checkpoint::write_rows(
            &self.dir.join(RECOVERY_POINT_FILE),
            &[vec![a.next_offset, a.base_offset, a.size as i64]],
        )
    }

    /// Flushes everything now: fsyncs the active segment, writes the recovery point, the log
    /// start offset and a producer snapshot. Used at shutdown; after it, reopening scans nothing.
    ///
    /// # Errors
    /// I/O failures.
    pub fn flush(&mut self) -> Result<()> {
        self.guarded(|log| log.flush_unguarded())
    }

    /// [`PartitionLog::flush`] without the offline guard.
    fn flush_unguarded(&mut self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        self.sync_unsynced_rolls()?;
        let log_end = self.log_end_offset();
        let active = self.active_mut()?;
        active.seal_time_index()?;
        active.sync()?;
        self.durability.mark_durable(log_end);
        self.unflushed_messages = 0;
        self.producers.write_snapshot(log_end)?;
        self.start_checkpoint
            .write_now(vec![vec![self.log_start_offset]])?;
        self.write_recovery_point()?;
        self.dirty = false;
        Ok(())
    }

    /// Clean shutdown: trims the active segment's file to its size (a recycled file's tail,
    /// see `recycle`) and [`PartitionLog::flush`]es, so that reopening trusts the active
    /// segment without a scan.
    ///
    /// # Errors
    /// I/O failures.
    pub fn close(&mut self) -> Result<()> {
        self.guarded(|log| log.close_unguarded())
    }

    /// [`PartitionLog::close`] without the offline guard.
    fn close_unguarded(&mut self) -> Result<()> {
        let active = self.active_mut()?;
        if active.file_len > active.size {
            active.trim()?;
            self.dirty = true;
        }
        self.flush()
    }

    /// Removes the whole partition directory (DeleteTopics).
    ///
    /// # Errors
    /// I/O failures.
    pub fn delete(mut self) -> Result<()> {
        for seg in self.segments.values() {
            seg.delete_files()?;
        }
        self.spares.drop_all()?;
        io::remove_dir_all(&self.dir)
    }

    /// Moves the partition directory out of the way at once ([`crate::trash::trash_dir`]) and
    /// returns where it went, for the caller to delete off the hot path with
    /// [`crate::trash::delete_trashed_dir`]; `None` if the directory was gone already.
    ///
    /// # Errors
    /// I/O failures renaming.
    pub fn trash(self) -> Result<Option<PathBuf>> {
        for seg in self.segments.values() {
            seg.forget_handles();
        }
        self.spares.forget_handles();
        crate::trash::trash_dir(&self.dir)
    }
}
