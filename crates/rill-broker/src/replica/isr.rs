//! The leader's side of the AlterPartition flow: every tick, each partition this broker leads
//! is asked whether its ISR should change (followers lagging `replica.lag.time.max.ms` leave,
//! caught-up followers join); the changes go to the controller as
//! [`MetadataRecord::IsrChanged`] records carrying the leader and partition epochs they were
//! decided on, which the metadata log refuses once stale.
//!
//! A change stays pending (an expansion already holds the high watermark back) until its
//! outcome is known: committed (the image shows it), or refused by the metadata log. A commit
//! that failed without an answer (no controller, a timeout) may still have been committed, so
//! the change stays pending and is sent again at the next tick, where it either commits or is
//! refused as stale. Forgetting it instead would let the high watermark pass a member the
//! controller already counts in the ISR and may elect (found by the replication
//! simulation).

use std::sync::Arc;
use std::time::Duration;

use rill_meta::MetadataRecord;
use tokio::sync::watch;

use super::Partition;
use crate::clock::now_ms;
use crate::error::BrokerError;

/// What the ISR task needs from the broker: the partitions it hosts and the metadata log to
/// propose changes to. The task's narrow handle (it never sees the whole broker).
pub trait IsrHost: Send + Sync + 'static {
    /// Every partition hosted here (the task asks those it leads).
    fn hosted_partitions(&self) -> Vec<Arc<Partition>>;
    /// Commits records to the metadata log and applies the result. Blocking.
    ///
    /// # Errors
    /// [`BrokerError::MetadataRejected`] / [`BrokerError::Meta`] when the log refused them
    /// (a stale change); anything else when the outcome is unknown.
    fn commit_metadata(&self, records: Vec<MetadataRecord>) -> Result<(), BrokerError>;
    /// Makes the hosted partitions follow the newest metadata image. Blocking.
    ///
    /// # Errors
    /// Storage errors while applying the image.
    fn reconcile_metadata(&self) -> Result<(), BrokerError>;
}

/// The ISR task's settings.
#[derive(Debug, Clone, Copy)]
pub struct IsrSettings {
    /// This broker's id, the leader named in the proposals.
    pub node_id: i32,
    /// `replica.lag.time.max.ms`: how long a follower may lag before it leaves the ISR.
    pub lag_max_ms: i64,
}

/// How often leaders check their ISRs.
const TICK: Duration = Duration::from_millis(250);

/// Runs until shutdown: proposes the ISR changes partitions led here need.
pub async fn run_isr_loop<H: IsrHost>(
    host: Arc<H>,
    settings: IsrSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(TICK) => {}
        }
        let lag_max = settings.lag_max_ms;
        let now = now_ms();
        let mut proposals: Vec<(Arc<Partition>, MetadataRecord)> = Vec::new();
        for p in host.hosted_partitions() {
            let proposal = p
                .isr_proposal(now, lag_max)
                .or_else(|| p.pending_isr_proposal());
            let Some((isr, leader_epoch, partition_epoch)) = proposal else {
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
                    leader: settings.node_id,
                    leader_epoch,
                    partition_epoch,
                    isr,
                },
            ));
        }
        if proposals.is_empty() {
            continue;
        }
        let h = host.clone();
        let done = tokio::task::spawn_blocking(move || commit(&*h, proposals)).await;
        if let Err(e) = done {
            tracing::error!(error = %e, "ISR change task failed");
        }
    }
}

/// Commits the changes together; when the batch fails (one of them went stale), each alone,
/// so one stale change does not hold back the others. A refused change is forgotten once the
/// partitions show the image that refused it; a change without answer stays pending. Blocking.
fn commit<H: IsrHost>(host: &H, proposals: Vec<(Arc<Partition>, MetadataRecord)>) {
    let records: Vec<MetadataRecord> = proposals.iter().map(|(_, r)| r.clone()).collect();
    match host.commit_metadata(records) {
        Ok(()) => return,
        Err(BrokerError::MetadataRejected(_) | BrokerError::Meta(_)) => {}
        Err(e) => {
            tracing::info!(error = %e, "ISR changes without answer; asking again");
            return;
        }
    }
    for (p, record) in proposals {
        match host.commit_metadata(vec![record]) {
            Ok(()) => {}
            Err(e @ (BrokerError::MetadataRejected(_) | BrokerError::Meta(_))) => {
                tracing::info!(topic = %p.topic, partition = p.index, error = %e, "ISR change refused");
                if let Err(e) = host.reconcile_metadata() {
                    tracing::warn!(error = %e, "applying the metadata that refused an ISR change failed");
                    continue;
                }
                p.clear_pending_isr();
            }
            Err(e) => {
                tracing::info!(topic = %p.topic, partition = p.index, error = %e, "ISR change without answer; asking again");
            }
        }
    }
}
