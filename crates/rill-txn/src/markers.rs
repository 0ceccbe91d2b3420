//! The second phase of ending a transaction: the shell writes the markers of a
//! [`crate::MarkerBatch`] to the partition leaders (WriteTxnMarkers) and reports each
//! partition done; once every partition is, the coordinator records CompleteCommit or
//! CompleteAbort (Kafka's `TransactionMarkerChannelManager` completion).
//!
//! The shell retries markers itself until they are written (a partition whose topic was
//! deleted counts as written, as in Kafka). Reports for another coordinator epoch, or for
//! a transaction not writing markers, are ignored.

use crate::coordinator::TxnCoordinator;
use crate::metadata::Pending;
use crate::output::Output;
use crate::types::TopicPartition;

impl TxnCoordinator {
    /// Markers of `partitions` are written for the transaction of `transactional_id`
    /// whose batch carried `coordinator_epoch`. Returns the Complete record once none is
    /// left.
    pub fn markers_written(
        &mut self,
        transactional_id: &str,
        coordinator_epoch: i32,
        partitions: &[TopicPartition],
        now_ms: i64,
    ) -> Output {
        let mut out = Output::default();
        let Some(partition) = self.marker_owner(transactional_id, coordinator_epoch) else {
            return out;
        };
        let Some(meta) = self.meta_mut(partition, transactional_id) else {
            return out;
        };
        let Some(Pending::Markers { remaining, .. }) = meta.pending.as_mut() else {
            return out;
        };
        for tp in partitions {
            remaining.remove(tp);
        }
        if remaining.is_empty() {
            self.begin_complete(partition, transactional_id, now_ms, &mut out);
        }
        out
    }

    /// Every marker of the transaction of `transactional_id` is written.
    pub fn markers_done(
        &mut self,
        transactional_id: &str,
        coordinator_epoch: i32,
        now_ms: i64,
    ) -> Output {
        let remaining: Vec<TopicPartition> = self
            .get(transactional_id)
            .map(|m| m.partitions_without_markers().iter().cloned().collect())
            .unwrap_or_default();
        self.markers_written(transactional_id, coordinator_epoch, &remaining, now_ms)
    }

    /// The id's partition when it is owned in `coordinator_epoch`.
    fn marker_owner(&self, transactional_id: &str, coordinator_epoch: i32) -> Option<i32> {
        let partition = self.owner_of(transactional_id).ok()?;
        (self.coordinator_epoch(partition) == Some(coordinator_epoch)).then_some(partition)
    }
}
