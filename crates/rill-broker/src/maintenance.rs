//! Background maintenance: retention and segment.ms rolls every
//! `log.retention.check.interval.ms`, and the periodic flush of partitions that relax fsync.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::broker::Broker;
use crate::clock::now_ms;

/// Runs until shutdown.
pub async fn run(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let mut retention = tokio::time::interval(Duration::from_millis(
        broker.config.retention_check_interval_ms,
    ));
    let mut flush = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = retention.tick() => {
                let b = broker.clone();
                let _ = tokio::task::spawn_blocking(move || enforce_retention(&b)).await;
            }
            _ = flush.tick() => {
                let b = broker.clone();
                let _ = tokio::task::spawn_blocking(move || flush_relaxed(&b)).await;
            }
        }
    }
}

/// One retention pass: every partition's due segments leave its log first (log start
/// checkpointed), then their files are deleted, cut down gently at a pace that ends the pass
/// within half a check interval, so deletion keeps up with the rate the logs are written at.
fn enforce_retention(broker: &Broker) {
    let now = now_ms();
    let mut due = Vec::new();
    for p in broker.replicas.all() {
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
    let budget = Duration::from_millis(broker.config.retention_check_interval_ms) / 2;
    let pause = rill_log::segment::gentle_pause(steps, budget);
    for (p, files) in due {
        if let Err(e) = files.delete_paced(pause) {
            tracing::error!(topic = %p.topic, partition = p.index, error = %e, "deleting retained-out segment files failed");
        }
    }
}

fn flush_relaxed(broker: &Broker) {
    for p in broker.replicas.all() {
        if let Err(e) = p.flush_if_due(now_ms()) {
            tracing::error!(topic = %p.topic, partition = p.index, error = %e, "periodic flush failed");
        }
    }
}
