//! Background maintenance: retention and segment.ms rolls every
//! `log.retention.check.interval.ms`, and the periodic flush of partitions that relax fsync.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::now_ms;
use crate::replica::ReplicaManager;

/// Runs until shutdown over the partitions `host` holds (its narrow handle: the broker
/// lends its [`ReplicaManager`]), checking retention every `retention_check_ms`.
pub async fn run<H>(host: Arc<H>, retention_check_ms: u64, mut shutdown: watch::Receiver<bool>)
where
    H: AsRef<ReplicaManager> + Send + Sync + 'static,
{
    let mut retention = tokio::time::interval(Duration::from_millis(retention_check_ms.max(1)));
    let mut flush = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = retention.tick() => {
                let h = host.clone();
                let _ = tokio::task::spawn_blocking(move || enforce_retention((*h).as_ref(), retention_check_ms)).await;
            }
            _ = flush.tick() => {
                let h = host.clone();
                let _ = tokio::task::spawn_blocking(move || flush_relaxed((*h).as_ref())).await;
            }
        }
    }
}

/// One retention pass: every partition's due segments leave its log first (log start
/// checkpointed), then their files are deleted, cut down gently at a pace that ends the pass
/// within half a check interval, so deletion keeps up with the rate the logs are written at.
fn enforce_retention(replicas: &ReplicaManager, check_interval_ms: u64) {
    let now = now_ms();
    let mut due = Vec::new();
    for p in replicas.all() {
        match p.enforce_retention(now) {
            Ok((0, _)) => {}
            Ok((n, files)) => {
                tracing::info!(topic = %p.topic, partition = p.index, segments = n, bytes = files.bytes(), "retention deleting segments");
                due.push((p, files));
            }
            Err(e) => {
                tracing::error!(topic = %p.topic, partition = p.index, error = %e, "retention failed")
            }
        }
    }
    let steps = due.iter().map(|(_, f)| f.steps()).sum();
    let budget = Duration::from_millis(check_interval_ms) / 2;
    let pause = rill_log::segment::gentle_pause(steps, budget);
    for (p, files) in due {
        if let Err(e) = files.delete_paced(pause) {
            tracing::error!(topic = %p.topic, partition = p.index, error = %e, "deleting retained-out segment files failed");
        }
    }
}

fn flush_relaxed(replicas: &ReplicaManager) {
    for p in replicas.all() {
        if let Err(e) = p.flush_if_due(now_ms()) {
            tracing::error!(topic = %p.topic, partition = p.index, error = %e, "periodic flush failed");
        }
    }
}
