//! The records of `__consumer_offsets`, in Kafka's own key/value schemas so the topic reads
//! like Kafka's:
//!
//! - key v1 `OffsetCommitKey` { group: string, topic: string, partition: int32 } with value v3
//!   `OffsetCommitValue` { offset: int64, leader_epoch: int32, metadata: string,
//!   commit_timestamp: int64 };
//! - key v2 `GroupMetadataKey` { group: string } with value v3 `GroupMetadataValue`
//!   { protocol_type, generation, protocol?, leader?, current_state_timestamp, members[] }.
//!
//! A null value is a tombstone (offset deleted or expired, group deleted). Strings are int16
//! length + UTF-8 (-1 = null), bytes are int32 length, arrays int32 count: Kafka's classic
//! (non-flexible) encoding. Decoding never panics; bad bytes give [`RecordError`].

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::RecordError;

/// One stored member of a group (what `GroupMetadataValue` keeps per member).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMember {
    /// Member id.
    pub member_id: String,
    /// Static membership id (KIP-345).
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Rebalance timeout.
    pub rebalance_timeout_ms: i32,
    /// Session timeout.
    pub session_timeout_ms: i32,
    /// Metadata of the selected protocol (the subscription).
    pub subscription: Bytes,
    /// The assignment the leader gave it.
    pub assignment: Bytes,
}

/// A group as stored after a rebalance or when it becomes empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredGroup {
    /// Protocol type (e.g. "consumer").
    pub protocol_type: String,
    /// Generation.
    pub generation: i32,
    /// Selected protocol (assignor name).
    pub protocol: Option<String>,
    /// Leader member id.
    pub leader: Option<String>,
    /// When the group entered its state.
    pub current_state_timestamp: i64,
    /// Members.
    pub members: Vec<StoredMember>,
}

/// A committed offset as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOffset {
    /// The committed offset.
    pub offset: i64,
    /// Leader epoch of the consumed record, -1 if unknown.
    pub leader_epoch: i32,
    /// Client metadata.
    pub metadata: String,
    /// When it was committed.
    pub commit_timestamp: i64,
}

/// A decoded key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey {
    /// An offset commit of (group, topic, partition).
    Offset {
        /// Group id.
        group: String,
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
    },
    /// A group's metadata.
    Group {
        /// Group id.
        group: String,
    },
}

/// One record for the coordinator's partition of `__consumer_offsets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorRecord {
    /// The `__consumer_offsets` partition of the group.
    pub partition: i32,
    /// Encoded key.
    pub key: Bytes,
    /// Encoded value; `None` is a tombstone.
    pub value: Option<Bytes>,
}

fn put_str(buf: &mut BytesMut, s: &str) {
    let len = s.len().min(i16::MAX as usize);
    buf.put_i16(len as i16);
    buf.put_slice(&s.as_bytes()[..len]);
}

fn put_opt_str(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(buf, s),
        None => buf.put_i16(-1),
    }
}

fn put_bytes(buf: &mut BytesMut, b: &[u8]) {
    buf.put_i32(b.len() as i32);
    buf.put_slice(b);
}

/// Encodes the key of an offset commit.
pub fn offset_key(group: &str, topic: &str, partition: i32) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(1);
    put_str(&mut b, group);
    put_str(&mut b, topic);
    b.put_i32(partition);
    b.freeze()
}

/// Encodes the key of a group's metadata.
pub fn group_key(group: &str) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(2);
    put_str(&mut b, group);
    b.freeze()
}

/// Encodes an offset commit value (v3).
pub fn offset_value(o: &StoredOffset) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(3);
    b.put_i64(o.offset);
    b.put_i32(o.leader_epoch);
    put_str(&mut b, &o.metadata);
    b.put_i64(o.commit_timestamp);
    b.freeze()
}

/// Encodes a group metadata value (v3).
pub fn group_value(g: &StoredGroup) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(3);
    put_str(&mut b, &g.protocol_type);
    b.put_i32(g.generation);
    put_opt_str(&mut b, g.protocol.as_deref());
    put_opt_str(&mut b, g.leader.as_deref());
    b.put_i64(g.current_state_timestamp);
    b.put_i32(g.members.len() as i32);
    for m in &g.members {
        put_str(&mut b, &m.member_id);
        put_opt_str(&mut b, m.group_instance_id.as_deref());
        put_str(&mut b, &m.client_id);
        put_str(&mut b, &m.client_host);
        b.put_i32(m.rebalance_timeout_ms);
        b.put_i32(m.session_timeout_ms);
        put_bytes(&mut b, &m.subscription);
        put_bytes(&mut b, &m.assignment);
    }
    b.freeze()
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
    fn i16(&mut self, field: &'static str) -> Result<i16, RecordError> {
        let b = self.take(2, field)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self, field: &'static str) -> Result<i32, RecordError> {
        let b = self.take(4, field)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self, field: &'static str) -> Result<i64, RecordError> {
        let b = self.take(8, field)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
    fn opt_str(&mut self, field: &'static str) -> Result<Option<String>, RecordError> {
        let len = self.i16(field)?;
        if len < 0 {
            return Ok(None);
        }
        let b = self.take(len as usize, field)?;
        String::from_utf8(b.to_vec())
            .map(Some)
            .map_err(|_| RecordError::BadString { field })
    }
    fn str(&mut self, field: &'static str) -> Result<String, RecordError> {
        self.opt_str(field)?.ok_or(RecordError::BadString { field })
    }
    fn bytes(&mut self, field: &'static str) -> Result<Bytes, RecordError> {
        let len = self.i32(field)?;
        if len < 0 {
            return Ok(Bytes::new());
        }
        Ok(Bytes::copy_from_slice(self.take(len as usize, field)?))
    }
}

/// Decodes a key.
///
/// # Errors
/// Truncated bytes, bad strings, unknown key versions.
pub fn decode_key(key: &[u8]) -> Result<RecordKey, RecordError> {
    let mut r = Reader { rest: key };
    match r.i16("key version")? {
        0 | 1 => Ok(RecordKey::Offset {
            group: r.str("group")?,
            topic: r.str("topic")?,
            partition: r.i32("partition")?,
        }),
        2 => Ok(RecordKey::Group {
            group: r.str("group")?,
        }),
        version => Err(RecordError::UnknownVersion {
            what: "key",
            version,
        }),
    }
}

/// Decodes an offset commit value (v1 and v3; v1 has no leader epoch).
///
/// # Errors
/// Truncated bytes, bad strings, unknown versions.
pub fn decode_offset_value(value: &[u8]) -> Result<StoredOffset, RecordError> {
    let mut r = Reader { rest: value };
    let version = r.i16("offset value version")?;
    if !(1..=3).contains(&version) {
        return Err(RecordError::UnknownVersion {
            what: "offset value",
            version,
        });
    }
    let offset = r.i64("offset")?;
    let leader_epoch = if version >= 3 {
        r.i32("leader_epoch")?
    } else {
        -1
    };
    let metadata = r.str("metadata")?;
    let commit_timestamp = r.i64("commit_timestamp")?;
    Ok(StoredOffset {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp,
    })
}

/// Decodes a group metadata value (v3 only: the version Rill writes).
///
/// # Errors
/// Truncated bytes, bad strings, unknown versions.
pub fn decode_group_value(value: &[u8]) -> Result<StoredGroup, RecordError> {
    let mut r = Reader { rest: value };
    let version = r.i16("group value version")?;
    if version != 3 {
        return Err(RecordError::UnknownVersion {
            what: "group value",
            version,
        });
    }
    let protocol_type = r.str("protocol_type")?;
    let generation = r.i32("generation")?;
    let protocol = r.opt_str("protocol")?;
    let leader = r.opt_str("leader")?;
    let current_state_timestamp = r.i64("current_state_timestamp")?;
    let count = r.i32("members")?.max(0) as usize;
    let mut members = Vec::with_capacity(count.min(r.rest.len()));
    for _ in 0..count {
        members.push(StoredMember {
            member_id: r.str("member_id")?,
            group_instance_id: r.opt_str("group_instance_id")?,
            client_id: r.str("client_id")?,
            client_host: r.str("client_host")?,
            rebalance_timeout_ms: r.i32("rebalance_timeout")?,
            session_timeout_ms: r.i32("session_timeout")?,
            subscription: r.bytes("subscription")?,
            assignment: r.bytes("assignment")?,
        });
    }
    Ok(StoredGroup {
        protocol_type,
        generation,
        protocol,
        leader,
        current_state_timestamp,
        members,
    })
}

/// The `__consumer_offsets` partition of a group: `abs(groupId.hashCode()) % partitions` with
/// Java's `String.hashCode` over UTF-16 code units and Kafka's `Utils.abs` (MIN_VALUE -> 0).
pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let hash = group_id
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_matches_java_hash_code() {
        // "abc".hashCode() == 96354; "".hashCode() == 0; "polygenelubricants" == MIN_VALUE.
        assert_eq!(partition_for("abc", 50), 96354 % 50);
        assert_eq!(partition_for("", 50), 0);
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        // "Aa" and "BB" collide in Java.
        assert_eq!(partition_for("Aa", 50), partition_for("BB", 50));
    }

    #[test]
    fn round_trips_and_rejects_garbage() {
        let o = StoredOffset {
            offset: 42,
            leader_epoch: 3,
            metadata: "m".into(),
            commit_timestamp: 7,
        };
        assert_eq!(decode_offset_value(&offset_value(&o)), Ok(o));
        let k = offset_key("g", "t", 5);
        assert_eq!(
            decode_key(&k),
            Ok(RecordKey::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 5
            })
        );
        let g = StoredGroup {
            protocol_type: "consumer".into(),
            generation: 4,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            current_state_timestamp: 9,
            members: vec![StoredMember {
                member_id: "m1".into(),
                group_instance_id: Some("i1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 10_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"asg"),
            }],
        };
        assert_eq!(decode_group_value(&group_value(&g)), Ok(g.clone()));
        assert_eq!(
            decode_key(&group_key("g")),
            Ok(RecordKey::Group { group: "g".into() })
        );
        let full = group_value(&g);
        for cut in 0..full.len() {
            assert!(decode_group_value(&full[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode_key(&[0, 9, 0, 0]).is_err());
        assert!(decode_key(&[0, 1, 0x7f, 0xff]).is_err());
    }
}
