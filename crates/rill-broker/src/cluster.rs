//! This node's part in a multi-node cluster on the broker side: applying images committed by
//! others to the hosted partitions. The active controller's loops (liveness, partition
//! duties) are in [`rill_quorum::controller`]; a broker's registration, heartbeats and
//! controlled shutdown are in [`crate::membership`].

use std::sync::Arc;

use tokio::sync::watch;

use crate::broker::Broker;

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
            Ok(Ok(())) => broker.fetchers.update(&broker.replicas, &broker.image()),
            Ok(Err(e)) => tracing::error!(error = %e, "applying metadata to partitions failed"),
            Err(e) => tracing::error!(error = %e, "reconcile task failed"),
        }
    }
}
