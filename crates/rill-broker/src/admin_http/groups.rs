//! Consumer groups of the whole cluster, asked over the Kafka protocol (ListGroups on every
//! broker, then DescribeGroups and OffsetFetch at each group's coordinator, ListOffsets at
//! the partitions' leaders), so every node shows every group wherever it is coordinated.
//!
//! - `GET /api/v1/groups`: every group with its state, member count and total lag.
//! - `GET /api/v1/groups/{id}`: members with assignments, and per partition the committed
//!   offset, the high watermark, the lag and the member that owns it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use rill_auth::acl::AclOperation;
use rill_client::fetch::LATEST;
use rill_client::Client;
use serde::Serialize;

use super::access::{authorize, AdminCall};
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::state::AppState;
use crate::authz::RequestAuth;

/// Groups described in the list; more are listed without details.
const MAX_DESCRIBED: usize = 200;

/// One group in the list.
#[derive(Debug, Serialize)]
pub struct GroupRow {
    /// Group id.
    pub group_id: String,
    /// State (Empty, Stable, PreparingRebalance, CompletingRebalance).
    pub state: Option<String>,
    /// Protocol type ("consumer").
    pub protocol_type: String,
    /// Members.
    pub members: Option<usize>,
    /// Sum of the partitions' lag (null when an end offset is unknown).
    pub total_lag: Option<i64>,
    /// Partitions with a committed offset.
    pub partitions: Option<usize>,
}

/// One member.
#[derive(Debug, Serialize)]
pub struct MemberRow {
    /// Member id.
    pub member_id: String,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Assigned partitions by topic.
    pub assignment: BTreeMap<String, Vec<i32>>,
}

/// One partition of a group.
#[derive(Debug, Serialize)]
pub struct LagRow {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Committed offset (null: none committed).
    pub committed_offset: Option<i64>,
    /// High watermark (null: unknown).
    pub high_watermark: Option<i64>,
    /// High watermark minus committed offset.
    pub lag: Option<i64>,
    /// The member it is assigned to.
    pub member_id: Option<String>,
    /// That member's client id.
    pub client_id: Option<String>,
}

/// One group in detail.
#[derive(Debug, Serialize)]
pub struct GroupDetail {
    /// Group id.
    pub group_id: String,
    /// State.
    pub state: String,
    /// Protocol type.
    pub protocol_type: String,
    /// Assignor.
    pub protocol: String,
    /// Members.
    pub members: Vec<MemberRow>,
    /// Per-partition offsets and lag.
    pub partitions: Vec<LagRow>,
    /// Sum of the lags of the partitions with a committed offset (null when one is unknown
    /// or none has one).
    pub total_lag: Option<i64>,
}

/// `GET /api/v1/groups`: the groups the caller may DESCRIBE (as ListGroups).
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<GroupRow>>> {
    let broker = state.broker()?;
    let auth = authorize(&caller, &broker, AdminCall::ListGroups)?;
    let client = state.client().await?;
    let mut groups = client.list_groups().await?;
    groups.retain(|g| auth.group(AclOperation::Describe, &g.group_id));
    let mut out = Vec::with_capacity(groups.len());
    for (i, g) in groups.into_iter().enumerate() {
        let detail = if i < MAX_DESCRIBED {
            detail(&client, &g.group_id, &auth).await.ok()
        } else {
            None
        };
        out.push(GroupRow {
            state: detail.as_ref().map(|d| d.state.clone()).or(g.state),
            members: detail.as_ref().map(|d| d.members.len()),
            total_lag: detail.as_ref().and_then(|d| d.total_lag),
            partitions: detail.as_ref().map(|d| {
                d.partitions
                    .iter()
                    .filter(|p| p.committed_offset.is_some())
                    .count()
            }),
            protocol_type: g.protocol_type,
            group_id: g.group_id,
        });
    }
    Ok(Json(out))
}

/// `GET /api/v1/groups/{id}`: needs DESCRIBE on the group (DescribeGroups, OffsetFetch);
/// partitions of topics the caller may not DESCRIBE are left out, as OffsetFetch does.
pub async fn describe(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<GroupDetail>> {
    let broker = state.broker()?;
    let auth = authorize(&caller, &broker, AdminCall::DescribeGroup(&id))?;
    let client = state.client().await?;
    Ok(Json(detail(&client, &id, &auth).await?))
}

async fn detail(client: &Client, id: &str, auth: &RequestAuth) -> ApiResult<GroupDetail> {
    let d = client.describe_group(id).await?;
    if d.state == "Dead" {
        return Err(ApiError::kafka(
            kafka_protocol::ResponseError::GroupIdNotFound.code(),
            format!("unknown group '{id}'"),
        ));
    }
    let committed = client.committed_offsets(id, None).await?;
    let mut owner: BTreeMap<(String, i32), (String, String)> = BTreeMap::new();
    for m in &d.members {
        for (t, ps) in &m.assignment {
            for p in ps {
                owner.insert((t.clone(), *p), (m.member_id.clone(), m.client_id.clone()));
            }
        }
    }
    let keys: BTreeSet<(String, i32)> = committed
        .keys()
        .chain(owner.keys())
        .filter(|(t, _)| auth.topic(AclOperation::Describe, t))
        .cloned()
        .collect();
    let mut by_topic: BTreeMap<&str, Vec<(i32, i64)>> = BTreeMap::new();
    for (t, p) in &keys {
        by_topic.entry(t.as_str()).or_default().push((*p, LATEST));
    }
    let mut ends: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for (topic, specs) in by_topic {
        match client.list_offsets(topic, &specs).await {
            Ok(e) => ends.extend(e.into_iter().map(|(p, o)| ((topic.to_string(), p), o))),
            Err(e) => tracing::debug!(topic, error = %e, "end offsets unavailable for group lag"),
        }
    }
    let mut total = if committed.is_empty() {
        None
    } else {
        Some(0i64)
    };
    let partitions: Vec<LagRow> = keys
        .into_iter()
        .map(|k| {
            let c = committed.get(&k).copied();
            let e = ends.get(&k).copied();
            let lag = match (c, e) {
                (Some(c), Some(e)) => Some((e - c).max(0)),
                _ => None,
            };
            if c.is_some() {
                total = match (total, lag) {
                    (Some(t), Some(l)) => Some(t + l),
                    _ => None,
                };
            }
            let o = owner.get(&k);
            LagRow {
                committed_offset: c,
                high_watermark: e,
                lag,
                member_id: o.map(|o| o.0.clone()),
                client_id: o.map(|o| o.1.clone()),
                topic: k.0,
                partition: k.1,
            }
        })
        .collect();
    Ok(GroupDetail {
        group_id: d.group_id,
        state: d.state,
        protocol_type: d.protocol_type,
        protocol: d.protocol,
        members: d
            .members
            .into_iter()
            .map(|m| MemberRow {
                member_id: m.member_id,
                client_id: m.client_id,
                client_host: m.client_host,
                assignment: m.assignment,
            })
            .collect(),
        partitions,
        total_lag: total,
    })
}
