//! Broker liveness as the active controller sees it: the heartbeats brokers send, and
//! [`tick`], the controller's decision of what to change because of them.
//!
//! Kafka's model: every broker sends a heartbeat to the active controller every
//! `broker.heartbeat.interval.ms`. The first heartbeat of a new process (a new incarnation)
//! registers it, fenced; it is unfenced once it reports that it has caught up with the
//! metadata log (its image holds its own registration). A broker not heard from for
//! `broker.session.timeout.ms` is fenced, and so is one that asks to shut down (controlled
//! shutdown); fencing moves its leaderships to other in-sync replicas. A newly active
//! controller gives every broker a full session before fencing it.
//!
//! [`tick`] is a pure function of the image, what was heard, and the time: the broker's
//! controller loop and the deterministic simulation call the same code. Its partition changes
//! are guarded by the partition epochs they were decided on
//! ([`MetadataRecord::PartitionEpochIs`]), so a batch that commits after the image moved on
//! is refused whole and decided again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{on_broker_fenced, on_broker_unfenced, repair};
use crate::{MetadataImage, MetadataRecord};

/// One heartbeat, as a broker sends it to the active controller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerHeartbeat {
    /// The broker's `node.id`.
    pub broker_id: i32,
    /// New at every process start: a heartbeat of an incarnation the image does not hold
    /// registers the broker again.
    pub incarnation_id: Uuid,
    /// Advertised host clients connect to.
    pub host: String,
    /// Advertised port.
    pub port: u16,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// Every client listener's advertised endpoint.
    #[serde(default)]
    pub endpoints: Vec<crate::BrokerEndpoint>,
    /// The last metadata offset the broker applied (`None` before any), for operators.
    pub metadata_offset: Option<u64>,
    /// The broker's image holds this incarnation's registration: it has caught up with the
    /// metadata log at least that far and may be unfenced.
    pub caught_up: bool,
    /// The broker is shutting down: fence it and move its leaderships away first.
    pub want_shutdown: bool,
}

/// What the active controller heard from brokers, on a monotonic millisecond clock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Liveness {
    /// When this controller became active. Heartbeats before it are ignored, and a broker
    /// not heard from since counts as heard at this instant (a full session to speak up).
    pub active_since_ms: u64,
    /// `broker.session.timeout.ms`.
    pub session_timeout_ms: u64,
    /// The last heartbeat of each broker and when it arrived.
    pub heard: BTreeMap<i32, (u64, BrokerHeartbeat)>,
}

impl Liveness {
    /// The broker's last heartbeat heard while this controller was active, if any.
    fn current(&self, broker_id: i32) -> Option<(u64, &BrokerHeartbeat)> {
        self.heard
            .get(&broker_id)
            .filter(|(at, _)| *at >= self.active_since_ms)
            .map(|(at, hb)| (*at, hb))
    }

    /// True when `at` is within the session timeout of `now_ms`.
    fn fresh(&self, at: u64, now_ms: u64) -> bool {
        now_ms.saturating_sub(at) <= self.session_timeout_ms
    }
}

/// True for a partition change that would change nothing but the partition epoch.
fn is_noop(work: &MetadataImage, record: &MetadataRecord) -> bool {
    let MetadataRecord::PartitionChanged {
        topic_id,
        partition,
        replicas,
        isr,
        leader,
    } = record
    else {
        return false;
    };
    work.topic_by_id(topic_id)
        .and_then(|t| t.partition_states.get(*partition as usize))
        .is_some_and(|p| {
            replicas.as_ref().is_none_or(|r| *r == p.replicas)
                && isr.as_ref().is_none_or(|i| *i == p.isr)
                && leader.is_none_or(|l| l == p.leader)
        })
}

/// Applies `records` to `work`, keeping only those that apply (all do when computed on it)
/// and change something.
fn push_all(work: &mut MetadataImage, out: &mut Vec<MetadataRecord>, records: Vec<MetadataRecord>) {
    for r in records {
        if !is_noop(work, &r) && work.apply(&r).is_ok() {
            out.push(r);
        }
    }
}

/// The active controller's decisions at `now_ms`, as one batch of records (empty when
/// nothing needs to change): register new incarnations, fence brokers that went silent or
/// asked to shut down, unfence brokers that heartbeat and have caught up, and give every
/// partition a usable leader from its ISR when one exists (see [`repair`]). Each decision
/// is computed on the image after the ones before it, so the batch applies as a whole.
pub fn tick(image: &MetadataImage, live: &Liveness, now_ms: u64) -> Vec<MetadataRecord> {
    let mut work = image.clone();
    let mut out = Vec::new();
    for (&id, (at, hb)) in &live.heard {
        let current = *at >= live.active_since_ms && live.fresh(*at, now_ms);
        let known = work
            .broker(id)
            .is_some_and(|b| b.incarnation_id == hb.incarnation_id);
        if current && !known && !hb.want_shutdown && hb.broker_id == id {
            let reg = MetadataRecord::BrokerRegistered {
                broker_id: id,
                incarnation_id: hb.incarnation_id,
                host: hb.host.clone(),
                port: hb.port,
                rack: hb.rack.clone(),
                endpoints: hb.endpoints.clone(),
            };
            push_all(&mut work, &mut out, vec![reg]);
            // A registration fences: leaderships of the old incarnation move away now.
            let moves = on_broker_fenced(&work, id);
            push_all(&mut work, &mut out, moves);
        }
    }
    let brokers: Vec<(i32, Uuid, bool)> = work
        .brokers()
        .map(|b| (b.broker_id, b.incarnation_id, b.fenced))
        .collect();
    for (id, incarnation, fenced) in brokers {
        let hb = live
            .current(id)
            .filter(|(_, hb)| hb.incarnation_id == incarnation);
        let last_heard = hb.map_or(live.active_since_ms, |(at, _)| at);
        let alive = live.fresh(last_heard, now_ms);
        let leaving = hb.is_some_and(|(_, hb)| hb.want_shutdown);
        if !fenced && (!alive || leaving) {
            push_all(
                &mut work,
                &mut out,
                vec![MetadataRecord::BrokerFenced { broker_id: id }],
            );
            let moves = on_broker_fenced(&work, id);
            push_all(&mut work, &mut out, moves);
        } else if fenced && alive && !leaving && hb.is_some_and(|(_, hb)| hb.caught_up) {
            push_all(
                &mut work,
                &mut out,
                vec![MetadataRecord::BrokerUnfenced { broker_id: id }],
            );
            let moves = on_broker_unfenced(&work, id);
            push_all(&mut work, &mut out, moves);
        }
    }
    let fixes = repair(&work);
    push_all(&mut work, &mut out, fixes);
    guarded(image, out)
}

/// `records` preceded by a [`MetadataRecord::PartitionEpochIs`] for every partition they
/// change, with its epoch in `image` (the image the decisions were made on).
fn guarded(image: &MetadataImage, records: Vec<MetadataRecord>) -> Vec<MetadataRecord> {
    let mut touched: Vec<(Uuid, u32)> = Vec::new();
    for r in &records {
        if let MetadataRecord::PartitionChanged {
            topic_id,
            partition,
            ..
        } = r
        {
            if !touched.contains(&(*topic_id, *partition)) {
                touched.push((*topic_id, *partition));
            }
        }
    }
    let mut out: Vec<MetadataRecord> = touched
        .into_iter()
        .filter_map(|(topic_id, partition)| {
            let p = image.partition(&topic_id, partition).ok()?;
            Some(MetadataRecord::PartitionEpochIs {
                topic_id,
                partition,
                partition_epoch: p.partition_epoch,
            })
        })
        .collect();
    out.extend(records);
    out
}

#[cfg(test)]
#[path = "liveness_tests.rs"]
mod tests;
