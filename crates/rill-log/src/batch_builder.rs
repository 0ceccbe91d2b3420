//! Writes RecordBatch v2 batches from a header template and records, with a chosen codec and
//! a correct CRC-32C; and [`recompress`], for the topic config `compression.type`.
//!
//! The template keeps what the cleaner must not change (Kafka's `buildRetainedRecordsInto`):
//! base offset, last offset delta (so the producer's last sequence survives), producer id,
//! epoch, base sequence, partition leader epoch, timestamp type, transactional and control
//! bits. Records carry absolute offsets and timestamps; deltas are computed here. With a
//! delete horizon (KIP-534) the base timestamp field holds the horizon and attribute bit 6 is
//! set; record timestamp deltas are then relative to it, so readers see the same timestamps.
//! A batch without records is written uncompressed (as Kafka writes an empty batch).
//! Thread-safety: a builder is plain owned data.

use crate::batch::{BatchHeader, BATCH_HEADER_LEN};
use crate::compression::{compress_into, Codec};
use crate::error::{LogError, Result};
use crate::records::{delete_horizon_ms, Headers, Records, DELETE_HORIZON_FLAG};
use crate::varint::{put_varint, put_varlong, varint_len, varlong_len};
use std::borrow::Cow;

/// The header fields a built batch takes from its template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchTemplate {
    /// Base offset.
    pub base_offset: i64,
    /// Partition leader epoch.
    pub partition_leader_epoch: i32,
    /// Producer id (-1: none).
    pub producer_id: i64,
    /// Producer epoch (-1: none).
    pub producer_epoch: i16,
    /// Base sequence (-1: none).
    pub base_sequence: i32,
    /// Transactional bit.
    pub transactional: bool,
    /// Control bit.
    pub control: bool,
    /// `Some(t)`: LogAppendTime, with `t` as the batch's max timestamp.
    pub log_append_time_ms: Option<i64>,
    /// KIP-534 delete horizon to record in the batch.
    pub delete_horizon_ms: Option<i64>,
    /// Keep this last offset delta (`None`: the last record's).
    pub last_offset_delta: Option<i32>,
    /// Base and max timestamp of the batch if it ends up without records.
    pub empty_timestamp_ms: i64,
}

impl BatchTemplate {
    /// A template keeping every field of `h` (its delete horizon and last offset delta too).
    pub fn from_header(h: &BatchHeader) -> BatchTemplate {
        BatchTemplate {
            base_offset: h.base_offset,
            partition_leader_epoch: h.partition_leader_epoch,
            producer_id: h.producer_id,
            producer_epoch: h.producer_epoch,
            base_sequence: h.base_sequence,
            transactional: h.is_transactional(),
            control: h.is_control(),
            log_append_time_ms: h.timestamp_type_is_log_append().then_some(h.max_timestamp),
            delete_horizon_ms: delete_horizon_ms(h),
            last_offset_delta: Some(h.last_offset_delta),
            empty_timestamp_ms: h.max_timestamp,
        }
    }

    /// A template for a new batch at `base_offset` without producer or special bits.
    pub fn plain(base_offset: i64) -> BatchTemplate {
        BatchTemplate {
            base_offset,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
            control: false,
            log_append_time_ms: None,
            delete_horizon_ms: None,
            last_offset_delta: None,
            empty_timestamp_ms: -1,
        }
    }
}

/// A record to write: absolute offset and timestamp.
#[derive(Clone, Copy, Debug)]
pub struct NewRecord<'a> {
    /// Absolute offset (at least the template's base offset; strictly increasing).
    pub offset: i64,
    /// Absolute timestamp.
    pub timestamp: i64,
    /// Key; `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// Value; `None` for a tombstone.
    pub value: Option<&'a [u8]>,
    /// Headers.
    pub headers: Headers<'a>,
}

impl<'a> From<&crate::records::Record<'a>> for NewRecord<'a> {
    fn from(r: &crate::records::Record<'a>) -> NewRecord<'a> {
        NewRecord {
            offset: r.offset,
            timestamp: r.timestamp,
            key: r.key,
            value: r.value,
            headers: r.headers,
        }
    }
}

impl<'a> NewRecord<'a> {
    /// `r` of the batch `h` to be written again: under LogAppendTime its timestamp is the
    /// batch's (readers ignore the record's), so the record's own delta is carried over as is.
    pub fn keeping_delta(r: &crate::records::Record<'a>, h: &BatchHeader) -> NewRecord<'a> {
        let mut n = NewRecord::from(r);
        if h.timestamp_type_is_log_append() {
            n.timestamp = h.base_timestamp.wrapping_add(r.timestamp_delta);
        }
        n
    }
}

/// Builds one batch. Records are kept encoded (uncompressed) until [`BatchBuilder::finish`].
#[derive(Debug)]
pub struct BatchBuilder {
    /// Header template.
    template: BatchTemplate,
    /// Codec of the records.
    codec: Codec,
    /// Codec level (`None`: Kafka's default).
    level: Option<i32>,
    /// Encoded records (timestamp deltas against `base_timestamp`).
    records: Vec<u8>,
    /// Records appended.
    count: i32,
    /// Base timestamp (the delete horizon if set, else the first record's timestamp).
    base_timestamp: Option<i64>,
    /// Largest record timestamp.
    max_timestamp: i64,
    /// Offset of the last record appended.
    last_offset: Option<i64>,
}

impl BatchBuilder {
    /// An empty builder; `records_buf` is reused for the encoded records (cleared).
    pub fn new(
        template: BatchTemplate,
        codec: Codec,
        level: Option<i32>,
        mut records_buf: Vec<u8>,
    ) -> BatchBuilder {
        records_buf.clear();
        BatchBuilder {
            template,
            codec,
            level,
            records: records_buf,
            count: 0,
            base_timestamp: template.delete_horizon_ms,
            max_timestamp: i64::MIN,
            last_offset: None,
        }
    }

    /// Records appended so far.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether no record was appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends a record.
    ///
    /// # Errors
    /// [`LogError::InvalidBatch`] if its offset is below the base offset, not above the
    /// previous record's, or too far from the base.
    pub fn push(&mut self, r: &NewRecord<'_>) -> Result<()> {
        let delta = r.offset - self.template.base_offset;
        if delta < 0
            || delta > i64::from(i32::MAX)
            || self.last_offset.is_some_and(|l| r.offset <= l)
        {
            return Err(LogError::invalid(format!(
                "record offset {} does not fit after {:?} in a batch based at {}",
                r.offset, self.last_offset, self.template.base_offset
            )));
        }
        let base_ts = *self.base_timestamp.get_or_insert(r.timestamp);
        let ts_delta = r.timestamp.wrapping_sub(base_ts);
        let klen = r.key.map_or(-1, |k| k.len() as i32);
        let vlen = r.value.map_or(-1, |v| v.len() as i32);
        let body = 1
            + varlong_len(ts_delta)
            + varint_len(delta as i32)
            + varint_len(klen)
            + r.key.map_or(0, <[u8]>::len)
            + varint_len(vlen)
            + r.value.map_or(0, <[u8]>::len)
            + varint_len(r.headers.len() as i32)
            + r.headers.raw().len();
        let out = &mut self.records;
        put_varint(out, body as i32);
        out.push(0);
        put_varlong(out, ts_delta);
        put_varint(out, delta as i32);
        put_varint(out, klen);
        out.extend_from_slice(r.key.unwrap_or_default());
        put_varint(out, vlen);
        out.extend_from_slice(r.value.unwrap_or_default());
        put_varint(out, r.headers.len() as i32);
        out.extend_from_slice(r.headers.raw());
        self.count += 1;
        self.max_timestamp = self.max_timestamp.max(r.timestamp);
        self.last_offset = Some(r.offset);
        Ok(())
    }

    /// Writes the batch (header, compressed records, CRC-32C) to `out` (appended), and
    /// returns the encoded-records buffer for reuse.
    ///
    /// # Errors
    /// [`LogError::InvalidBatch`]: a kept last offset delta below the last record's, or a
    /// codec failure.
    pub fn finish_into(self, out: &mut Vec<u8>) -> Result<Vec<u8>> {
        let t = &self.template;
        let last_delta = match (t.last_offset_delta, self.last_offset) {
            (Some(kept), Some(l)) if i64::from(kept) < l - t.base_offset => {
                return Err(LogError::invalid(format!(
                    "kept last offset delta {kept} is below the last record's offset {l}"
                )))
            }
            (Some(kept), _) => kept,
            (None, Some(l)) => (l - t.base_offset) as i32,
            (None, None) => 0,
        };
        let codec = if self.count == 0 {
            Codec::None
        } else {
            self.codec
        };
        let mut attrs = codec.attribute_bits();
        if t.log_append_time_ms.is_some() {
            attrs |= 0x08;
        }
        if t.transactional {
            attrs |= 0x10;
        }
        if t.control {
            attrs |= 0x20;
        }
        if t.delete_horizon_ms.is_some() {
            attrs |= DELETE_HORIZON_FLAG;
        }
        let (base_ts, max_ts) = match (self.base_timestamp, t.log_append_time_ms) {
            (Some(b), None) if self.count > 0 => (b, self.max_timestamp),
            (b, Some(lat)) => (b.unwrap_or(lat), lat),
            (b, None) => (b.unwrap_or(t.empty_timestamp_ms), t.empty_timestamp_ms),
        };
        let start = out.len();
        out.resize(start + BATCH_HEADER_LEN, 0);
        compress_into(codec, self.level, &self.records, out)?;
        let h = &mut out[start..];
        let batch_length = h.len() - 12;
        if batch_length > i32::MAX as usize {
            return Err(LogError::invalid("batch larger than 2 GiB"));
        }
        h[0..8].copy_from_slice(&t.base_offset.to_be_bytes());
        h[8..12].copy_from_slice(&(batch_length as i32).to_be_bytes());
        h[12..16].copy_from_slice(&t.partition_leader_epoch.to_be_bytes());
        h[16] = 2;
        h[21..23].copy_from_slice(&attrs.to_be_bytes());
        h[23..27].copy_from_slice(&last_delta.to_be_bytes());
        h[27..35].copy_from_slice(&base_ts.to_be_bytes());
        h[35..43].copy_from_slice(&max_ts.to_be_bytes());
        h[43..51].copy_from_slice(&t.producer_id.to_be_bytes());
        h[51..53].copy_from_slice(&t.producer_epoch.to_be_bytes());
        h[53..57].copy_from_slice(&t.base_sequence.to_be_bytes());
        h[57..61].copy_from_slice(&self.count.to_be_bytes());
        let crc = crc32c::crc32c(&h[21..]);
        h[17..21].copy_from_slice(&crc.to_be_bytes());
        Ok(self.records)
    }

    /// [`BatchBuilder::finish_into`] a new vector.
    ///
    /// # Errors
    /// As [`BatchBuilder::finish_into`].
    pub fn finish(self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.finish_into(&mut out)?;
        Ok(out)
    }
}

/// The batch `batch` with its records in `codec` at `level` (`compression.type`): every
/// header field is kept (offsets, producer, epoch, timestamps, bits); the CRC is new. A batch
/// already in `codec`, a control batch and a batch without records are returned as they are.
///
/// # Errors
/// [`LogError::CorruptBatch`] for malformed records or a batch that inflates beyond
/// `max_decompressed_bytes`; [`LogError::InvalidBatch`] for a codec failure.
pub fn recompress(
    batch: &[u8],
    codec: Codec,
    level: Option<i32>,
    max_decompressed_bytes: usize,
) -> Result<Cow<'_, [u8]>> {
    let header = BatchHeader::parse(batch)?;
    if Codec::from_attributes(header.attributes)? == codec
        || header.is_control()
        || header.record_count == 0
    {
        return Ok(Cow::Borrowed(batch));
    }
    let mut scratch = Vec::new();
    let records = Records::decode(batch, &mut scratch, max_decompressed_bytes)?;
    let mut template = BatchTemplate::from_header(&header);
    template.empty_timestamp_ms = header.max_timestamp;
    let mut b = BatchBuilder::new(template, codec, level, Vec::new());
    // The base timestamp as it was (the delete horizon when one is set).
    b.base_timestamp = Some(header.base_timestamp);
    for r in records.iter() {
        b.push(&NewRecord::keeping_delta(&r?, &header))?;
    }
    let mut out = Vec::with_capacity(batch.len());
    b.finish_into(&mut out)?;
    Ok(Cow::Owned(out))
}
