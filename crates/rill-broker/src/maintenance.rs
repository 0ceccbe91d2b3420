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

fn enforce_retention(broker: &Broker) {
    let now = now_ms();
    for p in broker.replicas.all() {
        match p.enforce_retention(now) {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(topic = %p.topic, partition = p.index, segments = n, "retention deleted segments")
            }
            Err(e) => {
                tracing::error!(topic = %p.topic, partition = p.index, error = %e, "retention failed")
            }
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
