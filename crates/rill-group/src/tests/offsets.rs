//! Committed offsets (commit rules, fetch, replay, retention) and group deletion.

use super::*;

#[test]
fn offsets_commit_rules_replay_and_expiry() {
    let mut h = Harness::new(0);
    let (m, gen) = h.stable_one();
    let o = |offset| {
        vec![OffsetToCommit {
            topic: "t".into(),
            partition: 0,
            offset,
            leader_epoch: 3,
            metadata: Some("md".into()),
        }]
    };
    let me = MemberRef {
        member_id: m.clone(),
        group_instance_id: None,
    };
    let (res, mut log) = h.c.commit_offsets(G, gen, &me, &o(10), h.now);
    assert_eq!(res, vec![Ok(())]);
    let (res, _) = h.c.commit_offsets(G, gen + 1, &me, &o(11), h.now);
    assert!(matches!(res[0], Err(GroupError::IllegalGeneration { .. })));
    let (res, _) =
        h.c.commit_offsets(G, gen, &MemberRef::default(), &o(11), h.now);
    assert!(
        matches!(res[0], Err(GroupError::UnknownMemberId { .. })),
        "non-member"
    );
    let (res, _) =
        h.c.commit_offsets(G, -1, &MemberRef::default(), &o(11), h.now);
    assert!(
        matches!(res[0], Err(GroupError::UnknownMemberId { .. })),
        "admin commit on an active group"
    );
    let (res, more) =
        h.c.commit_offsets("simple", -1, &MemberRef::default(), &o(7), h.now);
    assert_eq!(res, vec![Ok(())], "commit outside group management");
    let (res, _) =
        h.c.commit_offsets("nogroup", 4, &MemberRef::default(), &o(7), h.now);
    assert!(matches!(res[0], Err(GroupError::IllegalGeneration { .. })));
    log.extend(more);
    let fetched =
        h.c.fetch_offsets(G, Some(&[("t".into(), vec![0, 1])]))
            .unwrap();
    assert_eq!((fetched[0].2.offset, fetched[0].2.leader_epoch), (10, 3));
    assert_eq!(fetched[1].2.offset, -1);
    // Leave: the group becomes empty and that is stored too.
    let (_, out) = h.c.leave(G, &[me], h.now);
    log.extend(out);
    // A fresh coordinator replaying the records knows the same.
    let mut c2 = GroupCoordinator::new(cfg(0));
    for r in &log.records {
        c2.replay(&r.key, r.value.as_deref()).unwrap();
    }
    c2.finish_load(h.now);
    assert_eq!(
        c2.fetch_offsets(G, None).unwrap(),
        h.c.fetch_offsets(G, None).unwrap()
    );
    assert_eq!(c2.group(G).unwrap().state, GroupState::Empty);
    assert_eq!(c2.fetch_offsets("simple", None).unwrap()[0].2.offset, 7);
    // Retention: 60 s after the group became empty, offsets and group go.
    assert!(c2.expire_offsets(h.now + 59_000).records.is_empty());
    let out = c2.expire_offsets(h.now + 61_000);
    assert!(out.records.iter().all(|r| r.value.is_none()));
    assert!(c2.group(G).is_none());
    assert_eq!(c2.fetch_offsets(G, None).unwrap(), vec![]);
    for r in &out.records {
        h.c.replay(&r.key, r.value.as_deref()).unwrap();
    }
    assert!(h.c.group(G).is_none(), "tombstones replay as removals");
}

#[test]
fn delete_group_only_when_empty() {
    let mut h = Harness::new(0);
    let (m, _) = h.stable_one();
    assert_eq!(
        h.c.delete_group(G).unwrap_err(),
        GroupError::NonEmptyGroup(G.into())
    );
    assert_eq!(
        h.c.delete_group("none").unwrap_err(),
        GroupError::GroupIdNotFound("none".into())
    );
    let _ = h.c.leave(
        G,
        &[MemberRef {
            member_id: m,
            group_instance_id: None,
        }],
        h.now,
    );
    let out = h.c.delete_group(G).unwrap();
    assert!(out.records.iter().all(|r| r.value.is_none()));
    assert!(h.c.list().is_empty());
}
