//! ACLs over HTTP, through the broker's own DescribeAcls/CreateAcls/DeleteAcls handlers
//! ([`crate::api::acls`]) run with the caller's identity: DESCRIBE on the cluster to list,
//! ALTER to create or delete; without an authorizer they answer SECURITY_DISABLED (400).
//!
//! - `GET /api/v1/acls[?resource_type&resource_name&pattern_type&principal&host&operation&permission]`
//!   (each a filter, default ANY; names as Kafka spells them, case-insensitively).
//! - `POST /api/v1/acls` `{resource_type, resource_name, pattern_type?=LITERAL, principal,
//!   host?="*", operation, permission?=ALLOW}`: 201 with the binding.
//! - `DELETE /api/v1/acls?<filters>` (at least one): `{"deleted": [bindings]}`.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{
    ApiKey, CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest, RequestHeader,
};
use rill_auth::acl::{AclOperation, AclPermission, PatternType, ResourceType};
use serde::{Deserialize, Serialize};

use super::access::{authorize, AdminCall};
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::state::AppState;
use crate::api::{str_bytes, RequestContext};
use crate::authz::RequestAuth;

/// One ACL, with Kafka's names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclJson {
    /// TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID, ...
    pub resource_type: String,
    /// The resource's name (`kafka-cluster` for the cluster), or a prefix.
    pub resource_name: String,
    /// LITERAL or PREFIXED.
    #[serde(default = "literal")]
    pub pattern_type: String,
    /// `User:alice`.
    pub principal: String,
    /// A client IP address, or `*`.
    #[serde(default = "any_host")]
    pub host: String,
    /// READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, ALL, ...
    pub operation: String,
    /// ALLOW or DENY.
    #[serde(default = "allow")]
    pub permission: String,
}

fn literal() -> String {
    "LITERAL".into()
}
fn any_host() -> String {
    "*".into()
}
fn allow() -> String {
    "ALLOW".into()
}

/// ACL filters of `GET` and `DELETE` (absent: ANY).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclQuery {
    /// Resource type.
    pub resource_type: Option<String>,
    /// Resource name (exact, or matched as Kafka's MATCH pattern type does).
    pub resource_name: Option<String>,
    /// LITERAL, PREFIXED, MATCH or ANY.
    pub pattern_type: Option<String>,
    /// Principal.
    pub principal: Option<String>,
    /// Host.
    pub host: Option<String>,
    /// Operation.
    pub operation: Option<String>,
    /// ALLOW or DENY.
    pub permission: Option<String>,
}

impl AclQuery {
    /// Whether no filter was given.
    fn is_empty(&self) -> bool {
        self.resource_type.is_none()
            && self.resource_name.is_none()
            && self.pattern_type.is_none()
            && self.principal.is_none()
            && self.host.is_none()
            && self.operation.is_none()
            && self.permission.is_none()
    }
}

/// The wire code of a named enum value (`default` when absent).
fn code<T: FromStr<Err = rill_auth::acl::AclError>>(
    value: Option<&str>,
    default: T,
    to_code: fn(T) -> i8,
) -> ApiResult<i8> {
    match value {
        None => Ok(to_code(default)),
        Some(v) => T::from_str(v)
            .map(to_code)
            .map_err(|e| ApiError::bad_request(e.to_string())),
    }
}

/// The wire filter fields: (resource type, pattern type, operation, permission).
fn filter_codes(q: &AclQuery) -> ApiResult<(i8, i8, i8, i8)> {
    Ok((
        code(
            q.resource_type.as_deref(),
            ResourceType::Any,
            ResourceType::code,
        )?,
        code(
            q.pattern_type.as_deref(),
            PatternType::Any,
            PatternType::code,
        )?,
        code(
            q.operation.as_deref(),
            AclOperation::Any,
            AclOperation::code,
        )?,
        code(
            q.permission.as_deref(),
            AclPermission::Any,
            AclPermission::code,
        )?,
    ))
}

/// A Kafka request context for the caller (the handlers check its ACLs again).
pub fn context(api_key: ApiKey, version: i16, auth: RequestAuth) -> RequestContext {
    let peer = auth
        .host
        .parse()
        .map(|ip| SocketAddr::new(ip, 0))
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    RequestContext {
        api_key,
        version,
        header: RequestHeader::default(),
        peer,
        listener: crate::session::ListenerContext::plaintext("admin-http"),
        auth,
        // Client quotas limit Kafka clients; the admin listener is not one.
        quota: None,
    }
}

/// An error answer from a Kafka error code and message (`None`: no error).
fn check(code: i16, message: Option<String>) -> ApiResult<()> {
    if code == 0 {
        return Ok(());
    }
    Err(ApiError::kafka(
        code,
        message.unwrap_or_else(|| crate::observe::requests::error_name(code).to_string()),
    ))
}

/// The JSON of a binding from wire codes.
fn json_of(
    resource_type: i8,
    resource_name: &str,
    pattern_type: i8,
    principal: &str,
    host: &str,
    operation: i8,
    permission: i8,
) -> AclJson {
    AclJson {
        resource_type: ResourceType::from_code(resource_type).name().into(),
        resource_name: resource_name.into(),
        pattern_type: PatternType::from_code(pattern_type).name().into(),
        principal: principal.into(),
        host: host.into(),
        operation: AclOperation::from_code(operation).name().into(),
        permission: AclPermission::from_code(permission).name().into(),
    }
}

/// `GET /api/v1/acls`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<AclQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<AclJson>>> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let broker = state.broker()?;
    let auth = authorize(&caller, &broker, AdminCall::DescribeAcls)?;
    let (rt, pt, op, perm) = filter_codes(&q)?;
    let req = DescribeAclsRequest::default()
        .with_resource_type_filter(rt)
        .with_resource_name_filter(q.resource_name.map(str_bytes))
        .with_pattern_type_filter(pt)
        .with_principal_filter(q.principal.map(str_bytes))
        .with_host_filter(q.host.map(str_bytes))
        .with_operation(op)
        .with_permission_type(perm);
    let ctx = context(ApiKey::DescribeAcls, 3, auth);
    let r = crate::api::acls::describe_acls(&broker, &ctx, req);
    check(r.error_code, r.error_message.map(|m| m.to_string()))?;
    let mut out = Vec::new();
    for res in r.resources {
        for a in res.acls {
            out.push(json_of(
                res.resource_type,
                &res.resource_name,
                res.pattern_type,
                &a.principal,
                &a.host,
                a.operation,
                a.permission_type,
            ));
        }
    }
    Ok(Json(out))
}

/// `POST /api/v1/acls`.
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<AclJson>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<(StatusCode, Json<AclJson>)> {
    let Json(acl) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let broker = state.broker()?;
    let auth = authorize(&caller, &broker, AdminCall::AlterAcls)?;
    let parse = |s: &str| -> ApiResult<String> { Ok(s.trim().to_string()) };
    let creation = AclCreation::default()
        .with_resource_type(code(
            Some(&acl.resource_type),
            ResourceType::Unknown,
            ResourceType::code,
        )?)
        .with_resource_name(str_bytes(parse(&acl.resource_name)?))
        .with_resource_pattern_type(code(
            Some(&acl.pattern_type),
            PatternType::Unknown,
            PatternType::code,
        )?)
        .with_principal(str_bytes(parse(&acl.principal)?))
        .with_host(str_bytes(parse(&acl.host)?))
        .with_operation(code(
            Some(&acl.operation),
            AclOperation::Unknown,
            AclOperation::code,
        )?)
        .with_permission_type(code(
            Some(&acl.permission),
            AclPermission::Unknown,
            AclPermission::code,
        )?);
    let shown = json_of(
        creation.resource_type,
        &creation.resource_name,
        creation.resource_pattern_type,
        &creation.principal,
        &creation.host,
        creation.operation,
        creation.permission_type,
    );
    let req = CreateAclsRequest::default().with_creations(vec![creation]);
    let ctx = context(ApiKey::CreateAcls, 3, auth);
    let r = crate::api::acls::create_acls(&broker, &ctx, req).await;
    let result = r
        .results
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("CreateAcls answered no result"))?;
    check(
        result.error_code,
        result.error_message.map(|m| m.to_string()),
    )?;
    Ok((StatusCode::CREATED, Json(shown)))
}

/// What `DELETE /api/v1/acls` removed.
#[derive(Debug, Serialize)]
pub struct Deleted {
    /// The ACLs the filter matched, now deleted.
    pub deleted: Vec<AclJson>,
}

/// `DELETE /api/v1/acls`.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<AclQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Deleted>> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if q.is_empty() {
        return Err(ApiError::bad_request(
            "give at least one filter (resource_type, resource_name, pattern_type, principal, \
             host, operation, permission); resource_type=ANY deletes every ACL",
        ));
    }
    let broker = state.broker()?;
    let auth = authorize(&caller, &broker, AdminCall::AlterAcls)?;
    let (rt, pt, op, perm) = filter_codes(&q)?;
    let filter = DeleteAclsFilter::default()
        .with_resource_type_filter(rt)
        .with_resource_name_filter(q.resource_name.map(str_bytes))
        .with_pattern_type_filter(pt)
        .with_principal_filter(q.principal.map(str_bytes))
        .with_host_filter(q.host.map(str_bytes))
        .with_operation(op)
        .with_permission_type(perm);
    let req = DeleteAclsRequest::default().with_filters(vec![filter]);
    let ctx = context(ApiKey::DeleteAcls, 3, auth);
    let r = crate::api::acls::delete_acls(&broker, &ctx, req).await;
    let result = r
        .filter_results
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("DeleteAcls answered no result"))?;
    check(
        result.error_code,
        result.error_message.map(|m| m.to_string()),
    )?;
    Ok(Json(Deleted {
        deleted: result
            .matching_acls
            .iter()
            .map(|a| {
                json_of(
                    a.resource_type,
                    &a.resource_name,
                    a.pattern_type,
                    &a.principal,
                    &a.host,
                    a.operation,
                    a.permission_type,
                )
            })
            .collect(),
    }))
}
