//! State machine tests: the harness drives the coordinator as the broker does; the
//! submodules check the answers Kafka's broker would give.

mod membership;
mod offsets;
mod retention;
mod txn;
mod txn_model;

use bytes::Bytes;

use crate::classic::GroupState;
use crate::coordinator::{GroupConfig, GroupCoordinator, Output, Reply};
use crate::error::GroupError;
use crate::join_types::{JoinOk, JoinRequest, JoinResult, MemberRef, SyncRequest, SyncResult};
use crate::offsets::OffsetToCommit;

pub(super) const G: &str = "g";

pub(super) struct Harness {
    pub(super) c: GroupCoordinator,
    pub(super) next_id: u64,
    pub(super) now: i64,
}

pub(super) fn cfg(delay: i64) -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: delay,
        offsets_retention_ms: 60_000,
        ..GroupConfig::default()
    }
}

pub(super) fn req(member_id: &str, meta: &str) -> JoinRequest {
    JoinRequest {
        group_id: G.into(),
        member_id: member_id.into(),
        client_id: "client".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 20_000,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), Bytes::copy_from_slice(meta.as_bytes()))],
        require_known_member_id: true,
        member_id_suffix: format!("s{}", meta.len()),
        ..JoinRequest::default()
    }
}

impl Harness {
    pub(super) fn new(delay: i64) -> Self {
        Harness {
            c: GroupCoordinator::new(cfg(delay)),
            next_id: 0,
            now: 1_000,
        }
    }
    pub(super) fn join_req(&mut self, mut r: JoinRequest) -> (u64, Output) {
        self.next_id += 1;
        r.member_id_suffix = format!("u{}", self.next_id);
        let id = self.next_id;
        (id, self.c.join(id, r, self.now))
    }
    /// A new member through MEMBER_ID_REQUIRED; returns its id and the parked request id.
    pub(super) fn new_member(&mut self, meta: &str) -> (String, u64, Output) {
        let (id, out) = self.join_req(req("", meta));
        let member_id = match join_reply(&out, id) {
            Err(f) => match f.error {
                GroupError::MemberIdRequired { member_id } => member_id,
                e => panic!("expected MEMBER_ID_REQUIRED, got {e:?}"),
            },
            Ok(ok) => panic!("expected MEMBER_ID_REQUIRED, got {ok:?}"),
        };
        let (id, out) = self.join_req(req(&member_id, meta));
        (member_id, id, out)
    }
    fn sync(
        &mut self,
        member: &str,
        generation: i32,
        assignments: &[(&str, &str)],
    ) -> (u64, Output) {
        self.next_id += 1;
        let r = SyncRequest {
            group_id: G.into(),
            generation_id: generation,
            member_id: member.into(),
            assignments: assignments
                .iter()
                .map(|(m, a)| (m.to_string(), Bytes::copy_from_slice(a.as_bytes())))
                .collect(),
            ..SyncRequest::default()
        };
        (self.next_id, self.c.sync(self.next_id, r, self.now))
    }
    pub(super) fn heartbeat(&mut self, member: &str, generation: i32) -> Result<(), GroupError> {
        self.c.heartbeat(
            G,
            generation,
            &MemberRef {
                member_id: member.into(),
                group_instance_id: None,
            },
            self.now,
        )
    }
    pub(super) fn state(&self) -> GroupState {
        self.c.group(G).map_or(GroupState::Dead, |g| g.state)
    }
    /// One member joined and synced: (member id, generation).
    pub(super) fn stable_one(&mut self) -> (String, i32) {
        let (m, id, out) = self.new_member("a");
        let ok = join_ok(&out, id);
        let (sid, out) = self.sync(&m, ok.generation_id, &[(&m, "A")]);
        assert_eq!(
            sync_reply(&out, sid).map(|s| s.assignment),
            Ok(Bytes::from_static(b"A"))
        );
        (m, ok.generation_id)
    }
}

pub(super) fn join_reply(out: &Output, id: u64) -> JoinResult {
    out.replies
        .iter()
        .find_map(|r| match r {
            Reply::Join(rid, res) if *rid == id => Some(res.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no join reply for {id} in {:?}", out.replies))
}

pub(super) fn join_ok(out: &Output, id: u64) -> JoinOk {
    join_reply(out, id).unwrap_or_else(|f| panic!("join failed: {f:?}"))
}

pub(super) fn sync_reply(out: &Output, id: u64) -> SyncResult {
    out.replies
        .iter()
        .find_map(|r| match r {
            Reply::Sync(rid, res) if *rid == id => Some(res.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no sync reply for {id} in {:?}", out.replies))
}

pub(super) fn has_reply(out: &Output, id: u64) -> bool {
    out.replies
        .iter()
        .any(|r| matches!(r, Reply::Join(rid, _) | Reply::Sync(rid, _) if *rid == id))
}
