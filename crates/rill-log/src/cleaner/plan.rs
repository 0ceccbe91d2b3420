//! Step 1 of a pass: the plan, taken under `&PartitionLog` (see the `cleaner` module docs).
//!
//! The plan holds an open handle and the file key of every segment it may read, so a
//! segment that retention removes meanwhile stays readable and is never recycled (written
//! over) while the plan lives; `commit_clean` then notices it is gone.
//! Thread-safety: plain data (`Send + Sync`).

use crate::cleaner::{checkpoint, CleanableInfo};
use crate::error::Result;
use crate::file_cache::FileKey;
use crate::log::PartitionLog;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One segment a pass may read.
#[derive(Clone, Debug)]
pub struct PlannedSegment {
    /// Base offset.
    pub base_offset: i64,
    /// One past its last offset (or the next segment's base).
    pub next_offset: i64,
    /// Bytes of batches.
    pub size: u64,
    /// The `.log` file's key (held: no recycling while planned).
    pub(crate) key: Arc<FileKey>,
    /// An open handle.
    pub(crate) file: Arc<File>,
}

impl PlannedSegment {
    /// Path of the `.log` file.
    pub fn path(&self) -> &Path {
        self.key.path()
    }
}

/// What a pass cleans. See the module docs.
#[derive(Clone, Debug)]
pub struct CleanPlan {
    /// The partition directory.
    pub dir: PathBuf,
    /// The log start offset at planning time.
    pub log_start_offset: i64,
    /// The dirty section and its bounds, as [`PartitionLog::cleanable_info`] gave them.
    pub info: CleanableInfo,
    /// The non-active segments from the log start up to the first uncleanable offset.
    pub segments: Vec<PlannedSegment>,
    /// Producer id -> last offset of its last batch (kept, even emptied).
    pub(crate) producer_last_offsets: HashMap<i64, i64>,
    /// Producer id -> the offset ranges `[first, marker)` of its aborted transactions
    /// below the first uncleanable offset: their data batches are removed (Kafka's cleaner
    /// discards aborted records, so they never hide a committed value of their key).
    pub(crate) aborted: HashMap<i64, Vec<(i64, i64)>>,
    /// `segment.bytes` (cleaned groups stay within it).
    pub(crate) segment_bytes: u64,
    /// `index.interval.bytes` for the cleaned segments' indexes.
    pub(crate) index_interval_bytes: u32,
    /// `delete.retention.ms`.
    pub(crate) delete_retention_ms: u64,
    /// The time the pass runs at (delete horizons are set from it and checked against it).
    pub now_ms: i64,
}

impl CleanPlan {
    /// Whether `h` is a data batch of an aborted transaction.
    pub(crate) fn is_aborted(&self, h: &crate::batch::BatchHeader) -> bool {
        h.is_transactional()
            && !h.is_control()
            && self.aborted.get(&h.producer_id).is_some_and(|ranges| {
                ranges
                    .iter()
                    .any(|(first, marker)| *first <= h.base_offset && h.base_offset < *marker)
            })
    }
}

impl PartitionLog {
    /// Plans a cleaning pass at `now_ms`, bounded by `uncleanable_bound` (the high watermark).
    /// `None` when the policy has no compact or nothing is dirty below the bound; the dirty
    /// ratio is not checked here (see [`PartitionLog::cleanable_info`]).
    ///
    /// # Errors
    /// I/O failures reading the checkpoint or opening segment files.
    pub fn plan_clean(&self, now_ms: i64, uncleanable_bound: i64) -> Result<Option<CleanPlan>> {
        let info =
            self.cleanable_info_from(checkpoint::read(&self.dir)?, now_ms, uncleanable_bound);
        if !self.config.cleanup_policy.compact || info.dirty_bytes == 0 {
            return Ok(None);
        }
        let mut segments = Vec::new();
        for s in self.segments.values() {
            if s.base_offset >= info.first_uncleanable_offset {
                break;
            }
            if s.next_offset <= self.log_start_offset {
                continue;
            }
            segments.push(PlannedSegment {
                base_offset: s.base_offset,
                next_offset: s.next_offset,
                size: s.size,
                key: s.log_key.clone(),
                file: s.file()?,
            });
        }
        // Give each segment the next one's base as its end, so the cleaned segments cover the
        // same offsets whatever was removed at their ends.
        for s in &mut segments {
            if let Some((next, _)) = self.segments.range(s.base_offset + 1..).next() {
                s.next_offset = s.next_offset.max(*next);
            }
        }
        let mut aborted: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
        for a in self.aborted_transactions(self.log_start_offset, info.first_uncleanable_offset)? {
            aborted
                .entry(a.producer_id)
                .or_default()
                .push((a.first_offset, a.last_offset));
        }
        Ok(Some(CleanPlan {
            dir: self.dir.clone(),
            log_start_offset: self.log_start_offset,
            info,
            segments,
            producer_last_offsets: self.producers.last_batch_offsets(),
            aborted,
            segment_bytes: self.config.effective_segment_bytes(),
            index_interval_bytes: self.config.index_interval_bytes,
            delete_retention_ms: self.config.delete_retention_ms,
            now_ms,
        }))
    }
}
