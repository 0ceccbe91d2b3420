//! Reading RecordBatch v2 bytes in place: the batches of a fetch answer and the records of an
//! uncompressed batch as borrowed slices, with no allocation per record. The consume path of
//! [`crate::records::decode_batches`] and `rill perf consume` read records this way; compressed
//! batches are decompressed by kafka-protocol's decoder instead.
//!
//! Format (Kafka's RecordBatch v2): a 61-byte header (base offset i64, batch length i32,
//! partition leader epoch i32, magic i8 = 2, CRC-32C u32 over everything after it, attributes
//! i16, last offset delta i32, base and max timestamps i64, producer id i64, producer epoch
//! i16, base sequence i32, record count i32), then the records, each: length varint,
//! attributes i8, timestamp delta varlong, offset delta varint, key (length varint, -1 null),
//! value (same), header count varint, and per header a key string and a value (length
//! varints). Varints are zigzag-encoded.
//!
//! Nothing here panics on any input: every length is checked against the bytes present.

use crate::error::{ClientError, Result};

/// Bytes of the batch header.
pub const HEADER_LEN: usize = 61;
/// Where the CRC-covered part of a batch starts.
const CRC_START: usize = 21;

/// One whole batch of a fetch answer, its magic and CRC checked.
#[derive(Debug, Clone, Copy)]
pub struct BatchRef<'a> {
    /// The whole batch, header included.
    bytes: &'a [u8],
}

/// The whole batches at the start of `data`, in order; a partial batch at the end is not
/// returned (a fetch answer may end in one). Each item is checked: magic 2 and CRC-32C.
pub fn batches(data: &[u8]) -> Batches<'_> {
    Batches { rest: data }
}

/// Iterator of [`batches`].
#[derive(Debug, Clone)]
pub struct Batches<'a> {
    /// The bytes not yet returned.
    rest: &'a [u8],
}

impl<'a> Iterator for Batches<'a> {
    type Item = Result<BatchRef<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let len_field = self.rest.get(8..12)?;
        let batch_len =
            i32::from_be_bytes([len_field[0], len_field[1], len_field[2], len_field[3]]);
        let total = usize::try_from(batch_len).ok()?.checked_add(12)?;
        let bytes = self.rest.get(..total)?;
        self.rest = &self.rest[total..];
        let checked = BatchRef::new(bytes);
        if checked.is_err() {
            // One bad batch ends the answer: what follows cannot be trusted to be aligned.
            self.rest = &[];
        }
        Some(checked)
    }
}

fn invalid(what: impl Into<String>) -> ClientError {
    ClientError::Invalid(what.into())
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> BatchRef<'a> {
    /// Checks `bytes` as exactly one batch: long enough for its header, magic 2, and a CRC that
    /// matches.
    ///
    /// # Errors
    /// [`ClientError::Invalid`] naming the failed check.
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        if bytes.len() < HEADER_LEN {
            return Err(invalid(format!(
                "record batch of {} bytes is shorter than its header",
                bytes.len()
            )));
        }
        if bytes[16] != 2 {
            return Err(invalid(format!(
                "message format v{} is not supported (only v2)",
                bytes[16]
            )));
        }
        let stored = u32::from_be_bytes([bytes[17], bytes[18], bytes[19], bytes[20]]);
        let actual = crc32c::crc32c(&bytes[CRC_START..]);
        if stored != actual {
            return Err(invalid(format!(
                "record batch at offset {} fails its CRC ({stored:#010x} stored, {actual:#010x} computed)",
                be_i64(bytes, 0)
            )));
        }
        Ok(BatchRef { bytes })
    }

    /// The whole batch.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Offset of the first record.
    pub fn base_offset(&self) -> i64 {
        be_i64(self.bytes, 0)
    }

    /// Offset after the last record.
    pub fn next_offset(&self) -> i64 {
        self.base_offset()
            .saturating_add(i64::from(be_i32(self.bytes, 23)))
            .saturating_add(1)
    }

    /// The header's record count.
    pub fn record_count(&self) -> i32 {
        be_i32(self.bytes, 57)
    }

    fn attributes(&self) -> u16 {
        u16::from_be_bytes([self.bytes[21], self.bytes[22]])
    }

    /// The compression codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn compression(&self) -> u8 {
        (self.attributes() & 0x07) as u8
    }

    /// Whether record timestamps are the broker's append time (the header's max timestamp).
    pub fn log_append_time(&self) -> bool {
        self.attributes() & 0x08 != 0
    }

    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes() & 0x10 != 0
    }

    /// The producer id (-1: none).
    pub fn producer_id(&self) -> i64 {
        be_i64(self.bytes, 43)
    }

    /// Whether this is a control batch (transaction markers).
    pub fn is_control(&self) -> bool {
        self.attributes() & 0x20 != 0
    }

    /// The records of an uncompressed batch, read in place.
    ///
    /// # Errors
    /// [`ClientError::Invalid`] for a compressed batch (decompress it first).
    pub fn records(&self) -> Result<Records<'a>> {
        if self.compression() != 0 {
            return Err(invalid(
                "compressed batch: its records are not readable in place",
            ));
        }
        Ok(Records {
            rest: &self.bytes[HEADER_LEN..],
            left: self.record_count().max(0),
            base_offset: self.base_offset(),
            base_timestamp: be_i64(self.bytes, 27),
            append_time: self.log_append_time().then(|| be_i64(self.bytes, 35)),
        })
    }
}

/// One record, borrowed from its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// The record's offset.
    pub offset: i64,
    /// Its timestamp (ms): create time, or the batch's append time.
    pub timestamp_ms: i64,
    /// Whether the timestamp is the append time.
    pub log_append_time: bool,
    /// Key (`None`: null).
    pub key: Option<&'a [u8]>,
    /// Value (`None`: tombstone).
    pub value: Option<&'a [u8]>,
    /// The encoded headers (read with [`RecordRef::headers`]).
    headers: &'a [u8],
    /// How many headers there are.
    header_count: i32,
}

impl<'a> RecordRef<'a> {
    /// The record's headers in order, as (key, value) byte slices.
    pub fn headers(&self) -> Headers<'a> {
        Headers {
            rest: self.headers,
            left: self.header_count,
        }
    }
}

/// The headers of one record ([`RecordRef::headers`]); lengths were checked when the record
/// was read.
#[derive(Debug, Clone)]
pub struct Headers<'a> {
    rest: &'a [u8],
    left: i32,
}

impl<'a> Iterator for Headers<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left <= 0 {
            return None;
        }
        self.left -= 1;
        let mut cur = Cursor { rest: self.rest };
        let key = cur.bytes().ok()?.unwrap_or_default();
        let value = cur.bytes().ok()?;
        self.rest = cur.rest;
        Some((key, value))
    }
}

/// The records of one uncompressed batch ([`BatchRef::records`]).
#[derive(Debug, Clone)]
pub struct Records<'a> {
    rest: &'a [u8],
    left: i32,
    base_offset: i64,
    base_timestamp: i64,
    append_time: Option<i64>,
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<RecordRef<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left <= 0 {
            return None;
        }
        self.left -= 1;
        let read = self.read_one();
        if read.is_err() {
            self.left = 0;
        }
        Some(read)
    }
}

impl<'a> Records<'a> {
    fn read_one(&mut self) -> Result<RecordRef<'a>> {
        let mut outer = Cursor { rest: self.rest };
        let len = usize::try_from(outer.varint()?)
            .map_err(|_| invalid("record with a negative length"))?;
        let body = outer
            .rest
            .get(..len)
            .ok_or_else(|| invalid("record longer than its batch"))?;
        self.rest = &outer.rest[len..];
        let mut cur = Cursor { rest: body };
        cur.take(1)?; // attributes: unused in v2
        let timestamp_delta = cur.varlong()?;
        let offset_delta = cur.varint()?;
        let key = cur.bytes()?;
        let value = cur.bytes()?;
        let header_count = cur.varint()?;
        let headers = cur.rest;
        for _ in 0..header_count.max(0) {
            cur.bytes()?;
            cur.bytes()?;
        }
        Ok(RecordRef {
            offset: self.base_offset.saturating_add(i64::from(offset_delta)),
            timestamp_ms: self
                .append_time
                .unwrap_or_else(|| self.base_timestamp.saturating_add(timestamp_delta)),
            log_append_time: self.append_time.is_some(),
            key,
            value,
            headers,
            header_count,
        })
    }
}

/// Reads varints and length-prefixed byte strings off the front of a slice.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let taken = self
            .rest
            .get(..n)
            .ok_or_else(|| invalid("record field runs past its record"))?;
        self.rest = &self.rest[n..];
        Ok(taken)
    }

    /// An unsigned LEB128 value of at most `max_bytes` bytes.
    fn unsigned(&mut self, max_bytes: usize) -> Result<u64> {
        let mut value = 0u64;
        for i in 0..max_bytes {
            let b = *self
                .rest
                .get(i)
                .ok_or_else(|| invalid("varint runs past its record"))?;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.rest = &self.rest[i + 1..];
                return Ok(value);
            }
        }
        Err(invalid("varint longer than its type"))
    }

    fn varint(&mut self) -> Result<i32> {
        let u = self.unsigned(5)? as u32;
        Ok((u >> 1) as i32 ^ -((u & 1) as i32))
    }

    fn varlong(&mut self) -> Result<i64> {
        let u = self.unsigned(10)?;
        Ok((u >> 1) as i64 ^ -((u & 1) as i64))
    }

    /// A byte string with a varint length; -1 is null.
    fn bytes(&mut self) -> Result<Option<&'a [u8]>> {
        match self.varint()? {
            -1 => Ok(None),
            n => {
                let n = usize::try_from(n).map_err(|_| invalid("negative field length"))?;
                self.take(n).map(Some)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{encode_batch, ProduceRecord, ProducerStamp};
    use bytes::Bytes;
    use kafka_protocol::records::{Compression, RecordBatchDecoder};
    use proptest::prelude::*;

    fn record() -> impl Strategy<Value = ProduceRecord> {
        let blob = || proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300));
        (
            blob(),
            blob(),
            proptest::collection::vec(("[a-z]{0,8}", blob()), 0..4),
            0i64..2_000_000_000_000,
        )
            .prop_map(|(key, value, headers, ts)| ProduceRecord {
                key: key.map(Bytes::from),
                value: value.map(Bytes::from),
                headers: headers
                    .into_iter()
                    .map(|(k, v)| (k, v.map(Bytes::from)))
                    .collect(),
                timestamp_ms: ts,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// What the view reads is what kafka-protocol's decoder reads, field by field.
        #[test]
        fn reads_what_kafka_protocol_decodes(
            records in proptest::collection::vec(record(), 1..20),
            base in 0i64..1 << 40,
        ) {
            let mut bytes = encode_batch(&records, Compression::None, ProducerStamp::default())
                .unwrap()
                .to_vec();
            bytes[..8].copy_from_slice(&base.to_be_bytes());
            let theirs = RecordBatchDecoder::decode(&mut Bytes::from(bytes.clone())).unwrap();
            let batch = BatchRef::new(&bytes).unwrap();
            prop_assert_eq!(batch.base_offset(), base);
            prop_assert_eq!(batch.next_offset(), base + records.len() as i64);
            let ours: Vec<RecordRef<'_>> = batch.records().unwrap().map(|r| r.unwrap()).collect();
            prop_assert_eq!(ours.len(), theirs.records.len());
            for (o, t) in ours.iter().zip(&theirs.records) {
                prop_assert_eq!(o.offset, t.offset);
                prop_assert_eq!(o.timestamp_ms, t.timestamp);
                prop_assert_eq!(o.key, t.key.as_deref());
                prop_assert_eq!(o.value, t.value.as_deref());
                let hs: Vec<(Vec<u8>, Option<Vec<u8>>)> = o
                    .headers()
                    .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
                    .collect();
                let ths: Vec<(Vec<u8>, Option<Vec<u8>>)> = t
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_bytes().to_vec(), v.as_ref().map(|v| v.to_vec())))
                    .collect();
                prop_assert_eq!(hs, ths);
            }
        }

        /// Bytes after the CRC changed and the CRC made right again: reading returns errors or
        /// records, never panics, and never a slice outside the batch.
        #[test]
        fn lying_lengths_never_panic(
            records in proptest::collection::vec(record(), 1..5),
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        ) {
            let mut bytes = encode_batch(&records, Compression::None, ProducerStamp::default())
                .unwrap()
                .to_vec();
            let span = bytes.len() - CRC_START;
            for (at, b) in edits {
                bytes[CRC_START + at % span] = b;
            }
            let crc = crc32c::crc32c(&bytes[CRC_START..]);
            bytes[17..21].copy_from_slice(&crc.to_be_bytes());
            for batch in batches(&bytes) {
                let Ok(batch) = batch else { continue };
                let Ok(records) = batch.records() else { continue };
                for r in records.flatten() {
                    let _ = r.headers().count();
                }
            }
        }
    }

    #[test]
    fn a_wrong_crc_a_partial_tail_and_append_time() {
        let records = vec![ProduceRecord {
            value: Some(Bytes::from_static(b"v")),
            timestamp_ms: 5,
            ..ProduceRecord::default()
        }];
        let mut one = encode_batch(&records, Compression::None, ProducerStamp::default())
            .unwrap()
            .to_vec();
        let mut two = one.clone();
        two.extend_from_slice(&one[..one.len() - 1]);
        assert_eq!(
            batches(&two).count(),
            1,
            "the partial second batch is not returned"
        );

        // LogAppendTime: every record carries the header's max timestamp.
        one[22] |= 0x08;
        one[35..43].copy_from_slice(&77i64.to_be_bytes());
        let crc = crc32c::crc32c(&one[CRC_START..]);
        one[17..21].copy_from_slice(&crc.to_be_bytes());
        let batch = BatchRef::new(&one).unwrap();
        let r = batch.records().unwrap().next().unwrap().unwrap();
        assert_eq!((r.timestamp_ms, r.log_append_time), (77, true));

        one[65] ^= 1;
        let err = BatchRef::new(&one).unwrap_err().to_string();
        assert!(err.contains("CRC"), "{err}");
        let mut both = one.clone();
        both.extend_from_slice(&one);
        let read: Vec<_> = batches(&both).collect();
        assert_eq!(read.len(), 1, "nothing is read after a bad batch");
    }
}
