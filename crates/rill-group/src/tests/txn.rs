//! Transactional offset commits (KIP-98, KIP-447) as Kafka 4's OffsetMetadataManager keeps
//! them: pending until the marker, the log-order rule against plain commits, the request
//! checks, removal and expiry with open transactions. The seeded model test is in
//! `txn_model`.

use crate::coordinator::RecordOrigin;
use crate::records::CoordinatorRecord;
use crate::txn_offsets::{TxnOffsetCommit, TxnOffsetWrite};

use super::*;

/// What a coordinator wrote, in log order: plain batches, transactional batches, markers.
#[derive(Debug, Clone)]
pub(super) enum Logged {
    Plain(CoordinatorRecord),
    Txn(i64, CoordinatorRecord),
    Marker(i32, i64, bool),
}

/// A coordinator and the log it wrote, applied as the shell applies it.
pub(super) struct Node {
    pub(super) c: GroupCoordinator,
    pub(super) log: Vec<Logged>,
    pub(super) now: i64,
}

impl Node {
    pub(super) fn new() -> Self {
        Node {
            c: GroupCoordinator::new(cfg(0)),
            log: Vec::new(),
            now: 1_000,
        }
    }

    pub(super) fn plain(&mut self, out: Output) {
        self.log.extend(out.records.into_iter().map(Logged::Plain));
    }

    pub(super) fn commit(&mut self, group: &str, topic: &str, offset: i64) {
        let (res, out) = self.c.commit_offsets(
            group,
            -1,
            &MemberRef::default(),
            &[to_commit(topic, 0, offset)],
            self.now,
        );
        assert_eq!(res, vec![Ok(())]);
        self.plain(out);
    }

    /// A TxnOffsetCommit whose batch the log accepts.
    pub(super) fn txn(&mut self, group: &str, producer_id: i64, topic: &str, offset: i64) {
        let req = txn_req(group, producer_id, vec![to_commit(topic, 0, offset)]);
        let (res, write) = self.c.txn_commit_offsets(&req, self.now);
        assert_eq!(res, vec![Ok(())]);
        let write = write.expect("a batch to write");
        self.append_txn(&write);
    }

    fn append_txn(&mut self, write: &TxnOffsetWrite) {
        self.c.apply_txn_offsets(write);
        for r in &write.records {
            self.log.push(Logged::Txn(write.producer_id, r.clone()));
        }
    }

    pub(super) fn marker(&mut self, group: &str, producer_id: i64, commit: bool) {
        let partition = self.c.partition_for(group);
        self.c.complete_txn(partition, producer_id, commit);
        self.log
            .push(Logged::Marker(partition, producer_id, commit));
    }

    pub(super) fn offset(&self, group: &str, topic: &str) -> i64 {
        self.c
            .fetch_offsets(group, Some(&[(topic.into(), vec![0])]))
            .unwrap()[0]
            .2
            .offset
    }

    /// A fresh coordinator that replayed the log.
    pub(super) fn replayed(&self) -> GroupCoordinator {
        let mut c = GroupCoordinator::new(cfg(0));
        for l in &self.log {
            match l {
                Logged::Plain(r) => c.replay(&r.key, r.value.as_deref()).unwrap(),
                Logged::Txn(pid, r) => c
                    .replay_from(
                        RecordOrigin::Transactional { producer_id: *pid },
                        &r.key,
                        r.value.as_deref(),
                    )
                    .unwrap(),
                Logged::Marker(p, pid, commit) => c.complete_txn(*p, *pid, *commit),
            }
        }
        c.finish_load(self.now);
        c
    }
}

fn to_commit(topic: &str, partition: i32, offset: i64) -> OffsetToCommit {
    OffsetToCommit {
        topic: topic.into(),
        partition,
        offset,
        leader_epoch: 1,
        metadata: Some(format!("m{offset}")),
    }
}

fn txn_req(group: &str, producer_id: i64, offsets: Vec<OffsetToCommit>) -> TxnOffsetCommit {
    TxnOffsetCommit {
        transactional_id: format!("tx-{producer_id}"),
        group_id: group.into(),
        producer_id,
        producer_epoch: 0,
        generation_id: -1,
        member: MemberRef::default(),
        offsets,
    }
}

#[test]
fn pending_until_commit_then_visible_and_dropped_on_abort() {
    let mut n = Node::new();
    n.commit(G, "t", 5);
    n.txn(G, 7, "t", 10);
    assert_eq!(n.offset(G, "t"), 5, "pending offsets are not visible");
    assert!(n.c.has_pending_txn_offset(G, "t", 0));
    assert_eq!(n.c.open_txn_producers(G), vec![7]);
    let stable =
        n.c.fetch_offsets_stable(G, Some(&[("t".into(), vec![0, 1])]))
            .unwrap();
    assert!(matches!(
        stable[0].2,
        Err(GroupError::UnstableOffsetCommit { partition: 0, .. })
    ));
    assert_eq!(stable[1].2.as_ref().map(|c| c.offset), Ok(-1));
    let all = n.c.fetch_offsets_stable(G, None).unwrap();
    assert_eq!(all.len(), 1, "asked for all: committed partitions only");
    assert!(all[0].2.is_err());
    // A marker of another producer, or in another partition, changes nothing.
    n.marker(G, 8, true);
    let other = (n.c.partition_for(G) + 1) % 50;
    n.c.complete_txn(other, 7, true);
    assert_eq!(n.offset(G, "t"), 5);
    n.marker(G, 7, true);
    assert_eq!(n.offset(G, "t"), 10);
    assert!(!n.c.has_pending_txn_offset(G, "t", 0));
    assert!(n.c.open_txn_producers(G).is_empty());
    let c = &n.c.fetch_offsets_stable(G, None).unwrap()[0].2;
    assert_eq!(c.as_ref().map(|c| c.metadata.as_str()), Ok("m10"));
    // Abort: dropped; a repeated marker is harmless.
    n.txn(G, 7, "t", 20);
    n.marker(G, 7, false);
    n.marker(G, 7, false);
    assert_eq!(n.offset(G, "t"), 10);
    assert!(!n.c.has_pending_txn_offset(G, "t", 0));
    // A group only transactions wrote to exists once the batch is applied.
    n.txn("fresh", 9, "t", 3);
    assert_eq!(n.offset("fresh", "t"), -1);
    n.marker("fresh", 9, true);
    assert_eq!(n.offset("fresh", "t"), 3);
}

/// Kafka's rule: a committed transaction's offset replaces the committed one only if its
/// record is later in the log.
#[test]
fn later_record_wins_between_plain_and_transactional_commits() {
    let mut n = Node::new();
    // Plain commit after the transaction's record: the plain one stays.
    n.txn(G, 1, "a", 100);
    n.commit(G, "a", 50);
    n.marker(G, 1, true);
    assert_eq!(n.offset(G, "a"), 50);
    // Plain commit before: the transaction's replaces it.
    n.commit(G, "b", 50);
    n.txn(G, 1, "b", 100);
    n.marker(G, 1, true);
    assert_eq!(n.offset(G, "b"), 100);
    // Two producers: the later record wins whatever the order of the markers.
    n.txn(G, 2, "c", 20);
    n.txn(G, 3, "c", 30);
    n.marker(G, 3, true);
    n.marker(G, 2, true);
    assert_eq!(n.offset(G, "c"), 30);
    n.txn(G, 2, "d", 20);
    n.txn(G, 3, "d", 30);
    n.marker(G, 2, true);
    assert_eq!(n.offset(G, "d"), 20);
    n.marker(G, 3, true);
    assert_eq!(n.offset(G, "d"), 30);
    // The same producer writing a key twice: its last record counts.
    n.txn(G, 4, "e", 1);
    n.commit(G, "e", 5);
    n.txn(G, 4, "e", 9);
    n.marker(G, 4, true);
    assert_eq!(n.offset(G, "e"), 9);
    let r = n.replayed();
    assert_eq!(
        r.fetch_offsets(G, None).unwrap(),
        n.c.fetch_offsets(G, None).unwrap()
    );
}

#[test]
fn request_checks_follow_validate_offset_commit() {
    let mut h = Harness::new(0);
    let (m, gen) = h.stable_one();
    let offsets = vec![to_commit("t", 0, 1)];
    let req = |generation_id: i32, member_id: &str, instance: Option<&str>| TxnOffsetCommit {
        generation_id,
        member: MemberRef {
            member_id: member_id.into(),
            group_instance_id: instance.map(str::to_string),
        },
        ..txn_req(G, 1, offsets.clone())
    };
    let first_err = |c: &GroupCoordinator, r: &TxnOffsetCommit| {
        let (res, write) = c.txn_commit_offsets(r, 0);
        assert!(res.iter().all(Result::is_err) == write.is_none());
        res[0].clone()
    };
    // v0-v2 send no member fields: accepted on an active group, unlike OffsetCommit.
    assert_eq!(first_err(&h.c, &req(-1, "", None)), Ok(()));
    assert_eq!(first_err(&h.c, &req(gen, &m, None)), Ok(()));
    assert!(matches!(
        first_err(&h.c, &req(gen + 1, &m, None)),
        Err(GroupError::IllegalGeneration { .. })
    ));
    assert!(matches!(
        first_err(&h.c, &req(gen, "nobody", None)),
        Err(GroupError::UnknownMemberId { .. })
    ));
    assert!(matches!(
        first_err(&h.c, &req(-1, "nobody", None)),
        Err(GroupError::UnknownMemberId { .. })
    ));
    assert!(matches!(
        first_err(&h.c, &req(4, "", None)),
        Err(GroupError::UnknownMemberId { .. })
    ));
    // Unknown group: a simple group with generation -1, else ILLEGAL_GENERATION.
    let unknown = |generation_id| TxnOffsetCommit {
        generation_id,
        ..txn_req("other", 1, offsets.clone())
    };
    assert_eq!(first_err(&h.c, &unknown(-1)), Ok(()));
    assert!(matches!(
        first_err(&h.c, &unknown(0)),
        Err(GroupError::IllegalGeneration { current: -1, .. })
    ));
    assert!(matches!(
        first_err(&h.c, &txn_req("", 1, offsets.clone())),
        Err(GroupError::InvalidGroupId(_))
    ));
    // Per partition: metadata too large; the rest is written.
    let mut big = to_commit("t", 1, 1);
    big.metadata = Some("x".repeat(5000));
    let (res, write) =
        h.c.txn_commit_offsets(&txn_req(G, 1, vec![big, to_commit("t", 2, 3)]), 0);
    assert!(matches!(
        res[0],
        Err(GroupError::OffsetMetadataTooLarge(5000))
    ));
    assert_eq!(res[1], Ok(()));
    let write = write.unwrap();
    assert_eq!(
        (write.records.len(), write.producer_id, write.partition),
        (1, 1, h.c.partition_for(G))
    );
    assert!(write.is_transactional());
    // Not served here.
    h.c.set_owned(Some(std::collections::HashSet::new()));
    assert!(matches!(
        first_err(&h.c, &req(-1, "", None)),
        Err(GroupError::NotCoordinator(_))
    ));
}

/// Unlike OffsetCommit, no REBALANCE_IN_PROGRESS: the group state is not enforced.
#[test]
fn a_rebalancing_group_takes_transactional_commits() {
    let mut h = Harness::new(0);
    let (m, _) = h.stable_one();
    let (_, _, _) = h.new_member("b");
    let (id, out) = h.join_req(req(&m, "a"));
    let generation = join_ok(&out, id).generation_id;
    assert_eq!(h.state(), GroupState::CompletingRebalance);
    let me = MemberRef {
        member_id: m,
        group_instance_id: None,
    };
    let offsets = vec![to_commit("t", 0, 1)];
    let (res, _) = h.c.commit_offsets(G, generation, &me, &offsets, h.now);
    assert_eq!(res, vec![Err(GroupError::RebalanceInProgress)]);
    let req = TxnOffsetCommit {
        generation_id: generation,
        member: me,
        ..txn_req(G, 1, offsets)
    };
    assert_eq!(h.c.txn_commit_offsets(&req, 0).0, vec![Ok(())]);
}

#[test]
fn removal_and_expiry_keep_transactions_consistent() {
    let mut n = Node::new();
    // A group with only pending offsets is neither expired nor removed.
    n.txn("only-txn", 1, "t", 4);
    n.now += 10 * 60_000;
    let out = n.c.expire_offsets(n.now);
    assert!(out.records.is_empty(), "{:?}", out.records);
    assert!(n.c.group("only-txn").is_some());
    // An expired committed offset with a pending one on the same key stays.
    n.commit("mixed", "t", 1);
    n.commit("mixed", "u", 1);
    n.txn("mixed", 2, "t", 9);
    n.now += 10 * 60_000;
    let out = n.c.expire_offsets(n.now);
    assert_eq!(out.records.len(), 1, "only 'u' expires");
    n.plain(out);
    assert_eq!(n.offset("mixed", "t"), 1);
    n.marker("mixed", 2, false);
    n.now += 10 * 60_000;
    let out = n.c.expire_offsets(n.now);
    assert_eq!(out.records.len(), 2, "offset and group tombstones");
    n.plain(out);
    assert!(n.c.group("mixed").is_none());
    // OffsetDelete of a key with only a pending offset writes a tombstone and drops it.
    let (res, out) = n.c.delete_offsets("only-txn", &[("t".into(), 0)]).unwrap();
    assert_eq!(res, vec![Ok(())]);
    assert_eq!(out.records.len(), 1);
    n.plain(out);
    assert!(!n.c.has_pending_txn_offset("only-txn", "t", 0));
    n.marker("only-txn", 1, true);
    assert_eq!(n.offset("only-txn", "t"), -1, "nothing left to commit");
    // DeleteGroups tombstones pending-only keys too.
    n.commit("doomed", "a", 1);
    n.txn("doomed", 3, "a", 2);
    n.txn("doomed", 3, "b", 2);
    let out = n.c.delete_group("doomed").unwrap();
    assert_eq!(out.records.len(), 3, "a, b and the group");
    n.plain(out);
    n.marker("doomed", 3, true);
    assert!(n.c.group("doomed").is_none());
    // Deleted topics: pending offsets go with committed ones.
    n.txn("topics", 4, "gone", 2);
    n.commit("topics", "kept", 2);
    assert!(n.c.committed_topics().contains("gone"));
    let topics = ["gone".to_string()].into_iter().collect();
    let out = n.c.delete_topic_offsets(&topics);
    assert_eq!(out.records.len(), 1);
    n.plain(out);
    n.marker("topics", 4, true);
    assert_eq!(n.offset("topics", "gone"), -1);
    let r = n.replayed();
    for g in ["only-txn", "mixed", "doomed", "topics"] {
        assert_eq!(
            r.fetch_offsets(g, None).unwrap(),
            n.c.fetch_offsets(g, None).unwrap(),
            "{g}"
        );
        assert_eq!(r.group(g).is_some(), n.c.group(g).is_some(), "{g}");
    }
}

#[test]
fn unloading_a_partition_forgets_its_transactions() {
    let mut n = Node::new();
    n.txn(G, 1, "t", 4);
    let p = n.c.partition_for(G);
    n.c.unload_partition(p);
    assert!(n.c.txn_groups.is_empty());
    // Reloading from the log brings the pending offsets back.
    let mut r = n.replayed();
    assert!(r.has_pending_txn_offset(G, "t", 0));
    r.complete_txn(p, 1, true);
    assert_eq!(
        r.fetch_offsets(G, None).unwrap()[0].2.offset,
        4,
        "committed after reload"
    );
}
