//! This node's membership in a multi-node cluster: registration at start, the controller
//! loop (fence brokers that stopped answering, unfence this node when it is back), applying
//! images committed by others, and controlled shutdown.
//!
//! Liveness comes from the quorum itself: every node is a voter, and the active controller
//! knows when each voter last answered its replication. A broker silent for
//! `broker.session.timeout.ms` is fenced and its leaderships move to in-sync replicas.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rill_meta::control::{on_broker_fenced, on_broker_unfenced};
use rill_meta::{MetadataImage, MetadataRecord, Uuid};
use tokio::sync::watch;

use crate::broker::Broker;
use crate::error::{BrokerError, Result};

/// How long registration keeps trying to reach an active controller.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(60);

/// The image after `records`, for decisions that depend on them.
fn after(image: &MetadataImage, records: &[MetadataRecord]) -> MetadataImage {
    let mut next = image.clone();
    for r in records {
        // A record that does not apply is refused again at commit; decide on the rest.
        let _ = next.apply(r);
    }
    next
}

/// Records that unfence `broker_id` and give it back leaderless partitions it has in sync.
fn unfence_records(image: &MetadataImage, broker_id: i32) -> Vec<MetadataRecord> {
    let mut records = vec![MetadataRecord::BrokerUnfenced { broker_id }];
    records.extend(on_broker_unfenced(&after(image, &records), broker_id));
    records
}

/// Records that fence `broker_id` and move its leaderships away.
fn fence_records(image: &MetadataImage, broker_id: i32) -> Vec<MetadataRecord> {
    let mut records = vec![MetadataRecord::BrokerFenced { broker_id }];
    records.extend(on_broker_fenced(&after(image, &records), broker_id));
    records
}

/// Registers this node (a new incarnation) and unfences it, retrying until an active
/// controller takes it. Blocking.
///
/// # Errors
/// No controller within a minute, or a storage error.
pub fn register(broker: &Broker) -> Result<()> {
    let id = broker.config.node_id;
    let adv = &broker.config.advertised_listener;
    let deadline = Instant::now() + REGISTER_TIMEOUT;
    loop {
        let mut records = vec![MetadataRecord::BrokerRegistered {
            broker_id: id,
            incarnation_id: Uuid::new_v4(),
            host: adv.host.clone(),
            port: adv.port,
            rack: broker.config.cluster.rack.clone(),
        }];
        records.extend(unfence_records(&after(&broker.image(), &records), id));
        match broker.commit(records) {
            Ok(()) => {
                tracing::info!(broker = id, "registered and unfenced");
                return Ok(());
            }
            Err(e @ (BrokerError::NotController { .. } | BrokerError::Internal(_)))
                if Instant::now() < deadline =>
            {
                tracing::debug!(error = %e, "waiting for an active controller to register");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Fences this node before it stops, so its leaderships move first. Blocking, best effort.
pub fn controlled_shutdown(broker: &Broker) {
    broker.stopping.store(true, Ordering::SeqCst);
    let id = broker.config.node_id;
    let records = fence_records(&broker.image(), id);
    match broker.commit(records) {
        Ok(()) => tracing::info!(
            broker = id,
            "controlled shutdown: fenced, leaderships moved"
        ),
        Err(e) => {
            tracing::warn!(broker = id, error = %e, "controlled shutdown could not fence this node")
        }
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

/// The controller loop: on the active controller, fence brokers whose replication answers
/// stopped for the session timeout; on every node, unfence itself when it is fenced but alive.
pub async fn run_controller_loop(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let cfg = &broker.config.cluster;
    let session = Duration::from_millis(cfg.session_timeout_ms);
    let tick = Duration::from_millis(cfg.heartbeat_interval_ms.min(1000));
    let me = broker.config.node_id;
    let mut leader_since: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(tick) => {}
        }
        if broker.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Some(status) = broker.metadata.quorum_status() else {
            return;
        };
        let leading = status.leader == Some(me as u64);
        leader_since = if leading {
            leader_since.or(Some(Instant::now()))
        } else {
            None
        };
        let image = broker.image();
        let mut proposals = Vec::new();
        if status.leader.is_some() && image.broker(me).is_some_and(|b| b.fenced) {
            proposals.push(unfence_records(&image, me));
        }
        // A new leader first gives every broker a full session to be heard from.
        if leader_since.is_some_and(|t| t.elapsed() > session) {
            for b in image.brokers().filter(|b| !b.fenced && b.broker_id != me) {
                let heard = status
                    .voters
                    .iter()
                    .find(|v| v.node_id == b.broker_id as u64)
                    .and_then(|v| v.last_fetch_ago);
                if heard.is_none_or(|ago| ago > session) {
                    tracing::warn!(broker = b.broker_id, ?heard, "fencing a silent broker");
                    proposals.push(fence_records(&image, b.broker_id));
                }
            }
        }
        for records in proposals {
            let b = broker.clone();
            match tokio::task::spawn_blocking(move || b.commit(records)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "controller change failed"),
                Err(e) => tracing::error!(error = %e, "controller task failed"),
            }
        }
    }
}
