//! One hosted partition: its log, its high watermark, and the produce and fetch primitives.
//!
//! Thread-safety: the log sits behind a mutex held only for an append or for locating and
//! copying a read; durability waits (fsync group commit) run without it, so one fsync covers
//! every append that arrived meanwhile. The high watermark only grows and is published with
//! release ordering after the bytes below it are durable.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rill_log::{AppendInfo, Durability, LogConfig, LogError, PartitionLog};
use uuid::Uuid;

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
    log: Mutex<PartitionLog>,
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
}

impl Partition {
    /// Opens (or creates) the partition's log in `dir`, running recovery.
    ///
    /// # Errors
    /// Storage errors from opening the log.
    pub fn open(
        dir: &Path,
        topic: &str,
        topic_id: Uuid,
        index: i32,
        config: LogConfig,
        min_insync_replicas: u32,
    ) -> Result<Self, LogError> {
        let (log, report) = PartitionLog::open(dir, config)?;
        if report.truncated_bytes > 0 || !report.dropped.is_empty() {
            tracing::warn!(
                topic, partition = index, truncated_bytes = report.truncated_bytes,
                dropped = ?report.dropped, "recovery cut a damaged tail"
            );
        }
        // A single node's committed log is what survived recovery.
        let hw = log.log_end_offset();
        Ok(Partition {
            topic: topic.to_string(),
            topic_id,
            index,
            dir: dir.to_path_buf(),
            durability: log.durability(),
            log: Mutex::new(log),
            high_watermark: AtomicI64::new(hw),
            min_insync_replicas: AtomicI64::new(i64::from(min_insync_replicas)),
            last_flush_ms: AtomicI64::new(crate::clock::now_ms()),
            leader_epoch: std::sync::atomic::AtomicI32::new(0),
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
        self.log()?.append(batch, epoch, now_ms)
    }

    /// Waits until offsets below `end_offset` are durable, then raises the high watermark.
    ///
    /// # Errors
    /// fsync failures: the append must not be acknowledged.
    pub fn wait_durable(&self, end_offset: i64) -> Result<(), LogError> {
        self.durability.wait_durable(end_offset)?;
        self.high_watermark.fetch_max(end_offset, Ordering::AcqRel);
        Ok(())
    }

    /// Sets the leader epoch new batches are stamped with (it only grows).
    pub fn set_leader_epoch(&self, epoch: i32) {
        self.leader_epoch.fetch_max(epoch, Ordering::AcqRel);
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

    /// Reads whole batches from `offset` up to the high watermark.
    ///
    /// # Errors
    /// `OffsetOutOfRange` when `offset` is outside `[log start, high watermark]`, storage errors.
    pub fn read(&self, offset: i64, max_bytes: u64, min_one: bool) -> Result<FetchRead, LogError> {
        let log = self.log()?;
        let high_watermark = self.high_watermark();
        let log_start_offset = log.log_start_offset();
        if offset > high_watermark || offset < log_start_offset {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                log_start: log_start_offset,
                log_end: high_watermark,
            });
        }
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
        let mut log = self.log()?;
        if target < 0 || target > hw {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                log_start: log.log_start_offset(),
                log_end: hw,
            });
        }
        log.delete_records_before(target)
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

    /// Rolls and deletes segments by time and size.
    ///
    /// # Errors
    /// Storage errors.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize, LogError> {
        self.log()?.enforce_retention(now_ms)
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
        let log = self.log.into_inner().unwrap_or_else(|p| p.into_inner());
        log.delete()
    }
}
