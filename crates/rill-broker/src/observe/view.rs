//! The cluster as the metadata image and this node's partitions show it: topics, partitions
//! with their health, and local log figures. Shared by the scrape-time metrics
//! ([`super::collect`]) and the admin JSON API ([`crate::admin_http`]).
//!
//! Health follows Kafka: a partition is offline with no leader, under-replicated when its
//! ISR is smaller than its replica set, under min ISR when its ISR is smaller than the
//! topic's `min.insync.replicas`.

use std::collections::BTreeMap;

use rill_meta::{MetadataImage, PartitionImage, TopicImage};
use serde::Serialize;

use crate::broker::Broker;
use crate::replica::LogStats;
use crate::topic_config::TopicConfig;

/// A partition's health from the image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Health {
    /// No leader.
    pub offline: bool,
    /// ISR smaller than the replica set.
    pub under_replicated: bool,
    /// ISR smaller than `min.insync.replicas`.
    pub under_min_isr: bool,
}

/// The health of `p` for a topic with `min_isr` = `min.insync.replicas`.
pub fn health(p: &PartitionImage, min_isr: u32) -> Health {
    Health {
        offline: p.leader < 0,
        under_replicated: p.isr.len() < p.replicas.len(),
        under_min_isr: (p.isr.len() as u64) < u64::from(min_isr),
    }
}

/// One partition as the cluster and this node see it.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionView {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Leader broker id, -1 for none.
    pub leader: i32,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// Replica broker ids, preferred leader first.
    pub replicas: Vec<i32>,
    /// In-sync replica ids.
    pub isr: Vec<i32>,
    /// Health from the image.
    #[serde(flatten)]
    pub health: Health,
    /// Whether this node hosts a replica.
    pub hosted_here: bool,
    /// Log figures of the local replica, when hosted here.
    #[serde(skip)]
    pub local: Option<LogStats>,
    /// The local replica's dirty ratio (bytes not yet cleaned over the cleanable log, as the
    /// log cleaner computes it), when hosted here and `cleanup.policy` has `compact`.
    #[serde(skip)]
    pub dirty_ratio: Option<f64>,
}

/// The state of partition `index` of `t`; a lone node's partitions that predate replica
/// assignment (no replicas in the image) are led by that node alone.
pub fn partition_state(t: &TopicImage, index: usize, node_id: i32) -> PartitionImage {
    match t.partition_states.get(index) {
        Some(s) if !s.replicas.is_empty() => s.clone(),
        _ => PartitionImage {
            replicas: vec![node_id],
            isr: vec![node_id],
            leader: node_id,
            leader_epoch: 0,
            partition_epoch: 0,
            ..PartitionImage::default()
        },
    }
}

/// `min.insync.replicas` of a topic (the broker default when its configs do not resolve).
pub fn min_insync_replicas(broker: &Broker, t: &TopicImage) -> u32 {
    TopicConfig::resolve_stored(&t.configs, &broker.config.with_dynamic(&broker.image()))
        .map(|(c, _)| c.min_insync_replicas)
        .unwrap_or(1)
}

/// Every partition of `topics` (all topics when `None`), with local log figures for those
/// hosted here. Blocking (takes each local partition's log lock briefly).
pub fn partitions(
    broker: &Broker,
    image: &MetadataImage,
    topics: Option<&[&str]>,
) -> Vec<PartitionView> {
    let node = broker.config.node_id;
    let now = crate::clock::now_ms();
    let mut out = Vec::new();
    for t in image.topics() {
        if topics.is_some_and(|names| !names.contains(&t.name.as_str())) {
            continue;
        }
        let min_isr = min_insync_replicas(broker, t);
        for index in 0..t.partitions as usize {
            let s = partition_state(t, index, node);
            let replica = broker.replicas.get(&t.name, index as i32);
            let local = replica.as_ref().and_then(|p| p.log_stats().ok());
            let dirty_ratio = replica
                .as_ref()
                .and_then(|p| p.cleaner_state(now).ok().flatten())
                .map(|(info, _)| info.dirty_ratio);
            out.push(PartitionView {
                topic: t.name.clone(),
                partition: index as i32,
                leader: s.leader,
                leader_epoch: s.leader_epoch,
                health: health(&s, min_isr),
                hosted_here: s.replicas.contains(&node),
                replicas: s.replicas,
                isr: s.isr,
                local,
                dirty_ratio,
            });
        }
    }
    out
}

/// Counts of partitions by health over a set of partitions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HealthCounts {
    /// Partitions counted.
    pub partitions: usize,
    /// Without a leader.
    pub offline: usize,
    /// ISR smaller than the replica set.
    pub under_replicated: usize,
    /// ISR smaller than `min.insync.replicas`.
    pub under_min_isr: usize,
}

impl HealthCounts {
    /// Adds one partition.
    pub fn add(&mut self, h: Health) {
        self.partitions += 1;
        self.offline += usize::from(h.offline);
        self.under_replicated += usize::from(h.under_replicated);
        self.under_min_isr += usize::from(h.under_min_isr);
    }
}

/// Health counts of the whole cluster, from the image alone (no locks).
pub fn cluster_health(broker: &Broker, image: &MetadataImage) -> HealthCounts {
    let node = broker.config.node_id;
    let mut c = HealthCounts::default();
    for t in image.topics() {
        let min_isr = min_insync_replicas(broker, t);
        for index in 0..t.partitions as usize {
            c.add(health(&partition_state(t, index, node), min_isr));
        }
    }
    c
}

/// One group's member count and committed offsets by (topic, partition).
pub type GroupOffsets = (usize, BTreeMap<(String, i32), i64>);

/// Committed offsets of the groups this node coordinates, by group id.
pub fn local_group_offsets(broker: &Broker) -> BTreeMap<String, GroupOffsets> {
    broker.groups.read(|c| {
        c.list()
            .into_iter()
            .filter_map(|(id, _, _)| {
                let g = c.group(&id)?;
                let offsets = g
                    .offsets
                    .iter()
                    .map(|(k, v)| (k.clone(), v.offset))
                    .collect();
                Some((id, (g.members.len(), offsets)))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_follows_kafka() {
        let p = |leader, replicas: &[i32], isr: &[i32]| PartitionImage {
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            leader,
            leader_epoch: 0,
            partition_epoch: 0,
            ..PartitionImage::default()
        };
        assert_eq!(health(&p(1, &[1, 2, 3], &[1, 2, 3]), 2), Health::default());
        let h = health(&p(1, &[1, 2, 3], &[1]), 2);
        assert!(h.under_replicated && h.under_min_isr && !h.offline);
        let h = health(&p(-1, &[1, 2, 3], &[]), 1);
        assert!(h.offline && h.under_replicated && h.under_min_isr);
        let h = health(&p(1, &[1, 2], &[1]), 1);
        assert!(h.under_replicated && !h.under_min_isr);
    }
}
