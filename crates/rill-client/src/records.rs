//! Records in and out: encoding one RecordBatch v2 for produce, and decoding the batches of a
//! fetch answer (which may end with a partial batch that is simply not returned yet).
//!
//! Invariant: `encode_batch` always yields exactly one batch: the encoder starts a new batch
//! whenever `offset - sequence` changes between records, so sequences are set to
//! `base_sequence + offset_delta` (base -1 when not idempotent).

use bytes::{Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use crate::batch_view;
use crate::error::{ClientError, Result};

/// A record to produce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProduceRecord {
    /// Key (`None`: null key).
    pub key: Option<Bytes>,
    /// Value (`None`: tombstone).
    pub value: Option<Bytes>,
    /// Headers in order (a repeated name keeps its last value).
    pub headers: Vec<(String, Option<Bytes>)>,
    /// Create time in ms since the epoch.
    pub timestamp_ms: i64,
}

/// A record read from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// The record's offset.
    pub offset: i64,
    /// Its timestamp (ms).
    pub timestamp_ms: i64,
    /// Whether the timestamp is the append time.
    pub log_append_time: bool,
    /// Key.
    pub key: Option<Bytes>,
    /// Value.
    pub value: Option<Bytes>,
    /// Headers in order.
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// The producer identity stamped on a batch (idempotence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerStamp {
    /// Producer id (-1: none).
    pub producer_id: i64,
    /// Producer epoch (-1: none).
    pub producer_epoch: i16,
    /// Sequence of the first record (-1: none).
    pub base_sequence: i32,
}

impl Default for ProducerStamp {
    fn default() -> Self {
        ProducerStamp {
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
        }
    }
}

/// Parses a compression name (`none`, `gzip`, `snappy`, `lz4`, `zstd`).
///
/// # Errors
/// [`ClientError::Invalid`] for other names.
pub fn parse_compression(name: &str) -> Result<Compression> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "none" | "" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        other => {
            return Err(ClientError::Invalid(format!(
                "unknown compression '{other}'; use none, gzip, snappy, lz4 or zstd"
            )))
        }
    })
}

/// Encodes `records` as one RecordBatch v2.
///
/// # Errors
/// Encoding (compression) failures.
pub fn encode_batch(
    records: &[ProduceRecord],
    compression: Compression,
    stamp: ProducerStamp,
) -> Result<Bytes> {
    let converted: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: stamp.producer_id,
            producer_epoch: stamp.producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: stamp.base_sequence.wrapping_add(i as i32),
            timestamp: r.timestamp_ms,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (StrBytes::from_string(k.clone()), v.clone()))
                .collect::<IndexMap<_, _>>(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, &converted, &options).map_err(|e| ClientError::Codec {
        what: "encode",
        api: "RecordBatch".into(),
        version: 2,
        reason: e.to_string(),
    })?;
    Ok(buf.freeze())
}

/// The offset after the last whole batch in `data` (base offset + last offset delta + 1 of
/// each batch header), without decoding any record; `None` when `data` holds no whole batch.
pub fn next_offset_after(data: &[u8]) -> Option<i64> {
    let mut at = 0usize;
    let mut next = None;
    while let Some(head) = data.get(at..at + 27) {
        let base = i64::from_be_bytes(head[0..8].try_into().ok()?);
        let batch_len = i32::from_be_bytes(head[8..12].try_into().ok()?);
        let last_delta = i32::from_be_bytes(head[23..27].try_into().ok()?);
        let Ok(len) = usize::try_from(batch_len) else {
            break;
        };
        let end = at.checked_add(12)?.checked_add(len)?;
        if end > data.len() || len < 15 {
            break;
        }
        next = Some(base.saturating_add(i64::from(last_delta)).saturating_add(1));
        at = end;
    }
    next
}

/// Decodes the whole batches in a fetch answer's `records` bytes, skipping control records
/// and records below `from_offset`. A partial batch at the end is ignored. Also returns the
/// offset after the last whole batch (to step over batches of control records only).
///
/// # Errors
/// A batch that does not decode (corrupt, or an old message format).
pub fn decode_batches(data: Bytes, from_offset: i64) -> Result<(Vec<ConsumedRecord>, Option<i64>)> {
    let mut out = Vec::new();
    let mut next_offset = None;
    for batch in batch_view::batches(&data) {
        let batch = batch?;
        next_offset = Some(batch.next_offset());
        decode_batch(&data, batch, from_offset, &mut out)?;
    }
    Ok((out, next_offset))
}

/// [`decode_batches`] for a read_committed fetch: the records of the aborted transactions the
/// broker listed (`(producer id, first offset)`) are left out, as Kafka's consumers do: a
/// producer's transactional batches are skipped from its aborted transaction's first offset
/// until its next marker.
///
/// # Errors
/// As [`decode_batches`].
pub fn decode_batches_committed(
    data: Bytes,
    from_offset: i64,
    aborted: &[(i64, i64)],
) -> Result<(Vec<ConsumedRecord>, Option<i64>)> {
    let mut pending: Vec<(i64, i64)> = aborted.to_vec();
    pending.sort_by_key(|(_, first)| std::cmp::Reverse(*first));
    let mut skipping: std::collections::HashSet<i64> = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut next_offset = None;
    for batch in batch_view::batches(&data) {
        let batch = batch?;
        next_offset = Some(batch.next_offset());
        let last = batch.next_offset() - 1;
        while pending.last().is_some_and(|(_, first)| *first <= last) {
            if let Some((pid, _)) = pending.pop() {
                skipping.insert(pid);
            }
        }
        if batch.is_control() {
            skipping.remove(&batch.producer_id());
            continue;
        }
        if batch.is_transactional() && skipping.contains(&batch.producer_id()) {
            continue;
        }
        decode_batch(&data, batch, from_offset, &mut out)?;
    }
    Ok((out, next_offset))
}

/// Appends the records of `batch` (one whole batch of `data`, already checked by
/// [`batch_view::batches`]) at or after `from_offset` to `out`, control batches skipped: an
/// uncompressed batch read in place, a compressed one decompressed and decoded by
/// kafka-protocol.
///
/// # Errors
/// A record that does not parse, or a compressed batch that does not decode.
pub fn decode_batch(
    data: &Bytes,
    batch: batch_view::BatchRef<'_>,
    from_offset: i64,
    out: &mut Vec<ConsumedRecord>,
) -> Result<()> {
    if batch.is_control() {
        return Ok(());
    }
    if batch.compression() != 0 {
        return decode_compressed(data.slice_ref(batch.bytes()), from_offset, out);
    }
    for r in batch.records()? {
        let r = r?;
        if r.offset < from_offset {
            continue;
        }
        out.push(ConsumedRecord {
            offset: r.offset,
            timestamp_ms: r.timestamp_ms,
            log_append_time: r.log_append_time,
            key: r.key.map(|k| data.slice_ref(k)),
            value: r.value.map(|v| data.slice_ref(v)),
            headers: r
                .headers()
                .map(|(k, v)| {
                    (
                        String::from_utf8_lossy(k).into_owned(),
                        v.map(|v| data.slice_ref(v)),
                    )
                })
                .collect(),
        });
    }
    Ok(())
}

/// Decompresses and decodes one compressed batch with kafka-protocol's decoder.
fn decode_compressed(
    mut batch: Bytes,
    from_offset: i64,
    out: &mut Vec<ConsumedRecord>,
) -> Result<()> {
    let set = RecordBatchDecoder::decode(&mut batch).map_err(|e| ClientError::Codec {
        what: "decode",
        api: "RecordBatch".into(),
        version: 2,
        reason: e.to_string(),
    })?;
    for r in set.records {
        if r.control || r.offset < from_offset {
            continue;
        }
        out.push(ConsumedRecord {
            offset: r.offset,
            timestamp_ms: r.timestamp,
            log_append_time: r.timestamp_type == TimestampType::LogAppend,
            key: r.key,
            value: r.value,
            headers: r
                .headers
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u8) -> ProduceRecord {
        ProduceRecord {
            key: i.is_multiple_of(2).then(|| Bytes::from(vec![i])),
            value: Some(Bytes::from(vec![i; i as usize])),
            headers: vec![("h".into(), Some(Bytes::from_static(b"v")))],
            timestamp_ms: 1_700_000_000_000 + i64::from(i),
        }
    }

    #[test]
    fn one_batch_round_trip_every_codec() {
        let records: Vec<_> = (0..10).map(rec).collect();
        for c in ["none", "gzip", "snappy", "lz4", "zstd"] {
            for stamp in [
                ProducerStamp::default(),
                ProducerStamp {
                    producer_id: 7,
                    producer_epoch: 0,
                    base_sequence: 42,
                },
            ] {
                let bytes = encode_batch(&records, parse_compression(c).unwrap(), stamp).unwrap();
                let info = RecordBatchDecoder::decode_batch_info(&mut bytes.clone()).unwrap();
                assert_eq!(info.len(), 1, "{c}: one batch");
                assert_eq!(info[0].base_sequence, stamp.base_sequence);
                let (back, next) = decode_batches(bytes, 0).unwrap();
                assert_eq!(next, Some(10));
                assert_eq!(back.len(), 10);
                for (i, r) in back.iter().enumerate() {
                    assert_eq!(r.offset, i as i64);
                    assert_eq!(r.value, records[i].value);
                    assert_eq!(r.key, records[i].key);
                    assert_eq!(r.headers, records[i].headers);
                    assert_eq!(r.timestamp_ms, records[i].timestamp_ms);
                }
            }
        }
    }

    #[test]
    fn next_offset_comes_from_the_last_whole_batch_header() {
        let a = encode_batch(
            &(0..3).map(rec).collect::<Vec<_>>(),
            Compression::None,
            ProducerStamp::default(),
        )
        .unwrap();
        let mut two = BytesMut::from(&a[..]);
        let mut second = BytesMut::from(&a[..]);
        second[0..8].copy_from_slice(&3i64.to_be_bytes());
        two.extend_from_slice(&second);
        assert_eq!(next_offset_after(&a), Some(3));
        assert_eq!(next_offset_after(&two), Some(6));
        assert_eq!(next_offset_after(&two[..two.len() - 1]), Some(3));
        assert_eq!(next_offset_after(&a[..20]), None);
        assert_eq!(next_offset_after(&[]), None);
        let (_, decoded_next) = decode_batches(two.freeze(), 0).unwrap();
        assert_eq!(decoded_next, Some(6));
    }

    #[test]
    fn partial_tail_is_ignored() {
        let a = encode_batch(&[rec(1)], Compression::None, ProducerStamp::default()).unwrap();
        let mut both = BytesMut::from(&a[..]);
        both.extend_from_slice(&a[..a.len() - 3]);
        assert_eq!(decode_batches(both.freeze(), 0).unwrap().0.len(), 1);
    }
}
