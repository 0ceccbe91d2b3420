//! This node's part in a multi-node cluster: the controller loop (on controller nodes) and
//! applying images committed by others (on broker nodes). A broker's registration,
//! heartbeats and controlled shutdown are in [`crate::membership`].
//!
//! Liveness comes from broker heartbeats (Kafka's BrokerHeartbeat): the active controller
//! records each broker's last heartbeat ([`rill_quorum::HeartbeatTable`]) and its loop turns
//! them into decisions with [`rill_meta::control::tick`]: register new incarnations, fence a
//! broker silent for `broker.session.timeout.ms` or shutting down (its leaderships move to
//! in-sync replicas), unfence a broker that heartbeats and has caught up.

use std::sync::Arc;
use std::time::Duration;

use rill_meta::control::tick;
use rill_meta::MetadataRecord;
use rill_quorum::RaftQuorum;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::broker::Broker;
use crate::metadata::MetadataBackend;

/// How often the controller loop looks at liveness when no heartbeat wakes it.
const TICK: Duration = Duration::from_millis(200);

/// A controller node's active-controller duties.
pub struct Controller {
    /// This node (a voter).
    pub node_id: i32,
    /// The metadata log (the quorum, as a backend: commits wait until applied here).
    pub metadata: Arc<MetadataBackend>,
    /// The quorum itself: leadership and the heartbeats heard.
    pub quorum: Arc<RaftQuorum>,
    /// `broker.session.timeout.ms`.
    pub session_timeout_ms: u64,
    /// The node's configuration (the controller duties read theirs from it).
    pub config: crate::config::BrokerConfig,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

/// Applies images committed anywhere in the cluster to the hosted partitions.
pub async fn run_reconcile_loop(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let Some(mut updates) = broker.metadata.subscribe() else {
        return;
    };
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            changed = updates.changed() => if changed.is_err() { return },
        }
        let b = broker.clone();
        match tokio::task::spawn_blocking(move || b.reconcile()).await {
            Ok(Ok(())) => broker.fetchers.update(&broker),
            Ok(Err(e)) => tracing::error!(error = %e, "applying metadata to partitions failed"),
            Err(e) => tracing::error!(error = %e, "reconcile task failed"),
        }
    }
}

/// One line per decision kind, for the log.
fn describe(records: &[MetadataRecord]) -> String {
    let mut parts = Vec::new();
    for r in records {
        match r {
            MetadataRecord::BrokerRegistered { broker_id, .. } => {
                parts.push(format!("register {broker_id}"))
            }
            MetadataRecord::BrokerFenced { broker_id } => parts.push(format!("fence {broker_id}")),
            MetadataRecord::BrokerUnfenced { broker_id } => {
                parts.push(format!("unfence {broker_id}"))
            }
            _ => {}
        }
    }
    let moves = records.len() - parts.len();
    if moves > 0 {
        parts.push(format!("{moves} partition change(s)"));
    }
    parts.join(", ")
}

/// The controller loop: while this node is the active controller, turn what brokers'
/// heartbeats say into metadata changes ([`tick`]) and commit them, at every heartbeat and
/// at least every 200 ms. A newly active controller gives every broker a full session.
pub async fn run_controller_loop(ctrl: Arc<Controller>, mut shutdown: watch::Receiver<bool>) {
    let table = ctrl.quorum.heartbeats().clone();
    let mut active_since: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            () = tokio::time::sleep(TICK) => {}
            () = table.arrived() => {}
        }
        let active = ctrl.quorum.may_decide();
        active_since = if active {
            active_since.or(Some(Instant::now()))
        } else {
            None
        };
        let Some(since) = active_since else {
            continue;
        };
        let live = table.liveness(since, ctrl.session_timeout_ms);
        let records = tick(&ctrl.metadata.image(), &live, table.millis(Instant::now()));
        if records.is_empty() {
            continue;
        }
        let what = describe(&records);
        let metadata = ctrl.metadata.clone();
        let commit = tokio::task::spawn_blocking(move || metadata.commit(records));
        // A commit can wait long for a quorum that is gone: shutdown does not wait for it.
        let committed = tokio::select! {
            _ = shutdown.changed() => return,
            c = commit => c,
        };
        match committed {
            Ok(Ok(())) => tracing::info!(decisions = %what, "controller committed"),
            Ok(Err(e)) => tracing::warn!(decisions = %what, error = %e, "controller change failed"),
            Err(e) => tracing::error!(error = %e, "controller task failed"),
        }
    }
}
