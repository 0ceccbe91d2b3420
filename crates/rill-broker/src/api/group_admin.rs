//! Group administration: DescribeGroups, ListGroups (with the v4+ state filter and the v5+
//! type filter), DeleteGroups.

use std::sync::Arc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    GroupId, ListGroupsRequest, ListGroupsResponse,
};
use kafka_protocol::ResponseError;
use rill_auth::acl::{AclOperation, ResourceType};

use super::errors::group_error_code;
use super::{blocking, str_bytes, RequestContext, OPERATIONS_NOT_REQUESTED};
use crate::broker::Broker;

/// Group operations allowed with no authorizer: READ, DELETE, DESCRIBE.
const GROUP_AUTHORIZED_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

/// DescribeGroups.
pub fn describe_groups(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let mut resp = DescribeGroupsResponse::default();
    for id in req.groups {
        let mut d = DescribedGroup::default();
        d.authorized_operations = if ctx.version >= 3 && req.include_authorized_operations {
            ctx.auth
                .operations(ResourceType::Group, &id.0, GROUP_AUTHORIZED_OPERATIONS)
        } else {
            OPERATIONS_NOT_REQUESTED
        };
        d.group_state = str_bytes("Dead");
        if !ctx.auth.group(AclOperation::Describe, &id.0) {
            d.group_id = id;
            d.error_code = ResponseError::GroupAuthorizationFailed.code();
            resp.groups.push(d);
            continue;
        }
        let described = broker
            .groups
            .read(|c| c.check_group(&id.0).map(|()| c.describe(&id.0)));
        match described {
            Err(e) => d.error_code = group_error_code(&e),
            Ok(None) if ctx.version >= 6 => {
                d.error_code = ResponseError::GroupIdNotFound.code();
                d.error_message = Some(str_bytes(format!("group {} not found", id.0)));
            }
            Ok(None) => {}
            Ok(Some(g)) => {
                d.group_state = str_bytes(g.state.name());
                d.protocol_type = str_bytes(g.protocol_type);
                d.protocol_data = str_bytes(g.protocol);
                d.members = g
                    .members
                    .into_iter()
                    .map(|m| {
                        let mut dm = DescribedGroupMember::default();
                        dm.member_id = str_bytes(m.member_id);
                        dm.group_instance_id = if ctx.version >= 4 {
                            m.group_instance_id.map(str_bytes)
                        } else {
                            None
                        };
                        dm.client_id = str_bytes(m.client_id);
                        dm.client_host = str_bytes(m.client_host);
                        dm.member_metadata = m.metadata;
                        dm.member_assignment = m.assignment;
                        dm
                    })
                    .collect();
            }
        }
        d.group_id = id;
        resp.groups.push(d);
    }
    resp
}

/// ListGroups.
pub fn list_groups(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ListGroupsRequest,
) -> ListGroupsResponse {
    let states: Vec<String> = if ctx.version >= 4 {
        req.states_filter.iter().map(|s| s.to_lowercase()).collect()
    } else {
        Vec::new()
    };
    let types: Vec<String> = if ctx.version >= 5 {
        req.types_filter.iter().map(|s| s.to_lowercase()).collect()
    } else {
        Vec::new()
    };
    let mut resp = ListGroupsResponse::default();
    // Kafka: DESCRIBE on the cluster lists every group, otherwise those the principal may
    // DESCRIBE.
    let all = ctx.auth.cluster(AclOperation::Describe);
    for (id, protocol_type, state) in broker.groups.read(|c| c.list()) {
        if !all && !ctx.auth.group(AclOperation::Describe, &id) {
            continue;
        }
        if !states.is_empty() && !states.contains(&state.name().to_lowercase()) {
            continue;
        }
        if !types.is_empty() && !types.iter().any(|t| t == "classic") {
            continue;
        }
        let mut g = ListedGroup::default();
        g.group_id = GroupId(str_bytes(id));
        g.protocol_type = str_bytes(protocol_type);
        if ctx.version >= 4 {
            g.group_state = str_bytes(state.name());
        }
        if ctx.version >= 5 {
            g.group_type = str_bytes("classic");
        }
        resp.groups.push(g);
    }
    resp
}

/// DeleteGroups: only empty groups; their offsets go too.
pub async fn delete_groups(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let mut resp = DeleteGroupsResponse::default();
    for id in req.groups_names {
        let name = id.0.to_string();
        if !ctx.auth.group(AclOperation::Delete, &name) {
            let mut r = DeletableGroupResult::default();
            r.group_id = id;
            r.error_code = ResponseError::GroupAuthorizationFailed.code();
            resp.results.push(r);
            continue;
        }
        let b = broker.clone();
        let result = blocking(move || {
            b.groups
                .run(&b.replicas, |c, _now| match c.delete_group(&name) {
                    Ok(out) => (Ok(()), out),
                    Err(e) => (Err(e), Default::default()),
                })
        })
        .await;
        let mut r = DeletableGroupResult::default();
        r.group_id = id;
        r.error_code = match result {
            Some(Ok(Ok(()))) => 0,
            Some(Ok(Err(e))) => group_error_code(&e),
            _ => ResponseError::CoordinatorNotAvailable.code(),
        };
        resp.results.push(r);
    }
    resp
}
