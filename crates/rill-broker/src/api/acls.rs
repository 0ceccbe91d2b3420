//! DescribeAcls (API 29), CreateAcls (API 30) and DeleteAcls (API 31), v1-v3, as Kafka's
//! `AclControlManager`: ACLs are metadata records (committed through the active controller in
//! a cluster), described from this node's image. Creating or deleting needs ALTER on the
//! cluster, describing needs DESCRIBE; without an authorizer configured all three answer
//! SECURITY_DISABLED, as Kafka does.

use std::sync::Arc;

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use rill_auth::acl::{
    AclBinding, AclBindingFilter, AclOperation, AclPermission, PatternType, ResourceType,
};
use rill_meta::{MetadataImage, MetadataRecord};

use super::{blocking, str_bytes, RequestContext};
use crate::authz::{binding_of, entry_of};
use crate::broker::Broker;

/// Kafka's SECURITY_DISABLED.
const SECURITY_DISABLED: i16 = 54;
/// Kafka's CLUSTER_AUTHORIZATION_FAILED.
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
/// Kafka's INVALID_REQUEST.
const INVALID_REQUEST: i16 = 42;
/// Kafka's NOT_CONTROLLER.
const NOT_CONTROLLER: i16 = 41;
/// Kafka's UNKNOWN_SERVER_ERROR.
const UNKNOWN_SERVER_ERROR: i16 = -1;

/// Why the whole request is refused before looking at its ACLs, if it is.
fn refused(ctx: &RequestContext, op: AclOperation) -> Option<(i16, &'static str)> {
    if !ctx.auth.enabled() {
        return Some((
            SECURITY_DISABLED,
            "no authorizer is configured on the broker (authorizer.class.name)",
        ));
    }
    if !ctx.auth.cluster(op) {
        return Some((
            CLUSTER_AUTHORIZATION_FAILED,
            "the principal may not change or read the cluster's ACLs",
        ));
    }
    None
}

/// A filter from the wire's fields.
fn filter(
    resource_type: i8,
    name: Option<&str>,
    pattern_type: i8,
    principal: Option<&str>,
    host: Option<&str>,
    operation: i8,
    permission: i8,
) -> AclBindingFilter {
    AclBindingFilter {
        resource_type: ResourceType::from_code(resource_type),
        resource_name: name.map(str::to_string),
        pattern_type: PatternType::from_code(pattern_type),
        principal: principal.map(str::to_string),
        host: host.map(str::to_string),
        operation: AclOperation::from_code(operation),
        permission: AclPermission::from_code(permission),
    }
}

/// The stored bindings `f` matches, with their ids, sorted by binding.
fn matching<'a>(image: &'a MetadataImage, f: &AclBindingFilter) -> Vec<(&'a str, AclBinding)> {
    let mut out: Vec<(&str, AclBinding)> = image
        .acls()
        .filter_map(|(id, e)| binding_of(e).map(|b| (id, b)))
        .filter(|(_, b)| f.matches(b))
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

/// A commit failure as Kafka's code.
fn commit_error(e: &crate::error::BrokerError) -> (i16, String) {
    match e {
        crate::error::BrokerError::NotController { .. } => (NOT_CONTROLLER, e.to_string()),
        other => (UNKNOWN_SERVER_ERROR, other.to_string()),
    }
}

/// Answers DescribeAcls from this node's image, grouped by resource pattern.
pub fn describe_acls(
    broker: &Broker,
    ctx: &RequestContext,
    req: DescribeAclsRequest,
) -> DescribeAclsResponse {
    let mut r = DescribeAclsResponse::default();
    if let Some((code, message)) = refused(ctx, AclOperation::Describe) {
        r.error_code = code;
        r.error_message = Some(str_bytes(message));
        return r;
    }
    let f = filter(
        req.resource_type_filter,
        req.resource_name_filter.as_deref(),
        req.pattern_type_filter,
        req.principal_filter.as_deref(),
        req.host_filter.as_deref(),
        req.operation,
        req.permission_type,
    );
    if let Err(e) = f.validate() {
        r.error_code = INVALID_REQUEST;
        r.error_message = Some(str_bytes(e.to_string()));
        return r;
    }
    let image = broker.image();
    for (_, b) in matching(&image, &f) {
        let acl = AclDescription::default()
            .with_principal(str_bytes(b.principal.clone()))
            .with_host(str_bytes(b.host.clone()))
            .with_operation(b.operation.code())
            .with_permission_type(b.permission.code());
        let same = r.resources.last_mut().filter(|res| {
            res.resource_type == b.resource_type.code()
                && res.resource_name.as_str() == b.resource_name
                && res.pattern_type == b.pattern_type.code()
        });
        match same {
            Some(res) => res.acls.push(acl),
            None => r.resources.push(
                DescribeAclsResource::default()
                    .with_resource_type(b.resource_type.code())
                    .with_resource_name(str_bytes(b.resource_name.clone()))
                    .with_pattern_type(b.pattern_type.code())
                    .with_acls(vec![acl]),
            ),
        }
    }
    r
}

/// Answers CreateAcls: one result per creation; the valid new ones are committed as one
/// batch (a binding stored already succeeds without a new record).
pub async fn create_acls(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: CreateAclsRequest,
) -> CreateAclsResponse {
    let mut r = CreateAclsResponse::default();
    let n = req.creations.len();
    if let Some((code, message)) = refused(ctx, AclOperation::Alter) {
        r.results = (0..n)
            .map(|_| {
                AclCreationResult::default()
                    .with_error_code(code)
                    .with_error_message(Some(str_bytes(message)))
            })
            .collect();
        return r;
    }
    let image = broker.image();
    let mut results: Vec<Option<(i16, String)>> = Vec::with_capacity(n);
    let mut records = Vec::new();
    let mut accepted = Vec::new();
    for c in &req.creations {
        let b = AclBinding {
            resource_type: ResourceType::from_code(c.resource_type),
            resource_name: c.resource_name.to_string(),
            pattern_type: PatternType::from_code(c.resource_pattern_type),
            principal: c.principal.to_string(),
            host: c.host.to_string(),
            operation: AclOperation::from_code(c.operation),
            permission: AclPermission::from_code(c.permission_type),
        };
        if let Err(e) = b.validate() {
            results.push(Some((INVALID_REQUEST, e.to_string())));
            continue;
        }
        let entry = entry_of(&b);
        if image.acl_id_of(&entry).is_none() && !accepted.contains(&entry) {
            records.push(MetadataRecord::AclCreated {
                id: uuid::Uuid::new_v4().to_string(),
                entry: entry.clone(),
            });
            accepted.push(entry);
        }
        results.push(None);
    }
    if !records.is_empty() {
        let b = broker.clone();
        let committed = blocking(move || b.commit(records)).await;
        let failure = match committed {
            Some(Ok(())) => None,
            Some(Err(e)) => Some(commit_error(&e)),
            None => Some((UNKNOWN_SERVER_ERROR, "the commit task failed".to_string())),
        };
        if let Some(f) = failure {
            tracing::warn!(error = %f.1, "ACL creation not committed");
            for slot in results.iter_mut().filter(|s| s.is_none()) {
                *slot = Some(f.clone());
            }
        } else {
            tracing::info!(created = accepted.len(), "ACLs created");
        }
    }
    r.results = results
        .into_iter()
        .map(|e| match e {
            None => AclCreationResult::default(),
            Some((code, message)) => AclCreationResult::default()
                .with_error_code(code)
                .with_error_message(Some(str_bytes(message))),
        })
        .collect();
    r
}

/// Answers DeleteAcls: per filter, the ACLs it matched (all deleted in one batch).
pub async fn delete_acls(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DeleteAclsRequest,
) -> DeleteAclsResponse {
    let mut r = DeleteAclsResponse::default();
    if let Some((code, message)) = refused(ctx, AclOperation::Alter) {
        r.filter_results = req
            .filters
            .iter()
            .map(|_| {
                DeleteAclsFilterResult::default()
                    .with_error_code(code)
                    .with_error_message(Some(str_bytes(message)))
            })
            .collect();
        return r;
    }
    let image = broker.image();
    let mut outcomes: Vec<Result<Vec<AclBinding>, String>> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    for d in &req.filters {
        let f = filter(
            d.resource_type_filter,
            d.resource_name_filter.as_deref(),
            d.pattern_type_filter,
            d.principal_filter.as_deref(),
            d.host_filter.as_deref(),
            d.operation,
            d.permission_type,
        );
        if let Err(e) = f.validate() {
            outcomes.push(Err(e.to_string()));
            continue;
        }
        let found = matching(&image, &f);
        for (id, _) in &found {
            if !ids.iter().any(|i| i == id) {
                ids.push((*id).to_string());
            }
        }
        outcomes.push(Ok(found.into_iter().map(|(_, b)| b).collect()));
    }
    let mut failure = None;
    if !ids.is_empty() {
        let deleted = ids.len();
        let records = ids
            .into_iter()
            .map(|id| MetadataRecord::AclRemoved { id })
            .collect();
        let b = broker.clone();
        failure = match blocking(move || b.commit(records)).await {
            Some(Ok(())) => {
                tracing::info!(deleted, "ACLs deleted");
                None
            }
            Some(Err(e)) => Some(commit_error(&e)),
            None => Some((UNKNOWN_SERVER_ERROR, "the commit task failed".to_string())),
        };
    }
    r.filter_results = outcomes
        .into_iter()
        .map(|o| match (o, &failure) {
            (Err(message), _) => DeleteAclsFilterResult::default()
                .with_error_code(INVALID_REQUEST)
                .with_error_message(Some(str_bytes(message))),
            (Ok(found), Some((code, message))) if !found.is_empty() => {
                DeleteAclsFilterResult::default()
                    .with_error_code(*code)
                    .with_error_message(Some(str_bytes(message.clone())))
            }
            (Ok(found), _) => DeleteAclsFilterResult::default().with_matching_acls(
                found
                    .into_iter()
                    .map(|b| {
                        DeleteAclsMatchingAcl::default()
                            .with_resource_type(b.resource_type.code())
                            .with_resource_name(str_bytes(b.resource_name))
                            .with_pattern_type(b.pattern_type.code())
                            .with_principal(str_bytes(b.principal))
                            .with_host(str_bytes(b.host))
                            .with_operation(b.operation.code())
                            .with_permission_type(b.permission.code())
                    })
                    .collect(),
            ),
        })
        .collect();
    r
}
