//! One simulated broker: the real `Partition`s (a real `PartitionLog` in a directory of its
//! own and a real `ReplicaState` each), driven the way the broker's async shell drives them:
//! metadata applied as `ReplicaManager::reconcile` does, the ISR loop of `replica/isr.rs`
//! (a change without answer stays pending and is asked for again; a refused one is
//! forgotten once the image that refused it is applied),
//! the liveness and self-unfencing of `cluster.rs`, start-up registration, crash (the
//! partitions are dropped without a flush: kill -9) and clean shutdown (controlled shutdown,
//! then flush and high watermark checkpoint).
//!
//! Leader-side request handling is in `leader.rs`, the replica fetcher in `follower.rs`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use rill_broker::replica::state::Transition;
use rill_broker::replica::{Partition, PartitionId};
use rill_log::LogConfig;
use rill_meta::{MetadataImage, MetadataRecord, PartitionImage};

use crate::replication_sim::ctx::Ctx;
use crate::replication_sim::follower::Link;
use crate::replication_sim::leader::{Parked, PendingAck};
use crate::replication_sim::msg::{Msg, NodeId, Timer, CONTROLLER};
use crate::replication_sim::world::{TOPIC, TOPIC_ID};

/// How often a broker's housekeeping tick runs.
pub const TICK_MS: i64 = 50;

/// Where a broker is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Life {
    /// Crashed or shut down; a restart is scheduled.
    Down,
    /// Process started, registering with the controller (serves nothing yet).
    Starting {
        /// The Register request in flight.
        req: u64,
        /// When to send it again.
        retry_at: i64,
        /// The metadata offset of the committed registration, once known.
        registered_at: Option<u64>,
    },
    /// Serving.
    Up,
}

/// An ISR change commit in flight (the real ISR loop waits for it).
#[derive(Debug)]
pub struct IsrCommit {
    /// Request id.
    pub req: u64,
    /// When the leader gives up (the real `PROPOSE_WAIT`).
    pub deadline: i64,
    /// The partition of each record sent.
    pub partitions: Vec<u32>,
    /// Reply received: clear these pending changes once the image reached this offset.
    pub refused: Option<(u64, Vec<u32>)>,
}

/// One simulated broker.
pub struct SimBroker {
    /// The broker id.
    pub id: NodeId,
    /// Its data directory (survives crashes).
    pub dir: PathBuf,
    /// Bumped at every start; timers and answers of an older incarnation are ignored.
    pub incarnation: u64,
    /// Where it is in its life.
    pub life: Life,
    /// The newest metadata image it applied.
    pub image: Arc<MetadataImage>,
    /// That image's metadata offset.
    pub image_offset: u64,
    /// Hosted partitions by index.
    pub partitions: BTreeMap<u32, Arc<Partition>>,
    /// Replica fetchers, one per leader it follows.
    pub links: BTreeMap<NodeId, Link>,
    /// Follower fetches parked on the leader until data arrives.
    pub parked: Vec<Parked>,
    /// acks=all produces waiting for the ISR.
    pub acks: Vec<PendingAck>,
    /// The ISR change in flight.
    pub isr_commit: Option<IsrCommit>,
    /// When the ISR loop last ran (or its last commit finished).
    pub last_isr_check: i64,
    /// A commit finished since the last tick (the loop then sleeps a tick from there).
    pub isr_settled: bool,
    /// When it last told the controller it is alive.
    pub last_heartbeat: i64,
    /// When it last asked to be unfenced.
    pub last_unfence: i64,
    /// Request id counter.
    next_req: u64,
}

impl SimBroker {
    /// A broker that has never run, with its data in `dir`.
    pub fn new(id: NodeId, dir: PathBuf) -> Self {
        SimBroker {
            id,
            dir,
            incarnation: 0,
            life: Life::Down,
            image: Arc::new(MetadataImage::new()),
            image_offset: 0,
            partitions: BTreeMap::new(),
            links: BTreeMap::new(),
            parked: Vec::new(),
            acks: Vec::new(),
            isr_commit: None,
            last_isr_check: 0,
            isr_settled: false,
            last_heartbeat: 0,
            last_unfence: 0,
            next_req: 0,
        }
    }

    /// A request id unique to this broker across its incarnations.
    pub fn req_id(&mut self) -> u64 {
        self.next_req += 1;
        (self.incarnation << 32) | self.next_req
    }

    /// Whether the broker serves requests.
    pub fn is_up(&self) -> bool {
        self.life == Life::Up
    }

    /// Process start: registers with the controller before serving (as `Broker::open`).
    pub fn start(&mut self, ctx: &mut Ctx) {
        self.incarnation += 1;
        self.next_req = 0;
        self.image = Arc::new(MetadataImage::new());
        self.image_offset = 0;
        let req = self.req_id();
        self.life = Life::Starting {
            req,
            retry_at: ctx.now() + ctx.cfg.request_timeout_ms,
            registered_at: None,
        };
        ctx.log(
            self.id,
            format!("starts (incarnation {})", self.incarnation),
        );
        ctx.send(self.id, CONTROLLER, Msg::Register { req });
        ctx.timer(self.id, self.incarnation, TICK_MS, Timer::Tick);
    }

    /// kill -9: everything in memory is gone; the logs stay as written (nothing flushed or
    /// checkpointed).
    pub fn crash(&mut self, ctx: &mut Ctx) {
        ctx.log(self.id, "crashes (kill -9)");
        ctx.count("crashes (kill -9)");
        self.stop();
    }

    /// SIGTERM: controlled shutdown (ask to be fenced so leaderships move), then flush every
    /// partition and checkpoint its high watermark.
    pub fn shut_down(&mut self, ctx: &mut Ctx) {
        ctx.log(self.id, "shuts down cleanly");
        ctx.count("clean shutdowns");
        if self.is_up() {
            ctx.send(self.id, CONTROLLER, Msg::ControlledShutdown);
        }
        for p in self.partitions.values() {
            p.flush().expect("flush at shutdown");
        }
        self.stop();
    }

    fn stop(&mut self) {
        self.life = Life::Down;
        self.partitions.clear();
        self.links.clear();
        self.parked.clear();
        self.acks.clear();
        self.isr_commit = None;
    }

    /// A metadata image from the controller: applied if newer, as the reconcile loop does.
    pub fn on_metadata(&mut self, offset: u64, image: Arc<MetadataImage>, ctx: &mut Ctx) {
        if offset <= self.image_offset || self.life == Life::Down {
            return;
        }
        self.image = image;
        self.image_offset = offset;
        match self.life {
            Life::Up => self.reconcile(ctx),
            Life::Starting {
                registered_at: Some(at),
                ..
            } if offset >= at => self.become_up(ctx),
            _ => {}
        }
    }

    /// The registration committed at `offset`.
    pub fn on_registered(&mut self, req: u64, offset: u64, ctx: &mut Ctx) {
        if let Life::Starting {
            req: r,
            retry_at,
            registered_at: None,
        } = self.life
        {
            if r != req {
                return;
            }
            self.life = Life::Starting {
                req,
                retry_at,
                registered_at: Some(offset),
            };
            if self.image_offset >= offset {
                self.become_up(ctx);
            }
        }
    }

    fn become_up(&mut self, ctx: &mut Ctx) {
        self.life = Life::Up;
        self.last_isr_check = ctx.now();
        self.last_heartbeat = ctx.now();
        ctx.log(
            self.id,
            format!("up at metadata offset {}", self.image_offset),
        );
        self.reconcile(ctx);
    }

    /// `ReplicaManager::reconcile` + `FetcherManager::update`: opens the partitions this
    /// broker hosts, applies each one's image, points the fetchers at the leaders.
    fn reconcile(&mut self, ctx: &mut Ctx) {
        let Some(topic) = self.image.topic(TOPIC).cloned() else {
            return;
        };
        for index in 0..topic.partitions {
            let state = topic
                .partition_states
                .get(index as usize)
                .cloned()
                .unwrap_or_default();
            if !(state.replicas.is_empty() || state.replicas.contains(&self.id)) {
                continue;
            }
            let p = self.partition(index, ctx);
            let before = p.high_watermark();
            let t = p
                .apply_image(&state, ctx.now())
                .expect("apply_image on a healthy disk");
            match t {
                Transition::BecameLeader => ctx.count("leaderships taken"),
                Transition::BecameFollower => ctx.count("followerships taken"),
                Transition::Unchanged => {}
            }
            if t != Transition::Unchanged {
                ctx.log(self.id, role_line(index, &state, t, &p, before));
            }
        }
        self.settle_refused_isr();
        self.update_fetchers(ctx);
        self.check_acks(ctx);
    }

    fn partition(&mut self, index: u32, ctx: &mut Ctx) -> Arc<Partition> {
        if let Some(p) = self.partitions.get(&index) {
            return p.clone();
        }
        let dir = self.dir.join(format!("{TOPIC}-{index}"));
        let config = LogConfig {
            segment_bytes: ctx.cfg.segment_bytes,
            index_interval_bytes: 256,
            ..LogConfig::default()
        };
        let p = Arc::new(
            Partition::open(
                PartitionId {
                    dir: &dir,
                    topic: TOPIC,
                    topic_id: TOPIC_ID,
                    index: index as i32,
                },
                config,
                ctx.cfg.min_insync_replicas,
                self.id,
            )
            .expect("open a partition log"),
        );
        ctx.log(
            self.id,
            format!(
                "p{index} opened: log end {}, high watermark {} (checkpoint)",
                p.log_end_offset().unwrap_or(-1),
                p.high_watermark()
            ),
        );
        self.partitions.insert(index, p.clone());
        p
    }

    /// The housekeeping tick: registration retries, liveness, self-unfencing, the ISR loop,
    /// and every timeout (fetches, parked fetches, acks=all waits, ISR commits).
    pub fn on_tick(&mut self, ctx: &mut Ctx) {
        ctx.timer(self.id, self.incarnation, TICK_MS, Timer::Tick);
        let now = ctx.now();
        if self.life == Life::Down {
            return;
        }
        if now - self.last_heartbeat >= ctx.cfg.heartbeat_ms {
            self.last_heartbeat = now;
            let known_offset = self.image_offset;
            ctx.send(self.id, CONTROLLER, Msg::Heartbeat { known_offset });
        }
        match self.life {
            Life::Down => return,
            Life::Starting { retry_at, .. } => {
                if now >= retry_at {
                    let req = self.req_id();
                    self.life = Life::Starting {
                        req,
                        retry_at: now + ctx.cfg.request_timeout_ms,
                        registered_at: None,
                    };
                    ctx.send(self.id, CONTROLLER, Msg::Register { req });
                }
                return;
            }
            Life::Up => {}
        }
        let fenced = self.image.broker(self.id).is_some_and(|b| b.fenced);
        if fenced && now - self.last_unfence >= ctx.cfg.propose_wait_ms.min(1000) {
            self.last_unfence = now;
            ctx.send(self.id, CONTROLLER, Msg::Unfence);
        }
        self.follower_timeouts(ctx);
        self.expire_parked(ctx);
        self.check_acks(ctx);
        self.isr_tick(ctx);
    }

    /// The ISR loop (`replica/isr.rs`): every 250 ms, unless a commit is in flight, ask the
    /// controller for the ISR changes the led partitions want.
    fn isr_tick(&mut self, ctx: &mut Ctx) {
        let now = ctx.now();
        if let Some(c) = &self.isr_commit {
            if now < c.deadline {
                return;
            }
            // The commit got no answer (`NotController`): the changes stay pending and are
            // asked for again.
            let parts = c.partitions.clone();
            ctx.log(self.id, format!("ISR commit timed out for {parts:?}"));
            ctx.count("ISR commits timed out");
            self.isr_commit = None;
            // The real loop sleeps a tick after each commit before it looks again.
            self.last_isr_check = now;
        }
        if std::mem::take(&mut self.isr_settled) {
            self.last_isr_check = now;
        }
        if now - self.last_isr_check < ctx.cfg.isr_tick_ms {
            return;
        }
        self.last_isr_check = now;
        let mut records = Vec::new();
        let mut partitions = Vec::new();
        for (i, p) in &self.partitions {
            let proposal = p
                .isr_proposal(now, ctx.cfg.lag_max_ms)
                .or_else(|| p.pending_isr_proposal());
            let Some((isr, leader_epoch, partition_epoch)) = proposal else {
                continue;
            };
            if isr.len() < p.isr_len() {
                ctx.count("ISR shrinks asked");
            } else {
                ctx.count("ISR expansions asked");
            }
            ctx.log(
                self.id,
                format!(
                    "p{i} asks ISR {:?} -> {isr:?} (leader epoch {leader_epoch}, partition epoch {partition_epoch})",
                    p.replica_state().isr
                ),
            );
            records.push(MetadataRecord::IsrChanged {
                topic_id: TOPIC_ID,
                partition: *i,
                leader: self.id,
                leader_epoch,
                partition_epoch,
                isr,
            });
            partitions.push(*i);
        }
        if records.is_empty() {
            return;
        }
        let req = self.req_id();
        self.isr_commit = Some(IsrCommit {
            req,
            deadline: now + ctx.cfg.propose_wait_ms,
            partitions,
            refused: None,
        });
        ctx.send(self.id, CONTROLLER, Msg::AlterIsr { req, records });
    }

    /// The controller's answer to the ISR commit: like `Broker::commit`, the leader goes on
    /// once the metadata offset is applied here; refused changes are then forgotten.
    pub fn on_alter_isr_reply(&mut self, req: u64, committed: &[bool], offset: u64, ctx: &mut Ctx) {
        let Some(c) = self.isr_commit.as_mut().filter(|c| c.req == req) else {
            return;
        };
        let refused: Vec<u32> = c
            .partitions
            .iter()
            .zip(committed)
            .filter(|(_, ok)| !**ok)
            .map(|(i, _)| *i)
            .collect();
        ctx.log(
            self.id,
            format!("ISR commit answered: {committed:?} at metadata offset {offset}"),
        );
        if !refused.is_empty() {
            ctx.count("ISR changes refused (stale)");
        }
        c.refused = Some((offset, refused));
        self.settle_refused_isr();
    }

    /// Finishes an answered ISR commit once the image caught up with it.
    fn settle_refused_isr(&mut self) {
        let Some(c) = &self.isr_commit else { return };
        let Some((offset, refused)) = &c.refused else {
            return;
        };
        if self.image_offset < *offset {
            return;
        }
        for i in refused {
            if let Some(p) = self.partitions.get(i) {
                p.clear_pending_isr();
            }
        }
        self.isr_commit = None;
        self.isr_settled = true;
    }

    /// Flushes every hosted partition (checkpointing high watermarks), as the periodic
    /// `flush.ms` flush does.
    pub fn flush_all(&mut self, ctx: &mut Ctx) {
        for p in self.partitions.values() {
            p.flush().expect("flush");
        }
        ctx.debug(self.id, || "flushed every partition".into());
    }
}

fn role_line(
    index: u32,
    state: &PartitionImage,
    t: Transition,
    p: &Partition,
    hw_before: i64,
) -> String {
    format!(
        "p{index} {t:?}: leader {} epoch {} isr {:?} (log end {}, high watermark {} -> {})",
        state.leader,
        state.leader_epoch,
        state.isr,
        p.log_end_offset().unwrap_or(-1),
        hw_before,
        p.high_watermark()
    )
}
