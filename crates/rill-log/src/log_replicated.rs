//! Follower (replicated) appends of a `PartitionLog`: batches keep the leader's offsets and
//! epochs. Every batch is checked (integrity, offsets increasing from the log end) before any
//! is written; a gap in offsets (a compacted leader) starts a new segment, so segments stay
//! gap-free inside.
//!
//! Thread-safety: `&mut self` (the caller's lock).

use crate::batch::{verify_integrity, BatchHeader};
use crate::error::{LogError, Result};
use crate::io;
use crate::log::{AppendInfo, PartitionLog};
use crate::segment::LogSegment;

impl PartitionLog {
    /// Follower append: batches keep their offsets and epochs; the first must start at or
    /// after the log end offset and offsets must increase. All batches are checked before any
    /// is written. `Ok(None)` for an empty payload.
    ///
    /// # Errors
    /// [`LogError::CorruptBatch`], [`LogError::NonContiguousReplicatedBatch`], I/O failures.
    pub fn append_replicated(&mut self, batches: &[u8]) -> Result<Option<AppendInfo>> {
        self.guarded(|log| log.append_replicated_unguarded(batches))
    }

    /// [`PartitionLog::append_replicated`] without the offline guard.
    fn append_replicated_unguarded(&mut self, batches: &[u8]) -> Result<Option<AppendInfo>> {
        let mut parts = Vec::new();
        let (mut pos, mut expected) = (0usize, self.log_end_offset());
        while pos < batches.len() {
            let h = BatchHeader::parse(&batches[pos..])?;
            let end = pos
                .checked_add(h.total_len())
                .filter(|&e| e <= batches.len());
            let end =
                end.ok_or_else(|| LogError::corrupt("replicated batch runs past the payload"))?;
            let h = verify_integrity(&batches[pos..end])?;
            if h.base_offset < expected || h.last_offset_delta < 0 {
                return Err(LogError::NonContiguousReplicatedBatch {
                    expected,
                    got: h.base_offset,
                });
            }
            expected = h.last_offset() + 1;
            parts.push((pos..end, h));
            pos = end;
        }
        let (Some(first), Some(lastp)) = (parts.first().map(|p| p.1), parts.last().map(|p| p.1))
        else {
            return Ok(None);
        };
        let mut info = AppendInfo {
            base_offset: first.base_offset,
            last_offset: lastp.last_offset(),
            log_append_time_ms: -1,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            log_start_offset: self.log_start_offset,
            duplicate: false,
            record_count: 0,
            bytes: 0,
        };
        for (range, h) in parts {
            let now = h.max_timestamp;
            if self
                .active()?
                .must_roll(range.len(), h.last_offset(), &self.config, now)
            {
                self.roll(now)?;
            }
            if h.base_offset > self.log_end_offset() {
                // A gap (compacted source): segments stay gap-free, so start a new one.
                if self.active()?.size > 0 {
                    self.roll(now)?;
                }
                self.replace_empty_active(h.base_offset)?;
            }
            self.write_batch(&batches[range.clone()], &h, now)?;
            // Any epoch other than the latest starts here, as in Kafka: an older one replaces
            // the later entries, which then described no data of this log.
            if h.partition_leader_epoch >= 0
                && self.epochs.latest_epoch() != Some(h.partition_leader_epoch)
            {
                self.epochs
                    .assign(h.partition_leader_epoch, h.base_offset)?;
            }
            if h.max_timestamp > info.max_timestamp {
                info.max_timestamp = h.max_timestamp;
                info.offset_of_max_timestamp = h.last_offset();
            }
            info.record_count += h.record_count;
            info.bytes += range.len();
        }
        Ok(Some(info))
    }

    fn replace_empty_active(&mut self, base: i64) -> Result<()> {
        let seg = match self.segments.pop_last() {
            // A recycled file (`recycle`) is renamed again rather than unlinked at once under
            // the lock: its old batches are below the new base too, and no read holds an
            // empty segment.
            Some((_, old)) if old.file_len > 0 => LogSegment::recycle(old, &self.dir, base)?,
            Some((_, old)) => {
                old.delete_files()?;
                LogSegment::create(&self.dir, base)?
            }
            None => LogSegment::create(&self.dir, base)?,
        };
        self.segments.insert(base, seg);
        let first_base = self.segments.keys().next().copied().unwrap_or(base);
        self.log_start_offset = self.log_start_offset.max(first_base);
        io::sync_dir(&self.dir)
    }
}
