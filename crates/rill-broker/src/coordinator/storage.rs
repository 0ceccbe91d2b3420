//! `__consumer_offsets` on disk: appending the coordinator's records as
//! RecordBatch v2 through the ordinary `Partition` code, and reading them back on start.
//!
//! Batches are built with kafka-protocol's encoder: producer id -1 and sequences 0..n (the
//! encoder starts a new batch whenever `offset - sequence` changes), compressed with
//! `offsets.topic.compression.codec`, CreateTime.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use rill_group::{CoordinatorRecord, GroupCoordinator};

use crate::error::{BrokerError, Result};
use crate::replica::{Partition, ReplicaManager};

/// The internal topic's name.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// The codec of `offsets.topic.compression.codec` (Kafka's ids: 0 none, 1 gzip, 2 snappy,
/// 3 lz4, 4 zstd).
///
/// # Errors
/// [`BrokerError::Config`]-style error for another id.
pub fn compression_codec(id: i64) -> Result<Compression> {
    Ok(match id {
        0 => Compression::None,
        1 => Compression::Gzip,
        2 => Compression::Snappy,
        3 => Compression::Lz4,
        4 => Compression::Zstd,
        other => {
            return Err(BrokerError::Internal(format!(
                "offsets.topic.compression.codec: unknown codec {other} (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd)"
            )))
        }
    })
}

/// Encodes records as one batch (several if the encoder splits).
fn encode(
    records: &[&CoordinatorRecord],
    now_ms: i64,
    compression: Compression,
) -> Result<Vec<u8>> {
    let recs: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32,
            timestamp: now_ms,
            key: Some(r.key.clone()),
            value: r.value.clone(),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, recs.iter(), &options)
        .map_err(|e| BrokerError::Internal(format!("encode coordinator records: {e}")))?;
    Ok(buf.to_vec())
}

/// Appends records (in order) to their partitions. Returns, per partition, the end offset to
/// wait for. Call under the coordinator lock so log order is state order.
///
/// # Errors
/// Storage errors; nothing after the failing partition is written.
pub fn append(
    replicas: &ReplicaManager,
    records: &[CoordinatorRecord],
    now_ms: i64,
    compression: Compression,
) -> Result<Vec<(Arc<Partition>, i64)>> {
    let mut by_partition: BTreeMap<i32, Vec<&CoordinatorRecord>> = BTreeMap::new();
    for r in records {
        by_partition.entry(r.partition).or_default().push(r);
    }
    let mut ends = Vec::new();
    for (index, recs) in by_partition {
        let partition = replicas
            .get(OFFSETS_TOPIC, index)
            .filter(|p| p.is_leader())
            .ok_or_else(|| {
                BrokerError::Internal(format!("{OFFSETS_TOPIC}-{index} is not led here"))
            })?;
        let mut bytes = encode(&recs, now_ms, compression)?;
        let mut at = 0;
        let mut last = -1;
        // The encoder may have produced several batches: append each.
        while at < bytes.len() {
            let len = rill_log::BatchHeader::parse(&bytes[at..])?.total_len();
            let info = partition.append(&mut bytes[at..at + len], now_ms)?;
            last = info.last_offset;
            at += len;
        }
        ends.push((partition, last + 1));
    }
    Ok(ends)
}

/// Replays every record of one `__consumer_offsets` partition (up to its log end: a new
/// leader's log is what the partition will hold) into `coordinator`.
///
/// # Errors
/// Storage errors. Undecodable records are logged and skipped.
pub fn load_partition(p: &Partition, coordinator: &mut GroupCoordinator) -> Result<usize> {
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
            BrokerError::Internal(format!("{OFFSETS_TOPIC}-{index} at {offset}: {e}"))
        })?;
        let before = offset;
        for set in sets {
            for r in set.records {
                offset = offset.max(r.offset + 1);
                let Some(key) = r.key else { continue };
                match coordinator.replay(&key, r.value.as_deref()) {
                    Ok(()) => count += 1,
                    Err(e) => {
                        tracing::warn!(partition = index, offset = r.offset, error = %e, "skipping coordinator record")
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
