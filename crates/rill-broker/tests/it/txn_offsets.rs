#![allow(clippy::unwrap_used)]
//! Transactional offset commits (KIP-98 TxnOffsetCommit, KIP-447 require_stable) hosted by a
//! real broker: over a socket, a transaction's offsets stay invisible to OffsetFetch (and
//! UNSTABLE_OFFSET_COMMIT with require_stable) until `GroupService::complete_txn`, which the
//! WriteTxnMarkers path calls; a fenced producer epoch is refused by the log and leaves no
//! trace. Across a restart, the transaction markers in `__consumer_offsets` decide: a
//! committed transaction's offsets are back as committed, an aborted one's are gone, an open
//! one's are pending again and commit after the restart.

use std::sync::Arc;

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use rill_broker::{Broker, BrokerConfig};
use rill_group::{partition_for, MemberRef, OffsetToCommit, TxnOffsetCommit};
use rill_log::{MarkerSpec, TxnOutcome};

use crate::support::{create_topic, start, Conn};

const PARTITIONS: i32 = 5;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// A TxnOffsetCommit v3 of `(topic, partition, offset)`s.
fn txn_commit(
    group: &str,
    pid: i64,
    epoch: i16,
    offsets: &[(&str, i32, i64)],
) -> TxnOffsetCommitRequest {
    let mut topics: Vec<txn_offset_commit_request::TxnOffsetCommitRequestTopic> = Vec::new();
    for (topic, partition, offset) in offsets {
        let p = txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
            .with_partition_index(*partition)
            .with_committed_offset(*offset)
            .with_committed_leader_epoch(-1)
            .with_committed_metadata(Some(s(&format!("tx{pid}"))));
        match topics.iter_mut().find(|t| t.name.0.as_str() == *topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(
                txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                    .with_name(TopicName(s(topic)))
                    .with_partitions(vec![p]),
            ),
        }
    }
    TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s(&format!("tx-{pid}"))))
        .with_group_id(GroupId(s(group)))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_generation_id(-1)
        .with_topics(topics)
}

/// Error codes of a TxnOffsetCommit response as (topic, partition, code), in order.
fn codes(r: &TxnOffsetCommitResponse) -> Vec<(String, i32, i16)> {
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.to_string(), p.partition_index, p.error_code))
        })
        .collect()
}

/// OffsetFetch v7 of partitions 0..3 of `t`: (offset, code) per partition.
async fn fetch(conn: &mut Conn, group: &str, require_stable: bool) -> Vec<(i64, i16)> {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_require_stable(require_stable)
        .with_topics(Some(vec![
            offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partition_indexes(vec![0, 1, 2]),
        ]));
    let r = conn.call(&req, 7).await;
    assert_eq!(r.error_code, 0);
    r.topics[0]
        .partitions
        .iter()
        .map(|p| (p.committed_offset, p.error_code))
        .collect()
}

/// Commits until the coordinator has loaded its partitions (start-up).
async fn call_until_coordinated(
    conn: &mut Conn,
    req: &TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    for _ in 0..100 {
        let r = conn.call(req, 3).await;
        let code = r.topics[0].partitions[0].error_code;
        if code != ResponseError::NotCoordinator.code()
            && code != ResponseError::CoordinatorNotAvailable.code()
        {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the group coordinator never loaded");
}

#[tokio::test]
async fn pending_until_completed_over_a_socket() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[("offsets.topic.num.partitions", "5")]).await;
    let mut conn = Conn::open(node.addr).await;
    create_topic(&mut conn, "t", 3).await;
    let group = "eos";
    let offsets_partition = partition_for(group, PARTITIONS);
    let unstable = ResponseError::UnstableOffsetCommit.code();

    // Unknown topics and partitions are answered by the broker; the rest is pending.
    let req = txn_commit(
        group,
        1000,
        0,
        &[("t", 0, 10), ("t", 1, 20), ("t", 7, 1), ("nope", 0, 1)],
    );
    let r = call_until_coordinated(&mut conn, &req).await;
    let unknown = ResponseError::UnknownTopicOrPartition.code();
    assert_eq!(
        codes(&r),
        vec![
            ("t".into(), 0, 0),
            ("t".into(), 1, 0),
            ("t".into(), 7, unknown),
            ("nope".into(), 0, unknown)
        ]
    );
    assert_eq!(fetch(&mut conn, group, false).await, vec![(-1, 0); 3]);
    assert_eq!(
        fetch(&mut conn, group, true).await,
        vec![(-1, unstable), (-1, unstable), (-1, 0)]
    );
    // Batched OffsetFetch (v8) says the same.
    let batched = OffsetFetchRequest::default()
        .with_require_stable(true)
        .with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s(group)))
                .with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopics::default()
                        .with_name(TopicName(s("t")))
                        .with_partition_indexes(vec![0]),
                ])),
        ]);
    let r = conn.call(&batched, 8).await;
    assert_eq!(r.groups[0].topics[0].partitions[0].error_code, unstable);

    // The marker's arrival (WriteTxnMarkers calls this): committed and visible.
    node.broker
        .groups
        .complete_txn(offsets_partition, 1000, true);
    assert_eq!(
        fetch(&mut conn, group, true).await,
        vec![(10, 0), (20, 0), (-1, 0)]
    );

    // Aborted: dropped.
    let r = conn
        .call(&txn_commit(group, 1000, 0, &[("t", 0, 30)]), 3)
        .await;
    assert_eq!(codes(&r)[0].2, 0);
    assert_eq!(fetch(&mut conn, group, true).await[0], (-1, unstable));
    node.broker
        .groups
        .complete_txn(offsets_partition, 1000, false);
    assert_eq!(fetch(&mut conn, group, true).await[0], (10, 0));

    // A newer epoch fences the older one in the log: INVALID_PRODUCER_EPOCH, nothing pending.
    let r = conn
        .call(&txn_commit(group, 1000, 1, &[("t", 2, 5)]), 3)
        .await;
    assert_eq!(codes(&r)[0].2, 0);
    node.broker
        .groups
        .complete_txn(offsets_partition, 1000, true);
    let r = conn
        .call(&txn_commit(group, 1000, 0, &[("t", 0, 99)]), 3)
        .await;
    assert_eq!(codes(&r)[0].2, ResponseError::InvalidProducerEpoch.code());
    assert_eq!(
        fetch(&mut conn, group, true).await,
        vec![(10, 0), (20, 0), (5, 0)]
    );

    // The group checks of v3+.
    let r = conn
        .call(
            &txn_commit("nogroup", 7, 0, &[("t", 0, 1)]).with_generation_id(3),
            3,
        )
        .await;
    assert_eq!(codes(&r)[0].2, ResponseError::IllegalGeneration.code());
    let r = conn.call(&txn_commit("", 7, 0, &[("t", 0, 1)]), 3).await;
    assert_eq!(codes(&r)[0].2, ResponseError::InvalidGroupId.code());
    let big = txn_commit(group, 7, 0, &[("t", 0, 1)]);
    let mut big = big;
    big.topics[0].partitions[0].committed_metadata = Some(s(&"x".repeat(5000)));
    let r = conn.call(&big, 3).await;
    assert_eq!(codes(&r)[0].2, ResponseError::OffsetMetadataTooLarge.code());
    // v0 (no member fields) is answered too.
    let r = conn.call(&txn_commit(group, 8, 0, &[("t", 0, 1)]), 0).await;
    assert_eq!(codes(&r)[0].2, 0);
    node.shutdown().await;
}

fn open(dir: &std::path::Path, codec: i32) -> Arc<Broker> {
    let pairs = [
        ("log.dirs", dir.display().to_string()),
        ("offsets.topic.num.partitions", PARTITIONS.to_string()),
        ("offsets.topic.compression.codec", codec.to_string()),
    ];
    let config = BrokerConfig::from_pairs(
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())),
        |_| {},
    )
    .unwrap();
    Broker::open_local(config).unwrap()
}

fn txn(b: &Broker, group: &str, pid: i64, offsets: &[(&str, i32, i64)]) {
    let req = TxnOffsetCommit {
        transactional_id: format!("tx-{pid}"),
        group_id: group.into(),
        producer_id: pid,
        producer_epoch: 0,
        generation_id: -1,
        member: MemberRef::default(),
        offsets: offsets
            .iter()
            .map(|(t, p, o)| OffsetToCommit {
                topic: t.to_string(),
                partition: *p,
                offset: *o,
                leader_epoch: -1,
                metadata: None,
            })
            .collect(),
    };
    let res = b.groups.commit_txn_offsets(&b.replicas, &req).unwrap();
    assert!(res.iter().all(Result::is_ok), "{res:?}");
}

fn commit(b: &Broker, group: &str, topic: &str, offset: i64) {
    let o = [OffsetToCommit {
        topic: topic.into(),
        partition: 0,
        offset,
        leader_epoch: -1,
        metadata: None,
    }];
    let res = b
        .groups
        .run(&b.replicas, |c, now| {
            c.commit_offsets(group, -1, &MemberRef::default(), &o, now)
        })
        .unwrap();
    assert!(res.iter().all(Result::is_ok));
}

/// What WriteTxnMarkers does for an offsets partition: the marker, durable, then the
/// coordinator learns of it.
fn marker(b: &Broker, group: &str, pid: i64, commit: bool) {
    let index = partition_for(group, PARTITIONS);
    let p = b.replicas.get("__consumer_offsets", index).unwrap();
    let spec = MarkerSpec {
        producer_id: pid,
        producer_epoch: 0,
        coordinator_epoch: 0,
        outcome: if commit {
            TxnOutcome::Commit
        } else {
            TxnOutcome::Abort
        },
        timestamp_ms: 1,
    };
    let info = p.append_txn_marker(&spec, 1).unwrap();
    p.wait_durable(info.last_offset + 1).unwrap();
    b.groups.complete_txn(index, pid, commit);
}

fn offset(b: &Broker, group: &str, topic: &str) -> i64 {
    b.groups
        .read(|c| c.fetch_offsets(group, Some(&[(topic.into(), vec![0])])))
        .unwrap()[0]
        .2
        .offset
}

/// Uncompressed and zstd batches (`offsets.topic.compression.codec` 0 and 4).
#[test]
fn transactions_survive_a_restart_as_their_markers_say() {
    for codec in [0, 4] {
        restart_with_codec(codec);
    }
}

fn restart_with_codec(codec: i32) {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path(), codec);
    // "committed": a transaction committed; a plain commit of `late` after its record wins.
    commit(&b, "committed", "early", 1);
    txn(&b, "committed", 1, &[("early", 0, 10), ("late", 0, 10)]);
    commit(&b, "committed", "late", 5);
    marker(&b, "committed", 1, true);
    // "aborted": only the plain commit stays.
    commit(&b, "aborted", "a", 3);
    txn(&b, "aborted", 2, &[("a", 0, 30)]);
    marker(&b, "aborted", 2, false);
    // "open": no marker yet.
    commit(&b, "open", "a", 4);
    txn(&b, "open", 3, &[("a", 0, 40), ("b", 0, 41)]);
    let before: Vec<_> = ["committed", "aborted", "open"]
        .iter()
        .map(|g| b.groups.read(|c| c.fetch_offsets_stable(g, None)).unwrap())
        .collect();
    assert_eq!(
        (
            offset(&b, "committed", "early"),
            offset(&b, "committed", "late")
        ),
        (10, 5)
    );
    assert_eq!(offset(&b, "aborted", "a"), 3);
    assert_eq!(offset(&b, "open", "a"), 4);
    drop(b);

    let b = open(dir.path(), codec);
    let after: Vec<_> = ["committed", "aborted", "open"]
        .iter()
        .map(|g| b.groups.read(|c| c.fetch_offsets_stable(g, None)).unwrap())
        .collect();
    assert_eq!(after, before);
    assert_eq!(
        (
            offset(&b, "committed", "early"),
            offset(&b, "committed", "late")
        ),
        (10, 5)
    );
    assert_eq!(offset(&b, "aborted", "a"), 3);
    assert!(b.groups.read(|c| c.has_pending_txn_offset("open", "a", 0)));
    assert!(b.groups.read(|c| c.has_pending_txn_offset("open", "b", 0)));
    assert_eq!(b.groups.read(|c| c.open_txn_producers("open")), vec![3]);
    // The open transaction commits after the restart, and that survives one more.
    marker(&b, "open", 3, true);
    assert_eq!((offset(&b, "open", "a"), offset(&b, "open", "b")), (40, 41));
    drop(b);
    let b = open(dir.path(), codec);
    assert_eq!((offset(&b, "open", "a"), offset(&b, "open", "b")), (40, 41));
    assert!(b.groups.read(|c| c.open_txn_producers("open")).is_empty());
}
