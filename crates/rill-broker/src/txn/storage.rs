//! `__transaction_state` on disk: the coordinator's records appended as RecordBatch v2
//! through the ordinary `Partition` code (one batch per record: each has its own write id
//! and fate), and read back when this node becomes a partition's leader.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use kafka_protocol::ResponseError;
use rill_txn::{TxnCoordinator, TxnRecord, TRANSACTION_STATE_TOPIC};

use crate::error::{BrokerError, Result};
use crate::replica::{Partition, ReplicaManager};

/// One record appended: where to wait for it.
#[derive(Debug)]
pub struct Appended {
    /// The partition written.
    pub partition: Arc<Partition>,
    /// Its leader epoch at the append.
    pub leader_epoch: i32,
    /// The offset after the record.
    pub end: i64,
}

/// Encodes one record as a batch (producer id -1, CreateTime, uncompressed).
fn encode(record: &TxnRecord, now_ms: i64) -> Result<Vec<u8>> {
    let r = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: now_ms,
        key: Some(record.key.clone()),
        value: record.value.clone(),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, std::iter::once(&r), &options)
        .map_err(|e| BrokerError::Internal(format!("encode transaction record: {e}")))?;
    Ok(buf.to_vec())
}

/// Appends `record` to its `__transaction_state` partition, which this node must lead.
/// Returns where to wait, or the Kafka error code of the failed append.
pub fn append(
    replicas: &ReplicaManager,
    record: &TxnRecord,
    now_ms: i64,
) -> std::result::Result<Appended, i16> {
    let partition = replicas
        .get(TRANSACTION_STATE_TOPIC, record.partition)
        .filter(|p| p.is_leader())
        .ok_or(ResponseError::NotLeaderOrFollower.code())?;
    let mut bytes = encode(record, now_ms).map_err(|_| ResponseError::UnknownServerError.code())?;
    let leader_epoch = partition.leader_epoch();
    let info = partition.append(&mut bytes, now_ms).map_err(|e| {
        tracing::warn!(partition = record.partition, error = %e, "appending to {TRANSACTION_STATE_TOPIC} failed");
        crate::api::errors::log_error_code(&e)
    })?;
    Ok(Appended {
        partition,
        leader_epoch,
        end: info.last_offset + 1,
    })
}

/// Replays every record of one `__transaction_state` partition (up to its log end) into
/// `coordinator`, which is loading it. Returns the number of records replayed.
///
/// # Errors
/// Storage errors. Undecodable records are logged and skipped.
pub fn load_partition(p: &Partition, coordinator: &mut TxnCoordinator) -> Result<usize> {
    let mut count = 0;
    let index = p.index;
    let mut offset = p.log_start_offset()?;
    let end = p.log_end_offset()?;
    while offset < end {
        let read = p.read_for_follower(offset, 1 << 20)?;
        if read.records.is_empty() {
            break;
        }
        let mut buf = Bytes::from(read.records);
        let sets = RecordBatchDecoder::decode_all(&mut buf).map_err(|e| {
            BrokerError::Internal(format!(
                "{TRANSACTION_STATE_TOPIC}-{index} at {offset}: {e}"
            ))
        })?;
        let before = offset;
        for set in sets {
            for r in set.records {
                offset = offset.max(r.offset + 1);
                if r.control {
                    continue;
                }
                let Some(key) = r.key else { continue };
                match coordinator.replay(&key, r.value.as_deref()) {
                    Ok(()) => count += 1,
                    Err(e) => {
                        tracing::warn!(partition = index, offset = r.offset, error = %e, "skipping transaction record")
                    }
                }
            }
        }
        if offset == before {
            break;
        }
    }
    Ok(count)
}
