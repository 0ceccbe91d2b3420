//! Membership: join/sync/heartbeat/leave, expiry, initial delay, static members, the
//! cooperative flow.

use super::*;

#[test]
fn single_member_join_sync_heartbeat() {
    let mut h = Harness::new(0);
    let (m, gen) = h.stable_one();
    assert_eq!(gen, 1);
    assert_eq!(h.state(), GroupState::Stable);
    assert_eq!(h.heartbeat(&m, gen), Ok(()));
    let d = h.c.describe(G).unwrap();
    assert_eq!(d.members.len(), 1);
    assert_eq!(d.protocol, "range");
}

#[test]
fn second_member_triggers_rebalance_and_leader_gets_all_members() {
    let mut h = Harness::new(0);
    let (m1, gen1) = h.stable_one();
    let (m2, j2, out) = h.new_member("b");
    assert!(!has_reply(&out, j2), "the join waits for the old member");
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    assert_eq!(h.heartbeat(&m1, gen1), Err(GroupError::RebalanceInProgress));
    let (j1, out) = h.join_req(req(&m1, "a"));
    let ok1 = join_ok(&out, j1);
    let ok2 = join_ok(&out, j2);
    assert_eq!(ok1.generation_id, 2);
    assert_eq!(ok1.leader, m1);
    assert_eq!(ok1.members.len(), 2);
    assert!(ok2.members.is_empty());
    let (s2, out) = h.sync(&m2, 2, &[]);
    assert!(!has_reply(&out, s2), "follower waits for the leader");
    let (s1, out) = h.sync(&m1, 2, &[(&m1, "P0"), (&m2, "P1")]);
    assert_eq!(
        sync_reply(&out, s1).unwrap().assignment,
        Bytes::from_static(b"P0")
    );
    assert_eq!(
        sync_reply(&out, s2).unwrap().assignment,
        Bytes::from_static(b"P1")
    );
    assert_eq!(out.records.len(), 1, "the assignment is stored");
    assert_eq!(h.state(), GroupState::Stable);
}

#[test]
fn bad_requests_get_kafkas_errors() {
    let mut h = Harness::new(0);
    let (m, gen) = h.stable_one();
    let long = "x".repeat(300);
    type Case = (&'static str, JoinRequest, fn(&GroupError) -> bool);
    let cases: Vec<Case> = vec![
        (
            "empty group id",
            JoinRequest {
                group_id: String::new(),
                ..req("", "a")
            },
            |e| matches!(e, GroupError::InvalidGroupId(_)),
        ),
        (
            "long group id",
            JoinRequest {
                group_id: long.clone(),
                ..req("", "a")
            },
            |e| matches!(e, GroupError::InvalidGroupId(_)),
        ),
        ("unknown member", req("nobody", "a"), |e| {
            matches!(e, GroupError::UnknownMemberId { .. })
        }),
        (
            "protocol type",
            JoinRequest {
                protocol_type: "connect".into(),
                ..req("", "a")
            },
            |e| matches!(e, GroupError::InconsistentGroupProtocol(_)),
        ),
        (
            "no common protocol",
            JoinRequest {
                protocols: vec![("rr".into(), Bytes::new())],
                ..req("", "a")
            },
            |e| matches!(e, GroupError::InconsistentGroupProtocol(_)),
        ),
        (
            "session timeout",
            JoinRequest {
                session_timeout_ms: 10,
                ..req("", "a")
            },
            |e| matches!(e, GroupError::InvalidSessionTimeout(10)),
        ),
    ];
    for (name, r, want) in cases {
        let (id, out) = h.join_req(r);
        let err = join_reply(&out, id).expect_err(name).error;
        assert!(want(&err), "{name}: got {err:?}");
    }
    assert!(matches!(
        h.heartbeat("nobody", gen),
        Err(GroupError::UnknownMemberId { .. })
    ));
    assert_eq!(
        h.heartbeat(&m, gen + 5),
        Err(GroupError::IllegalGeneration {
            sent: gen + 5,
            current: gen
        })
    );
    let (s, out) = h.sync(&m, gen - 1, &[]);
    assert!(matches!(
        sync_reply(&out, s),
        Err(GroupError::IllegalGeneration { .. })
    ));
    let (s, out) = h.sync("nobody", gen, &[]);
    assert!(matches!(
        sync_reply(&out, s),
        Err(GroupError::UnknownMemberId { .. })
    ));
    assert_eq!(h.state(), GroupState::Stable, "bad requests change nothing");
}

#[test]
fn session_expiry_removes_member_and_rebalances() {
    let mut h = Harness::new(0);
    let (m1, _) = h.stable_one();
    let (m2, j2, _) = h.new_member("b");
    let (j1, out) = h.join_req(req(&m1, "a"));
    join_ok(&out, j1);
    join_ok(&out, j2);
    let (s1, _) = h.sync(&m1, 2, &[(&m1, "A"), (&m2, "B")]);
    let (s2, out) = h.sync(&m2, 2, &[]);
    assert!(sync_reply(&out, s2).is_ok() && s1 > 0);
    // m1 keeps heartbeating, m2 goes silent.
    for _ in 0..4 {
        h.now += 3_000;
        let _ = h.heartbeat(&m1, 2);
        h.c.tick(h.now);
    }
    assert_eq!(
        h.state(),
        GroupState::PreparingRebalance,
        "m2's session expired"
    );
    assert!(!h.c.group(G).unwrap().members.contains_key(&m2));
    assert_eq!(h.heartbeat(&m1, 2), Err(GroupError::RebalanceInProgress));
    let (j1, out) = h.join_req(req(&m1, "a"));
    let ok = join_ok(&out, j1);
    assert_eq!((ok.generation_id, ok.members.len()), (3, 1));
}

#[test]
fn member_that_does_not_rejoin_is_dropped_at_the_rebalance_timeout() {
    let mut h = Harness::new(0);
    let (m1, _) = h.stable_one();
    let (_m2, j2, out) = h.new_member("b");
    assert!(!has_reply(&out, j2));
    h.now += 5_000;
    let _ = h.heartbeat(&m1, 1); // keeps its session but never rejoins
    h.now += 16_000; // past the 20 s rebalance timeout
    let out = h.c.tick(h.now);
    let ok = join_ok(&out, j2);
    assert_eq!(
        (ok.generation_id, ok.members.len()),
        (2, 1),
        "only the new member remains and leads"
    );
    assert!(!h.c.group(G).unwrap().members.contains_key(&m1));
}

#[test]
fn leave_batched_and_unknown_members() {
    let mut h = Harness::new(0);
    let (m1, _) = h.stable_one();
    let refs = [
        MemberRef {
            member_id: m1.clone(),
            group_instance_id: None,
        },
        MemberRef {
            member_id: "ghost".into(),
            group_instance_id: None,
        },
    ];
    let (res, out) = h.c.leave(G, &refs, h.now);
    let res = res.unwrap();
    assert_eq!(res[0], Ok(()));
    assert!(matches!(res[1], Err(GroupError::UnknownMemberId { .. })));
    assert_eq!(h.state(), GroupState::Empty);
    assert_eq!(out.records.len(), 1, "the empty group is stored");
    let (res, _) = h.c.leave("other", &refs, h.now);
    assert!(res
        .unwrap()
        .iter()
        .all(|r| matches!(r, Err(GroupError::UnknownMemberId { .. }))));
}

#[test]
fn initial_delay_waits_for_more_members() {
    let mut h = Harness::new(3_000);
    let (_m1, j1, out) = h.new_member("a");
    assert!(!has_reply(&out, j1));
    h.now += 1_000;
    let (_m2, j2, out) = h.new_member("b");
    assert!(!has_reply(&out, j2));
    h.now += 2_500;
    assert!(
        h.c.tick(h.now).replies.is_empty(),
        "the second member extended the delay"
    );
    h.now += 600;
    let out = h.c.tick(h.now);
    assert_eq!(join_ok(&out, j1).generation_id, 1);
    assert_eq!(join_ok(&out, j2).generation_id, 1);
}

#[test]
fn static_member_rejoin_takes_over_without_rebalance_and_fences_old_id() {
    let mut h = Harness::new(0);
    let static_req = |member: &str| JoinRequest {
        group_instance_id: Some("inst-1".into()),
        ..req(member, "a")
    };
    let (j, out) = h.join_req(static_req(""));
    let ok = join_ok(&out, j); // static members need no MEMBER_ID_REQUIRED round
    let old = ok.member_id.clone();
    assert!(old.starts_with("inst-1-"));
    let (s, out) = h.sync(&old, 1, &[(&old, "A")]);
    sync_reply(&out, s).unwrap();
    // Restarted process: same instance id, no member id.
    let (j, out) = h.join_req(static_req(""));
    let ok = join_ok(&out, j);
    assert_ne!(ok.member_id, old);
    assert_eq!(ok.generation_id, 1, "no rebalance");
    assert_eq!(h.state(), GroupState::Stable);
    let fenced = h.c.heartbeat(
        G,
        1,
        &MemberRef {
            member_id: old.clone(),
            group_instance_id: Some("inst-1".into()),
        },
        h.now,
    );
    assert_eq!(
        fenced,
        Err(GroupError::FencedInstanceId {
            instance_id: "inst-1".into()
        })
    );
    let (s, out) = h.sync(&ok.member_id, 1, &[]);
    assert_eq!(
        sync_reply(&out, s).unwrap().assignment,
        Bytes::from_static(b"A"),
        "keeps its assignment"
    );
}

#[test]
fn cooperative_flow_rebalances_on_changed_subscription_only() {
    let mut h = Harness::new(0);
    let (m1, _) = h.stable_one();
    // A non-leader is needed: add m2 and settle generation 2.
    let (m2, j2, _) = h.new_member("b");
    let (j1, out) = h.join_req(req(&m1, "a"));
    join_ok(&out, j1);
    join_ok(&out, j2);
    h.sync(&m1, 2, &[(&m1, "A"), (&m2, "B")]);
    h.sync(&m2, 2, &[]);
    // Same subscription from a follower: answered at once, same generation.
    let (j, out) = h.join_req(req(&m2, "b"));
    assert_eq!(join_ok(&out, j).generation_id, 2);
    assert_eq!(h.state(), GroupState::Stable);
    // Changed subscription (owned partitions revoked): a new rebalance.
    let (j, out) = h.join_req(req(&m2, "b-revoked"));
    assert!(!has_reply(&out, j));
    assert_eq!(h.state(), GroupState::PreparingRebalance);
    let (j1, out) = h.join_req(req(&m1, "a"));
    assert_eq!(join_ok(&out, j1).generation_id, 3);
    assert_eq!(join_ok(&out, j).generation_id, 3);
}

#[test]
fn ten_members_one_rebalance() {
    let mut h = Harness::new(0);
    let (leader, _) = h.stable_one();
    let mut parked = Vec::new();
    for i in 0..9 {
        let (m, j, _) = h.new_member(&format!("m{i}"));
        parked.push((m, j));
    }
    let (j, out) = h.join_req(req(&leader, "a"));
    let ok = join_ok(&out, j);
    assert_eq!(ok.members.len(), 10);
    for (_, j) in &parked {
        assert_eq!(join_ok(&out, *j).generation_id, ok.generation_id);
    }
}
