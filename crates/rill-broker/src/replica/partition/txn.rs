//! A partition's transactions (KIP-98): the last stable offset read_committed consumers read
//! up to, and the producer state DescribeProducers shows (markers are appended by
//! `Partition::append_txn_marker`, with the leader's appends).
//!
//! The last stable offset (LSO) is the smaller of the high watermark and the log's first
//! unstable offset (the first offset of its oldest open transaction), as Kafka's
//! `UnifiedLog.lastStableOffset`. Both halves are atomics (the first unstable offset is
//! published by `LogGuard` whenever the log's lock is released), so it costs two loads and
//! no lock: it is read for every partition of every fetch.

use std::sync::atomic::Ordering;

use rill_log::{LogError, ProducerView};

use super::{Isolation, Partition};

impl Partition {
    /// The last stable offset: offsets below it hold no record of an open transaction, and
    /// read_committed consumers read below it only. At most the high watermark.
    pub fn last_stable_offset(&self) -> i64 {
        self.fetch_bounds().1
    }

    /// (high watermark, last stable offset), read together: the high watermark first, so
    /// the first unstable offset read after it is at least as new (a transaction whose data
    /// the high watermark already covers was published before the high watermark moved).
    pub fn fetch_bounds(&self) -> (i64, i64) {
        let hw = self.high_watermark();
        let first_unstable = self.first_unstable_offset.load(Ordering::Acquire);
        (hw, hw.min(first_unstable))
    }

    /// Where a client read with `isolation` may read up to (exclusive): the high watermark,
    /// or the last stable offset for read_committed (Kafka's "last fetchable offset").
    pub fn fetchable_end(&self, isolation: Isolation) -> i64 {
        let (hw, lso) = self.fetch_bounds();
        match isolation {
            Isolation::ReadUncommitted => hw,
            Isolation::ReadCommitted => lso,
        }
    }

    /// Every producer id of the log's producer state (DescribeProducers), by id: epoch,
    /// last sequence and timestamp, coordinator epoch, open transaction's first offset.
    ///
    /// # Errors
    /// A poisoned lock.
    pub fn producers_view(&self) -> Result<Vec<ProducerView>, LogError> {
        Ok(self.log()?.producer_state().producers_view())
    }
}
