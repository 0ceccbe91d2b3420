//! Invariants of the quorum, checked from the outside while a simulation runs:
//! - at most one leader per term (from polling every live node's status);
//! - the same log index never holds two different committed batches, on any node;
//! - each node incarnation applies strictly increasing indexes (with the above: every node's
//!   applied sequence is a prefix of the longest one);
//! - nodes that applied the same index hold identical images there (snapshots included);
//! - every acknowledged proposal is in the log at its acknowledged offset, in ack order;
//! - in every applied image, every placed partition has a non-empty ISR within its replicas
//!   and a leader from its ISR (or none).

use std::collections::BTreeMap;
use std::sync::Arc;

use rill_meta::{MetadataImage, MetadataRecord};
use rill_quorum::{AppliedEvent, NodeId, QuorumStatus};

/// What one index holds, as first seen applied.
struct Applied {
    records: Vec<MetadataRecord>,
    image: Arc<MetadataImage>,
}

#[derive(Default)]
pub struct Checker {
    /// The leader seen for each term.
    leaders: BTreeMap<u64, NodeId>,
    /// Index -> what was applied there.
    log: BTreeMap<u64, Applied>,
    /// Snapshot images by index, to compare with applied images.
    snapshots: BTreeMap<u64, Arc<MetadataImage>>,
    /// Last applied index per (node, incarnation).
    last: BTreeMap<(NodeId, u32), u64>,
    /// Acknowledged proposals: offset and records, in ack order.
    pub acked: Vec<(u64, Vec<MetadataRecord>)>,
    /// Nodes that installed a snapshot sent by a leader.
    pub installed: Vec<NodeId>,
    /// Violations found (empty = all good).
    pub violations: Vec<String>,
}

impl Checker {
    /// Terms with the leader seen in each.
    pub fn terms(&self) -> Vec<(u64, NodeId)> {
        self.leaders.iter().map(|(t, n)| (*t, *n)).collect()
    }

    /// How many applied (not rejected) records match `f`, over the whole log seen.
    pub fn count_records(&self, f: impl Fn(&MetadataRecord) -> bool) -> usize {
        self.log
            .values()
            .flat_map(|a| a.records.iter())
            .filter(|r| f(r))
            .count()
    }

    pub fn observe_status(&mut self, s: &QuorumStatus) {
        if s.leader != Some(s.node_id) {
            return;
        }
        match self.leaders.get(&s.term) {
            Some(&other) if other != s.node_id => self.violations.push(format!(
                "two leaders in term {}: {} and {}",
                s.term, other, s.node_id
            )),
            _ => {
                self.leaders.insert(s.term, s.node_id);
            }
        }
    }

    pub fn observe_event(&mut self, incarnation: u32, ev: AppliedEvent) {
        let (node_id, index) = match &ev {
            AppliedEvent::Batch { node_id, index, .. } => (*node_id, *index),
            AppliedEvent::Snapshot { node_id, index, .. } => (*node_id, index.unwrap_or(0)),
        };
        if let Some(&prev) = self.last.get(&(node_id, incarnation)) {
            if index <= prev {
                self.violations
                    .push(format!("node {node_id} applied index {index} after {prev}"));
            }
        }
        self.last.insert((node_id, incarnation), index);
        match &ev {
            AppliedEvent::Batch { image, .. } | AppliedEvent::Snapshot { image, .. } => {
                self.check_partitions(node_id, index, image)
            }
        }
        match ev {
            AppliedEvent::Batch { records, image, .. } => {
                if let Some(seen) = self.log.get(&index) {
                    if seen.records != records {
                        self.violations.push(format!(
                            "index {index}: node {node_id} applied {records:?}, another {:?}",
                            seen.records
                        ));
                    } else if seen.image != image {
                        self.violations
                            .push(format!("index {index}: node {node_id} image differs"));
                    }
                } else {
                    self.check_snapshot_image(index, &image, node_id);
                    self.log.insert(index, Applied { records, image });
                }
            }
            AppliedEvent::Snapshot { image, .. } => {
                self.installed.push(node_id);
                self.check_snapshot_image(index, &image, node_id);
                self.snapshots.insert(index, image);
            }
        }
    }

    /// Leaders come from the ISR, the ISR from the replicas, and is never empty.
    fn check_partitions(&mut self, node: NodeId, index: u64, image: &MetadataImage) {
        for t in image.topics() {
            for (i, p) in t.partition_states.iter().enumerate() {
                if p.replicas.is_empty() {
                    continue;
                }
                let ok = !p.isr.is_empty()
                    && p.isr.iter().all(|b| p.replicas.contains(b))
                    && (p.leader == -1 || p.isr.contains(&p.leader));
                if !ok {
                    self.violations.push(format!(
                        "node {node} index {index}: {}-{i} has replicas {:?} isr {:?} leader {}",
                        t.name, p.replicas, p.isr, p.leader
                    ));
                }
            }
        }
    }

    fn check_snapshot_image(&mut self, index: u64, image: &Arc<MetadataImage>, node: NodeId) {
        let other = self
            .snapshots
            .get(&index)
            .or_else(|| self.log.get(&index).map(|a| &a.image));
        if let Some(other) = other {
            if other != image {
                self.violations.push(format!(
                    "index {index}: node {node} image differs from a snapshot"
                ));
            }
        }
    }

    /// Every acked proposal sits at its offset in the applied log (when that index was seen
    /// applied by someone) and offsets grow in ack order.
    pub fn check_acked(&mut self) {
        let mut prev = None;
        for (offset, records) in &self.acked {
            if let Some(p) = prev {
                if *offset <= p {
                    self.violations
                        .push(format!("ack at offset {offset} after an ack at {p}"));
                }
            }
            prev = Some(*offset);
            if let Some(a) = self.log.get(offset) {
                if &a.records != records {
                    self.violations.push(format!(
                        "acked offset {offset} holds {:?}, not {records:?}",
                        a.records
                    ));
                }
            }
        }
    }
}
