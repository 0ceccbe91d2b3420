//! `__consumer_offsets` on disk: appending the coordinator's records as
//! RecordBatch v2 through the ordinary `Partition` code, and reading them back on start.
//!
//! Plain batches are built with kafka-protocol's encoder: producer id -1 and sequences 0..n
//! (the encoder starts a new batch whenever `offset - sequence` changes), compressed with
//! `offsets.topic.compression.codec`, CreateTime. A TxnOffsetCommit's records are one batch
//! of its producer ([`append_txn`], rill-log's builder): producer id and epoch, the
//! transactional bit, no sequence (-1: Kafka checks sequences of client appends only; the log
//! still fences an older producer epoch). Loading replays each batch with its origin (plain
//! or a producer's transaction) and each transaction marker as the end of that producer's
//! transaction in the partition ([`GroupCoordinator::complete_txn`]); a transaction with no
//! marker yet stays pending.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::BytesMut;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use rill_group::{CoordinatorRecord, GroupCoordinator, RecordOrigin, TxnOffsetWrite};
use rill_log::{
    BatchBuilder, BatchHeader, BatchTemplate, Codec, ControlKind, Headers, NewRecord, Records,
    TxnOutcome,
};

use crate::error::{BrokerError, Result};
use crate::replica::{Partition, ReplicaManager};

/// The internal topic's name.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Bytes read from the log at a time while loading.
const LOAD_READ_BYTES: u64 = 1 << 20;

/// Most bytes one batch may decompress to while loading (a batch holds one handler's
/// records; Kafka's `offsets.load.buffer.size` is 5 MiB).
const MAX_BATCH_BYTES: usize = 64 << 20;

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
        let partition = led(replicas, index)?;
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

/// The offsets partition `index` if this node leads it.
fn led(replicas: &ReplicaManager, index: i32) -> Result<Arc<Partition>> {
    replicas
        .get(OFFSETS_TOPIC, index)
        .filter(|p| p.is_leader())
        .ok_or_else(|| BrokerError::Internal(format!("{OFFSETS_TOPIC}-{index} is not led here")))
}

/// rill-log's codec for `offsets.topic.compression.codec`.
fn codec(compression: Compression) -> Codec {
    match compression {
        Compression::None => Codec::None,
        Compression::Gzip => Codec::Gzip,
        Compression::Snappy => Codec::Snappy,
        Compression::Lz4 => Codec::Lz4,
        Compression::Zstd => Codec::Zstd,
    }
}

/// Appends a TxnOffsetCommit's records as one batch of its producer (see the module doc).
/// Returns the partition and the end offset to wait for. Call under the coordinator lock,
/// and apply the write to the state machine only when this succeeds.
///
/// # Errors
/// The log's producer checks ([`rill_log::LogError::InvalidProducerEpoch`] for a fenced
/// producer, [`rill_log::LogError::InvalidTxnState`]), size and storage errors; nothing is
/// written then.
pub fn append_txn(
    replicas: &ReplicaManager,
    write: &TxnOffsetWrite,
    now_ms: i64,
    compression: Compression,
) -> Result<(Arc<Partition>, i64)> {
    let partition = led(replicas, write.partition)?;
    let transactional = write.is_transactional();
    let template = BatchTemplate {
        producer_id: if transactional { write.producer_id } else { -1 },
        producer_epoch: if transactional {
            write.producer_epoch
        } else {
            -1
        },
        base_sequence: -1,
        transactional,
        empty_timestamp_ms: now_ms,
        ..BatchTemplate::plain(0)
    };
    let mut builder = BatchBuilder::new(template, codec(compression), None, Vec::new());
    for (i, r) in write.records.iter().enumerate() {
        builder.push(&NewRecord {
            offset: i as i64,
            timestamp: now_ms,
            key: Some(&r.key),
            value: r.value.as_deref(),
            headers: Headers::default(),
        })?;
    }
    let mut bytes = Vec::new();
    builder.finish_into(&mut bytes)?;
    let info = partition.append(&mut bytes, now_ms)?;
    Ok((partition, info.last_offset + 1))
}

/// Replays every record of one `__consumer_offsets` partition (up to its log end: a new
/// leader's log is what the partition will hold) into `coordinator`, in log order: data
/// batches with their origin, transaction markers as [`GroupCoordinator::complete_txn`].
///
/// # Errors
/// Storage errors and batches that do not decode. Undecodable coordinator records are
/// logged and skipped.
pub fn load_partition(p: &Partition, coordinator: &mut GroupCoordinator) -> Result<usize> {
    let mut count = 0;
    let index = p.index;
    let mut offset = p.log_start_offset()?;
    let end = p.log_end_offset()?;
    let mut scratch = Vec::new();
    while offset < end {
        let read = p.read_for_follower(offset, LOAD_READ_BYTES)?;
        let before = offset;
        let mut at = 0;
        while at < read.records.len() {
            let rest = &read.records[at..];
            let h = BatchHeader::parse(rest)?;
            let len = h.total_len();
            if len > rest.len() {
                break;
            }
            count += replay_batch(index, &rest[..len], &h, coordinator, &mut scratch)?;
            offset = offset.max(h.last_offset() + 1);
            at += len;
        }
        if offset == before {
            break;
        }
    }
    Ok(count)
}

/// Replays one batch; returns the records applied.
fn replay_batch(
    index: i32,
    batch: &[u8],
    h: &BatchHeader,
    coordinator: &mut GroupCoordinator,
    scratch: &mut Vec<u8>,
) -> Result<usize> {
    if h.is_control() {
        if let ControlKind::Marker { outcome, .. } = rill_log::read_control(batch)? {
            coordinator.complete_txn(index, h.producer_id, outcome == TxnOutcome::Commit);
        }
        return Ok(0);
    }
    let origin = RecordOrigin::of_batch(h.producer_id, h.is_transactional());
    let records = Records::decode(batch, scratch, MAX_BATCH_BYTES)?;
    let mut count = 0;
    for r in records.iter() {
        let r = r?;
        let Some(key) = r.key else { continue };
        match coordinator.replay_from(origin, key, r.value) {
            Ok(()) => count += 1,
            Err(e) => {
                tracing::warn!(partition = index, offset = r.offset, error = %e, "skipping coordinator record")
            }
        }
    }
    Ok(count)
}
