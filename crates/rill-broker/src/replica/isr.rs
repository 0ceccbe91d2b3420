//! The leader's side of the AlterPartition flow: every tick, each partition this broker leads
//! is asked whether its ISR should change (followers lagging `replica.lag.time.max.ms` leave,
//! caught-up followers join); the changes go to the controller as
//! [`MetadataRecord::IsrChanged`] records carrying the leader and partition epochs they were
//! decided on, which the metadata log refuses once stale.

use std::sync::Arc;
use std::time::Duration;

use rill_meta::MetadataRecord;
use tokio::sync::watch;

use super::Partition;
use crate::broker::Broker;
use crate::clock::now_ms;

/// How often leaders check their ISRs.
const TICK: Duration = Duration::from_millis(250);

/// Runs until shutdown: proposes the ISR changes partitions led here need.
pub async fn run_isr_loop(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(TICK) => {}
        }
        let lag_max = broker.config.replica_lag_time_max_ms;
        let now = now_ms();
        let mut proposals: Vec<(Arc<Partition>, MetadataRecord)> = Vec::new();
        for p in broker.replicas.all() {
            let Some((isr, leader_epoch, partition_epoch)) = p.isr_proposal(now, lag_max) else {
                continue;
            };
            let state = p.replica_state();
            tracing::info!(
                topic = %p.topic, partition = p.index, from = ?state.isr, to = ?isr,
                "asking the controller for an ISR change"
            );
            proposals.push((
                p.clone(),
                MetadataRecord::IsrChanged {
                    topic_id: p.topic_id,
                    partition: p.index as u32,
                    leader: broker.config.node_id,
                    leader_epoch,
                    partition_epoch,
                    isr,
                },
            ));
        }
        if proposals.is_empty() {
            continue;
        }
        let b = broker.clone();
        let done = tokio::task::spawn_blocking(move || commit(&b, proposals)).await;
        if let Err(e) = done {
            tracing::error!(error = %e, "ISR change task failed");
        }
    }
}

/// Commits the changes together; when the batch is refused (one of them went stale), each
/// alone, so one stale change does not hold back the others. Blocking.
fn commit(broker: &Broker, proposals: Vec<(Arc<Partition>, MetadataRecord)>) {
    let records: Vec<MetadataRecord> = proposals.iter().map(|(_, r)| r.clone()).collect();
    if broker.commit(records).is_ok() {
        return;
    }
    for (p, record) in proposals {
        if let Err(e) = broker.commit(vec![record]) {
            tracing::info!(topic = %p.topic, partition = p.index, error = %e, "ISR change refused");
            p.clear_pending_isr();
        }
    }
}
