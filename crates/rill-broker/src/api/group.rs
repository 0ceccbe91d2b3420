//! The classic group APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup.
//! Thin: decode into `rill-group` requests, run them through the coordinator service (which
//! parks JoinGroup/SyncGroup until the group answers), encode with the version's fields only.

use std::sync::Arc;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{
    BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest, HeartbeatResponse,
    JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, SyncGroupRequest,
    SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use rill_auth::acl::{AclOperation, ResourceType};
use rill_group::{GroupError, JoinRequest, MemberRef, Reply, SyncRequest};

use super::errors::group_error_code;
use super::{blocking, str_bytes, RequestContext};
use crate::broker::Broker;

fn opt_string(s: &Option<StrBytes>) -> Option<String> {
    s.as_ref().map(|s| s.to_string())
}

/// The coordinator of `group_id`: the leader of its `__consumer_offsets` partition, as
/// (id, host, port), or `None` while that partition has no leader.
fn coordinator_of(broker: &Broker, group_id: &str, listener: &str) -> Option<(i32, String, i32)> {
    let image = broker.image();
    let topic = image.topic(crate::coordinator::OFFSETS_TOPIC)?;
    let index = rill_group::partition_for(group_id, topic.partitions as i32);
    let leader = match topic.partition_states.get(index as usize) {
        Some(s) if !s.replicas.is_empty() => s.leader,
        _ => broker.config.node_id,
    };
    broker
        .live_brokers_on(listener)
        .into_iter()
        .find(|(id, ..)| *id == leader)
        .map(|(id, host, port, _)| (id, host, i32::from(port)))
}

/// The transaction coordinator of `transactional_id`: the leader of its
/// `__transaction_state` partition. Creates the topic (in the background) on first use, as
/// Kafka does; `None` until it has a leader.
fn txn_coordinator_of(
    broker: &Arc<Broker>,
    transactional_id: &str,
    listener: &str,
) -> Option<(i32, String, i32)> {
    let image = broker.image();
    let Some(topic) = image.topic(rill_txn::TRANSACTION_STATE_TOPIC) else {
        let b = broker.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = crate::admin::ensure_txn_topic(&b, b.txns.num_partitions()) {
                tracing::warn!(error = %e, "cannot create __transaction_state");
            }
        });
        return None;
    };
    let index = rill_txn::partition_for(transactional_id, topic.partitions as i32);
    let leader = topic.partition_states.get(index as usize)?.leader;
    broker
        .live_brokers_on(listener)
        .into_iter()
        .find(|(id, ..)| *id == leader)
        .map(|(id, host, port, _)| (id, host, i32::from(port)))
}

/// FindCoordinator: the leader of the group's `__consumer_offsets` partition (key type 0) or
/// of the transactional id's `__transaction_state` partition (key type 1).
pub fn find_coordinator(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let answer = |key: &StrBytes| -> (i16, Option<String>) {
        match req.key_type {
            0 if key.is_empty() => (
                ResponseError::InvalidRequest.code(),
                Some("empty group id".into()),
            ),
            1 if key.is_empty() => (
                ResponseError::InvalidRequest.code(),
                Some("empty transactional id".into()),
            ),
            0 | 1 => (0, None),
            t => (
                ResponseError::InvalidRequest.code(),
                Some(format!("unknown key type {t}")),
            ),
        }
    };
    let mut resp = FindCoordinatorResponse::default();
    let keys = if ctx.version >= 4 {
        req.coordinator_keys.clone()
    } else {
        vec![req.key.clone()]
    };
    for key in keys {
        let (mut code, mut message) = answer(&key);
        // Kafka: DESCRIBE on the group or the transactional id.
        if code == 0 {
            let (resource, refusal) = if req.key_type == 0 {
                (ResourceType::Group, ResponseError::GroupAuthorizationFailed)
            } else {
                (
                    ResourceType::TransactionalId,
                    ResponseError::TransactionalIdAuthorizationFailed,
                )
            };
            if !ctx
                .auth
                .allows(AclOperation::Describe, resource, key.as_str())
            {
                code = refusal.code();
            }
        }
        let target = if code != 0 {
            None
        } else if req.key_type == 0 {
            let found = coordinator_of(broker, key.as_str(), &ctx.listener.name);
            if found.is_none() {
                code = ResponseError::CoordinatorNotAvailable.code();
                message = Some("the group's __consumer_offsets partition has no leader".into());
            }
            found
        } else {
            let found = txn_coordinator_of(broker, key.as_str(), &ctx.listener.name);
            if found.is_none() {
                code = ResponseError::CoordinatorNotAvailable.code();
                message = Some(
                    "the transactional id's __transaction_state partition has no leader yet".into(),
                );
            }
            found
        };
        let (node, host, port) = match target {
            Some((id, host, port)) => (BrokerId(id), str_bytes(host), port),
            None => (BrokerId(-1), str_bytes(""), -1),
        };
        if ctx.version >= 4 {
            let mut c = Coordinator::default();
            c.key = key;
            c.node_id = node;
            c.host = host;
            c.port = port;
            c.error_code = code;
            c.error_message = message.map(str_bytes);
            resp.coordinators.push(c);
        } else {
            resp.error_code = code;
            resp.error_message = if ctx.version >= 1 {
                message.map(str_bytes)
            } else {
                None
            };
            resp.node_id = node;
            resp.host = host;
            resp.port = port;
        }
    }
    resp
}

/// JoinGroup: parks until the join phase completes.
pub async fn join_group(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: JoinGroupRequest,
) -> JoinGroupResponse {
    if !ctx.auth.group(AclOperation::Read, req.group_id.0.as_str()) {
        let mut refused = JoinGroupResponse::default();
        refused.error_code = ResponseError::GroupAuthorizationFailed.code();
        return refused;
    }
    let jr = JoinRequest {
        group_id: req.group_id.0.to_string(),
        member_id: req.member_id.to_string(),
        group_instance_id: opt_string(&req.group_instance_id),
        client_id: opt_string(&ctx.header.client_id).unwrap_or_default(),
        client_host: format!("/{}", ctx.peer.ip()),
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms: if ctx.version == 0 {
            req.session_timeout_ms
        } else {
            req.rebalance_timeout_ms
        },
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), p.metadata.clone()))
            .collect(),
        require_known_member_id: ctx.version >= 4,
        member_id_suffix: uuid::Uuid::new_v4().to_string(),
    };
    let (id, rx) = broker.groups.park();
    let b = broker.clone();
    let ran = blocking(move || {
        b.groups
            .run(&b.replicas, |c, now| ((), c.join(id, jr, now)))
    })
    .await;
    let mut resp = JoinGroupResponse::default();
    resp.generation_id = -1;
    resp.member_id = req.member_id.clone();
    resp.protocol_name = if ctx.version >= 7 {
        None
    } else {
        Some(str_bytes(""))
    };
    if ran.is_none() {
        broker.groups.unpark(id);
        resp.error_code = ResponseError::CoordinatorNotAvailable.code();
        return resp;
    }
    match rx.await {
        Ok(Reply::Join(_, Ok(ok))) => {
            resp.generation_id = ok.generation_id;
            resp.protocol_type = Some(str_bytes(ok.protocol_type));
            resp.protocol_name = Some(str_bytes(ok.protocol_name));
            resp.leader = str_bytes(ok.leader);
            resp.member_id = str_bytes(ok.member_id);
            resp.skip_assignment = ctx.version >= 9 && ok.skip_assignment;
            resp.members = ok
                .members
                .into_iter()
                .map(|m| {
                    let mut r = JoinGroupResponseMember::default();
                    r.member_id = str_bytes(m.member_id);
                    r.group_instance_id = m.group_instance_id.map(str_bytes);
                    r.metadata = m.metadata;
                    r
                })
                .collect();
        }
        Ok(Reply::Join(_, Err(f))) => {
            resp.error_code = group_error_code(&f.error);
            resp.member_id = str_bytes(f.member_id);
        }
        _ => resp.error_code = ResponseError::CoordinatorNotAvailable.code(),
    }
    resp
}

/// SyncGroup: parks until the leader's assignment arrives.
pub async fn sync_group(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: SyncGroupRequest,
) -> SyncGroupResponse {
    if !ctx.auth.group(AclOperation::Read, req.group_id.0.as_str()) {
        let mut refused = SyncGroupResponse::default();
        refused.error_code = ResponseError::GroupAuthorizationFailed.code();
        return refused;
    }
    let sr = SyncRequest {
        group_id: req.group_id.0.to_string(),
        generation_id: req.generation_id,
        member_id: req.member_id.to_string(),
        group_instance_id: opt_string(&req.group_instance_id),
        protocol_type: opt_string(&req.protocol_type),
        protocol_name: opt_string(&req.protocol_name),
        assignments: req
            .assignments
            .iter()
            .map(|a| (a.member_id.to_string(), a.assignment.clone()))
            .collect(),
    };
    let (id, rx) = broker.groups.park();
    let b = broker.clone();
    let ran = blocking(move || {
        b.groups
            .run(&b.replicas, |c, now| ((), c.sync(id, sr, now)))
    })
    .await;
    let mut resp = SyncGroupResponse::default();
    if ran.is_none() {
        broker.groups.unpark(id);
        resp.error_code = ResponseError::CoordinatorNotAvailable.code();
        return resp;
    }
    match rx.await {
        Ok(Reply::Sync(_, Ok(ok))) => {
            if ctx.version >= 5 {
                resp.protocol_type = Some(str_bytes(ok.protocol_type));
                resp.protocol_name = Some(str_bytes(ok.protocol_name));
            }
            resp.assignment = ok.assignment;
        }
        Ok(Reply::Sync(_, Err(e))) => resp.error_code = group_error_code(&e),
        _ => resp.error_code = ResponseError::CoordinatorNotAvailable.code(),
    }
    resp
}

/// Heartbeat.
pub async fn heartbeat(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: HeartbeatRequest,
) -> HeartbeatResponse {
    if !ctx.auth.group(AclOperation::Read, req.group_id.0.as_str()) {
        let mut refused = HeartbeatResponse::default();
        refused.error_code = ResponseError::GroupAuthorizationFailed.code();
        return refused;
    }
    let member = MemberRef {
        member_id: req.member_id.to_string(),
        group_instance_id: opt_string(&req.group_instance_id),
    };
    let group = req.group_id.0.to_string();
    let generation = req.generation_id;
    let b = broker.clone();
    let result = blocking(move || {
        b.groups.run(&b.replicas, |c, now| {
            (
                c.heartbeat(&group, generation, &member, now),
                Default::default(),
            )
        })
    })
    .await;
    let mut resp = HeartbeatResponse::default();
    resp.error_code = match result {
        Some(Ok(Ok(()))) => 0,
        Some(Ok(Err(e))) => group_error_code(&e),
        _ => ResponseError::CoordinatorNotAvailable.code(),
    };
    resp
}

/// LeaveGroup: one member (v0-2) or a batch (v3+).
pub async fn leave_group(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: LeaveGroupRequest,
) -> LeaveGroupResponse {
    if !ctx.auth.group(AclOperation::Read, req.group_id.0.as_str()) {
        let mut refused = LeaveGroupResponse::default();
        refused.error_code = ResponseError::GroupAuthorizationFailed.code();
        return refused;
    }
    let members: Vec<MemberRef> = if ctx.version >= 3 {
        req.members
            .iter()
            .map(|m| MemberRef {
                member_id: m.member_id.to_string(),
                group_instance_id: opt_string(&m.group_instance_id),
            })
            .collect()
    } else {
        vec![MemberRef {
            member_id: req.member_id.to_string(),
            group_instance_id: None,
        }]
    };
    let group = req.group_id.0.to_string();
    let b = broker.clone();
    let refs = members.clone();
    let result = blocking(move || {
        b.groups
            .run(&b.replicas, |c, now| c.leave(&group, &refs, now))
    })
    .await;
    let mut resp = LeaveGroupResponse::default();
    let per_member: Vec<Result<(), GroupError>> = match result {
        Some(Ok(Ok(v))) => v,
        Some(Ok(Err(e))) => {
            resp.error_code = group_error_code(&e);
            return resp;
        }
        _ => {
            resp.error_code = ResponseError::CoordinatorNotAvailable.code();
            return resp;
        }
    };
    if ctx.version < 3 {
        resp.error_code = per_member
            .first()
            .and_then(|r| r.as_ref().err())
            .map_or(0, group_error_code);
        return resp;
    }
    for (m, r) in members.into_iter().zip(per_member) {
        let mut mr = MemberResponse::default();
        mr.member_id = str_bytes(m.member_id);
        mr.group_instance_id = m.group_instance_id.map(str_bytes);
        mr.error_code = r.err().as_ref().map_or(0, group_error_code);
        resp.members.push(mr);
    }
    resp
}
