//! Reads of a partition's log: file ranges for fetches, bytes for followers in tests,
//! offsets and timestamps, sizes.

use rill_log::LogError;

use super::{in_log, FetchRead, FetchSlices, LogStats, Partition};

impl Partition {
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
    pub(super) fn batch_at(&self, offset: i64) -> Result<bytes::Bytes, LogError> {
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
        let exact =
            super::super::timestamps::first_at_or_after(batch, found.0, ts).unwrap_or(found);
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
        Ok(super::super::timestamps::max_timestamp(batch).or(Some((offset, ts))))
    }
}
