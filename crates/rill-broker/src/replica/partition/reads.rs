//! Reads of a partition's log: file ranges for fetches, bytes for followers in tests,
//! offsets and timestamps, sizes.

use rill_log::LogError;

use super::{in_log, FetchRead, FetchSlices, Isolation, LogStats, Partition};

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
        let (high_watermark, last_stable_offset) = self.fetch_bounds();
        Ok(LogStats {
            log_start_offset: log.log_start_offset(),
            log_end_offset: log.log_end_offset(),
            high_watermark,
            last_stable_offset,
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
    /// byte is copied. `bound` is the fetch's read bound (the high watermark for consumers,
    /// the last stable offset for read_committed ones: batches whose base offset is below
    /// it). A position at or past `bound` but within the log gets nothing, not an error (see
    /// [`Partition::read`]). With [`Isolation::ReadCommitted`] the answer also lists the
    /// aborted transactions overlapping `[offset, end of the last batch read)`, as Kafka's
    /// `collectAbortedTxns`: read from the segments' `.txnindex` files under the log's lock,
    /// only from segments that have entries (a log without aborted transactions reads no
    /// index file).
    ///
    /// # Errors
    /// `OffsetOutOfRange` when `offset` is outside `[log start, log end]`, storage errors.
    pub fn read_slices(
        &self,
        offset: i64,
        bound: i64,
        max_bytes: u64,
        min_one: bool,
        isolation: Isolation,
    ) -> Result<FetchSlices, LogError> {
        let log = self.log()?;
        let log_start_offset = log.log_start_offset();
        in_log(&log, offset)?;
        let read = if offset < bound {
            log.read(offset, max_bytes, bound, min_one)?
        } else {
            rill_log::ReadResult::default()
        };
        let aborted = match (isolation, read.next_offset) {
            (Isolation::ReadCommitted, Some(upper)) => log.aborted_transactions(offset, upper)?,
            _ => Vec::new(),
        };
        Ok(FetchSlices {
            slices: read.slices,
            len: read.total_len,
            records: read.records,
            log_start_offset,
            aborted,
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

    /// ListOffsets by timestamp: the first record whose timestamp is at least `ts`, as
    /// (offset, timestamp), if it is below what `isolation` may read (the high watermark, or
    /// the last stable offset for read_committed, as Kafka's `fetchOffsetForTimestamp`).
    ///
    /// # Errors
    /// Storage errors.
    pub fn offset_for_timestamp(
        &self,
        ts: i64,
        isolation: Isolation,
    ) -> Result<Option<(i64, i64)>, LogError> {
        // The log names the first batch whose max timestamp reaches `ts` (so one of its
        // records does); the record inside it is found by decoding that batch.
        let Some(found) = self.log()?.offset_for_timestamp(ts)? else {
            return Ok(None);
        };
        let end = self.fetchable_end(isolation);
        if found.0 >= end {
            return Ok(None);
        }
        let batch = self.batch_at(found.0)?;
        let exact =
            super::super::timestamps::first_at_or_after(batch, found.0, ts).unwrap_or(found);
        Ok((exact.0 < end).then_some(exact))
    }

    /// ListOffsets MAX_TIMESTAMP: the first record with the largest timestamp, if it is
    /// below what `isolation` may read.
    ///
    /// # Errors
    /// Storage errors.
    pub fn max_timestamp_offset(
        &self,
        isolation: Isolation,
    ) -> Result<Option<(i64, i64)>, LogError> {
        let Some((offset, ts)) = self.log()?.max_timestamp_offset()? else {
            return Ok(None);
        };
        if offset >= self.fetchable_end(isolation) {
            return Ok(None);
        }
        let batch = self.batch_at(offset)?;
        Ok(super::super::timestamps::max_timestamp(batch).or(Some((offset, ts))))
    }
}
