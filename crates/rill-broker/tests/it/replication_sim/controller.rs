//! The simulated controller: the metadata quorum seen as one node that never crashes (Raft
//! itself is simulated in rill-quorum's tests). It holds a real `MetadataImage` and commits
//! real records exactly as the broker's `cluster.rs` and `replica/isr.rs` propose them:
//! registration (`BrokerRegistered` + unfence), fencing of brokers silent for the session
//! timeout and controlled shutdown (`BrokerFenced` + `control::on_broker_fenced`), unfencing
//! (`BrokerUnfenced` + `control::on_broker_unfenced`), and leaders' `IsrChanged` records
//! (refused by the image when their epochs are stale). Every commit is pushed to every
//! broker; heartbeats get the newest image back when the broker is behind.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rill_meta::control::{on_broker_fenced, on_broker_unfenced, place_replicas};
use rill_meta::{MetadataImage, MetadataRecord, Uuid};

use crate::replication_sim::ctx::Ctx;
use crate::replication_sim::msg::{Msg, NodeId, Timer, CONTROLLER};
use crate::replication_sim::world::{TOPIC, TOPIC_ID};

/// How often the controller checks sessions.
const TICK_MS: i64 = 50;

/// The controller.
pub struct SimController {
    /// The committed image.
    pub image: Arc<MetadataImage>,
    /// Number of committed changes (the metadata offset).
    pub offset: u64,
    /// When each broker was last heard from.
    last_heard: BTreeMap<NodeId, i64>,
    /// Broker ids.
    brokers: Vec<NodeId>,
    /// Incarnation ids.
    rng: StdRng,
    /// Invariant violations seen in committed images.
    pub violations: Vec<String>,
}

impl SimController {
    /// A cluster of `brokers` registered and unfenced brokers and the one topic, every
    /// partition placed by the real placement with all replicas in sync, the first leading.
    pub fn new(seed: u64, brokers: i32, partitions: u32, rf: usize, ctx: &mut Ctx) -> Self {
        let mut c = SimController {
            image: Arc::new(MetadataImage::new()),
            offset: 0,
            last_heard: BTreeMap::new(),
            brokers: (1..=brokers).collect(),
            rng: StdRng::seed_from_u64(seed ^ 0xc0de),
            violations: Vec::new(),
        };
        let mut records = vec![MetadataRecord::ClusterCreated {
            cluster_id: "sim".into(),
        }];
        for b in 1..=brokers {
            records.push(c.registered(b));
            records.push(MetadataRecord::BrokerUnfenced { broker_id: b });
        }
        records.push(MetadataRecord::TopicCreated {
            topic_id: TOPIC_ID,
            name: TOPIC.into(),
            partitions,
            replication_factor: rf as u16,
            configs: Default::default(),
        });
        let usable: Vec<(i32, Option<String>)> = (1..=brokers).map(|b| (b, None)).collect();
        let start = c.rng.random_range(0..brokers as usize);
        let lists = place_replicas(&usable, partitions, rf as u16, start).expect("placement");
        for (i, replicas) in lists.into_iter().enumerate() {
            records.push(MetadataRecord::PartitionChanged {
                topic_id: TOPIC_ID,
                partition: i as u32,
                leader: Some(replicas[0]),
                isr: Some(replicas.clone()),
                replicas: Some(replicas),
            });
        }
        assert!(c.commit(records, ctx), "the initial metadata commits");
        ctx.timer(CONTROLLER, 0, TICK_MS, Timer::Tick);
        c
    }

    fn registered(&mut self, broker_id: NodeId) -> MetadataRecord {
        MetadataRecord::BrokerRegistered {
            broker_id,
            incarnation_id: Uuid::from_u128(self.rng.random()),
            host: "sim".into(),
            port: 9092,
            rack: None,
            endpoints: vec![],
        }
    }

    /// Commits `records` as one batch (all or nothing, as a quorum batch) and pushes the
    /// image to every broker. Returns whether it committed.
    pub fn commit(&mut self, records: Vec<MetadataRecord>, ctx: &mut Ctx) -> bool {
        let mut next = (*self.image).clone();
        for r in &records {
            if let Err(e) = next.apply(r) {
                ctx.log(CONTROLLER, format!("refuses {r:?}: {e}"));
                return false;
            }
        }
        self.offset += 1;
        self.image = Arc::new(next);
        for r in &records {
            ctx.log(
                CONTROLLER,
                format!("commits @{}: {}", self.offset, short(r)),
            );
        }
        self.check_image(ctx);
        for &b in &self.brokers {
            let msg = Msg::Metadata {
                offset: self.offset,
                image: self.image.clone(),
            };
            ctx.send(CONTROLLER, b, msg);
        }
        true
    }

    /// The leader of every partition is in its ISR and unfenced; the ISR holds only replicas.
    fn check_image(&mut self, ctx: &mut Ctx) {
        let Some(topic) = self.image.topic(TOPIC) else {
            return;
        };
        for (i, p) in topic.partition_states.iter().enumerate() {
            let mut problems = Vec::new();
            if p.leader >= 0 && !p.isr.contains(&p.leader) {
                problems.push("the leader is not in the ISR");
            }
            if p.leader >= 0 && self.image.broker(p.leader).is_none_or(|b| b.fenced) {
                problems.push("the leader is fenced");
            }
            if p.isr.is_empty() || p.isr.iter().any(|b| !p.replicas.contains(b)) {
                problems.push("the ISR is empty or holds a non-replica");
            }
            for problem in problems {
                let v = format!("metadata offset {}: p{i} {problem}: {p:?}", self.offset);
                ctx.log(CONTROLLER, format!("VIOLATION {v}"));
                self.violations.push(v);
            }
        }
    }

    /// A message from a broker.
    pub fn on_message(&mut self, from: NodeId, msg: Msg, ctx: &mut Ctx) {
        self.last_heard.insert(from, ctx.now());
        match msg {
            Msg::Heartbeat { known_offset } => {
                if known_offset < self.offset {
                    self.push(from, ctx);
                }
            }
            Msg::Register { req } => {
                // `cluster.rs` `register`: a new incarnation, then unfence.
                let mut records = vec![self.registered(from)];
                records.extend(unfence_records(&after(&self.image, &records), from));
                if self.commit(records, ctx) {
                    let offset = self.offset;
                    ctx.send(CONTROLLER, from, Msg::Registered { req, offset });
                }
            }
            Msg::Unfence => {
                if self.image.broker(from).is_some_and(|b| b.fenced) {
                    let records = unfence_records(&self.image, from);
                    self.commit(records, ctx);
                }
            }
            Msg::ControlledShutdown => {
                if self.image.broker(from).is_some_and(|b| !b.fenced) {
                    let records = fence_records(&self.image, from);
                    self.commit(records, ctx);
                }
            }
            Msg::AlterIsr { req, records } => {
                // `replica/isr.rs` `commit`: the batch, or each alone when it is refused.
                let committed = if self.commit(records.clone(), ctx) {
                    vec![true; records.len()]
                } else {
                    records
                        .into_iter()
                        .map(|r| self.commit(vec![r], ctx))
                        .collect()
                };
                let offset = self.offset;
                ctx.send(
                    CONTROLLER,
                    from,
                    Msg::AlterIsrReply {
                        req,
                        committed,
                        offset,
                    },
                );
                self.push(from, ctx);
            }
            other => panic!("the controller got {other:?}"),
        }
    }

    fn push(&mut self, to: NodeId, ctx: &mut Ctx) {
        let msg = Msg::Metadata {
            offset: self.offset,
            image: self.image.clone(),
        };
        ctx.send(CONTROLLER, to, msg);
    }

    /// Fences brokers silent for the session timeout (`run_controller_loop`).
    pub fn on_tick(&mut self, ctx: &mut Ctx) {
        ctx.timer(CONTROLLER, 0, TICK_MS, Timer::Tick);
        let now = ctx.now();
        let silent: Vec<NodeId> = self
            .brokers
            .iter()
            .copied()
            .filter(|b| self.image.broker(*b).is_some_and(|i| !i.fenced))
            .filter(|b| {
                self.last_heard
                    .get(b)
                    .is_none_or(|t| now - t > ctx.cfg.session_ms)
            })
            .collect();
        for b in silent {
            ctx.log(
                CONTROLLER,
                format!("b{b} silent for the session timeout: fencing"),
            );
            let records = fence_records(&self.image, b);
            self.commit(records, ctx);
        }
    }

    /// The controller starts hearing from every broker now (start of the run).
    pub fn hear_all(&mut self, now: i64) {
        for &b in &self.brokers {
            self.last_heard.insert(b, now);
        }
    }
}

/// The image after `records` (`cluster.rs` `after`).
fn after(image: &MetadataImage, records: &[MetadataRecord]) -> MetadataImage {
    let mut next = image.clone();
    for r in records {
        // A record that does not apply is refused again at commit.
        let _ = next.apply(r);
    }
    next
}

/// `cluster.rs` `unfence_records`: unfence, and lead leaderless partitions it has in sync.
fn unfence_records(image: &MetadataImage, broker_id: NodeId) -> Vec<MetadataRecord> {
    let mut records = vec![MetadataRecord::BrokerUnfenced { broker_id }];
    records.extend(on_broker_unfenced(&after(image, &records), broker_id));
    records
}

/// `cluster.rs` `fence_records`: fence, and move its leaderships to in-sync replicas.
fn fence_records(image: &MetadataImage, broker_id: NodeId) -> Vec<MetadataRecord> {
    let mut records = vec![MetadataRecord::BrokerFenced { broker_id }];
    records.extend(on_broker_fenced(&after(image, &records), broker_id));
    records
}

/// A record in one short line.
fn short(r: &MetadataRecord) -> String {
    match r {
        MetadataRecord::PartitionChanged {
            partition,
            replicas,
            isr,
            leader,
            ..
        } => format!("PartitionChanged p{partition} replicas {replicas:?} isr {isr:?} leader {leader:?}"),
        MetadataRecord::IsrChanged {
            partition,
            leader,
            leader_epoch,
            partition_epoch,
            isr,
            ..
        } => format!("IsrChanged p{partition} by b{leader} epochs {leader_epoch}/{partition_epoch} isr {isr:?}"),
        MetadataRecord::BrokerRegistered { broker_id, .. } => {
            format!("BrokerRegistered b{broker_id}")
        }
        other => format!("{other:?}"),
    }
}
