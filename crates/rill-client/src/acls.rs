//! ACLs: CreateAcls, DescribeAcls and DeleteAcls (v1 and up), with rill-auth's binding and
//! filter types. Changes go to the controller connection, as other admin writes; describing
//! asks any broker (each has the same ACLs in its metadata image).

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{ApiKey, CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};
use kafka_protocol::protocol::StrBytes;
pub use rill_auth::acl::{
    AclBinding, AclBindingFilter, AclOperation, AclPermission, PatternType, ResourceType,
};

use crate::error::{ClientError, Result};
use crate::Client;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn opt(v: &Option<String>) -> Option<StrBytes> {
    v.as_deref().map(s)
}

impl Client {
    /// Creates `bindings` (one request; an existing binding is kept as it is).
    ///
    /// # Errors
    /// The broker's error for the first binding it refused (SECURITY_DISABLED without an
    /// authorizer, CLUSTER_AUTHORIZATION_FAILED without ALTER on the cluster, INVALID_REQUEST).
    pub async fn create_acls(&self, bindings: &[AclBinding]) -> Result<()> {
        let conn = self.controller_connection().await?;
        let version = conn.version(ApiKey::CreateAcls)?;
        let req = CreateAclsRequest::default().with_creations(
            bindings
                .iter()
                .map(|b| {
                    AclCreation::default()
                        .with_resource_type(b.resource_type.code())
                        .with_resource_name(s(&b.resource_name))
                        .with_resource_pattern_type(b.pattern_type.code())
                        .with_principal(s(&b.principal))
                        .with_host(s(&b.host))
                        .with_operation(b.operation.code())
                        .with_permission_type(b.permission.code())
                })
                .collect(),
        );
        let resp = conn.call(&req, version).await?;
        for r in &resp.results {
            ClientError::check(
                r.error_code,
                || "create ACLs".into(),
                r.error_message.as_deref(),
            )?;
        }
        Ok(())
    }

    /// The ACLs `filter` matches.
    ///
    /// # Errors
    /// The broker's error.
    pub async fn describe_acls(&self, filter: &AclBindingFilter) -> Result<Vec<AclBinding>> {
        let conn = self.any_connection().await?;
        let version = conn.version(ApiKey::DescribeAcls)?;
        let req = DescribeAclsRequest::default()
            .with_resource_type_filter(filter.resource_type.code())
            .with_resource_name_filter(opt(&filter.resource_name))
            .with_pattern_type_filter(filter.pattern_type.code())
            .with_principal_filter(opt(&filter.principal))
            .with_host_filter(opt(&filter.host))
            .with_operation(filter.operation.code())
            .with_permission_type(filter.permission.code());
        let resp = conn.call(&req, version).await?;
        ClientError::check(
            resp.error_code,
            || "describe ACLs".into(),
            resp.error_message.as_deref(),
        )?;
        let mut out = Vec::new();
        for res in resp.resources {
            for a in res.acls {
                out.push(AclBinding {
                    resource_type: ResourceType::from_code(res.resource_type),
                    resource_name: res.resource_name.to_string(),
                    pattern_type: PatternType::from_code(res.pattern_type),
                    principal: a.principal.to_string(),
                    host: a.host.to_string(),
                    operation: AclOperation::from_code(a.operation),
                    permission: AclPermission::from_code(a.permission_type),
                });
            }
        }
        Ok(out)
    }

    /// Deletes the ACLs each filter matches; returns those deleted.
    ///
    /// # Errors
    /// The broker's error for the first filter it refused.
    pub async fn delete_acls(&self, filters: &[AclBindingFilter]) -> Result<Vec<AclBinding>> {
        let conn = self.controller_connection().await?;
        let version = conn.version(ApiKey::DeleteAcls)?;
        let req = DeleteAclsRequest::default().with_filters(
            filters
                .iter()
                .map(|f| {
                    DeleteAclsFilter::default()
                        .with_resource_type_filter(f.resource_type.code())
                        .with_resource_name_filter(opt(&f.resource_name))
                        .with_pattern_type_filter(f.pattern_type.code())
                        .with_principal_filter(opt(&f.principal))
                        .with_host_filter(opt(&f.host))
                        .with_operation(f.operation.code())
                        .with_permission_type(f.permission.code())
                })
                .collect(),
        );
        let resp = conn.call(&req, version).await?;
        let mut out = Vec::new();
        for r in resp.filter_results {
            ClientError::check(
                r.error_code,
                || "delete ACLs".into(),
                r.error_message.as_deref(),
            )?;
            for m in r.matching_acls {
                out.push(AclBinding {
                    resource_type: ResourceType::from_code(m.resource_type),
                    resource_name: m.resource_name.to_string(),
                    pattern_type: PatternType::from_code(m.pattern_type),
                    principal: m.principal.to_string(),
                    host: m.host.to_string(),
                    operation: AclOperation::from_code(m.operation),
                    permission: AclPermission::from_code(m.permission_type),
                });
            }
        }
        Ok(out)
    }
}
