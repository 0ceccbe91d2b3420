//! SyncGroup, Heartbeat, LeaveGroup and the timers (session expiry, rebalance deadlines,
//! issued member ids never used), as Kafka's GroupCoordinator handles them.

use super::join::{check_member, Ctx};
use super::rebalance::{complete_join, maybe_complete_join, prepare_rebalance};
use super::{Group, GroupState, RequestId};
use crate::coordinator::{group_record, GroupCoordinator, Output, Reply};
use crate::error::GroupError;
use crate::join_types::{MemberRef, SyncOk, SyncRequest};

impl GroupCoordinator {
    /// SyncGroup. The answer comes in `Output::replies` under `request_id`, now or when the
    /// leader sends the assignment.
    pub fn sync(&mut self, request_id: RequestId, req: SyncRequest, now_ms: i64) -> Output {
        let mut out = Output::default();
        let config = self.config.clone();
        let mut ctx = Ctx {
            config: &config,
            now_ms,
            out: &mut out,
        };
        let result = self.live_group(&req.group_id).and_then(|g| {
            check_member(g, &req.member_id, req.group_instance_id.as_deref())?;
            check_generation(g, req.generation_id)?;
            let type_ok = req
                .protocol_type
                .as_ref()
                .is_none_or(|t| Some(t) == g.protocol_type.as_ref());
            let name_ok = req
                .protocol_name
                .as_ref()
                .is_none_or(|n| Some(n) == g.protocol_name.as_ref());
            if !type_ok || !name_ok {
                return Err(GroupError::InconsistentGroupProtocol(
                    "protocol does not match the group's".into(),
                ));
            }
            Ok(())
        });
        if let Err(e) = result {
            ctx.out.replies.push(Reply::Sync(request_id, Err(e)));
            return out;
        }
        let Some(g) = self.groups.get_mut(&req.group_id) else {
            return out;
        };
        match g.state {
            GroupState::Empty | GroupState::Dead => {
                let e = GroupError::UnknownMemberId {
                    group_id: g.group_id.clone(),
                    member_id: req.member_id,
                };
                ctx.out.replies.push(Reply::Sync(request_id, Err(e)));
            }
            GroupState::PreparingRebalance => {
                ctx.out.replies.push(Reply::Sync(
                    request_id,
                    Err(GroupError::RebalanceInProgress),
                ));
            }
            GroupState::Stable => {
                let answer = sync_answer(g, &req.member_id);
                if let Some(m) = g.members.get_mut(&req.member_id) {
                    m.session_deadline_ms = now_ms + i64::from(m.session_timeout_ms);
                }
                ctx.out.replies.push(Reply::Sync(request_id, Ok(answer)));
            }
            GroupState::CompletingRebalance => sync_completing(g, request_id, req, &mut ctx),
        }
        out
    }

    /// Heartbeat: keeps the session alive; REBALANCE_IN_PROGRESS tells the member to rejoin.
    ///
    /// # Errors
    /// UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID, REBALANCE_IN_PROGRESS, ...
    pub fn heartbeat(
        &mut self,
        group_id: &str,
        generation_id: i32,
        member: &MemberRef,
        now_ms: i64,
    ) -> Result<(), GroupError> {
        let g = self.live_group(group_id)?;
        if g.state == GroupState::Empty {
            return Err(GroupError::UnknownMemberId {
                group_id: group_id.to_string(),
                member_id: member.member_id.clone(),
            });
        }
        check_member(g, &member.member_id, member.group_instance_id.as_deref())?;
        check_generation(g, generation_id)?;
        let rebalancing = g.state == GroupState::PreparingRebalance;
        if let Some(m) = self
            .groups
            .get_mut(group_id)
            .and_then(|g| g.members.get_mut(&member.member_id))
        {
            m.session_deadline_ms = now_ms + i64::from(m.session_timeout_ms);
        }
        if rebalancing {
            return Err(GroupError::RebalanceInProgress);
        }
        Ok(())
    }

    /// LeaveGroup for a batch of members (v3+; older versions send one). The outer error
    /// applies to the whole request; the inner ones to each member.
    ///
    /// # Errors
    /// INVALID_GROUP_ID, COORDINATOR_NOT_AVAILABLE.
    pub fn leave(
        &mut self,
        group_id: &str,
        members: &[MemberRef],
        now_ms: i64,
    ) -> (Result<Vec<Result<(), GroupError>>, GroupError>, Output) {
        let mut out = Output::default();
        if let Err(e) = self.check_group(group_id) {
            return (Err(e), out);
        }
        let unknown = |m: &MemberRef| GroupError::UnknownMemberId {
            group_id: group_id.to_string(),
            member_id: m.member_id.clone(),
        };
        let Some(g) = self.groups.get_mut(group_id) else {
            return (Ok(members.iter().map(|m| Err(unknown(m))).collect()), out);
        };
        if g.state == GroupState::Dead {
            return (
                Err(GroupError::CoordinatorNotAvailable(group_id.to_string())),
                out,
            );
        }
        let config = self.config.clone();
        let mut ctx = Ctx {
            config: &config,
            now_ms,
            out: &mut out,
        };
        let mut results = Vec::with_capacity(members.len());
        for m in members {
            let target = match &m.group_instance_id {
                Some(instance) => match g.static_members.get(instance) {
                    None => Err(unknown(m)),
                    Some(id) if !m.member_id.is_empty() && *id != m.member_id => {
                        Err(GroupError::FencedInstanceId {
                            instance_id: instance.clone(),
                        })
                    }
                    Some(id) => Ok(id.clone()),
                },
                None if g.pending_members.remove(&m.member_id).is_some() => {
                    maybe_complete_join(g, &mut ctx);
                    results.push(Ok(()));
                    continue;
                }
                None if g.members.contains_key(&m.member_id) => Ok(m.member_id.clone()),
                None => Err(unknown(m)),
            };
            results.push(target.map(|id| remove_member(g, &id, &mut ctx)));
        }
        (Ok(results), out)
    }

    /// The group unless unknown (UNKNOWN_MEMBER_ID) or being removed.
    fn live_group(&self, group_id: &str) -> Result<&Group, GroupError> {
        self.check_group(group_id)?;
        match self.groups.get(group_id) {
            None => Err(GroupError::UnknownMemberId {
                group_id: group_id.to_string(),
                member_id: String::new(),
            }),
            Some(g) if g.state == GroupState::Dead => {
                Err(GroupError::CoordinatorNotAvailable(group_id.to_string()))
            }
            Some(g) => Ok(g),
        }
    }

    /// Fires the group's due timers.
    pub(crate) fn tick_group(&mut self, group_id: &str, now_ms: i64) -> Output {
        let mut out = Output::default();
        let config = self.config.clone();
        let mut ctx = Ctx {
            config: &config,
            now_ms,
            out: &mut out,
        };
        let Some(g) = self.groups.get_mut(group_id) else {
            return out;
        };
        let stale: Vec<String> = g
            .pending_members
            .iter()
            .filter(|(_, d)| **d <= now_ms)
            .map(|(k, _)| k.clone())
            .collect();
        for id in &stale {
            g.pending_members.remove(id);
        }
        if !stale.is_empty() {
            maybe_complete_join(g, &mut ctx);
        }
        let expired: Vec<String> = g
            .members
            .values()
            .filter(|m| m.session_deadline_ms <= now_ms)
            .filter(|m| !(g.state == GroupState::PreparingRebalance && m.pending_join.is_some()))
            .filter(|m| !(g.state == GroupState::CompletingRebalance && m.pending_sync.is_some()))
            .map(|m| m.member_id.clone())
            .collect();
        for id in expired {
            remove_member(g, &id, &mut ctx);
        }
        if g.rebalance_deadline_ms.is_some_and(|d| d <= now_ms) {
            rebalance_deadline_passed(g, &mut ctx);
        }
        out
    }
}

fn check_generation(g: &Group, generation_id: i32) -> Result<(), GroupError> {
    if generation_id != g.generation {
        return Err(GroupError::IllegalGeneration {
            sent: generation_id,
            current: g.generation,
        });
    }
    Ok(())
}

fn sync_answer(g: &Group, member_id: &str) -> SyncOk {
    SyncOk {
        protocol_type: g.protocol_type.clone().unwrap_or_default(),
        protocol_name: g.protocol_name.clone().unwrap_or_default(),
        assignment: g
            .members
            .get(member_id)
            .map(|m| m.assignment.clone())
            .unwrap_or_default(),
    }
}

/// SyncGroup while the group waits for the leader: park; the leader's assignment makes the
/// group Stable, is stored, and answers every parked SyncGroup.
fn sync_completing(g: &mut Group, request_id: RequestId, req: SyncRequest, ctx: &mut Ctx<'_>) {
    let Some(m) = g.members.get_mut(&req.member_id) else {
        return;
    };
    m.session_deadline_ms = ctx.now_ms + i64::from(m.session_timeout_ms);
    if let Some(old) = m.pending_sync.replace(request_id) {
        ctx.out
            .replies
            .push(Reply::Sync(old, Err(GroupError::RebalanceInProgress)));
    }
    if g.leader.as_deref() != Some(req.member_id.as_str()) {
        return;
    }
    for m in g.members.values_mut() {
        m.assignment = req
            .assignments
            .iter()
            .find(|(id, _)| *id == m.member_id)
            .map(|(_, a)| a.clone())
            .unwrap_or_default();
    }
    g.transition(GroupState::Stable, ctx.now_ms);
    tracing::info!(
        group = %g.group_id, generation = g.generation, members = g.members.len(),
        "group rebalance completed: assignment received, group stable"
    );
    g.rebalance_deadline_ms = None;
    ctx.out
        .records
        .push(group_record(g, ctx.config.offsets_partitions));
    let ids: Vec<String> = g.members.keys().cloned().collect();
    for id in ids {
        let answer = sync_answer(g, &id);
        if let Some(rid) = g.members.get_mut(&id).and_then(|m| m.pending_sync.take()) {
            ctx.out.replies.push(Reply::Sync(rid, Ok(answer)));
        }
    }
}

/// Removes a member (left, expired, or missed a phase); its parked requests get
/// UNKNOWN_MEMBER_ID and the group rebalances.
pub(crate) fn remove_member(g: &mut Group, member_id: &str, ctx: &mut Ctx<'_>) {
    let Some(m) = g.members.remove(member_id) else {
        return;
    };
    if let Some(i) = &m.group_instance_id {
        if g.static_members.get(i).map(String::as_str) == Some(member_id) {
            g.static_members.remove(i);
        }
    }
    let unknown = || GroupError::UnknownMemberId {
        group_id: g.group_id.clone(),
        member_id: member_id.to_string(),
    };
    if let Some(rid) = m.pending_join {
        let failure = crate::join_types::JoinFailure {
            error: unknown(),
            member_id: String::new(),
        };
        ctx.out.replies.push(Reply::Join(rid, Err(failure)));
    }
    if let Some(rid) = m.pending_sync {
        ctx.out.replies.push(Reply::Sync(rid, Err(unknown())));
    }
    if g.leader.as_deref() == Some(member_id) {
        g.leader = g.members.keys().next().cloned();
    }
    match g.state {
        GroupState::Stable | GroupState::CompletingRebalance => prepare_rebalance(g, ctx),
        GroupState::PreparingRebalance => maybe_complete_join(g, ctx),
        GroupState::Empty | GroupState::Dead => {}
    }
}

fn rebalance_deadline_passed(g: &mut Group, ctx: &mut Ctx<'_>) {
    match g.state {
        GroupState::PreparingRebalance => {
            if let Some(cap) = g.initial_delay_cap_ms.take() {
                // The initial delay is over: now wait for the rest only if someone is missing.
                if cap > ctx.now_ms && !g.all_members_joined() {
                    g.rebalance_deadline_ms = Some(cap);
                    return;
                }
            }
            complete_join(g, ctx);
        }
        GroupState::CompletingRebalance => {
            // Members that never sent SyncGroup in time are removed; the rest rejoin.
            g.rebalance_deadline_ms = None;
            let late: Vec<String> = g
                .members
                .values()
                .filter(|m| m.pending_sync.is_none())
                .map(|m| m.member_id.clone())
                .collect();
            for id in late {
                remove_member(g, &id, ctx);
            }
        }
        _ => g.rebalance_deadline_ms = None,
    }
}
