//! `GET /api/v1/cluster`, `/api/v1/brokers` and `/api/v1/throughput`: the cluster's identity,
//! controller and quorum state, brokers, partition health, and this node's traffic.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::error::ApiResult;
use super::health::not_ready_reason;
use super::state::AppState;
use crate::broker::Broker;
use crate::observe::throughput::{self, RatePoint, Totals};
use crate::observe::view::{self, HealthCounts};

/// One broker.
#[derive(Debug, Serialize)]
pub struct BrokerRow {
    /// `node.id`.
    pub id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: u16,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// Fenced by the controller (leads nothing).
    pub fenced: bool,
    /// The active controller.
    pub is_controller: bool,
    /// The node answering.
    pub is_self: bool,
}

/// One voter of the metadata quorum.
#[derive(Debug, Serialize)]
pub struct VoterRow {
    /// Node id.
    pub node_id: u64,
    /// Last log index the leader knows it holds.
    pub log_end_index: Option<u64>,
    /// Milliseconds since it last answered the leader.
    pub last_contact_ms: Option<u128>,
}

/// The metadata quorum as this node sees it.
#[derive(Debug, Serialize)]
pub struct QuorumRow {
    /// Leader (active controller).
    pub leader_id: Option<u64>,
    /// Raft term.
    pub term: u64,
    /// Last index committed and applied here.
    pub commit_index: Option<u64>,
    /// Last index in this node's log.
    pub log_end_index: Option<u64>,
    /// Voters (progress known on the leader only).
    pub voters: Vec<VoterRow>,
}

/// `GET /api/v1/cluster`.
#[derive(Debug, Serialize)]
pub struct ClusterInfo {
    /// Cluster id.
    pub cluster_id: String,
    /// The node answering.
    pub node_id: i32,
    /// Active controller, -1 when none is known.
    pub controller_id: i32,
    /// `single-node` (local metadata log) or `quorum` (Raft).
    pub mode: &'static str,
    /// Raft state in a quorum.
    pub quorum: Option<QuorumRow>,
    /// Registered brokers.
    pub brokers: Vec<BrokerRow>,
    /// Health of every partition of the cluster.
    pub partitions: HealthCounts,
    /// Topics, internal ones excluded.
    pub topics: usize,
    /// Whether the answering node is ready, and why not.
    pub ready: bool,
    /// Why the node is not ready.
    pub not_ready_reason: Option<String>,
    /// Rill's version.
    pub version: &'static str,
    /// What the caller may do on the cluster (Kafka's operation names; all of them without
    /// an authorizer).
    pub authorized_operations: Vec<&'static str>,
}

/// The brokers of the image (a lone node: itself).
pub fn broker_rows(broker: &Broker) -> Vec<BrokerRow> {
    let image = broker.image();
    let controller = broker.controller_id();
    let me = broker.config.node_id;
    let mut rows: Vec<BrokerRow> = image
        .brokers()
        .map(|b| BrokerRow {
            id: b.broker_id,
            host: b.host.clone(),
            port: b.port,
            rack: b.rack.clone(),
            fenced: b.fenced,
            is_controller: b.broker_id == controller,
            is_self: b.broker_id == me,
        })
        .collect();
    if rows.is_empty() {
        rows = broker
            .live_brokers()
            .into_iter()
            .map(|(id, host, port, rack)| BrokerRow {
                id,
                host,
                port,
                rack,
                fenced: false,
                is_controller: id == controller,
                is_self: id == me,
            })
            .collect();
    }
    rows
}

/// `GET /api/v1/cluster`: authentication only (as DescribeCluster), with the caller's
/// authorized operations on the cluster (as DescribeCluster's `cluster_authorized_operations`).
pub async fn cluster(
    State(state): State<Arc<AppState>>,
    axum::Extension(caller): axum::Extension<super::auth::Caller>,
) -> ApiResult<Json<ClusterInfo>> {
    let broker = state.broker()?;
    let auth =
        super::access::authorize(&caller, &broker, super::access::AdminCall::DescribeCluster)?;
    let authorized_operations = rill_auth::acl::ResourceType::Cluster
        .supported_operations()
        .iter()
        .filter(|op| auth.cluster(**op))
        .map(|op| op.name())
        .collect();
    let image = broker.image();
    let quorum = broker.metadata.quorum_status().map(|s| QuorumRow {
        leader_id: s.leader,
        term: s.term,
        commit_index: s.high_watermark,
        log_end_index: s.log_end_offset,
        voters: s
            .voters
            .iter()
            .map(|v| VoterRow {
                node_id: v.node_id,
                log_end_index: v.log_end_offset,
                last_contact_ms: v.last_fetch_ago.map(|d| d.as_millis()),
            })
            .collect(),
    });
    let reason = not_ready_reason(&state);
    Ok(Json(ClusterInfo {
        cluster_id: broker.cluster_id.clone(),
        node_id: broker.config.node_id,
        controller_id: broker.controller_id(),
        mode: if broker.config.cluster.is_quorum() {
            "quorum"
        } else {
            "single-node"
        },
        quorum,
        brokers: broker_rows(&broker),
        partitions: view::cluster_health(&broker, &image),
        topics: image.topics().filter(|t| !t.name.starts_with("__")).count(),
        ready: reason.is_none(),
        not_ready_reason: reason,
        version: env!("CARGO_PKG_VERSION"),
        authorized_operations,
    }))
}

/// `GET /api/v1/brokers`.
pub async fn brokers(State(state): State<Arc<AppState>>) -> ApiResult<Json<Vec<BrokerRow>>> {
    let broker = state.broker()?;
    Ok(Json(broker_rows(&broker)))
}

/// `GET /api/v1/throughput`.
#[derive(Debug, Serialize)]
pub struct Throughput {
    /// The node these figures are from.
    pub node_id: i32,
    /// Milliseconds between samples.
    pub interval_ms: u64,
    /// Totals since the process started.
    pub totals: Totals,
    /// Rates per interval, oldest first.
    pub points: Vec<RatePoint>,
    /// The cluster's summed high watermarks at the newest sample (non-internal topics), when
    /// known.
    pub cluster_high_watermarks: Option<u64>,
}

/// `GET /api/v1/throughput`.
pub async fn throughput(State(state): State<Arc<AppState>>) -> ApiResult<Json<Throughput>> {
    let broker = state.broker()?;
    Ok(Json(Throughput {
        node_id: broker.config.node_id,
        interval_ms: super::SAMPLE_INTERVAL.as_millis() as u64,
        totals: throughput::totals(),
        points: state.history.rates(),
        cluster_high_watermarks: state.history.latest_cluster_end(),
    }))
}
