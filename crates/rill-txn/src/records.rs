//! The records of `__transaction_state`, in Kafka's schemas so the topic reads like Kafka's:
//!
//! - key `TransactionLogKey` v0: `[version: int16 = 0][transactional_id: string]`;
//! - value `TransactionLogValue` v0 (classic encoding):
//!   `[version: int16 = 0][producer_id: int64][producer_epoch: int16]
//!   [transaction_timeout_ms: int32][transaction_status: int8]
//!   [transaction_partitions: nullable array of {topic: string, partition_ids: [int32]}]
//!   [transaction_last_update_timestamp_ms: int64][transaction_start_timestamp_ms: int64]`;
//! - value v1: the same fields in the flexible encoding (compact arrays and strings, an
//!   empty tag section after each partition entry) followed by tagged fields: 0
//!   `PreviousProducerId` (int64, default -1), 1 `NextProducerId` (int64, default -1), 2
//!   `ClientTransactionVersion` (int16, default 0). A tagged field is written only when it
//!   differs from its default; unknown tags are skipped when reading.
//!
//! Rill writes `PreviousProducerId` whenever it is not -1, so that a KIP-360 retry of a
//! producer-id rotation is still recognized after the coordinator moved; Kafka's coordinator
//! (4.x) reads that tag but does not write it, so the two read each other's records alike.
//!
//! The partition array is null in state Empty. A null value is a tombstone: the id expired.
//! Classic strings are int16 length + UTF-8, arrays int32 count (-1 = null); compact ones
//! unsigned-varint length + 1 (0 = null). Decoding never panics and never allocates more
//! than the bytes it was given; bad bytes give [`RecordError`].

use std::collections::BTreeSet;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::RecordError;
use crate::state::TxnState;
use crate::types::{TopicPartition, WriteId, NO_PRODUCER_ID};

/// One record the shell must append to `__transaction_state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnRecord {
    /// The `__transaction_state` partition (the transactional id's).
    pub partition: i32,
    /// Encoded `TransactionLogKey`.
    pub key: Bytes,
    /// Encoded `TransactionLogValue`; `None` is a tombstone.
    pub value: Option<Bytes>,
    /// What to report to [`crate::TxnCoordinator::on_append_complete`] or
    /// [`crate::TxnCoordinator::on_append_failed`] once the record is durable (or not).
    pub write_id: WriteId,
}

/// A transactional id's state as one `TransactionLogValue` stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTxn {
    /// Producer id in use.
    pub producer_id: i64,
    /// Producer id before the last rotation (KIP-360; v1 tag 0, -1 in v0).
    pub previous_producer_id: i64,
    /// Producer id a transactions-V2 coordinator handed out next (v1 tag 1, -1 when none).
    pub next_producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// The producer's `transaction.timeout.ms`.
    pub txn_timeout_ms: i32,
    /// State.
    pub state: TxnState,
    /// Partitions in the transaction (empty in Empty).
    pub partitions: BTreeSet<TopicPartition>,
    /// When the id last changed.
    pub txn_last_update_timestamp_ms: i64,
    /// When the transaction began (its first partition was added), -1 if none.
    pub txn_start_timestamp_ms: i64,
    /// Transaction version of the client that made the last change (v1 tag 2, 0 default).
    pub client_transaction_version: i16,
}

/// Encodes the key of a transactional id.
pub fn encode_key(transactional_id: &str) -> Bytes {
    let mut b = BytesMut::with_capacity(4 + transactional_id.len());
    b.put_i16(0);
    put_str(&mut b, transactional_id);
    b.freeze()
}

/// Decodes a key to its transactional id.
///
/// # Errors
/// Truncated bytes, bad strings, key versions other than 0.
pub fn decode_key(key: &[u8]) -> Result<String, RecordError> {
    let mut r = Reader { rest: key };
    match r.i16("key version")? {
        0 => r.str("transactional_id"),
        version => Err(RecordError::UnknownVersion {
            what: "key",
            version,
        }),
    }
}

/// Encodes a value in `version` (0 or 1; anything else is written as 1).
pub fn encode_value(v: &StoredTxn, version: i16) -> Bytes {
    let flexible = version != 0;
    let mut b = BytesMut::with_capacity(64);
    b.put_i16(if flexible { 1 } else { 0 });
    b.put_i64(v.producer_id);
    b.put_i16(v.producer_epoch);
    b.put_i32(v.txn_timeout_ms);
    b.put_i8(v.state.id());
    let by_topic = group_by_topic(&v.partitions);
    if v.state == TxnState::Empty {
        put_len(&mut b, flexible, None);
    } else {
        put_len(&mut b, flexible, Some(by_topic.len()));
        for (topic, ids) in &by_topic {
            if flexible {
                put_compact_str(&mut b, topic);
            } else {
                put_str(&mut b, topic);
            }
            put_len(&mut b, flexible, Some(ids.len()));
            for id in ids {
                b.put_i32(*id);
            }
            if flexible {
                put_uvarint(&mut b, 0);
            }
        }
    }
    b.put_i64(v.txn_last_update_timestamp_ms);
    b.put_i64(v.txn_start_timestamp_ms);
    if flexible {
        put_tagged_fields(&mut b, v);
    }
    b.freeze()
}

/// Decodes a value (v0 or v1).
///
/// # Errors
/// Truncated bytes, bad strings or lengths, unknown status bytes, unknown versions.
pub fn decode_value(value: &[u8]) -> Result<StoredTxn, RecordError> {
    let mut r = Reader { rest: value };
    let version = r.i16("value version")?;
    if !(0..=1).contains(&version) {
        return Err(RecordError::UnknownVersion {
            what: "value",
            version,
        });
    }
    let flexible = version == 1;
    let producer_id = r.i64("producer_id")?;
    let producer_epoch = r.i16("producer_epoch")?;
    let txn_timeout_ms = r.i32("transaction_timeout_ms")?;
    let status = r.i8("transaction_status")?;
    let state = TxnState::from_id(status).ok_or(RecordError::UnknownStatus(status))?;
    let mut partitions = BTreeSet::new();
    if let Some(topics) = r.len(flexible, "transaction_partitions")? {
        for _ in 0..topics {
            let topic = if flexible {
                r.compact_str("topic")?
            } else {
                r.str("topic")?
            };
            let ids = r
                .len(flexible, "partition_ids")?
                .ok_or(RecordError::BadLength {
                    field: "partition_ids",
                })?;
            for _ in 0..ids {
                partitions.insert(TopicPartition::new(topic.clone(), r.i32("partition_id")?));
            }
            if flexible {
                r.skip_tagged_fields()?;
            }
        }
    }
    let mut v = StoredTxn {
        producer_id,
        previous_producer_id: NO_PRODUCER_ID,
        next_producer_id: NO_PRODUCER_ID,
        producer_epoch,
        txn_timeout_ms,
        state,
        partitions,
        txn_last_update_timestamp_ms: r.i64("transaction_last_update_timestamp_ms")?,
        txn_start_timestamp_ms: r.i64("transaction_start_timestamp_ms")?,
        client_transaction_version: 0,
    };
    if flexible {
        r.read_tagged_fields(&mut v)?;
    }
    // Kafka ignores the partitions of an Empty record.
    if v.state == TxnState::Empty {
        v.partitions.clear();
    }
    Ok(v)
}

/// The partitions grouped by topic, in order.
fn group_by_topic(partitions: &BTreeSet<TopicPartition>) -> Vec<(&str, Vec<i32>)> {
    let mut out: Vec<(&str, Vec<i32>)> = Vec::new();
    for tp in partitions {
        match out.last_mut() {
            Some((topic, ids)) if *topic == tp.topic => ids.push(tp.partition),
            _ => out.push((&tp.topic, vec![tp.partition])),
        }
    }
    out
}

fn put_tagged_fields(b: &mut BytesMut, v: &StoredTxn) {
    let mut tags: Vec<(u32, Vec<u8>)> = Vec::new();
    if v.previous_producer_id != NO_PRODUCER_ID {
        tags.push((0, v.previous_producer_id.to_be_bytes().to_vec()));
    }
    if v.next_producer_id != NO_PRODUCER_ID {
        tags.push((1, v.next_producer_id.to_be_bytes().to_vec()));
    }
    if v.client_transaction_version != 0 {
        tags.push((2, v.client_transaction_version.to_be_bytes().to_vec()));
    }
    put_uvarint(b, tags.len() as u32);
    for (tag, data) in tags {
        put_uvarint(b, tag);
        put_uvarint(b, data.len() as u32);
        b.put_slice(&data);
    }
}

/// Longest string the classic encoding can carry.
const MAX_STR: usize = i16::MAX as usize;

fn put_str(b: &mut BytesMut, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(MAX_STR)];
    b.put_i16(bytes.len() as i16);
    b.put_slice(bytes);
}

fn put_compact_str(b: &mut BytesMut, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(MAX_STR)];
    put_uvarint(b, bytes.len() as u32 + 1);
    b.put_slice(bytes);
}

/// An array length: int32 (-1 null) classic, uvarint + 1 (0 null) compact.
fn put_len(b: &mut BytesMut, flexible: bool, len: Option<usize>) {
    let len = len.map(|n| n.min(i32::MAX as usize - 1) as u32);
    match (flexible, len) {
        (false, None) => b.put_i32(-1),
        (false, Some(n)) => b.put_i32(n as i32),
        (true, None) => put_uvarint(b, 0),
        (true, Some(n)) => put_uvarint(b, n + 1),
    }
}

fn put_uvarint(b: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        b.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    b.put_u8(v as u8);
}

/// A bounds-checked reader over record bytes.
struct Reader<'a> {
    /// Bytes not read yet.
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], RecordError> {
        if self.rest.len() < n {
            return Err(RecordError::Truncated { field });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], RecordError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, field)?);
        Ok(a)
    }
    fn i8(&mut self, field: &'static str) -> Result<i8, RecordError> {
        Ok(i8::from_be_bytes(self.array(field)?))
    }
    fn i16(&mut self, field: &'static str) -> Result<i16, RecordError> {
        Ok(i16::from_be_bytes(self.array(field)?))
    }
    fn i32(&mut self, field: &'static str) -> Result<i32, RecordError> {
        Ok(i32::from_be_bytes(self.array(field)?))
    }
    fn i64(&mut self, field: &'static str) -> Result<i64, RecordError> {
        Ok(i64::from_be_bytes(self.array(field)?))
    }
    fn uvarint(&mut self, field: &'static str) -> Result<u32, RecordError> {
        let mut v: u32 = 0;
        for i in 0..5 {
            let [byte] = self.array::<1>(field)?;
            if i == 4 && byte > 0x0f {
                return Err(RecordError::BadLength { field });
            }
            v |= u32::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(RecordError::BadLength { field })
    }
    fn utf8(&mut self, n: usize, field: &'static str) -> Result<String, RecordError> {
        let b = self.take(n, field)?;
        String::from_utf8(b.to_vec()).map_err(|_| RecordError::BadString { field })
    }
    /// A classic non-null string.
    fn str(&mut self, field: &'static str) -> Result<String, RecordError> {
        let len =
            usize::try_from(self.i16(field)?).map_err(|_| RecordError::BadString { field })?;
        self.utf8(len, field)
    }
    /// A compact non-null string.
    fn compact_str(&mut self, field: &'static str) -> Result<String, RecordError> {
        let len = self.uvarint(field)?;
        let len = usize::try_from(len)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .ok_or(RecordError::BadString { field })?;
        self.utf8(len, field)
    }
    /// An array length (`None` = null), never more than the bytes left (each element takes
    /// at least one byte), so a caller may loop over it without further checks.
    fn len(&mut self, flexible: bool, field: &'static str) -> Result<Option<usize>, RecordError> {
        let n = if flexible {
            match self.uvarint(field)? {
                0 => return Ok(None),
                n => usize::try_from(n - 1).map_err(|_| RecordError::BadLength { field })?,
            }
        } else {
            match self.i32(field)? {
                -1 => return Ok(None),
                n => usize::try_from(n).map_err(|_| RecordError::BadLength { field })?,
            }
        };
        if n > self.rest.len() {
            return Err(RecordError::Truncated { field });
        }
        Ok(Some(n))
    }
    fn tagged(&mut self) -> Result<(u32, &'a [u8]), RecordError> {
        let tag = self.uvarint("tag")?;
        let size = usize::try_from(self.uvarint("tag size")?)
            .map_err(|_| RecordError::BadLength { field: "tag size" })?;
        Ok((tag, self.take(size, "tagged field")?))
    }
    fn skip_tagged_fields(&mut self) -> Result<(), RecordError> {
        let count = self.uvarint("tagged fields")?;
        for _ in 0..count {
            self.tagged()?;
        }
        Ok(())
    }
    fn read_tagged_fields(&mut self, v: &mut StoredTxn) -> Result<(), RecordError> {
        let count = self.uvarint("tagged fields")?;
        for _ in 0..count {
            let (tag, data) = self.tagged()?;
            match tag {
                0 => v.previous_producer_id = fixed_i64(data, "previous_producer_id")?,
                1 => v.next_producer_id = fixed_i64(data, "next_producer_id")?,
                2 => {
                    let a: [u8; 2] = data.try_into().map_err(|_| RecordError::BadLength {
                        field: "client_transaction_version",
                    })?;
                    v.client_transaction_version = i16::from_be_bytes(a);
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn fixed_i64(data: &[u8], field: &'static str) -> Result<i64, RecordError> {
    let a: [u8; 8] = data
        .try_into()
        .map_err(|_| RecordError::BadLength { field })?;
    Ok(i64::from_be_bytes(a))
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
