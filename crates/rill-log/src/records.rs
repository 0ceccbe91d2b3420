//! Record-level reader of RecordBatch v2: the records of one batch, decompressed.
//!
//! A record (Kafka's `DefaultRecord`): `length` varint (bytes after it), `attributes` i8,
//! `timestampDelta` varlong, `offsetDelta` varint, `keyLength` varint (-1 = null) + key,
//! `valueLength` varint (-1 = null, a tombstone) + value, `headerCount` varint, then per
//! header `keyLength` varint (>= 0) + key, `valueLength` varint (-1 = null) + value. All
//! varints are zig-zag ([`crate::varint`]). A compressed batch compresses the whole record
//! sequence ([`crate::compression`]).
//!
//! [`Records::decode`] decompresses into a caller-owned buffer (reused across batches) with a
//! cap on its size; iteration parses each record lazily with every length checked against
//! the record and the record against the batch: malformed bytes give
//! [`LogError::CorruptBatch`], never a panic, and no allocation depends on a declared length.
//! The batch's CRC is not checked here (see [`crate::batch::validate_batch`]).
//! Writing batches: [`crate::batch_builder`]. Thread-safety: plain borrowed data.

use crate::batch::{BatchHeader, BATCH_HEADER_LEN};
use crate::compression::{decompress_into, Codec};
use crate::error::{LogError, Result};
use crate::varint::Cursor;

/// Attribute bit of a batch whose base timestamp field holds the delete horizon (KIP-534).
pub const DELETE_HORIZON_FLAG: i16 = 0x40;

/// The records of one batch: its header and the (decompressed) record bytes.
#[derive(Clone, Copy, Debug)]
pub struct Records<'a> {
    /// The batch header.
    header: BatchHeader,
    /// The record sequence, uncompressed.
    data: &'a [u8],
}

impl<'a> Records<'a> {
    /// Reads the header of the whole batch `batch` and its records, decompressing into
    /// `scratch` (cleared first) unless the batch is uncompressed, at most `max_bytes`.
    ///
    /// # Errors
    /// [`LogError::CorruptBatch`]: a short or oversized slice, a negative record count, an
    /// unknown codec, bytes the codec rejects, output beyond `max_bytes`.
    pub fn decode(
        batch: &'a [u8],
        scratch: &'a mut Vec<u8>,
        max_bytes: usize,
    ) -> Result<Records<'a>> {
        let header = BatchHeader::parse(batch)?;
        if header.total_len() != batch.len() {
            return Err(LogError::corrupt(format!(
                "declared batch size {} differs from the {} bytes given",
                header.total_len(),
                batch.len()
            )));
        }
        if header.record_count < 0 {
            return Err(LogError::corrupt(format!(
                "record count {} is negative",
                header.record_count
            )));
        }
        let body = &batch[BATCH_HEADER_LEN..];
        let data = match Codec::from_attributes(header.attributes)? {
            Codec::None => body,
            codec => {
                decompress_into(codec, body, scratch, max_bytes)?;
                &scratch[..]
            }
        };
        Ok(Records { header, data })
    }

    /// The batch header.
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The codec of the batch.
    pub fn codec(&self) -> Codec {
        Codec::from_attributes(self.header.attributes).unwrap_or_default()
    }

    /// The delete horizon (KIP-534) if the batch carries one: the time after which the
    /// cleaner may drop its tombstones.
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        delete_horizon_ms(&self.header)
    }

    /// The uncompressed record bytes.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The records in order; the first malformed record ends the iteration with an error.
    pub fn iter(&self) -> RecordIter<'a> {
        RecordIter {
            header: self.header,
            cursor: Cursor::new(self.data),
            left: self.header.record_count,
            done: false,
        }
    }
}

/// The delete horizon of a batch header, if its attribute bit 6 is set.
pub fn delete_horizon_ms(h: &BatchHeader) -> Option<i64> {
    (h.attributes & DELETE_HORIZON_FLAG != 0).then_some(h.base_timestamp)
}

/// One record of a batch, borrowing the batch's (decompressed) bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Offset minus the batch's base offset.
    pub offset_delta: i32,
    /// Timestamp minus the batch's base timestamp.
    pub timestamp_delta: i64,
    /// Absolute offset.
    pub offset: i64,
    /// Absolute timestamp: base + delta, or the batch's max timestamp under LogAppendTime.
    pub timestamp: i64,
    /// Record attributes (unused by Kafka today, kept as read).
    pub attributes: i8,
    /// Key; `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// Value; `None` for a tombstone.
    pub value: Option<&'a [u8]>,
    /// Headers, validated.
    pub headers: Headers<'a>,
}

/// A record's headers: a count and their encoded bytes (checked when the record was read).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Headers<'a> {
    /// Number of headers.
    count: u32,
    /// The encoded headers.
    raw: &'a [u8],
}

/// One header of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// Header key (a UTF-8 string for Kafka's clients; not checked).
    pub key: &'a [u8],
    /// Header value; `None` for null.
    pub value: Option<&'a [u8]>,
}

impl<'a> Headers<'a> {
    /// Encodes `list` into `buf` (cleared first) and returns headers over it.
    pub fn encode<'b>(list: &[Header<'_>], buf: &'b mut Vec<u8>) -> Headers<'b> {
        buf.clear();
        for h in list {
            crate::varint::put_varint(buf, h.key.len() as i32);
            buf.extend_from_slice(h.key);
            match h.value {
                Some(v) => {
                    crate::varint::put_varint(buf, v.len() as i32);
                    buf.extend_from_slice(v);
                }
                None => crate::varint::put_varint(buf, -1),
            }
        }
        Headers {
            count: list.len() as u32,
            raw: buf,
        }
    }

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The encoded bytes (what follows the header count in a record).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The headers in order.
    pub fn iter(&self) -> impl Iterator<Item = Header<'a>> + 'a {
        let mut c = Cursor::new(self.raw);
        (0..self.count).map_while(move |_| read_header(&mut c).ok())
    }
}

fn read_header<'a>(c: &mut Cursor<'a>) -> std::result::Result<Header<'a>, &'static str> {
    let klen = c.varint()?;
    if klen < 0 {
        return Err("negative header key length");
    }
    let key = c.bytes(klen as usize)?;
    let value = c.nullable_bytes()?;
    Ok(Header { key, value })
}

/// Iterator over the records of a batch ([`Records::iter`]).
#[derive(Clone, Debug)]
pub struct RecordIter<'a> {
    /// The batch header (base offset and timestamp).
    header: BatchHeader,
    /// Position in the record bytes.
    cursor: Cursor<'a>,
    /// Records still to read.
    left: i32,
    /// Set after the end or an error.
    done: bool,
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<Record<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.left == 0 {
            self.done = true;
            let extra = self.cursor.remaining();
            return (extra > 0).then(|| {
                Err(LogError::corrupt(format!(
                    "{extra} bytes follow the batch's {} records",
                    self.header.record_count
                )))
            });
        }
        self.left -= 1;
        let r = read_record(&mut self.cursor, &self.header);
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}

/// Reads one record at the cursor.
fn read_record<'a>(c: &mut Cursor<'a>, h: &BatchHeader) -> Result<Record<'a>> {
    let at = c.pos();
    let bad = |what: &str| {
        LogError::corrupt(format!(
            "record at byte {at} of the batch's records: {what}"
        ))
    };
    let len = c.varint().map_err(bad)?;
    if len < 0 || len as usize > c.remaining() {
        return Err(bad(&format!(
            "length {len} beyond the {} bytes left",
            c.remaining()
        )));
    }
    let mut r = Cursor::new(c.bytes(len as usize).map_err(bad)?);
    let attributes = r.byte().map_err(bad)? as i8;
    let timestamp_delta = r.varlong().map_err(bad)?;
    let offset_delta = r.varint().map_err(bad)?;
    let key = r.nullable_bytes().map_err(bad)?;
    let value = r.nullable_bytes().map_err(bad)?;
    let count = r.varint().map_err(bad)?;
    if count < 0 {
        return Err(bad(&format!("header count {count} is negative")));
    }
    let headers_at = r.pos();
    let mut check = r;
    for _ in 0..count {
        read_header(&mut check).map_err(bad)?;
    }
    let raw = r.bytes(check.pos() - headers_at).map_err(bad)?;
    if r.remaining() != 0 {
        return Err(bad(&format!(
            "{} bytes left inside the record",
            r.remaining()
        )));
    }
    let timestamp = if h.timestamp_type_is_log_append() {
        h.max_timestamp
    } else {
        h.base_timestamp.saturating_add(timestamp_delta)
    };
    Ok(Record {
        offset_delta,
        timestamp_delta,
        offset: h.base_offset.saturating_add(i64::from(offset_delta)),
        timestamp,
        attributes,
        key,
        value,
        headers: Headers {
            count: count as u32,
            raw,
        },
    })
}
