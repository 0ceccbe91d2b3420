#![allow(clippy::unwrap_used)]
//! The group coordinator hosted by a real broker over a real data directory: what it
//! acknowledges is in `__consumer_offsets` and comes back after the broker is reopened
//! (offsets with metadata and leader epoch, group membership and generation, tombstones).

use std::sync::Arc;

use bytes::Bytes;
use rill_broker::{Broker, BrokerConfig};
use rill_group::{GroupState, JoinRequest, MemberRef, OffsetToCommit, Reply, SyncRequest};

fn open(dir: &std::path::Path) -> Arc<Broker> {
    open_with(dir, &[])
}

fn open_with(dir: &std::path::Path, extra: &[(&str, &str)]) -> Arc<Broker> {
    let mut pairs = vec![
        ("log.dirs", dir.display().to_string()),
        ("offsets.topic.num.partitions", "5".to_string()),
        ("group.initial.rebalance.delay.ms", "0".to_string()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
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

fn commit_simple(b: &Broker, group: &str, n: i64) {
    let res = b
        .groups
        .run(&b.replicas, |c, now| {
            c.commit_offsets(group, -1, &MemberRef::default(), &offsets(n), now)
        })
        .unwrap();
    assert!(res.iter().all(Result::is_ok));
}

#[test]
fn deleted_group_is_gone_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    for round in 0..5 {
        commit_simple(&b, "doomed", round);
        commit_simple(&b, "kept", round);
    }
    let deleted = b
        .groups
        .run(&b.replicas, |c, _| match c.delete_group("doomed") {
            Ok(out) => ((), out),
            Err(e) => panic!("{e}"),
        });
    deleted.unwrap();
    drop(b);

    let b = open(dir.path());
    let names: Vec<String> = b
        .groups
        .read(|c| c.list().into_iter().map(|(id, _, _)| id).collect());
    assert_eq!(
        names,
        vec!["kept".to_string()],
        "the deleted group stays deleted"
    );
    assert_eq!(
        b.groups.read(|c| c.fetch_offsets("doomed", None)).unwrap(),
        vec![]
    );
    assert_eq!(b.groups.read(|c| c.offset_count()), 3);
}

#[test]
fn offsets_topic_is_created_as_kafka_creates_it() {
    let dir = tempfile::tempdir().unwrap();
    let b = open_with(dir.path(), &[("offsets.topic.segment.bytes", "1048576")]);
    let topic = b.image().topic("__consumer_offsets").cloned().unwrap();
    assert_eq!(
        topic.configs.get("segment.bytes").map(String::as_str),
        Some("1048576")
    );
    assert_eq!(
        topic.configs.get("compression.type").map(String::as_str),
        Some("producer")
    );
    assert_eq!(
        topic.configs.get("cleanup.policy").map(String::as_str),
        Some("compact")
    );
    assert_eq!(topic.configs.get("retention.ms"), None, "not kept forever");
}

/// Many commits on few keys: after a restart the coordinator holds only the live offsets,
/// and once the partitions are compacted (rill-log's cleaner run on them directly; the
/// broker's cleaner service is another branch) a load replays about the live set.
#[test]
fn loaded_state_follows_the_live_offsets() {
    const GROUPS: usize = 20;
    const ROUNDS: i64 = 250;
    let dir = tempfile::tempdir().unwrap();
    let extra = [("offsets.topic.segment.bytes", "16384")];
    let b = open_with(dir.path(), &extra);
    for round in 0..ROUNDS {
        for g in 0..GROUPS {
            commit_simple(&b, &format!("g{g}"), round);
        }
    }
    // Half the groups are deleted: their keys end as tombstones.
    for g in 0..GROUPS / 2 {
        b.groups
            .run(&b.replicas, |c, _| match c.delete_group(&format!("g{g}")) {
                Ok(out) => ((), out),
                Err(e) => panic!("{e}"),
            })
            .unwrap();
    }
    let live = (GROUPS / 2) * 3;
    let partitions: Vec<std::path::PathBuf> = (0..5)
        .map(|i| {
            b.replicas
                .get("__consumer_offsets", i)
                .unwrap()
                .dir()
                .to_path_buf()
        })
        .collect();
    drop(b);

    let load = |label: &str| {
        let start = std::time::Instant::now();
        let b = open_with(dir.path(), &extra);
        let elapsed = start.elapsed();
        let held = b.groups.read(|c| c.offset_count());
        let mut replayed = 0;
        let mut c = rill_group::GroupCoordinator::new(
            rill_broker::coordinator::group_config(&b.config).unwrap(),
        );
        for i in 0..5 {
            let p = b.replicas.get("__consumer_offsets", i).unwrap();
            replayed += rill_broker::coordinator::storage::load_partition(&p, &mut c).unwrap();
        }
        println!("{label}: open {elapsed:?}, {replayed} records replayed, {held} offsets held");
        assert_eq!(held, live, "memory follows the live offsets");
        assert_eq!(c.offset_count(), live);
        replayed
    };
    let before = load("history");
    assert!(before >= GROUPS * ROUNDS as usize * 3);

    // Compact every partition with rill-log's cleaner.
    let config = rill_log::LogConfig {
        segment_bytes: 16384,
        retention_ms: None,
        cleanup_policy: rill_log::CleanupPolicy::COMPACT,
        min_cleanable_dirty_ratio: 0.0,
        ..rill_log::LogConfig::default()
    };
    let now = rill_broker::clock::now_ms();
    for path in &partitions {
        let (mut log, _) = rill_log::PartitionLog::open(path, config.clone()).unwrap();
        if let Some(plan) = log.plan_clean(now, i64::MAX).unwrap() {
            let mut cleaner = rill_log::cleaner::Cleaner::new(Default::default());
            let cleaned = cleaner
                .clean(plan, &mut rill_log::cleaner::NoThrottle)
                .unwrap();
            log.commit_clean(cleaned).unwrap();
        }
    }
    let after = load("compacted");
    // What is left: the live keys and the tombstones within delete.retention.ms, plus the
    // uncleaned active segments.
    assert!(after * 10 < before, "{after} records replayed of {before}");
}
