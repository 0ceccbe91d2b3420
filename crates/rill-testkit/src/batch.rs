//! RecordBatch v2 bytes with real records, built by kafka-protocol's encoder: what a Kafka
//! client sends. The one batch builder of the integration tests and the benchmark (rill-log's
//! own unit tests build filler batches by hand, `rill_log::testutil`, since that crate may not
//! depend on the protocol crate).

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// Builds one batch. `Default`: no records yet, no compression, no producer id, timestamps
/// from the wall clock (an old timestamp would roll segments by `segment.ms`).
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    /// The records, offsets and sequences filled in at build.
    records: Vec<Record>,
    /// The codec.
    compression: Compression,
    /// Timestamp of the first record; each next one is 1 ms later.
    base_timestamp: Option<i64>,
    /// Producer id, epoch and first sequence (-1s for none).
    producer: (i64, i16, i32),
    /// Whether the batch belongs to a transaction.
    transactional: bool,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        BatchBuilder {
            records: Vec::new(),
            compression: Compression::None,
            base_timestamp: None,
            producer: (-1, -1, -1),
            transactional: false,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl BatchBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a record.
    pub fn record(mut self, key: Option<&[u8]>, value: Option<&[u8]>) -> Self {
        self.records.push(Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: 0,
            timestamp: 0,
            key: key.map(Bytes::copy_from_slice),
            value: value.map(Bytes::copy_from_slice),
            headers: Default::default(),
        });
        self
    }

    /// Adds a header to the last record added.
    pub fn header(mut self, name: &str, value: &[u8]) -> Self {
        if let Some(r) = self.records.last_mut() {
            r.headers.insert(
                StrBytes::from_string(name.to_string()),
                Some(Bytes::copy_from_slice(value)),
            );
        }
        self
    }

    /// Adds `count` records with keys `k<i>` and `value_len`-byte values that differ by `seed`.
    pub fn filler(mut self, count: usize, value_len: usize, seed: u8) -> Self {
        for i in 0..count {
            let value: Vec<u8> = (0..value_len)
                .map(|j| seed.wrapping_add((j % 253) as u8))
                .collect();
            self = self.record(Some(format!("k{i}").as_bytes()), Some(&value));
        }
        self
    }

    /// Compresses with `compression`.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// The first record's timestamp (ms); the next ones follow 1 ms apart.
    pub fn timestamp(mut self, base_timestamp_ms: i64) -> Self {
        self.base_timestamp = Some(base_timestamp_ms);
        self
    }

    /// An idempotent producer's batch: its id, epoch and first sequence.
    pub fn producer(mut self, producer_id: i64, epoch: i16, base_sequence: i32) -> Self {
        self.producer = (producer_id, epoch, base_sequence);
        self
    }

    /// Marks the batch transactional.
    pub fn transactional(mut self) -> Self {
        self.transactional = true;
        self
    }

    /// The batch's bytes.
    ///
    /// # Panics
    /// When kafka-protocol cannot encode it (a bug in the test).
    pub fn build(self) -> Bytes {
        let base_ts = self.base_timestamp.unwrap_or_else(now_ms);
        let (producer_id, producer_epoch, base_sequence) = self.producer;
        let records: Vec<Record> = self
            .records
            .into_iter()
            .enumerate()
            .map(|(i, mut r)| {
                r.offset = i as i64;
                r.timestamp = base_ts + i as i64;
                r.producer_id = producer_id;
                r.producer_epoch = producer_epoch;
                // kafka-protocol's encoder starts a new batch wherever offset - sequence
                // changes and writes the first record's sequence as the base: without a
                // producer (base -1) that is -1, 0, 1, ...: one batch with base sequence -1,
                // as clients send it.
                r.sequence = base_sequence.wrapping_add(i as i32);
                r.transactional = self.transactional;
                r
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression: self.compression,
            },
        )
        .expect("encode a record batch");
        buf.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

    #[test]
    fn batches_decode_back_with_their_records_and_producer_fields() {
        for compression in [Compression::None, Compression::Zstd] {
            let mut bytes = BatchBuilder::new()
                .record(Some(b"a"), Some(b"1"))
                .header("h", b"x")
                .filler(3, 10, 7)
                .compression(compression)
                .timestamp(1_000)
                .producer(42, 3, 100)
                .build();
            let set = RecordBatchDecoder::decode(&mut bytes).expect("decodes");
            let recs = set.records;
            assert_eq!(recs.len(), 4);
            assert_eq!(recs[0].key.as_deref(), Some(&b"a"[..]));
            assert_eq!(recs[0].headers.len(), 1);
            assert_eq!(recs[3].key.as_deref(), Some(&b"k2"[..]));
            assert_eq!(recs[3].value.as_ref().map(|v| v.len()), Some(10));
            assert_eq!((recs[3].offset, recs[3].timestamp), (3, 1_003));
            assert_eq!((recs[3].producer_id, recs[3].sequence), (42, 103));
        }
        // Without a producer: one batch, base sequence -1 (bytes 53..57 of the header).
        let bytes = BatchBuilder::new().filler(3, 4, 0).build();
        let base_sequence = i32::from_be_bytes([bytes[53], bytes[54], bytes[55], bytes[56]]);
        assert_eq!(base_sequence, -1);
        let last_offset_delta = i32::from_be_bytes([bytes[23], bytes[24], bytes[25], bytes[26]]);
        assert_eq!(last_offset_delta, 2);
        assert_eq!(
            i32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            bytes.len() - 12,
            "one batch"
        );
    }
}
