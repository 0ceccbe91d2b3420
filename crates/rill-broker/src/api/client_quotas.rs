//! DescribeClientQuotas (API 48) and AlterClientQuotas (API 49), v0-v1: decode, call
//! [`crate::quota::admin`], encode. Describe answers from this node's image and needs
//! DESCRIBE_CONFIGS on the cluster; alter needs ALTER_CONFIGS and commits through the
//! metadata log (the active controller in a cluster), as Kafka's `ClientQuotaControlManager`.

use std::sync::Arc;

use kafka_protocol::messages::alter_client_quotas_response::{
    EntityData as AlterEntityData, EntryData as AlterEntryData,
};
use kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, DescribeClientQuotasRequest,
    DescribeClientQuotasResponse,
};
use kafka_protocol::ResponseError;
use rill_auth::acl::AclOperation;

use super::{blocking, str_bytes, RequestContext};
use crate::broker::Broker;
use crate::quota::admin::{describe, plan_alter, QuotaAlteration, QuotaOp};
use crate::quota::entity::QuotaFilter;

/// Answers DescribeClientQuotas.
pub fn describe_client_quotas(
    broker: &Broker,
    ctx: &RequestContext,
    req: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    let mut r = DescribeClientQuotasResponse::default();
    if !ctx.auth.cluster(AclOperation::DescribeConfigs) {
        r.error_code = ResponseError::ClusterAuthorizationFailed.code();
        r.error_message = Some(str_bytes("Authorization failed."));
        return r;
    }
    let filter = QuotaFilter::from_wire(
        req.components.into_iter().map(|c| {
            (
                c.entity_type.to_string(),
                c.match_type,
                c._match.map(|m| m.to_string()),
            )
        }),
        req.strict,
    );
    let filter = match filter {
        Ok(f) => f,
        Err(e) => {
            r.error_code = ResponseError::InvalidRequest.code();
            r.error_message = Some(str_bytes(e));
            return r;
        }
    };
    let entries = describe(&broker.image(), &filter)
        .into_iter()
        .map(|(entity, values)| {
            EntryData::default()
                .with_entity(
                    entity
                        .into_iter()
                        .map(|p| {
                            EntityData::default()
                                .with_entity_type(str_bytes(p.entity_type))
                                .with_entity_name(p.name.map(str_bytes))
                        })
                        .collect(),
                )
                .with_values(
                    values
                        .into_iter()
                        .map(|(k, v)| ValueData::default().with_key(str_bytes(k)).with_value(v))
                        .collect(),
                )
        })
        .collect();
    r.entries = Some(entries);
    r
}

/// Answers AlterClientQuotas: one result per entry; the valid ones are committed as one
/// batch (unless `validate_only`).
pub async fn alter_client_quotas(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: AlterClientQuotasRequest,
) -> AlterClientQuotasResponse {
    let alterations: Vec<QuotaAlteration> = req
        .entries
        .iter()
        .map(|e| QuotaAlteration {
            entity: e
                .entity
                .iter()
                .map(|p| {
                    (
                        p.entity_type.to_string(),
                        p.entity_name.as_ref().map(|n| n.to_string()),
                    )
                })
                .collect(),
            ops: e
                .ops
                .iter()
                .map(|o| QuotaOp {
                    key: o.key.to_string(),
                    value: (!o.remove).then_some(o.value),
                })
                .collect(),
        })
        .collect();
    let outcomes: Vec<Result<(), (i16, String)>> = if !ctx.auth.cluster(AclOperation::AlterConfigs)
    {
        alterations
            .iter()
            .map(|_| {
                Err((
                    ResponseError::ClusterAuthorizationFailed.code(),
                    "Authorization failed.".to_string(),
                ))
            })
            .collect()
    } else {
        let (outcomes, records) = plan_alter(&broker.image(), &alterations);
        let mut outcomes: Vec<Result<(), (i16, String)>> = outcomes
            .into_iter()
            .map(|o| o.map_err(|e| (ResponseError::InvalidRequest.code(), e)))
            .collect();
        if !req.validate_only && !records.is_empty() {
            let n = records.len();
            let b = broker.clone();
            let failure = match blocking(move || b.commit(records)).await {
                Some(Ok(())) => {
                    tracing::info!(records = n, "client quotas altered");
                    None
                }
                Some(Err(crate::error::BrokerError::NotController { .. })) => Some((
                    ResponseError::NotController.code(),
                    "not the active controller".to_string(),
                )),
                Some(Err(e)) => Some((ResponseError::UnknownServerError.code(), e.to_string())),
                None => Some((
                    ResponseError::UnknownServerError.code(),
                    "the commit task failed".to_string(),
                )),
            };
            if let Some(f) = failure {
                tracing::warn!(error = %f.1, "client quota alteration not committed");
                for o in outcomes.iter_mut().filter(|o| o.is_ok()) {
                    *o = Err(f.clone());
                }
            }
        }
        outcomes
    };
    let mut r = AlterClientQuotasResponse::default();
    r.entries = req
        .entries
        .into_iter()
        .zip(outcomes)
        .map(|(e, outcome)| {
            let entry = AlterEntryData::default().with_entity(
                e.entity
                    .into_iter()
                    .map(|p| {
                        AlterEntityData::default()
                            .with_entity_type(p.entity_type)
                            .with_entity_name(p.entity_name)
                    })
                    .collect(),
            );
            match outcome {
                Ok(()) => entry,
                Err((code, message)) => entry
                    .with_error_code(code)
                    .with_error_message(Some(str_bytes(message))),
            }
        })
        .collect();
    r
}
