//! Test helpers: build valid RecordBatch v2 bytes by hand (header + filler records + CRC).
//!
//! Available to this crate's tests and, with the `test-util` feature, to other crates' tests.
//! The record bytes are opaque filler: the log never decodes records.

use crate::batch::{compute_crc, BATCH_HEADER_LEN};

/// What batch to build; `Default` gives one record of 16 bytes, no producer id.
#[derive(Clone, Debug)]
pub struct BatchSpec {
    /// Base offset written into the header (the leader overwrites it on append).
    pub base_offset: i64,
    /// Number of records (`record_count`).
    pub records: i32,
    /// Total bytes after the header (at least `records`).
    pub record_bytes: usize,
    /// First record timestamp.
    pub base_timestamp: i64,
    /// Largest record timestamp.
    pub max_timestamp: i64,
    /// Producer id, -1 for none.
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// First sequence number.
    pub base_sequence: i32,
    /// Attribute bits.
    pub attributes: i16,
    /// Partition leader epoch.
    pub partition_leader_epoch: i32,
    /// Override of `last_offset_delta` (default `records - 1`), to build invalid batches.
    pub last_offset_delta: Option<i32>,
    /// Byte used to fill the record area (varied so batches differ).
    pub fill: u8,
}

impl Default for BatchSpec {
    fn default() -> Self {
        BatchSpec {
            base_offset: 0,
            records: 1,
            record_bytes: 16,
            base_timestamp: 1_000,
            max_timestamp: 1_000,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            attributes: 0,
            partition_leader_epoch: -1,
            last_offset_delta: None,
            fill: 0xab,
        }
    }
}

/// Builds one batch with a correct CRC.
pub fn build_batch(spec: &BatchSpec) -> Vec<u8> {
    let body = spec.record_bytes.max(spec.records.max(0) as usize);
    let total = BATCH_HEADER_LEN + body;
    let mut b = Vec::with_capacity(total);
    b.extend_from_slice(&spec.base_offset.to_be_bytes());
    b.extend_from_slice(&((total - 12) as i32).to_be_bytes());
    b.extend_from_slice(&spec.partition_leader_epoch.to_be_bytes());
    b.push(2);
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(&spec.attributes.to_be_bytes());
    let delta = spec.last_offset_delta.unwrap_or(spec.records - 1);
    b.extend_from_slice(&delta.to_be_bytes());
    b.extend_from_slice(&spec.base_timestamp.to_be_bytes());
    b.extend_from_slice(&spec.max_timestamp.to_be_bytes());
    b.extend_from_slice(&spec.producer_id.to_be_bytes());
    b.extend_from_slice(&spec.producer_epoch.to_be_bytes());
    b.extend_from_slice(&spec.base_sequence.to_be_bytes());
    b.extend_from_slice(&spec.records.to_be_bytes());
    for i in 0..body {
        b.push(spec.fill.wrapping_add(i as u8));
    }
    let crc = compute_crc(&b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// Shorthand: a batch of `records` records, `record_bytes` body bytes, timestamp `ts`.
pub fn simple_batch(records: i32, record_bytes: usize, ts: i64) -> Vec<u8> {
    build_batch(&BatchSpec {
        records,
        record_bytes,
        base_timestamp: ts,
        max_timestamp: ts,
        ..BatchSpec::default()
    })
}

/// The bytes `slices` (a [`crate::log_read::ReadResult`]'s file ranges) hold, in order, read
/// from their files: what a `sendfile` of them would send.
///
/// # Panics
/// When a range cannot be read (test helper).
pub fn slice_bytes(slices: &[crate::log_read::FileSlice]) -> Vec<u8> {
    let mut sent = Vec::new();
    for s in slices {
        let mut part = vec![0u8; s.len as usize];
        std::os::unix::fs::FileExt::read_exact_at(&*s.file, &mut part, s.position)
            .expect("read a file slice");
        sent.extend_from_slice(&part);
    }
    sent
}
