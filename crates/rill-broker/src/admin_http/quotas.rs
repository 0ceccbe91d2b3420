//! Client quotas over HTTP, through [`crate::quota::admin`] (what DescribeClientQuotas and
//! AlterClientQuotas do): DESCRIBE_CONFIGS on the cluster to read, ALTER_CONFIGS to change.
//!
//! - `GET /api/v1/quotas`: `{quotas: [{entity: {user?, client-id?}, values: {key: value}}],
//!   sensors: [...]}`; an entity part whose value is `null` is the default. `sensors` are this
//!   node's quota sensors in use (limit, measured value, throttle time handed out).
//! - `POST /api/v1/quotas` `{entity: {user?: name|null, client-id?: name|null}, set?: {key:
//!   value}, remove?: [key]}`: one entity's changes, all or nothing (INVALID_REQUEST with
//!   Kafka's message otherwise).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::access::{authorize, AdminCall};
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::state::AppState;
use crate::quota::admin::{describe, plan_alter, QuotaAlteration, QuotaOp};
use crate::quota::entity::QuotaFilter;

/// One entity and its quotas.
#[derive(Debug, Serialize)]
pub struct QuotaJson {
    /// Entity type to name (`null`: the default).
    pub entity: BTreeMap<String, Option<String>>,
    /// Quota key to value.
    pub values: BTreeMap<String, f64>,
}

/// One sensor of this node.
#[derive(Debug, Serialize)]
pub struct SensorJson {
    /// `produce`, `fetch`, `request` or `controller_mutation`.
    pub quota: &'static str,
    /// The user it counts ("" when the quota is not per user).
    pub user: String,
    /// The client id it counts ("" when the quota is not per client id).
    pub client_id: String,
    /// The quota.
    pub limit: f64,
    /// The measured rate (bytes/s, percent) or, for mutations, the tokens left.
    pub value: f64,
    /// Throttle time handed out, ms.
    pub throttle_ms_total: u64,
    /// Requests throttled.
    pub throttled_requests: u64,
}

/// `GET /api/v1/quotas` answer.
#[derive(Debug, Serialize)]
pub struct QuotasJson {
    /// Every entity's quotas.
    pub quotas: Vec<QuotaJson>,
    /// This node's sensors in use.
    pub sensors: Vec<SensorJson>,
}

/// `GET /api/v1/quotas`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<QuotasJson>> {
    let broker = state.broker()?;
    authorize(&caller, &broker, AdminCall::DescribeQuotas)?;
    let quotas = describe(&broker.image(), &QuotaFilter::default())
        .into_iter()
        .map(|(entity, values)| QuotaJson {
            entity: entity
                .into_iter()
                .map(|p| (p.entity_type, p.name))
                .collect(),
            values: values.into_iter().collect(),
        })
        .collect();
    let sensors = broker
        .quotas
        .views()
        .into_iter()
        .map(|v| SensorJson {
            quota: v.kind.label(),
            user: v.user,
            client_id: v.client_id,
            limit: v.limit,
            value: v.value,
            throttle_ms_total: v.throttle_ms_total,
            throttled_requests: v.throttled,
        })
        .collect();
    Ok(Json(QuotasJson { quotas, sensors }))
}

/// `POST /api/v1/quotas` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaChange {
    /// Entity type (`user`, `client-id`) to name (`null`: the default).
    pub entity: BTreeMap<String, Option<String>>,
    /// Quotas to set.
    #[serde(default)]
    pub set: BTreeMap<String, f64>,
    /// Quotas to remove.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// `POST /api/v1/quotas`: the entity's quotas after the change.
pub async fn alter(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<QuotaChange>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Json<QuotaJson>> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let broker = state.broker()?;
    authorize(&caller, &broker, AdminCall::AlterQuotas)?;
    if req.set.is_empty() && req.remove.is_empty() {
        return Err(ApiError::bad_request(
            "nothing to change: give set or remove",
        ));
    }
    let alteration = QuotaAlteration {
        entity: req.entity.clone().into_iter().collect(),
        ops: req
            .set
            .iter()
            .map(|(k, v)| QuotaOp {
                key: k.clone(),
                value: Some(*v),
            })
            .chain(req.remove.iter().map(|k| QuotaOp {
                key: k.clone(),
                value: None,
            }))
            .collect(),
    };
    let (outcomes, records) = plan_alter(&broker.image(), std::slice::from_ref(&alteration));
    if let Some(Err(e)) = outcomes.into_iter().next() {
        return Err(ApiError::kafka(
            kafka_protocol::ResponseError::InvalidRequest.code(),
            e,
        ));
    }
    if !records.is_empty() {
        let b = broker.clone();
        tokio::task::spawn_blocking(move || b.commit(records))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(|e| ApiError::internal(e.to_string()))?;
        tracing::info!(entity = ?req.entity, "client quotas changed through the admin API");
    }
    let entity =
        crate::quota::entity::validate_entity(&alteration.entity).map_err(ApiError::bad_request)?;
    let values = broker
        .image()
        .client_quotas_of(&entity)
        .map(|q| q.iter().map(|(k, v)| (k.clone(), v.0)).collect())
        .unwrap_or_default();
    Ok(Json(QuotaJson {
        entity: req.entity,
        values,
    }))
}
