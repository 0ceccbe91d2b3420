//! A partition's log administration: DeleteRecords, configs, retention, flushes, close and
//! delete.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use rill_log::{LogConfig, LogError, RemovedFiles};

use crate::topic_config::ProduceRules;

use super::Partition;

impl Partition {
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
        super::super::file_deleter::delete_later(removed.write_log_start()?);
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

    /// Applies the topic's produce checks (see [`ProduceRules`]).
    pub fn set_produce_rules(&self, rules: ProduceRules) {
        *self.produce_rules.lock().unwrap_or_else(|p| p.into_inner()) = rules;
    }

    /// The topic's produce checks.
    pub fn produce_rules(&self) -> ProduceRules {
        *self.produce_rules.lock().unwrap_or_else(|p| p.into_inner())
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
            super::super::file_deleter::delete_dir_later(trashed);
        }
        Ok(())
    }
}
