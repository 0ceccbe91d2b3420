//! Leader elections and ISR changes: counted, and logged as one structured line each.
//!
//! [`ImageObserver`] compares each metadata image the node applies with the one before, so
//! every leader change and ISR change that goes through the metadata log (all of them, in a
//! KRaft-style cluster) is logged on every node, and counted on the node that leads the
//! partition afterwards (summing a cluster's nodes gives each event once, as Kafka's
//! per-leader IsrShrinksPerSec does). [`record_isr_change`] and [`record_leader_election`]
//! count and log an event that did not come through the image.

use std::sync::{Arc, LazyLock, Mutex};

use metrics::{counter, Counter};
use rill_meta::{MetadataImage, PartitionImage};

use super::names;

/// The event counters.
struct EventCounters {
    /// `rill_isr_shrinks_total`.
    shrinks: Counter,
    /// `rill_isr_expands_total`.
    expands: Counter,
    /// `rill_leader_elections_total`.
    elections: Counter,
}

static COUNTERS: LazyLock<EventCounters> = LazyLock::new(|| {
    super::install();
    EventCounters {
        shrinks: counter!(names::ISR_SHRINKS),
        expands: counter!(names::ISR_EXPANDS),
        elections: counter!(names::LEADER_ELECTIONS),
    }
});

/// Registers the counters (exported at zero until an event).
pub fn register() {
    LazyLock::force(&COUNTERS);
}

/// Counts and logs an ISR change of a partition this node leads (`shrink`: a replica left
/// the ISR; otherwise one joined). Only for a change that does not go through the metadata
/// image: [`ImageObserver`] already counts every `IsrChanged`/`PartitionChanged` it applies.
pub fn record_isr_change(topic: &str, partition: i32, shrink: bool) {
    count_isr_change(shrink, !shrink);
    tracing::info!(
        topic,
        partition,
        change = if shrink { "shrink" } else { "expand" },
        "ISR changed"
    );
}

/// Counts and logs that this node became the leader of a partition at `leader_epoch`. Only
/// for an election that does not go through the metadata image ([`ImageObserver`] counts
/// those).
pub fn record_leader_election(topic: &str, partition: i32, leader: i32, leader_epoch: i32) {
    COUNTERS.elections.increment(1);
    tracing::info!(
        topic,
        partition,
        leader,
        leader_epoch,
        "partition leader elected"
    );
}

fn count_isr_change(shrink: bool, expand: bool) {
    if shrink {
        COUNTERS.shrinks.increment(1);
    }
    if expand {
        COUNTERS.expands.increment(1);
    }
}

/// Watches the images a node applies for leader and ISR changes; see the module docs.
#[derive(Debug)]
pub struct ImageObserver {
    /// This node's id: changes of partitions it leads are counted here.
    node_id: i32,
    /// The image seen last (`None` before the first).
    last: Mutex<Option<Arc<MetadataImage>>>,
}

/// What changed in one partition between two images.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PartitionChange {
    /// A new leader (an election; a leader epoch bump alone is not one).
    pub leader_changed: bool,
    /// A replica left the ISR.
    pub isr_shrank: bool,
    /// A replica joined the ISR.
    pub isr_expanded: bool,
}

/// Compares one partition's state before and after.
pub fn partition_change(old: &PartitionImage, new: &PartitionImage) -> PartitionChange {
    PartitionChange {
        leader_changed: old.leader != new.leader,
        isr_shrank: old.isr.iter().any(|r| !new.isr.contains(r)),
        isr_expanded: new.isr.iter().any(|r| !old.isr.contains(r)),
    }
}

impl ImageObserver {
    /// An observer for node `node_id`.
    pub fn new(node_id: i32) -> Self {
        ImageObserver {
            node_id,
            last: Mutex::new(None),
        }
    }

    /// Logs and counts what changed since the image seen last (nothing for the first).
    pub fn observe(&self, image: &Arc<MetadataImage>) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(prev) = last.as_ref() {
            if Arc::ptr_eq(prev, image) {
                return;
            }
            self.diff(prev, image);
            let deleted = prev.topics().any(|t| {
                image
                    .topic(&t.name)
                    .is_none_or(|n| n.topic_id != t.topic_id)
            });
            if deleted {
                super::topic::forget_deleted(|name| image.topic(name).is_some());
            }
        }
        *last = Some(image.clone());
    }

    fn diff(&self, prev: &MetadataImage, next: &MetadataImage) {
        for topic in next.topics() {
            let Some(before) = prev
                .topic(&topic.name)
                .filter(|t| t.topic_id == topic.topic_id)
            else {
                continue;
            };
            for (index, new) in topic.partition_states.iter().enumerate() {
                let Some(old) = before.partition_states.get(index) else {
                    continue;
                };
                let change = partition_change(old, new);
                let leads = new.leader == self.node_id;
                if change.leader_changed {
                    tracing::info!(
                        topic = %topic.name, partition = index, old_leader = old.leader,
                        leader = new.leader, leader_epoch = new.leader_epoch, isr = ?new.isr,
                        "partition leader changed"
                    );
                    if leads {
                        COUNTERS.elections.increment(1);
                    }
                } else if old.leader_epoch != new.leader_epoch {
                    tracing::debug!(
                        topic = %topic.name, partition = index, leader = new.leader,
                        leader_epoch = new.leader_epoch, "leader epoch bumped"
                    );
                }
                if change.isr_shrank || change.isr_expanded {
                    tracing::info!(
                        topic = %topic.name, partition = index, leader = new.leader,
                        old_isr = ?old.isr, isr = ?new.isr, partition_epoch = new.partition_epoch,
                        "ISR changed"
                    );
                    if leads {
                        count_isr_change(change.isr_shrank, change.isr_expanded);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(leader: i32, epoch: i32, isr: &[i32]) -> PartitionImage {
        PartitionImage {
            replicas: vec![1, 2, 3],
            isr: isr.to_vec(),
            leader,
            leader_epoch: epoch,
            partition_epoch: epoch,
            ..PartitionImage::default()
        }
    }

    #[test]
    fn partition_changes() {
        let c = partition_change(&p(1, 0, &[1, 2, 3]), &p(2, 1, &[2, 3]));
        assert_eq!(
            c,
            PartitionChange {
                leader_changed: true,
                isr_shrank: true,
                isr_expanded: false
            }
        );
        let c = partition_change(&p(2, 1, &[2, 3]), &p(2, 1, &[2, 3, 1]));
        assert!(!c.leader_changed && !c.isr_shrank && c.isr_expanded);
        let c = partition_change(&p(2, 1, &[2, 3]), &p(2, 1, &[3, 2]));
        assert_eq!(c, PartitionChange::default(), "ISR order is not a change");
        let c = partition_change(&p(2, 1, &[2, 3]), &p(2, 2, &[2, 3]));
        assert_eq!(
            c,
            PartitionChange::default(),
            "an epoch bump alone is no election"
        );
    }
}
