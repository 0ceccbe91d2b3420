#![allow(clippy::unwrap_used)]
//! The group coordinator hosted by a real broker over a real data directory: what it
//! acknowledges is in `__consumer_offsets` and comes back after the broker is reopened
//! (offsets with metadata and leader epoch, group membership and generation, tombstones).

use std::sync::Arc;

use bytes::Bytes;
use rill_broker::{Broker, BrokerConfig};
use rill_group::{GroupState, JoinRequest, MemberRef, OffsetToCommit, Reply, SyncRequest};

fn open(dir: &std::path::Path) -> Arc<Broker> {
    let pairs = [
        ("log.dirs", dir.display().to_string()),
        ("offsets.topic.num.partitions", "5".to_string()),
        ("group.initial.rebalance.delay.ms", "0".to_string()),
    ];
    let config = BrokerConfig::from_pairs(
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())),
        |_| {},
    )
    .unwrap();
    Broker::open_local(config).unwrap()
}

fn offsets(n: i64) -> Vec<OffsetToCommit> {
    (0..3)
        .map(|p| OffsetToCommit {
            topic: "t".into(),
            partition: p,
            offset: n + i64::from(p),
            leader_epoch: 2,
            metadata: Some(format!("m{p}")),
        })
        .collect()
}

/// Joins one member and syncs it; returns (member id, generation).
fn stable_member(b: &Broker, group: &str) -> (String, i32) {
    let join = |member: &str| {
        let (id, mut rx) = b.groups.park();
        let req = JoinRequest {
            group_id: group.into(),
            member_id: member.into(),
            session_timeout_ms: 30_000,
            rebalance_timeout_ms: 30_000,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"sub"))],
            require_known_member_id: true,
            member_id_suffix: "x".into(),
            ..JoinRequest::default()
        };
        b.groups
            .run(&b.replicas, |c, now| ((), c.join(id, req, now)))
            .unwrap();
        match rx.try_recv().unwrap() {
            Reply::Join(_, r) => r,
            other => panic!("{other:?}"),
        }
    };
    let member = join("").unwrap_err().member_id;
    let ok = join(&member).unwrap();
    let (id, mut rx) = b.groups.park();
    let req = SyncRequest {
        group_id: group.into(),
        generation_id: ok.generation_id,
        member_id: member.clone(),
        assignments: vec![(member.clone(), Bytes::from_static(b"asg"))],
        ..SyncRequest::default()
    };
    b.groups
        .run(&b.replicas, |c, now| ((), c.sync(id, req, now)))
        .unwrap();
    assert!(matches!(rx.try_recv().unwrap(), Reply::Sync(_, Ok(_))));
    (member, ok.generation_id)
}

#[test]
fn acknowledged_commits_and_groups_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    assert_eq!(b.image().topic("__consumer_offsets").unwrap().partitions, 5);
    let (member, generation) = stable_member(&b, "g1");
    let me = MemberRef {
        member_id: member.clone(),
        group_instance_id: None,
    };
    for round in 0..20 {
        let res = b
            .groups
            .run(&b.replicas, |c, now| {
                c.commit_offsets("g1", generation, &me, &offsets(round * 10), now)
            })
            .unwrap();
        assert!(res.iter().all(Result::is_ok));
    }
    let res = b
        .groups
        .run(&b.replicas, |c, now| {
            c.commit_offsets("simple", -1, &MemberRef::default(), &offsets(7), now)
        })
        .unwrap();
    assert!(res.iter().all(Result::is_ok));
    b.groups
        .run(&b.replicas, |c, _| {
            match c.delete_offsets("simple", &[("t".into(), 1)]) {
                Ok((r, out)) => (r, out),
                Err(e) => panic!("{e}"),
            }
        })
        .unwrap();
    let before = b.groups.read(|c| {
        (
            c.fetch_offsets("g1", None).unwrap(),
            c.fetch_offsets("simple", None).unwrap(),
        )
    });
    drop(b);

    let b = open(dir.path());
    let after = b.groups.read(|c| {
        (
            c.fetch_offsets("g1", None).unwrap(),
            c.fetch_offsets("simple", None).unwrap(),
        )
    });
    assert_eq!(after, before);
    assert_eq!(after.0[2].2.offset, 192);
    assert_eq!(
        (after.0[2].2.leader_epoch, after.0[2].2.metadata.as_str()),
        (2, "m2")
    );
    assert_eq!(after.1.len(), 2, "the deleted offset stays deleted");
    let g = b.groups.read(|c| c.describe("g1")).unwrap();
    assert_eq!(g.state, GroupState::Stable);
    assert_eq!(g.members[0].member_id, member);
    assert_eq!(g.members[0].assignment, Bytes::from_static(b"asg"));
    // The reloaded member still commits with its generation.
    let res = b
        .groups
        .run(&b.replicas, |c, now| {
            c.commit_offsets("g1", generation, &me, &offsets(500), now)
        })
        .unwrap();
    assert!(res.iter().all(Result::is_ok));
}
