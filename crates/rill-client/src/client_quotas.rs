//! Client quotas: DescribeClientQuotas and AlterClientQuotas (v0-v1). Changes go to the
//! controller connection, as other admin writes; describing asks any broker (each has the
//! same quotas in its metadata image).

use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::{AlterClientQuotasRequest, ApiKey, DescribeClientQuotasRequest};
use kafka_protocol::protocol::StrBytes;

use crate::error::{ClientError, Result};
use crate::Client;

/// A quota entity: (entity type, name), `None` naming the type's default.
pub type QuotaEntity = Vec<(String, Option<String>)>;

/// How a describe filter matches one entity type's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaMatch {
    /// That name (`None`: the default).
    Exact(Option<String>),
    /// The default only.
    Default,
    /// Any name, default included.
    Any,
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

impl Client {
    /// The quotas of the entities matching `components` (strict: no other entity types).
    ///
    /// # Errors
    /// The broker's error (CLUSTER_AUTHORIZATION_FAILED, INVALID_REQUEST).
    pub async fn describe_client_quotas(
        &self,
        components: &[(String, QuotaMatch)],
        strict: bool,
    ) -> Result<Vec<(QuotaEntity, Vec<(String, f64)>)>> {
        let conn = self.any_connection().await?;
        let version = conn.version(ApiKey::DescribeClientQuotas)?;
        let req = DescribeClientQuotasRequest::default()
            .with_strict(strict)
            .with_components(
                components
                    .iter()
                    .map(|(t, m)| {
                        let (match_type, name) = match m {
                            QuotaMatch::Exact(n) => (0, n.as_deref().map(s)),
                            QuotaMatch::Default => (1, None),
                            QuotaMatch::Any => (2, None),
                        };
                        ComponentData::default()
                            .with_entity_type(s(t))
                            .with_match_type(match_type)
                            .with_match(name)
                    })
                    .collect(),
            );
        let resp = conn.call(&req, version).await?;
        ClientError::check(
            resp.error_code,
            || "describe client quotas".into(),
            resp.error_message.as_deref(),
        )?;
        Ok(resp
            .entries
            .unwrap_or_default()
            .into_iter()
            .map(|e| {
                (
                    e.entity
                        .into_iter()
                        .map(|p| {
                            (
                                p.entity_type.to_string(),
                                p.entity_name.map(|n| n.to_string()),
                            )
                        })
                        .collect(),
                    e.values
                        .into_iter()
                        .map(|v| (v.key.to_string(), v.value))
                        .collect(),
                )
            })
            .collect())
    }

    /// Sets (`Some`) or removes (`None`) quotas of `entity`.
    ///
    /// # Errors
    /// The broker's error (INVALID_REQUEST for a bad key, value or entity,
    /// CLUSTER_AUTHORIZATION_FAILED).
    pub async fn alter_client_quotas(
        &self,
        entity: &QuotaEntity,
        ops: &[(String, Option<f64>)],
        validate_only: bool,
    ) -> Result<()> {
        let conn = self.controller_connection().await?;
        let version = conn.version(ApiKey::AlterClientQuotas)?;
        let req = AlterClientQuotasRequest::default()
            .with_validate_only(validate_only)
            .with_entries(vec![EntryData::default()
                .with_entity(
                    entity
                        .iter()
                        .map(|(t, n)| {
                            EntityData::default()
                                .with_entity_type(s(t))
                                .with_entity_name(n.as_deref().map(s))
                        })
                        .collect(),
                )
                .with_ops(
                    ops.iter()
                        .map(|(k, v)| {
                            OpData::default()
                                .with_key(s(k))
                                .with_value(v.unwrap_or(0.0))
                                .with_remove(v.is_none())
                        })
                        .collect(),
                )]);
        let resp = conn.call(&req, version).await?;
        for e in &resp.entries {
            ClientError::check(
                e.error_code,
                || "alter client quotas".into(),
                e.error_message.as_deref(),
            )?;
        }
        Ok(())
    }
}
