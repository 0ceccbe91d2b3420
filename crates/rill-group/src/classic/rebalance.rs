//! The rebalance itself: starting one (`prepare_rebalance`, with the initial delay of a new
//! group), completing the join phase (`complete_join`: drop members that did not rejoin, bump
//! the generation, vote the protocol, answer every parked JoinGroup), and the JoinGroup answer.

use super::join::Ctx;
use super::{Group, GroupState};
use crate::coordinator::{group_record, Reply};
use crate::error::GroupError;
use crate::join_types::{JoinOk, JoinedMember};

/// The JoinGroup answer of the current generation for `member_id` (the leader gets every
/// member's metadata).
pub(crate) fn join_answer(g: &Group, member_id: &str, skip_assignment: bool) -> JoinOk {
    let protocol = g.protocol_name.clone().unwrap_or_default();
    let leader = g.leader.clone().unwrap_or_default();
    let members = if leader == member_id {
        g.members
            .values()
            .map(|m| JoinedMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata(&protocol),
            })
            .collect()
    } else {
        Vec::new()
    };
    JoinOk {
        generation_id: g.generation,
        protocol_type: g.protocol_type.clone().unwrap_or_default(),
        protocol_name: protocol,
        leader,
        member_id: member_id.to_string(),
        skip_assignment,
        members,
    }
}

/// Starts a rebalance: parked SyncGroups get REBALANCE_IN_PROGRESS; a group that was empty
/// waits `group.initial.rebalance.delay.ms` for more members.
pub(crate) fn prepare_rebalance(g: &mut Group, ctx: &mut Ctx<'_>) {
    if g.state == GroupState::CompletingRebalance {
        for m in g.members.values_mut() {
            m.assignment = Default::default();
            if let Some(rid) = m.pending_sync.take() {
                ctx.out
                    .replies
                    .push(Reply::Sync(rid, Err(GroupError::RebalanceInProgress)));
            }
        }
    }
    let was_empty = g.state == GroupState::Empty;
    if g.state != GroupState::PreparingRebalance {
        tracing::info!(
            group = %g.group_id, generation = g.generation, members = g.members.len(),
            from = g.state.name(), "group rebalance started"
        );
    }
    g.transition(GroupState::PreparingRebalance, ctx.now_ms);
    let delay = ctx.config.initial_rebalance_delay_ms;
    if was_empty && delay > 0 {
        g.rebalance_deadline_ms = Some(ctx.now_ms + delay);
        g.initial_delay_cap_ms = Some(ctx.now_ms + g.rebalance_timeout_ms().max(delay));
    } else {
        g.rebalance_deadline_ms = Some(ctx.now_ms + g.rebalance_timeout_ms());
        g.initial_delay_cap_ms = None;
    }
    maybe_complete_join(g, ctx);
}

/// Completes the join phase when every member has rejoined (not during the initial delay).
pub(crate) fn maybe_complete_join(g: &mut Group, ctx: &mut Ctx<'_>) {
    if g.state == GroupState::PreparingRebalance
        && g.initial_delay_cap_ms.is_none()
        && g.all_members_joined()
    {
        complete_join(g, ctx);
    }
}

/// Ends the join phase: members that did not rejoin are removed, the generation advances,
/// and every parked JoinGroup is answered (the leader with all members' metadata).
pub(crate) fn complete_join(g: &mut Group, ctx: &mut Ctx<'_>) {
    let gone: Vec<String> = g
        .members
        .values()
        .filter(|m| m.pending_join.is_none())
        .map(|m| m.member_id.clone())
        .collect();
    for id in gone {
        if let Some(m) = g.members.remove(&id) {
            if let Some(i) = &m.group_instance_id {
                g.static_members.remove(i);
            }
        }
    }
    g.rebalance_deadline_ms = None;
    g.initial_delay_cap_ms = None;
    g.generation += 1;
    if g.members.is_empty() {
        tracing::info!(group = %g.group_id, generation = g.generation, "group rebalance completed: no members left");
        g.protocol_name = None;
        g.leader = None;
        g.transition(GroupState::Empty, ctx.now_ms);
        ctx.out
            .records
            .push(group_record(g, ctx.config.offsets_partitions));
        return;
    }
    g.protocol_name = g.select_protocol();
    if !g.leader.as_ref().is_some_and(|l| g.members.contains_key(l)) {
        g.leader = g.members.keys().next().cloned();
    }
    g.transition(GroupState::CompletingRebalance, ctx.now_ms);
    tracing::info!(
        group = %g.group_id, generation = g.generation, members = g.members.len(),
        leader = g.leader.as_deref().unwrap_or(""), protocol = g.protocol_name.as_deref().unwrap_or(""),
        "group rebalance: members joined, waiting for the leader's assignment"
    );
    g.rebalance_deadline_ms = Some(ctx.now_ms + g.rebalance_timeout_ms());
    let ids: Vec<String> = g.members.keys().cloned().collect();
    for id in ids {
        let answer = join_answer(g, &id, false);
        if let Some(m) = g.members.get_mut(&id) {
            m.session_deadline_ms = ctx.now_ms + i64::from(m.session_timeout_ms);
            if let Some(rid) = m.pending_join.take() {
                ctx.out.replies.push(Reply::Join(rid, Ok(answer)));
            }
        }
    }
}
