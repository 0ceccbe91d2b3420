//! Topics and partitions: list, describe, create and delete (through the broker's admin
//! service, [`crate::admin`], exactly as CreateTopics and DeleteTopics do).
//!
//! - `GET /api/v1/topics[?internal=true]`: every topic with partition health and totals.
//! - `GET /api/v1/topics/{name}`: one topic, its configs and partitions with offsets.
//! - `POST /api/v1/topics` `{"name", "partitions"?, "replication_factor"?, "configs"?}`.
//! - `DELETE /api/v1/topics/{name}`.
//! - `GET /api/v1/partitions[?internal=true]`: every partition of the cluster.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use rill_auth::acl::AclOperation;
use serde::{Deserialize, Serialize};

use super::access::{authorize, AdminCall};
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::offsets::{partition_rows, PartitionRow};
use super::state::AppState;
use crate::admin::{self, NewTopic};
use crate::observe::view::HealthCounts;
use crate::topic_config::TopicConfig;

/// Whether internal topics (`__consumer_offsets`) are listed.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// Include internal topics.
    #[serde(default)]
    pub internal: bool,
}

/// One topic in the list.
#[derive(Debug, Serialize)]
pub struct TopicRow {
    /// Name.
    pub name: String,
    /// Topic id.
    pub topic_id: String,
    /// Partition count.
    pub partitions: u32,
    /// Replication factor.
    pub replication_factor: u16,
    /// Internal topic (`__` prefix).
    pub internal: bool,
    /// Partition health.
    pub health: HealthCounts,
    /// Records between log start and high watermark, summed (null if any is unknown).
    pub records: Option<i64>,
    /// Bytes on disk of the partitions hosted on this node.
    pub local_size_bytes: u64,
}

/// One topic in detail.
#[derive(Debug, Serialize)]
pub struct TopicDetail {
    /// Name.
    pub name: String,
    /// Topic id.
    pub topic_id: String,
    /// Replication factor.
    pub replication_factor: u16,
    /// Internal topic.
    pub internal: bool,
    /// Config overrides set on the topic.
    pub config_overrides: BTreeMap<String, String>,
    /// Every config with its effective value.
    pub configs: BTreeMap<String, String>,
    /// Partitions with offsets.
    pub partitions: Vec<PartitionRow>,
}

fn is_internal(name: &str) -> bool {
    name.starts_with("__")
}

fn summarize(name: &str, rows: &[PartitionRow]) -> (HealthCounts, Option<i64>, u64) {
    let mut health = HealthCounts::default();
    let mut records = Some(0i64);
    let mut size = 0u64;
    for r in rows.iter().filter(|r| r.view.topic == name) {
        health.add(r.view.health);
        records = match (records, r.log_start_offset, r.high_watermark) {
            (Some(n), Some(s), Some(e)) => Some(n + (e - s).max(0)),
            _ => None,
        };
        size += r.size_bytes.unwrap_or(0);
    }
    (health, records, size)
}

/// `GET /api/v1/topics`: the topics the caller may DESCRIBE (as Metadata lists them).
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<TopicRow>>> {
    let broker = state.broker()?;
    let auth = authorize(&caller, &broker, AdminCall::ListTopics)?;
    let image = broker.image();
    let names: Vec<String> = image
        .topics()
        .filter(|t| q.internal || !is_internal(&t.name))
        .filter(|t| auth.topic(AclOperation::Describe, &t.name))
        .map(|t| t.name.clone())
        .collect();
    let rows = partition_rows(&state, &broker, Some(names.clone())).await?;
    let out = names
        .iter()
        .filter_map(|n| image.topic(n))
        .map(|t| {
            let (health, records, local_size_bytes) = summarize(&t.name, &rows);
            TopicRow {
                name: t.name.clone(),
                topic_id: t.topic_id.to_string(),
                partitions: t.partitions,
                replication_factor: t.replication_factor,
                internal: is_internal(&t.name),
                health,
                records,
                local_size_bytes,
            }
        })
        .collect();
    Ok(Json(out))
}

/// `GET /api/v1/topics/{name}`: needs DESCRIBE on the topic; configs are shown with
/// DESCRIBE_CONFIGS (as DescribeConfigs), left empty without it.
pub async fn describe(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<TopicDetail>> {
    let broker = state.broker()?;
    let auth = authorize(&caller, &broker, AdminCall::DescribeTopic(&name))?;
    let configs_allowed = auth.topic(AclOperation::DescribeConfigs, &name);
    let image = broker.image();
    let t = image
        .topic(&name)
        .ok_or_else(|| unknown_topic(&name))?
        .clone();
    let configs = TopicConfig::resolve_stored(&t.configs, &broker.config.with_dynamic(&image))
        .map(|(c, _)| {
            c.entries
                .into_iter()
                .map(|e| (e.def.name.to_string(), e.value))
                .collect()
        })
        .unwrap_or_default();
    let partitions = partition_rows(&state, &broker, Some(vec![name.clone()])).await?;
    let (config_overrides, configs) = if configs_allowed {
        (t.configs, configs)
    } else {
        (BTreeMap::new(), BTreeMap::new())
    };
    Ok(Json(TopicDetail {
        internal: is_internal(&t.name),
        topic_id: t.topic_id.to_string(),
        replication_factor: t.replication_factor,
        config_overrides,
        configs,
        partitions,
        name: t.name,
    }))
}

/// `GET /api/v1/partitions`: of the topics the caller may DESCRIBE.
pub async fn partitions(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<PartitionRow>>> {
    let broker = state.broker()?;
    let auth = authorize(&caller, &broker, AdminCall::ListTopics)?;
    let names: Vec<String> = broker
        .image()
        .topics()
        .filter(|t| q.internal || !is_internal(&t.name))
        .filter(|t| auth.topic(AclOperation::Describe, &t.name))
        .map(|t| t.name.clone())
        .collect();
    Ok(Json(partition_rows(&state, &broker, Some(names)).await?))
}

fn unknown_topic(name: &str) -> ApiError {
    ApiError::kafka(
        kafka_protocol::ResponseError::UnknownTopicOrPartition.code(),
        format!("unknown topic '{name}'"),
    )
}

/// `POST /api/v1/topics` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTopic {
    /// Name.
    pub name: String,
    /// Partitions (default `num.partitions`).
    #[serde(default)]
    pub partitions: Option<i32>,
    /// Replication factor (default `default.replication.factor`).
    #[serde(default)]
    pub replication_factor: Option<i16>,
    /// Config overrides.
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

/// What a create or delete did.
#[derive(Debug, Serialize)]
pub struct TopicChanged {
    /// Topic name.
    pub name: String,
    /// Topic id.
    pub topic_id: String,
    /// Partition count (create).
    pub partitions: Option<u32>,
}

/// `POST /api/v1/topics`: needs CREATE on the cluster or the topic (as CreateTopics).
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<CreateTopic>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<(StatusCode, Json<TopicChanged>)> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let broker = state.broker()?;
    authorize(&caller, &broker, AdminCall::CreateTopic(&req.name))?;
    let new = NewTopic {
        name: req.name,
        num_partitions: req.partitions.unwrap_or(-1),
        replication_factor: req.replication_factor.unwrap_or(-1),
        assignments: Vec::new(),
        configs: req.configs,
    };
    let t = tokio::task::spawn_blocking(move || admin::create_topic(&broker, new, false))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok((
        StatusCode::CREATED,
        Json(TopicChanged {
            name: t.name,
            topic_id: t.topic_id.to_string(),
            partitions: Some(t.partitions),
        }),
    ))
}

/// `DELETE /api/v1/topics/{name}`: needs DELETE on the topic (as DeleteTopics).
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<TopicChanged>> {
    let broker = state.broker()?;
    authorize(&caller, &broker, AdminCall::DeleteTopic(&name))?;
    let n = name.clone();
    let id = tokio::task::spawn_blocking(move || admin::delete_topic(&broker, &n))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(Json(TopicChanged {
        name,
        topic_id: id.to_string(),
        partitions: None,
    }))
}
