//! Partition rows with offsets for the whole cluster: log figures of partitions hosted here
//! from their logs, start, end and last stable offsets of the others from their leaders
//! (ListOffsets over the Kafka protocol, read_committed for the last stable offset). A leader that does not answer in time leaves its figures unknown
//! (`null`), never made up.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rill_client::fetch::{EARLIEST, LATEST};
use serde::Serialize;

use super::error::{ApiError, ApiResult};
use super::state::AppState;
use crate::broker::Broker;
use crate::observe::view::{self, PartitionView};

/// How long one topic's remote offsets may take.
const REMOTE_WAIT: Duration = Duration::from_secs(3);

/// Topics with partitions hosted elsewhere that the throughput sampler asks about at most
/// (one ListOffsets each); with more, the cluster's rate is left unknown.
const MAX_REMOTE_TOPICS: usize = 64;

/// One partition with its offsets.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionRow {
    /// Placement and health from the metadata image.
    #[serde(flatten)]
    pub view: PartitionView,
    /// First offset of the log.
    pub log_start_offset: Option<i64>,
    /// Offset after the last record appended (known for partitions hosted here).
    pub log_end_offset: Option<i64>,
    /// Offsets below this are committed and readable by consumers.
    pub high_watermark: Option<i64>,
    /// Offsets below this hold no open transaction (what read_committed consumers read up
    /// to; at most the high watermark).
    pub last_stable_offset: Option<i64>,
    /// Bytes on disk (partitions hosted here).
    pub size_bytes: Option<u64>,
    /// Segments (partitions hosted here).
    pub segments: Option<usize>,
    /// Share of the cleanable log not yet compacted (hosted here, compacted topics only).
    pub dirty_ratio: Option<f64>,
    /// Where the figures come from: `local`, `leader` (asked over the Kafka protocol) or
    /// `unknown`.
    pub offsets_from: &'static str,
}

/// Partition rows of `topics` (all when `None`), offsets filled in as described above.
///
/// # Errors
/// 500 when the blocking task fails.
pub async fn partition_rows(
    state: &AppState,
    broker: &Arc<Broker>,
    topics: Option<Vec<String>>,
) -> ApiResult<Vec<PartitionRow>> {
    let b = broker.clone();
    let views = tokio::task::spawn_blocking(move || {
        let image = b.image();
        let names: Option<Vec<&str>> = topics
            .as_ref()
            .map(|t| t.iter().map(String::as_str).collect());
        view::partitions(&b, &image, names.as_deref())
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut rows: Vec<PartitionRow> = views.into_iter().map(row).collect();
    let mut remote: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        if r.view.local.is_none() && r.view.leader >= 0 {
            remote.entry(r.view.topic.clone()).or_default().push(i);
        }
    }
    if remote.is_empty() {
        return Ok(rows);
    }
    let client = match state.client().await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e.message, "no client for remote offsets");
            return Ok(rows);
        }
    };
    for (topic, idxs) in remote {
        let parts: Vec<i32> = idxs.iter().map(|&i| rows[i].view.partition).collect();
        let spec = |ts: i64| parts.iter().map(|&p| (p, ts)).collect::<Vec<_>>();
        let (starts, ends) = (spec(EARLIEST), spec(LATEST));
        let asked = tokio::time::timeout(REMOTE_WAIT, async {
            let s = client.list_offsets(&topic, &starts).await?;
            let e = client.list_offsets(&topic, &ends).await?;
            let l = client.list_offsets_committed(&topic, &ends).await?;
            Ok::<_, rill_client::ClientError>((s, e, l))
        })
        .await;
        let (s, e, l) = match asked {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                tracing::debug!(topic, error = %e, "remote offsets unavailable");
                continue;
            }
            Err(_) => continue,
        };
        for i in idxs {
            let p = rows[i].view.partition;
            rows[i].log_start_offset = s.get(&p).copied();
            rows[i].high_watermark = e.get(&p).copied();
            rows[i].last_stable_offset = l.get(&p).copied();
            rows[i].offsets_from = "leader";
        }
    }
    Ok(rows)
}

fn row(view: PartitionView) -> PartitionRow {
    let local = view.local;
    PartitionRow {
        log_start_offset: local.map(|s| s.log_start_offset),
        log_end_offset: local.map(|s| s.log_end_offset),
        high_watermark: local.map(|s| s.high_watermark),
        last_stable_offset: local.map(|s| s.last_stable_offset),
        size_bytes: local.map(|s| s.size_bytes),
        segments: local.map(|s| s.segments),
        dirty_ratio: view.dirty_ratio,
        offsets_from: if local.is_some() { "local" } else { "unknown" },
        view,
    }
}

/// The sum of every non-internal partition's high watermark in the cluster: local ones read
/// here (an atomic load each), the others asked of their leaders. `None` when any is unknown
/// (a leaderless partition, a leader that does not answer, too many remote topics).
pub async fn cluster_end_total(state: &AppState) -> Option<u64> {
    let broker = state.broker().ok()?;
    let image = broker.image();
    let mut total: u64 = 0;
    let mut remote: BTreeMap<String, Vec<(i32, i64)>> = BTreeMap::new();
    for t in image.topics().filter(|t| !t.name.starts_with("__")) {
        for index in 0..t.partitions as i32 {
            match broker.replicas.get(&t.name, index) {
                Some(p) => total += p.high_watermark().max(0) as u64,
                None => remote
                    .entry(t.name.clone())
                    .or_default()
                    .push((index, LATEST)),
            }
        }
    }
    if remote.len() > MAX_REMOTE_TOPICS {
        return None;
    }
    if !remote.is_empty() {
        let client = state.client().await.ok()?;
        for (topic, specs) in remote {
            let ends = client.list_offsets(&topic, &specs).await.ok()?;
            if ends.len() != specs.len() {
                return None;
            }
            total += ends.values().map(|o| (*o).max(0) as u64).sum::<u64>();
        }
    }
    Some(total)
}
