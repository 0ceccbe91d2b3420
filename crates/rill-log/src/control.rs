//! Transaction markers: the control batches that end a transaction in a partition (KIP-98).
//!
//! A marker is a batch with the transactional and control attribute bits, the producer id
//! and epoch of the transaction, sequence -1, and one record whose key is the control record
//! key (version `i16` 0, type `i16`: 0 ABORT, 1 COMMIT) and whose value is the end-txn marker
//! (version `i16` 0, coordinator epoch `i32`), as Kafka's `ControlRecordType` and
//! `EndTransactionMarker` write them. Other control types (KRaft's leader change and
//! snapshot records) are recognised as [`ControlKind::Other`] and have no effect on a
//! partition's transactions. Pure functions.

use crate::batch::BatchHeader;
use crate::batch_builder::{BatchBuilder, BatchTemplate, NewRecord};
use crate::compression::Codec;
use crate::error::{LogError, Result};
use crate::records::{Headers, Records};

/// Kafka's control record type ABORT.
const ABORT: i16 = 0;
/// Kafka's control record type COMMIT.
const COMMIT: i16 = 1;
/// Largest decompressed control batch read (a marker is about 20 bytes of records).
const MAX_CONTROL_BYTES: usize = 1 << 16;

/// How a transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxnOutcome {
    /// Its records are visible to read_committed consumers.
    Commit,
    /// Its records are hidden from read_committed consumers.
    Abort,
}

/// What a control batch says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlKind {
    /// A transaction marker, with the coordinator epoch that wrote it.
    Marker {
        /// Commit or abort.
        outcome: TxnOutcome,
        /// The epoch of the transaction coordinator that sent it.
        coordinator_epoch: i32,
    },
    /// Another control record type (or none): no effect on transactions.
    Other,
}

/// Reads the control record of the control batch `batch` (its whole bytes).
///
/// # Errors
/// [`LogError::CorruptBatch`] when the batch cannot be decoded or a marker's key or value is
/// too short.
pub fn read_control(batch: &[u8]) -> Result<ControlKind> {
    let mut scratch = Vec::new();
    let records = Records::decode(batch, &mut scratch, MAX_CONTROL_BYTES)?;
    let Some(record) = records.iter().next().transpose()? else {
        return Ok(ControlKind::Other);
    };
    let key = record.key.unwrap_or_default();
    if key.len() < 4 {
        return Err(LogError::corrupt(format!(
            "control record key of {} bytes (4 expected)",
            key.len()
        )));
    }
    let outcome = match i16::from_be_bytes([key[2], key[3]]) {
        ABORT => TxnOutcome::Abort,
        COMMIT => TxnOutcome::Commit,
        _ => return Ok(ControlKind::Other),
    };
    let value = record.value.unwrap_or_default();
    if value.len() < 6 {
        return Err(LogError::corrupt(format!(
            "transaction marker value of {} bytes (6 expected)",
            value.len()
        )));
    }
    let coordinator_epoch = i32::from_be_bytes([value[2], value[3], value[4], value[5]]);
    Ok(ControlKind::Marker {
        outcome,
        coordinator_epoch,
    })
}

/// The fields of a transaction marker to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarkerSpec {
    /// The transaction's producer id.
    pub producer_id: i64,
    /// The producer epoch the coordinator ended it with.
    pub producer_epoch: i16,
    /// The coordinator's epoch.
    pub coordinator_epoch: i32,
    /// Commit or abort.
    pub outcome: TxnOutcome,
    /// The marker's timestamp.
    pub timestamp_ms: i64,
}

/// Builds a marker batch at base offset 0 (the log assigns the real offset on append).
///
/// # Errors
/// [`LogError::InvalidBatch`] only if the builder fails, which it does not for these inputs.
pub fn build_marker(spec: &MarkerSpec) -> Result<Vec<u8>> {
    let template = BatchTemplate {
        producer_id: spec.producer_id,
        producer_epoch: spec.producer_epoch,
        transactional: true,
        control: true,
        empty_timestamp_ms: spec.timestamp_ms,
        ..BatchTemplate::plain(0)
    };
    let kind = match spec.outcome {
        TxnOutcome::Abort => ABORT,
        TxnOutcome::Commit => COMMIT,
    };
    let mut key = [0u8; 4];
    key[2..].copy_from_slice(&kind.to_be_bytes());
    let mut value = [0u8; 6];
    value[2..].copy_from_slice(&spec.coordinator_epoch.to_be_bytes());
    let mut b = BatchBuilder::new(template, Codec::None, None, Vec::new());
    b.push(&NewRecord {
        offset: 0,
        timestamp: spec.timestamp_ms,
        key: Some(&key),
        value: Some(&value),
        headers: Headers::default(),
    })?;
    b.finish()
}

/// Whether `h` is a transactional data batch (not a marker).
pub fn is_transactional_data(h: &BatchHeader) -> bool {
    h.is_transactional() && !h.is_control()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::validate_batch;

    #[test]
    fn markers_round_trip_with_kafkas_layout() {
        for outcome in [TxnOutcome::Commit, TxnOutcome::Abort] {
            let bytes = build_marker(&MarkerSpec {
                producer_id: 42,
                producer_epoch: 3,
                coordinator_epoch: 7,
                outcome,
                timestamp_ms: 1_700_000_000_000,
            })
            .unwrap();
            let h = validate_batch(&bytes).unwrap();
            assert!(h.is_control() && h.is_transactional());
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.base_sequence),
                (42, 3, -1)
            );
            assert_eq!(h.record_count, 1);
            assert_eq!(
                read_control(&bytes).unwrap(),
                ControlKind::Marker {
                    outcome,
                    coordinator_epoch: 7
                }
            );
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut bytes = build_marker(&MarkerSpec {
            producer_id: 1,
            producer_epoch: 0,
            coordinator_epoch: 0,
            outcome: TxnOutcome::Abort,
            timestamp_ms: 0,
        })
        .unwrap();
        let n = bytes.len();
        bytes.truncate(n - 3);
        assert!(read_control(&bytes).is_err());
    }
}
