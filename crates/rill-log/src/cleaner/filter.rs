//! What the cleaner keeps: Kafka's retention rules per record and per batch.
//!
//! Per record (of a data batch): a record without a key is removed (a compacted log has no
//! use for it; Kafka's cleaner drops it too); a record whose key the offset map holds at a
//! later offset is removed (superseded); a tombstone (null value) is removed once its
//! batch's delete horizon has passed, and kept until then; everything else is kept.
//! A data batch of an aborted transaction loses every record (Kafka's cleaner discards
//! aborted data, so an aborted value never hides the committed one of its key).
//! Per batch: a transaction marker (control batch) is kept while any data batch of its
//! transaction is still in the log; after that
//! it gets a delete horizon of `now + delete.retention.ms` and is removed at a later pass
//! once the horizon has passed ([`control_batch_fate`], Kafka's `onControlBatchRead` with
//! KIP-534), so a consumer that read the data has time to read its marker too;
//! a data batch that keeps every record and needs no new delete horizon is copied as it is;
//! one that keeps nothing is dropped unless it is the last batch of its producer, which is
//! kept empty (Kafka's `RETAIN_EMPTY`) so the producer's last sequence survives; anything
//! else is rewritten with the kept records, and with a delete horizon of `now +
//! delete.retention.ms` (KIP-534) if it keeps tombstones and had none.
//! Pure functions.

use crate::cleaner::offset_map::OffsetMap;
use crate::records::Record;

/// What happens to one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordFate {
    /// Kept.
    Keep,
    /// Removed: no key.
    Keyless,
    /// Removed: a later record has the same key.
    Superseded,
    /// Removed: a tombstone past its batch's delete horizon.
    ExpiredTombstone,
    /// Removed: its transaction was aborted.
    Aborted,
}

/// The fate of `r` in a batch whose delete horizon is `horizon`, at `now_ms`.
pub fn record_fate(
    r: &Record<'_>,
    map: &OffsetMap,
    horizon: Option<i64>,
    now_ms: i64,
) -> RecordFate {
    let Some(key) = r.key else {
        return RecordFate::Keyless;
    };
    if map.get(key).is_some_and(|latest| latest > r.offset) {
        return RecordFate::Superseded;
    }
    if r.value.is_none() && horizon.is_some_and(|h| now_ms >= h) {
        return RecordFate::ExpiredTombstone;
    }
    RecordFate::Keep
}

/// What happens to one batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchFate {
    /// Copied byte for byte.
    KeepAsIs,
    /// Removed.
    Drop,
    /// Written again with its kept records (possibly none) and this delete horizon.
    Rewrite {
        /// The delete horizon the new batch carries.
        delete_horizon_ms: Option<i64>,
    },
}

/// The fate of a control batch (a transaction marker). `has_data` says whether the pass
/// met any data batch of the marker's transaction (kept, emptied or dropped: Kafka keeps
/// the marker until the data batches are gone from the log, so a later pass removes it; a
/// producer's last data batch is kept, even empty, so its transaction's marker stays too);
/// `horizon` is the marker's delete horizon.
pub fn control_batch_fate(
    has_data: bool,
    horizon: Option<i64>,
    now_ms: i64,
    delete_retention_ms: u64,
) -> BatchFate {
    if has_data {
        return BatchFate::KeepAsIs;
    }
    match horizon {
        Some(h) if now_ms >= h => BatchFate::Drop,
        Some(_) => BatchFate::KeepAsIs,
        None => BatchFate::Rewrite {
            delete_horizon_ms: Some(
                now_ms.saturating_add(delete_retention_ms.min(i64::MAX as u64) as i64),
            ),
        },
    }
}

/// What the records of a data batch came to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchTally {
    /// Records in the batch.
    pub total: u32,
    /// Records kept.
    pub kept: u32,
    /// Tombstones among the kept.
    pub kept_tombstones: u32,
}

/// The fate of a data batch from its tally. `is_producers_last` says whether it is the last
/// batch of its producer; `horizon` is the batch's current delete horizon.
pub fn data_batch_fate(
    t: &BatchTally,
    is_producers_last: bool,
    horizon: Option<i64>,
    now_ms: i64,
    delete_retention_ms: u64,
) -> BatchFate {
    let new_horizon = if t.kept_tombstones > 0 && horizon.is_none() {
        Some(now_ms.saturating_add(delete_retention_ms.min(i64::MAX as u64) as i64))
    } else {
        horizon
    };
    if t.kept == t.total && new_horizon == horizon {
        BatchFate::KeepAsIs
    } else if t.kept == 0 && !is_producers_last {
        BatchFate::Drop
    } else {
        BatchFate::Rewrite {
            delete_horizon_ms: new_horizon,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Headers;

    fn rec(
        offset: i64,
        key: Option<&'static [u8]>,
        value: Option<&'static [u8]>,
    ) -> Record<'static> {
        Record {
            offset_delta: 0,
            timestamp_delta: 0,
            offset,
            timestamp: 0,
            attributes: 0,
            key,
            value,
            headers: Headers::default(),
        }
    }

    #[test]
    fn record_rules() {
        let mut m = OffsetMap::with_budget(1 << 12, 0.9);
        m.put(b"a", 10);
        assert_eq!(
            record_fate(&rec(5, Some(b"a"), Some(b"v")), &m, None, 0),
            RecordFate::Superseded
        );
        assert_eq!(
            record_fate(&rec(10, Some(b"a"), Some(b"v")), &m, None, 0),
            RecordFate::Keep
        );
        assert_eq!(
            record_fate(&rec(3, Some(b"b"), Some(b"v")), &m, None, 0),
            RecordFate::Keep
        );
        assert_eq!(
            record_fate(&rec(3, None, Some(b"v")), &m, None, 0),
            RecordFate::Keyless
        );
        let tomb = rec(10, Some(b"a"), None);
        assert_eq!(record_fate(&tomb, &m, None, 99), RecordFate::Keep);
        assert_eq!(record_fate(&tomb, &m, Some(100), 99), RecordFate::Keep);
        assert_eq!(
            record_fate(&tomb, &m, Some(100), 100),
            RecordFate::ExpiredTombstone
        );
    }

    #[test]
    fn marker_rules() {
        let keep = BatchFate::KeepAsIs;
        // Data of its transaction still in the log: kept.
        assert_eq!(control_batch_fate(true, None, 100, 10), keep);
        assert_eq!(control_batch_fate(true, Some(50), 100, 10), keep);
        // No data left: a horizon first, removal once it has passed.
        assert_eq!(
            control_batch_fate(false, None, 100, 10),
            BatchFate::Rewrite {
                delete_horizon_ms: Some(110)
            }
        );
        assert_eq!(control_batch_fate(false, Some(110), 109, 10), keep);
        assert_eq!(
            control_batch_fate(false, Some(110), 110, 10),
            BatchFate::Drop
        );
    }

    #[test]
    fn batch_rules() {
        let t = |total, kept, kept_tombstones| BatchTally {
            total,
            kept,
            kept_tombstones,
        };
        assert_eq!(
            data_batch_fate(&t(3, 3, 0), false, None, 0, 5),
            BatchFate::KeepAsIs
        );
        assert_eq!(
            data_batch_fate(&t(3, 0, 0), false, None, 0, 5),
            BatchFate::Drop
        );
        assert_eq!(
            data_batch_fate(&t(3, 0, 0), true, None, 0, 5),
            BatchFate::Rewrite {
                delete_horizon_ms: None
            }
        );
        assert_eq!(
            data_batch_fate(&t(3, 3, 1), false, None, 7, 5),
            BatchFate::Rewrite {
                delete_horizon_ms: Some(12)
            }
        );
        assert_eq!(
            data_batch_fate(&t(3, 3, 1), false, Some(9), 7, 5),
            BatchFate::KeepAsIs
        );
    }
}
