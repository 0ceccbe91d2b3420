//! `/health/live` and `/health/ready` for orchestrators, and `/metrics` for Prometheus.
//!
//! Live: the process answers HTTP. Ready: the broker caught up with the metadata log and
//! opened its partitions (it is open and its Kafka listener is bound), shutdown has not
//! begun, and in a cluster an active controller is known and this node is registered and
//! unfenced. Both answer JSON with the reason; not ready is 503.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::state::AppState;
use crate::observe::collect;

/// How long a scrape waits for other nodes' end offsets (group lag).
const REMOTE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// `GET /health/live`.
pub async fn live() -> Response {
    Json(json!({"status": "live"})).into_response()
}

/// Why the node is not ready, or `None` when it is.
pub fn not_ready_reason(state: &AppState) -> Option<String> {
    if state.is_stopping() {
        return Some("shutting down".into());
    }
    let Some(opened) = state.opened() else {
        return Some("starting: catching up with the metadata log and loading partitions".into());
    };
    let broker = &opened.broker;
    if broker.stopping.load(std::sync::atomic::Ordering::SeqCst) {
        return Some("shutting down".into());
    }
    if broker.config.cluster.is_quorum() {
        if broker.controller_id() < 0 {
            return Some("no active controller: the metadata quorum has no leader".into());
        }
        match broker.image().broker(broker.config.node_id) {
            None => return Some("not registered with the cluster".into()),
            Some(b) if b.fenced => return Some("fenced by the controller".into()),
            Some(_) => {}
        }
    }
    None
}

/// `GET /health/ready`.
pub async fn ready(State(state): State<Arc<AppState>>) -> Response {
    match not_ready_reason(&state) {
        None => Json(json!({"status": "ready"})).into_response(),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not ready", "reason": reason})),
        )
            .into_response(),
    }
}

/// `GET /metrics`: the recorder's metrics, then the scrape-time ones. When it is not open
/// (`admin.metrics.open`), the caller needs DESCRIBE on the cluster: the text names every
/// topic and group.
pub async fn metrics(
    State(state): State<Arc<AppState>>,
    axum::Extension(caller): axum::Extension<super::auth::Caller>,
) -> Response {
    if let Ok(broker) = state.broker() {
        use super::access::{authorize, AdminCall};
        if let Err(e) = authorize(&caller, &broker, AdminCall::Metrics) {
            return e.into_response();
        }
    }
    let mut text = crate::observe::render();
    if let Ok(broker) = state.broker() {
        let remote = tokio::time::timeout(REMOTE_WAIT, remote_group_ends(&state, &broker))
            .await
            .unwrap_or_default();
        let b = broker.clone();
        match tokio::task::spawn_blocking(move || collect::collect(&b, &remote)).await {
            Ok(more) => text.push_str(&more),
            Err(e) => tracing::error!(error = %e, "collecting metrics failed"),
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// End offsets of partitions hosted elsewhere that local groups committed offsets for,
/// asked of their leaders (left out when they do not answer).
async fn remote_group_ends(state: &AppState, broker: &Arc<crate::Broker>) -> collect::RemoteEnds {
    let b = broker.clone();
    let wanted = tokio::task::spawn_blocking(move || collect::remote_group_partitions(&b))
        .await
        .unwrap_or_default();
    let mut out = collect::RemoteEnds::new();
    if wanted.is_empty() {
        return out;
    }
    let Ok(client) = state.client().await else {
        return out;
    };
    let mut by_topic: std::collections::BTreeMap<&str, Vec<(i32, i64)>> = Default::default();
    for (t, p) in &wanted {
        by_topic
            .entry(t.as_str())
            .or_default()
            .push((*p, rill_client::fetch::LATEST));
    }
    for (topic, specs) in by_topic {
        match client.list_offsets(topic, &specs).await {
            Ok(ends) => out.extend(ends.into_iter().map(|(p, o)| ((topic.to_string(), p), o))),
            Err(e) => tracing::debug!(topic, error = %e, "end offsets for group lag unavailable"),
        }
    }
    out
}
