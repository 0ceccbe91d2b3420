//! Tombstones: group deletion, offset expiry (Kafka 4.x rules), deleted topics; and replay of
//! tombstones as removals.

use std::collections::HashSet;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ConsumerProtocolSubscription, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes};

use super::*;
use crate::records::{group_key, offset_key, CoordinatorRecord};

fn commit(h: &mut Harness, group: &str, gen: i32, member: &str, topics: &[&str]) -> Output {
    let offsets: Vec<OffsetToCommit> = topics
        .iter()
        .map(|t| OffsetToCommit {
            topic: t.to_string(),
            partition: 0,
            offset: 5,
            leader_epoch: -1,
            metadata: None,
        })
        .collect();
    let me = MemberRef {
        member_id: member.into(),
        group_instance_id: None,
    };
    let (res, out) = h.c.commit_offsets(group, gen, &me, &offsets, h.now);
    assert!(res.iter().all(Result::is_ok), "{res:?}");
    out
}

fn tombstones(out: &Output) -> Vec<Bytes> {
    assert!(out.records.iter().all(|r| r.value.is_none()));
    out.records.iter().map(|r| r.key.clone()).collect()
}

fn replay_all(c: &mut GroupCoordinator, records: &[CoordinatorRecord]) {
    for r in records {
        c.replay(&r.key, r.value.as_deref()).unwrap();
    }
}

/// A consumer-protocol subscription to `topics`, with its version prefix.
fn subscription(topics: &[&str]) -> Bytes {
    let s = ConsumerProtocolSubscription::default().with_topics(
        topics
            .iter()
            .map(|t| StrBytes::from_string(t.to_string()))
            .collect(),
    );
    let mut buf = BytesMut::new();
    buf.put_i16(1);
    s.encode(&mut buf, 1).unwrap();
    let _ = TopicName::default();
    buf.freeze()
}

#[test]
fn delete_group_writes_a_tombstone_per_offset_and_for_the_group() {
    let mut h = Harness::new(0);
    let (m, gen) = h.stable_one();
    let mut log = commit(&mut h, G, gen, &m, &["a", "b"]);
    let (_, out) = h.c.leave(
        G,
        &[MemberRef {
            member_id: m,
            group_instance_id: None,
        }],
        h.now,
    );
    log.extend(out);
    let deleted = h.c.delete_group(G).unwrap();
    let keys = tombstones(&deleted);
    assert_eq!(
        keys,
        vec![offset_key(G, "a", 0), offset_key(G, "b", 0), group_key(G)]
    );
    // Replaying the history and then the tombstones leaves nothing.
    let mut c2 = GroupCoordinator::new(cfg(0));
    replay_all(&mut c2, &log.records);
    assert!(c2.group(G).is_some());
    replay_all(&mut c2, &deleted.records);
    assert!(c2.group(G).is_none());
    assert_eq!(c2.offset_count(), 0);
}

#[test]
fn simple_group_offsets_expire_after_their_own_commit() {
    let mut h = Harness::new(0);
    let mut log = commit(&mut h, "simple", -1, "", &["a"]);
    h.now += 30_000;
    log.extend(commit(&mut h, "simple", -1, "", &["b"]));
    // 60 s after "a" was committed: only "a" goes, the group stays.
    let out = h.c.expire_offsets(h.now + 30_000);
    assert_eq!(tombstones(&out), vec![offset_key("simple", "a", 0)]);
    assert_eq!(h.c.fetch_offsets("simple", None).unwrap().len(), 1);
    // Then "b": the group is left empty and goes too.
    let out2 = h.c.expire_offsets(h.now + 60_000);
    assert_eq!(
        tombstones(&out2),
        vec![offset_key("simple", "b", 0), group_key("simple")]
    );
    assert!(h.c.group("simple").is_none());
    let mut c2 = GroupCoordinator::new(cfg(0));
    replay_all(&mut c2, &log.records);
    replay_all(&mut c2, &out.records);
    assert_eq!(c2.offset_count(), 1);
    replay_all(&mut c2, &out2.records);
    assert!(c2.group("simple").is_none());
    assert_eq!(c2.offset_count(), 0);
}

#[test]
fn stable_consumer_group_expires_only_unsubscribed_topics() {
    let mut h = Harness::new(0);
    let (m, gen) = h.stable_one();
    commit(&mut h, G, gen, &m, &["sub", "old"]);
    // Undecodable subscriptions: nothing is known to be unsubscribed, nothing expires.
    assert!(h.c.expire_offsets(h.now + 600_000).records.is_empty());
    for member in h.c.groups.get_mut(G).unwrap().members.values_mut() {
        for (_, meta) in member.protocols.iter_mut() {
            *meta = subscription(&["sub"]);
        }
    }
    assert!(h.c.expire_offsets(h.now + 59_999).records.is_empty());
    let out = h.c.expire_offsets(h.now + 60_000);
    assert_eq!(tombstones(&out), vec![offset_key(G, "old", 0)]);
    assert_eq!(h.state(), GroupState::Stable, "an active group stays");
    let left = h.c.fetch_offsets(G, None).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0, "sub");
}

#[test]
fn empty_group_expires_from_when_it_became_empty() {
    let mut h = Harness::new(0);
    let (m, gen) = h.stable_one();
    commit(&mut h, G, gen, &m, &["a"]);
    h.now += 100_000;
    let (_, _) = h.c.leave(
        G,
        &[MemberRef {
            member_id: m,
            group_instance_id: None,
        }],
        h.now,
    );
    // The commit is older than the retention, but the group has been empty for less.
    assert!(h.c.expire_offsets(h.now + 59_999).records.is_empty());
    let out = h.c.expire_offsets(h.now + 60_000);
    assert_eq!(tombstones(&out), vec![offset_key(G, "a", 0), group_key(G)]);
    assert!(h.c.group(G).is_none());
}

#[test]
fn deleted_topics_lose_their_offsets_in_every_group() {
    let mut h = Harness::new(0);
    commit(&mut h, "g1", -1, "", &["gone", "kept"]);
    commit(&mut h, "g2", -1, "", &["gone"]);
    assert_eq!(
        h.c.committed_topics(),
        HashSet::from(["gone".to_string(), "kept".to_string()])
    );
    let out =
        h.c.delete_topic_offsets(&HashSet::from(["gone".to_string()]));
    let mut keys = tombstones(&out);
    keys.sort();
    let mut want = vec![offset_key("g1", "gone", 0), offset_key("g2", "gone", 0)];
    want.sort();
    assert_eq!(keys, want);
    assert_eq!(h.c.offset_count(), 1);
    assert_eq!(h.c.fetch_offsets("g1", None).unwrap()[0].0, "kept");
}
