//! JoinGroup, as Kafka's GroupCoordinator handles it: new members (MEMBER_ID_REQUIRED,
//! KIP-394), known members rejoining (answered at once when nothing changed, otherwise a
//! rebalance), static members replacing their old id and fencing it (KIP-345). The
//! rebalance itself is in [`super::rebalance`].

use super::rebalance::{join_answer, maybe_complete_join, prepare_rebalance};
use super::{Group, GroupState, Member, RequestId};
use crate::coordinator::{group_record, GroupConfig, GroupCoordinator, Output, Reply};
use crate::error::GroupError;
use crate::join_types::{JoinFailure, JoinRequest};

/// What the join helpers share: settings, the time, and the output being built.
pub(crate) struct Ctx<'a> {
    /// Settings.
    pub config: &'a GroupConfig,
    /// The time.
    pub now_ms: i64,
    /// Records and replies so far.
    pub out: &'a mut Output,
}

impl Ctx<'_> {
    fn join_error(&mut self, request_id: RequestId, error: GroupError, member_id: &str) {
        let failure = JoinFailure {
            error,
            member_id: member_id.to_string(),
        };
        self.out.replies.push(Reply::Join(request_id, Err(failure)));
    }
}

impl GroupCoordinator {
    /// JoinGroup. The answer comes in `Output::replies` under `request_id`, now or from a
    /// later call (when the join phase completes).
    pub fn join(&mut self, request_id: RequestId, req: JoinRequest, now_ms: i64) -> Output {
        let mut out = Output::default();
        let config = self.config.clone();
        let mut ctx = Ctx {
            config: &config,
            now_ms,
            out: &mut out,
        };
        if let Err(e) = self.check_join(&req) {
            ctx.join_error(request_id, e, &req.member_id);
            return out;
        }
        let live = self.group(&req.group_id).is_some();
        if !live {
            if !req.member_id.is_empty() {
                let e = GroupError::UnknownMemberId {
                    group_id: req.group_id.clone(),
                    member_id: req.member_id.clone(),
                };
                ctx.join_error(request_id, e, &req.member_id);
                return out;
            }
            self.groups
                .insert(req.group_id.clone(), Group::new(&req.group_id, now_ms));
        }
        let Some(g) = self.groups.get_mut(&req.group_id) else {
            return out;
        };
        if !g.supports_protocols(&req.protocol_type, &req.protocols) {
            let e = GroupError::InconsistentGroupProtocol(format!(
                "protocol type '{}' or protocols do not match the group's",
                req.protocol_type
            ));
            ctx.join_error(request_id, e, &req.member_id);
        } else if req.member_id.is_empty() {
            join_new_member(g, request_id, req, &mut ctx);
        } else {
            join_known_member(g, request_id, req, &mut ctx);
        }
        out
    }

    fn check_join(&self, req: &JoinRequest) -> Result<(), GroupError> {
        self.check_group(&req.group_id)?;
        let c = &self.config;
        if req.session_timeout_ms < c.min_session_timeout_ms
            || req.session_timeout_ms > c.max_session_timeout_ms
        {
            return Err(GroupError::InvalidSessionTimeout(req.session_timeout_ms));
        }
        if req.protocol_type.is_empty() || req.protocols.is_empty() {
            return Err(GroupError::InconsistentGroupProtocol(
                "empty protocol type or protocols".into(),
            ));
        }
        Ok(())
    }
}

fn join_new_member(g: &mut Group, request_id: RequestId, req: JoinRequest, ctx: &mut Ctx<'_>) {
    let prefix = req.group_instance_id.as_deref().unwrap_or(&req.client_id);
    let new_id = format!("{prefix}-{}", req.member_id_suffix);
    if let Some(instance) = req.group_instance_id.clone() {
        if let Some(old_id) = g.static_members.get(&instance).cloned() {
            replace_static_member(g, request_id, &old_id, new_id, req, ctx);
            return;
        }
    }
    if g.members.len() >= ctx.config.max_group_size {
        ctx.join_error(
            request_id,
            GroupError::GroupMaxSizeReached(g.group_id.clone()),
            "",
        );
        return;
    }
    if req.group_instance_id.is_none() && req.require_known_member_id {
        let deadline = ctx.now_ms + i64::from(req.session_timeout_ms);
        g.pending_members.insert(new_id.clone(), deadline);
        ctx.join_error(
            request_id,
            GroupError::MemberIdRequired {
                member_id: new_id.clone(),
            },
            &new_id,
        );
        return;
    }
    add_member_and_rebalance(g, request_id, new_id, req, ctx);
}

fn join_known_member(g: &mut Group, request_id: RequestId, req: JoinRequest, ctx: &mut Ctx<'_>) {
    let member_id = req.member_id.clone();
    if g.pending_members.contains_key(&member_id) {
        add_member_and_rebalance(g, request_id, member_id, req, ctx);
        return;
    }
    if let Err(e) = check_member(g, &member_id, req.group_instance_id.as_deref()) {
        ctx.join_error(request_id, e, &member_id);
        return;
    }
    let is_leader = g.leader.as_deref() == Some(member_id.as_str());
    let Some(member) = g.members.get_mut(&member_id) else {
        return;
    };
    let same_protocols = member.protocols == req.protocols;
    match g.state {
        GroupState::PreparingRebalance => {
            update_member(member, request_id, req, ctx);
            maybe_complete_join(g, ctx);
        }
        GroupState::CompletingRebalance if same_protocols => {
            // The member lost its JoinGroup answer: send it again.
            member.session_deadline_ms = ctx.now_ms + i64::from(member.session_timeout_ms);
            let ok = join_answer(g, &member_id, false);
            ctx.out.replies.push(Reply::Join(request_id, Ok(ok)));
        }
        GroupState::Stable if same_protocols && !is_leader => {
            member.session_deadline_ms = ctx.now_ms + i64::from(member.session_timeout_ms);
            let ok = join_answer(g, &member_id, false);
            ctx.out.replies.push(Reply::Join(request_id, Ok(ok)));
        }
        GroupState::CompletingRebalance | GroupState::Stable => {
            update_member(member, request_id, req, ctx);
            prepare_rebalance(g, ctx);
        }
        GroupState::Empty | GroupState::Dead => {
            let e = GroupError::UnknownMemberId {
                group_id: g.group_id.clone(),
                member_id: member_id.clone(),
            };
            ctx.join_error(request_id, e, &member_id);
        }
    }
}

/// Checks that `member_id` is a member and, for static members, that it holds the instance id.
pub(crate) fn check_member(
    g: &Group,
    member_id: &str,
    instance: Option<&str>,
) -> Result<(), GroupError> {
    if let Some(instance) = instance {
        match g.static_members.get(instance) {
            Some(id) if id != member_id => {
                return Err(GroupError::FencedInstanceId {
                    instance_id: instance.to_string(),
                })
            }
            _ => {}
        }
    }
    if !g.members.contains_key(member_id) {
        return Err(GroupError::UnknownMemberId {
            group_id: g.group_id.clone(),
            member_id: member_id.to_string(),
        });
    }
    Ok(())
}

fn update_member(member: &mut Member, request_id: RequestId, req: JoinRequest, ctx: &mut Ctx<'_>) {
    if let Some(old) = member.pending_join.replace(request_id) {
        ctx.join_error(old, GroupError::RebalanceInProgress, &member.member_id);
    }
    member.protocols = req.protocols;
    member.rebalance_timeout_ms = req.rebalance_timeout_ms;
    member.session_timeout_ms = req.session_timeout_ms;
    member.client_id = req.client_id;
    member.client_host = req.client_host;
}

fn add_member_and_rebalance(
    g: &mut Group,
    request_id: RequestId,
    member_id: String,
    req: JoinRequest,
    ctx: &mut Ctx<'_>,
) {
    g.pending_members.remove(&member_id);
    if g.members.is_empty() {
        g.protocol_type = Some(req.protocol_type.clone());
    }
    if let Some(instance) = &req.group_instance_id {
        g.static_members.insert(instance.clone(), member_id.clone());
    }
    if g.leader.is_none() {
        g.leader = Some(member_id.clone());
    }
    let member = Member {
        member_id: member_id.clone(),
        group_instance_id: req.group_instance_id,
        client_id: req.client_id,
        client_host: req.client_host,
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        session_timeout_ms: req.session_timeout_ms,
        protocols: req.protocols,
        assignment: Default::default(),
        pending_join: Some(request_id),
        pending_sync: None,
        session_deadline_ms: ctx.now_ms + i64::from(req.session_timeout_ms),
    };
    g.members.insert(member_id, member);
    if g.state == GroupState::PreparingRebalance {
        if let Some(cap) = g.initial_delay_cap_ms {
            // A new member during the initial delay: wait one more delay, up to the cap.
            g.rebalance_deadline_ms =
                Some((ctx.now_ms + ctx.config.initial_rebalance_delay_ms).min(cap));
        }
        maybe_complete_join(g, ctx);
    } else {
        prepare_rebalance(g, ctx);
    }
}

/// KIP-345: a static member rejoining with an unknown member id takes over its instance id;
/// the old member id is fenced.
fn replace_static_member(
    g: &mut Group,
    request_id: RequestId,
    old_id: &str,
    new_id: String,
    req: JoinRequest,
    ctx: &mut Ctx<'_>,
) {
    let Some(mut member) = g.members.remove(old_id) else {
        g.static_members
            .remove(req.group_instance_id.as_deref().unwrap_or_default());
        add_member_and_rebalance(g, request_id, new_id, req, ctx);
        return;
    };
    let fenced = || GroupError::FencedInstanceId {
        instance_id: req.group_instance_id.clone().unwrap_or_default(),
    };
    if let Some(old) = member.pending_join.take() {
        ctx.join_error(old, fenced(), old_id);
    }
    if let Some(old) = member.pending_sync.take() {
        ctx.out.replies.push(Reply::Sync(old, Err(fenced())));
    }
    let selected = g.protocol_name.clone().unwrap_or_default();
    let unchanged = member.metadata(&selected)
        == req
            .protocols
            .iter()
            .find(|(n, _)| *n == selected)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
        && req.protocols.iter().any(|(n, _)| *n == selected);
    member.member_id = new_id.clone();
    member.session_deadline_ms = ctx.now_ms + i64::from(req.session_timeout_ms);
    if let Some(instance) = &req.group_instance_id {
        g.static_members.insert(instance.clone(), new_id.clone());
    }
    if g.leader.as_deref() == Some(old_id) {
        g.leader = Some(new_id.clone());
    }
    let is_leader = g.leader.as_deref() == Some(new_id.as_str());
    g.members.insert(new_id.clone(), member);
    match g.state {
        GroupState::Stable if unchanged => {
            ctx.out
                .records
                .push(group_record(g, ctx.config.offsets_partitions));
            let ok = join_answer(g, &new_id, is_leader);
            ctx.out.replies.push(Reply::Join(request_id, Ok(ok)));
        }
        GroupState::PreparingRebalance => {
            if let Some(m) = g.members.get_mut(&new_id) {
                update_member(m, request_id, req, ctx);
            }
            maybe_complete_join(g, ctx);
        }
        _ => {
            if let Some(m) = g.members.get_mut(&new_id) {
                update_member(m, request_id, req, ctx);
            }
            prepare_rebalance(g, ctx);
        }
    }
}
