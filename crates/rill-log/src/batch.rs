//! RecordBatch v2 header view over raw bytes: parse, validate, patch; records are never decoded.
//!
//! Layout (big-endian): baseOffset i64 @0, batchLength i32 @8, partitionLeaderEpoch i32 @12,
//! magic i8 @16, crc u32 @17 (CRC-32C over bytes 21..end), attributes i16 @21, lastOffsetDelta
//! i32 @23, baseTimestamp i64 @27, maxTimestamp i64 @35, producerId i64 @43, producerEpoch i16
//! @51, baseSequence i32 @53, recordCount i32 @57; records follow @61.
//! `batchLength` counts the bytes after the length field, so a batch is `12 + batchLength` bytes.
//! The base offset and partition leader epoch are outside the CRC, so they are patched in place.
//! Every function is pure and total: any byte pattern gives a value or a typed error.

use crate::error::{LogError, Result};
use std::ops::Range;

/// Size of the fixed RecordBatch v2 header.
pub const BATCH_HEADER_LEN: usize = 61;
/// Bytes before the CRC-covered span starts (the CRC covers `bytes[21..]`).
const CRC_START: usize = 21;
/// Bytes of the prefix that holds base offset and batch length.
pub(crate) const LOG_OVERHEAD: usize = 12;
/// Smallest legal `batchLength`.
const MIN_BATCH_LENGTH: i32 = (BATCH_HEADER_LEN - LOG_OVERHEAD) as i32;

/// The fields of a RecordBatch v2 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes after the length field.
    pub batch_length: i32,
    /// Leader epoch of the leader that appended the batch.
    pub partition_leader_epoch: i32,
    /// Format version; 2 for RecordBatch v2.
    pub magic: i8,
    /// CRC-32C over `bytes[21..]`.
    pub crc: u32,
    /// Compression (bits 0-2), timestamp type (3), transactional (4), control (5).
    pub attributes: i16,
    /// Last record's offset minus the base offset.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest record timestamp.
    pub max_timestamp: i64,
    /// Idempotent producer id, -1 if none.
    pub producer_id: i64,
    /// Producer epoch, -1 if none.
    pub producer_epoch: i16,
    /// Sequence of the first record, -1 if none.
    pub base_sequence: i32,
    /// Number of records.
    pub record_count: i32,
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

impl BatchHeader {
    /// Parses the 61-byte header at the start of `bytes`, checking only lengths (no CRC).
    ///
    /// # Errors
    /// [`LogError::CorruptBatch`] if fewer than 61 bytes are given, or the declared length is
    /// below the header size.
    pub fn parse(bytes: &[u8]) -> Result<BatchHeader> {
        if bytes.len() < BATCH_HEADER_LEN {
            return Err(LogError::corrupt(format!(
                "{} bytes is shorter than the {BATCH_HEADER_LEN}-byte batch header",
                bytes.len()
            )));
        }
        let h = BatchHeader {
            base_offset: be_i64(bytes, 0),
            batch_length: be_i32(bytes, 8),
            partition_leader_epoch: be_i32(bytes, 12),
            magic: bytes[16] as i8,
            crc: be_i32(bytes, 17) as u32,
            attributes: be_i16(bytes, 21),
            last_offset_delta: be_i32(bytes, 23),
            base_timestamp: be_i64(bytes, 27),
            max_timestamp: be_i64(bytes, 35),
            producer_id: be_i64(bytes, 43),
            producer_epoch: be_i16(bytes, 51),
            base_sequence: be_i32(bytes, 53),
            record_count: be_i32(bytes, 57),
        };
        if h.batch_length < MIN_BATCH_LENGTH {
            return Err(LogError::corrupt(format!(
                "batch length {} is below the minimum {MIN_BATCH_LENGTH}",
                h.batch_length
            )));
        }
        Ok(h)
    }

    /// Offset of the last record: `base_offset + last_offset_delta`.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// Whole batch size in bytes: `12 + batch_length`.
    pub fn total_len(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }

    /// Compression codec: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression(&self) -> u8 {
        (self.attributes & 0x07) as u8
    }

    /// Whether the batch is part of a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    /// Whether the batch is a control batch (transaction markers).
    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }

    /// Whether the timestamps are the broker's append time.
    pub fn timestamp_type_is_log_append(&self) -> bool {
        self.attributes & 0x08 != 0
    }

    /// Sequence number of the last record, wrapping at `i32::MAX` as Kafka does.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta);
        if last > i64::from(i32::MAX) {
            (last - i64::from(i32::MAX) - 1) as i32
        } else {
            last as i32
        }
    }
}

/// CRC-32C of the span the header's CRC covers.
pub(crate) fn compute_crc(bytes: &[u8]) -> u32 {
    crc32c::crc32c(&bytes[CRC_START.min(bytes.len())..])
}

/// Checks magic, the declared length against the slice and the CRC; no count checks.
/// Used by recovery, where offsets were already assigned.
///
/// # Errors
/// [`LogError::CorruptBatch`] naming the failed check.
pub(crate) fn verify_integrity(bytes: &[u8]) -> Result<BatchHeader> {
    let h = BatchHeader::parse(bytes)?;
    if h.magic != 2 {
        return Err(LogError::corrupt(format!("magic {} is not 2", h.magic)));
    }
    if h.total_len() != bytes.len() {
        return Err(LogError::corrupt(format!(
            "declared batch size {} differs from the {} bytes given",
            h.total_len(),
            bytes.len()
        )));
    }
    let crc = compute_crc(bytes);
    if crc != h.crc {
        return Err(LogError::corrupt(format!(
            "CRC-32C mismatch: header says {:#010x}, bytes give {crc:#010x}",
            h.crc
        )));
    }
    Ok(h)
}

/// Validates one whole batch: magic 2, declared length equal to the slice length, CRC-32C over
/// `bytes[21..]`, `record_count >= 1` and `last_offset_delta == record_count - 1`.
///
/// # Errors
/// [`LogError::CorruptBatch`] for integrity failures, [`LogError::InvalidBatch`] for bad counts.
pub fn validate_batch(bytes: &[u8]) -> Result<BatchHeader> {
    let h = verify_integrity(bytes)?;
    if h.record_count < 1 {
        return Err(LogError::invalid(format!(
            "record count {} is below 1",
            h.record_count
        )));
    }
    if i64::from(h.last_offset_delta) != i64::from(h.record_count) - 1 {
        return Err(LogError::invalid(format!(
            "last offset delta {} does not match record count {}",
            h.last_offset_delta, h.record_count
        )));
    }
    // Each record takes at least 7 bytes (length, attributes, three varints, two counts).
    let records_len = bytes.len() - BATCH_HEADER_LEN;
    if h.compression() == 0 && (h.record_count as usize) > records_len {
        return Err(LogError::invalid(format!(
            "record count {} cannot fit in {records_len} record bytes",
            h.record_count
        )));
    }
    Ok(h)
}

/// One whole batch whose integrity and counts were checked ([`validate_batch`]) without any
/// lock held, ready for [`crate::PartitionLog::append_valid`]. Borrowing the client's bytes,
/// it lets the append write them as they are (only the 61-byte header is copied to patch it).
#[derive(Clone, Copy, Debug)]
pub struct ValidBatch<'a> {
    /// The whole batch, as received.
    bytes: &'a [u8],
    /// Its parsed header.
    header: BatchHeader,
}

impl<'a> ValidBatch<'a> {
    /// Validates `bytes` as exactly one batch (magic 2, length, CRC-32C, counts).
    ///
    /// # Errors
    /// As [`validate_batch`].
    pub fn new(bytes: &'a [u8]) -> Result<ValidBatch<'a>> {
        let header = validate_batch(bytes)?;
        Ok(ValidBatch { bytes, header })
    }

    /// The batch bytes as received.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The header as received (base offset and epoch not yet assigned).
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The 61 header bytes, patched for an append at `base_offset` by a leader of
    /// `leader_epoch`; with `log_append_time_ms` also the timestamps, attribute bit 3 and the
    /// CRC (computed over the patched header tail and the unchanged records).
    pub fn patched_header(
        &self,
        base_offset: i64,
        leader_epoch: i32,
        log_append_time_ms: Option<i64>,
    ) -> [u8; BATCH_HEADER_LEN] {
        let mut head = [0u8; BATCH_HEADER_LEN];
        head.copy_from_slice(&self.bytes[..BATCH_HEADER_LEN]);
        set_base_offset(&mut head, base_offset);
        set_partition_leader_epoch(&mut head, leader_epoch);
        if let Some(now_ms) = log_append_time_ms {
            stamp_log_append_time(&mut head, now_ms);
            let crc = crc32c::crc32c_append(
                crc32c::crc32c(&head[CRC_START..]),
                &self.bytes[BATCH_HEADER_LEN..],
            );
            head[17..21].copy_from_slice(&crc.to_be_bytes());
        }
        head
    }
}

/// Splits a produce payload (concatenated batches) into validated batches.
///
/// # Errors
/// The first batch's validation error, or [`LogError::CorruptBatch`] for a trailing fragment.
pub fn split_batches(bytes: &[u8]) -> Result<Vec<(Range<usize>, BatchHeader)>> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let h = BatchHeader::parse(rest)?;
        let len = h.total_len();
        if len > rest.len() {
            return Err(LogError::corrupt(format!(
                "batch at byte {pos} declares {len} bytes but only {} remain",
                rest.len()
            )));
        }
        let h = validate_batch(&rest[..len])?;
        out.push((pos..pos + len, h));
        pos += len;
    }
    if out.is_empty() {
        return Err(LogError::invalid("no record batch in payload"));
    }
    Ok(out)
}

/// Writes `base_offset` into the header (not covered by the CRC). Short slices are left alone.
pub fn set_base_offset(bytes: &mut [u8], base_offset: i64) {
    if bytes.len() >= 8 {
        bytes[0..8].copy_from_slice(&base_offset.to_be_bytes());
    }
}

/// Writes the partition leader epoch into the header (not covered by the CRC).
pub fn set_partition_leader_epoch(bytes: &mut [u8], epoch: i32) {
    if bytes.len() >= 16 {
        bytes[12..16].copy_from_slice(&epoch.to_be_bytes());
    }
}

/// For LogAppendTime: sets attribute bit 3, base and max timestamp to `now_ms`, recomputes the
/// CRC. Slices shorter than a header are left alone.
pub fn set_log_append_time(bytes: &mut [u8], now_ms: i64) {
    if bytes.len() < BATCH_HEADER_LEN {
        return;
    }
    stamp_log_append_time(bytes, now_ms);
    let crc = compute_crc(bytes);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// Sets attribute bit 3 and base and max timestamp to `now_ms` (the CRC is left to the caller).
fn stamp_log_append_time(head: &mut [u8], now_ms: i64) {
    let attrs = be_i16(head, 21) | 0x08;
    head[21..23].copy_from_slice(&attrs.to_be_bytes());
    head[27..35].copy_from_slice(&now_ms.to_be_bytes());
    head[35..43].copy_from_slice(&now_ms.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{build_batch, BatchSpec};

    #[test]
    fn valid_batch_round_trips_header_fields() {
        let b = build_batch(&BatchSpec {
            records: 3,
            record_bytes: 10,
            max_timestamp: 77,
            producer_id: 9,
            producer_epoch: 2,
            base_sequence: 5,
            ..BatchSpec::default()
        });
        let h = validate_batch(&b).unwrap();
        assert_eq!(h.record_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(h.max_timestamp, 77);
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (9, 2, 5)
        );
        assert_eq!(h.last_sequence(), 7);
        assert_eq!(h.total_len(), b.len());
    }

    #[test]
    fn each_kind_of_damage_gets_a_typed_error() {
        let good = build_batch(&BatchSpec::default());
        let mut bad_magic = good.clone();
        bad_magic[16] = 1;
        assert!(matches!(
            validate_batch(&bad_magic),
            Err(LogError::CorruptBatch { .. })
        ));
        let mut bad_crc = good.clone();
        let last = bad_crc.len() - 1;
        bad_crc[last] ^= 0xff;
        let err = validate_batch(&bad_crc).unwrap_err().to_string();
        assert!(err.contains("CRC"), "{err}");
        assert!(validate_batch(&good[..good.len() - 1]).is_err());
        assert!(validate_batch(&good[..10]).is_err());
        let bad_count = build_batch(&BatchSpec {
            records: 2,
            last_offset_delta: Some(5),
            ..BatchSpec::default()
        });
        assert!(matches!(
            validate_batch(&bad_count),
            Err(LogError::InvalidBatch { .. })
        ));
    }

    #[test]
    fn patching_offsets_keeps_crc_valid_and_log_append_time_recomputes_it() {
        let mut b = build_batch(&BatchSpec::default());
        set_base_offset(&mut b, 1234);
        set_partition_leader_epoch(&mut b, 7);
        let h = validate_batch(&b).unwrap();
        assert_eq!((h.base_offset, h.partition_leader_epoch), (1234, 7));
        set_log_append_time(&mut b, 999);
        let h = validate_batch(&b).unwrap();
        assert!(h.timestamp_type_is_log_append());
        assert_eq!((h.base_timestamp, h.max_timestamp), (999, 999));
    }

    #[test]
    fn patched_header_matches_patching_the_whole_batch() {
        let b = build_batch(&BatchSpec {
            records: 5,
            record_bytes: 100,
            ..BatchSpec::default()
        });
        let v = ValidBatch::new(&b).unwrap();
        for lat in [None, Some(12_345)] {
            let mut whole = b.clone();
            set_base_offset(&mut whole, 77);
            set_partition_leader_epoch(&mut whole, 3);
            if let Some(t) = lat {
                set_log_append_time(&mut whole, t);
            }
            let head = v.patched_header(77, 3, lat);
            assert_eq!(&head[..], &whole[..BATCH_HEADER_LEN]);
            let mut joined = head.to_vec();
            joined.extend_from_slice(&b[BATCH_HEADER_LEN..]);
            validate_batch(&joined).unwrap();
        }
        assert!(ValidBatch::new(&b[..b.len() - 1]).is_err());
    }

    #[test]
    fn split_finds_each_batch_and_rejects_fragments() {
        let a = build_batch(&BatchSpec::default());
        let b = build_batch(&BatchSpec {
            records: 4,
            ..BatchSpec::default()
        });
        let mut both = a.clone();
        both.extend_from_slice(&b);
        let parts = split_batches(&both).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].0, a.len()..a.len() + b.len());
        both.extend_from_slice(&a[..20]);
        assert!(split_batches(&both).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4_000))]

        /// A real batch with bytes after the CRC field overwritten and the CRC made right
        /// again, so the checks behind the CRC (counts, lengths, attributes) see lies.
        #[test]
        fn batches_with_a_correct_crc_and_lying_fields_never_panic(
            records in 1i32..6,
            edits in proptest::collection::vec(
                (proptest::num::usize::ANY, proptest::num::u8::ANY), 1..6),
            cut in proptest::option::of(proptest::num::usize::ANY),
        ) {
            let mut b = build_batch(&BatchSpec { records, ..BatchSpec::default() });
            let span = b.len() - CRC_START;
            for (at, byte) in edits {
                b[CRC_START + at % span] = byte;
            }
            if let Some(cut) = cut {
                b.truncate(CRC_START + cut % span);
            }
            let crc = compute_crc(&b);
            b[CRC_START - 4..CRC_START].copy_from_slice(&crc.to_be_bytes());
            let _ = validate_batch(&b);
            let _ = split_batches(&b);
            let mut two = b.clone();
            two.extend_from_slice(&b);
            let _ = split_batches(&two);
        }

        #[test]
        fn parsing_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = validate_batch(&bytes);
            let _ = split_batches(&bytes);
            if let Ok(h) = BatchHeader::parse(&bytes) {
                let _ = (h.last_offset(), h.total_len(), h.last_sequence());
            }
        }
    }
}
