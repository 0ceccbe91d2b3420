//! When a log is due for cleaning, as Kafka's `LogCleanerManager` decides.
//!
//! - first dirty offset: the cleaner checkpoint, reset as `checkpoint::effective_first_dirty`
//!   says;
//! - first uncleanable offset: the smallest of the active segment's base, the base of the
//!   segment holding the caller's bound (the high watermark, or the last stable offset once
//!   transactions exist: never clean what a consumer may not read yet), and the base of the
//!   first dirty segment holding a record younger than `min.compaction.lag.ms`;
//! - dirty ratio: bytes of the segments in `[first dirty, first uncleanable)` over those plus
//!   the bytes of the clean segments below;
//! - cleanable: `cleanup.policy` has compact, there are dirty bytes, and the ratio reaches
//!   `min.cleanable.dirty.ratio` or the first dirty segment's first batch is older than
//!   `max.compaction.lag.ms`.
//!
//! Thread-safety: reads `&PartitionLog` (and the checkpoint file).

use crate::cleaner::checkpoint;
use crate::error::Result;
use crate::log::PartitionLog;

/// How dirty a log is and how far a pass may clean.
#[derive(Clone, Debug, PartialEq)]
pub struct CleanableInfo {
    /// Where the dirty section starts.
    pub first_dirty_offset: i64,
    /// Where cleaning must stop (a segment base; the active segment's at most).
    pub first_uncleanable_offset: i64,
    /// Bytes of the segments below the first dirty offset.
    pub clean_bytes: u64,
    /// Bytes of the segments in the cleanable dirty section.
    pub dirty_bytes: u64,
    /// `dirty_bytes / (clean_bytes + dirty_bytes)` (0 when both are 0).
    pub dirty_ratio: f64,
    /// Timestamp of the first batch of the first dirty segment (for the broker's
    /// `max-compaction-delay-secs`), if known.
    pub first_dirty_timestamp: Option<i64>,
    /// `max.compaction.lag.ms` has passed for the first dirty segment.
    pub compaction_lag_due: bool,
    /// The log should be cleaned now.
    pub cleanable: bool,
}

impl PartitionLog {
    /// The log's cleaner state at `now_ms` with cleaning bounded by `uncleanable_bound` (the
    /// high watermark; `i64::MAX` for none). Reads the cleaner checkpoint file.
    ///
    /// # Errors
    /// I/O failures reading the checkpoint.
    pub fn cleanable_info(&self, now_ms: i64, uncleanable_bound: i64) -> Result<CleanableInfo> {
        let cp = checkpoint::read(&self.dir)?;
        Ok(self.cleanable_info_from(cp, now_ms, uncleanable_bound))
    }

    /// The cleaner checkpoint file's value, if any.
    ///
    /// # Errors
    /// I/O failures reading it.
    pub fn cleaner_checkpoint(&self) -> Result<Option<i64>> {
        checkpoint::read(&self.dir)
    }

    /// [`PartitionLog::cleanable_info`] for a checkpoint read before.
    pub(crate) fn cleanable_info_from(
        &self,
        cp: Option<i64>,
        now_ms: i64,
        bound: i64,
    ) -> CleanableInfo {
        let cfg = &self.config;
        // Never above an open transaction: its outcome decides which records survive.
        let bound = bound.min(self.first_unstable_offset().unwrap_or(i64::MAX));
        let first_dirty =
            checkpoint::effective_first_dirty(cp, self.log_start_offset, self.log_end_offset());
        let active_base = self.segments.keys().next_back().copied().unwrap_or(0);
        let bound_base = self
            .segments
            .range(..=bound)
            .next_back()
            .map_or(bound, |(b, _)| *b);
        let lag_base = (cfg.min_compaction_lag_ms > 0)
            .then(|| {
                let young = now_ms.saturating_sub(cfg.min_compaction_lag_ms as i64);
                self.segments
                    .values()
                    .filter(|s| s.next_offset > first_dirty)
                    .find(|s| s.max_timestamp > young)
                    .map(|s| s.base_offset)
            })
            .flatten()
            .unwrap_or(i64::MAX);
        let first_uncleanable = active_base.min(bound_base).min(lag_base);
        let (mut clean_bytes, mut dirty_bytes, mut first_dirty_ts) = (0u64, 0u64, None);
        for s in self
            .segments
            .values()
            .filter(|s| s.next_offset > self.log_start_offset)
        {
            if s.next_offset <= first_dirty {
                clean_bytes += s.size;
            } else if s.base_offset < first_uncleanable {
                dirty_bytes += s.size;
                first_dirty_ts = first_dirty_ts.or(s.first_batch_timestamp);
            }
        }
        let total = clean_bytes + dirty_bytes;
        let dirty_ratio = if total == 0 {
            0.0
        } else {
            dirty_bytes as f64 / total as f64
        };
        let compaction_lag_due = cfg.max_compaction_lag_ms < i64::MAX as u64
            && first_dirty_ts
                .is_some_and(|t| now_ms.saturating_sub(t) > cfg.max_compaction_lag_ms as i64);
        let cleanable = cfg.cleanup_policy.compact
            && dirty_bytes > 0
            && (dirty_ratio >= cfg.min_cleanable_dirty_ratio || compaction_lag_due);
        CleanableInfo {
            first_dirty_offset: first_dirty,
            first_uncleanable_offset: first_uncleanable,
            clean_bytes,
            dirty_bytes,
            dirty_ratio,
            first_dirty_timestamp: first_dirty_ts,
            compaction_lag_due,
            cleanable,
        }
    }
}
