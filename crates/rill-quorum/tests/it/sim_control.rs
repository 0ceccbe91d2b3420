//! Deterministic simulation of the controller logic on the quorum: three controllers run the
//! controller's real liveness loop (`rill_quorum::controller::run_liveness_loop`, around
//! [`rill_meta::control::tick`]) over the simulated network, brokers heartbeat to the active controller and follow the log (broker-only nodes by
//! fetching it, `sim_brokers`), and topics are placed with the real placement code while
//! nodes crash and restart, links are cut and messages are lost.
//!
//! Checked, besides the quorum's invariants (`checker`: one leader per term, one batch per
//! index on every node, observers included, acknowledged proposals kept at their offset, every
//! applied image's leaders inside their ISR): after healing, every broker is registered with
//! its current incarnation and unfenced, every partition has a leader that is in its ISR and an
//! unfenced broker, every acknowledged topic exists, and all nodes (controllers and observers)
//! hold identical images at the same offset. `fencing` checks the session semantics: a dead
//! broker is fenced no earlier than a session after its last heartbeat and soon after it, comes
//! back unfenced as a new incarnation, controlled shutdown fences at once, and a controller
//! failover fences nobody who keeps heartbeating.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rill_meta::control::place_replicas;
use rill_meta::{MetadataImage, MetadataRecord, Uuid};
use rill_quorum::{MetadataQuorum, NodeId};

use crate::harness::Cluster;
use crate::sim::run_seeds;
use crate::sim_brokers::SimBroker;

/// `broker.session.timeout.ms` in the simulation.
const SESSION_MS: u64 = 3000;
/// `broker.heartbeat.interval.ms` in the simulation.
const INTERVAL: Duration = Duration::from_millis(500);

/// Controllers, brokers and a workload.
struct World {
    c: Cluster,
    /// Running brokers.
    brokers: BTreeMap<NodeId, SimBroker>,
    /// Every broker id (running or not).
    broker_ids: Vec<NodeId>,
    /// Controllers also run a broker (process.roles=broker,controller).
    combined: bool,
    rng: StdRng,
    next_topic: u64,
}

impl World {
    /// 3 controllers; with `combined` each is also a broker, plus `observers` broker-only
    /// nodes (ids 11, 12, ...).
    async fn new(seed: u64, combined: bool, observers: u64) -> World {
        let c = Cluster::with_controllers(seed, 3, 8, Some(SESSION_MS)).await;
        let mut broker_ids: Vec<NodeId> = if combined { c.ids.clone() } else { Vec::new() };
        broker_ids.extend((0..observers).map(|i| 11 + i));
        let mut w = World {
            c,
            brokers: BTreeMap::new(),
            broker_ids,
            combined,
            rng: StdRng::seed_from_u64(seed ^ 0xb40c),
            next_topic: 0,
        };
        for id in w.broker_ids.clone() {
            w.start_broker(id);
        }
        w
    }

    fn start_broker(&mut self, id: NodeId) {
        if self.brokers.contains_key(&id) {
            return;
        }
        let b = if self.c.ids.contains(&id) {
            if !self.c.nodes.contains_key(&id) {
                return;
            }
            SimBroker::start_on_controller(&self.c, id, INTERVAL)
        } else {
            SimBroker::start_observer(&mut self.c, id, INTERVAL)
        };
        self.brokers.insert(id, b);
    }

    async fn crash_broker(&mut self, id: NodeId) {
        if let Some(b) = self.brokers.remove(&id) {
            b.crash().await;
        }
    }

    async fn crash_controller(&mut self, id: NodeId) {
        self.crash_broker(id).await;
        self.c.crash(id).await;
    }

    async fn start_controller(&mut self, id: NodeId) {
        if !self.c.nodes.contains_key(&id) {
            self.c.start(id).await;
        }
        if self.combined {
            self.start_broker(id);
        }
    }

    fn leader_image(&self) -> Option<std::sync::Arc<MetadataImage>> {
        self.c.leader().map(|l| self.c.nodes[&l].image())
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> Option<T> {
        (!from.is_empty()).then(|| from[self.rng.random_range(0..from.len())])
    }

    /// Creates a topic through a random running broker, placed by the real placement code on
    /// the brokers that broker sees as usable; records the acknowledgement.
    async fn create_topic(&mut self) -> Result<(), String> {
        let ids: Vec<NodeId> = self.brokers.keys().copied().collect();
        let Some(via) = self.pick(&ids) else {
            return Ok(());
        };
        let image = self.brokers[&via].source.image();
        let usable: Vec<(i32, Option<String>)> = image
            .brokers()
            .filter(|b| !b.fenced)
            .map(|b| (b.broker_id, b.rack.clone()))
            .collect();
        let rf = usable.len().min(3) as u16;
        let start = self.rng.random_range(0..8);
        let Ok(placed) = place_replicas(&usable, 2, rf, start) else {
            return Ok(());
        };
        self.next_topic += 1;
        let topic_id =
            Uuid::from_u128((u128::from(self.c.seed()) << 32) | u128::from(self.next_topic));
        let mut records = vec![MetadataRecord::TopicCreated {
            topic_id,
            name: format!("t{}", self.next_topic),
            partitions: 2,
            replication_factor: rf,
            configs: BTreeMap::new(),
        }];
        for (i, replicas) in placed.into_iter().enumerate() {
            records.push(MetadataRecord::PartitionChanged {
                topic_id,
                partition: i as u32,
                leader: replicas.first().copied(),
                isr: Some(replicas.clone()),
                replicas: Some(replicas),
            });
        }
        let b = &self.brokers[&via];
        let proposed = tokio::time::timeout(Duration::from_secs(5), b.propose(records.clone()));
        if let Ok(Ok(offset)) = proposed.await {
            self.c.checker.lock().unwrap().acked.push((offset, records));
        }
        Ok(())
    }

    /// What is wrong with the leader's image for a settled cluster (empty: nothing).
    fn settled_problems(&self) -> Vec<String> {
        let Some(image) = self.leader_image() else {
            return vec!["no leader".into()];
        };
        let mut problems = Vec::new();
        for b in self.brokers.values() {
            match image.broker(b.id as i32) {
                Some(r) if r.incarnation_id == b.incarnation && !r.fenced => {}
                other => problems.push(format!("broker {} is {other:?}", b.id)),
            }
        }
        for t in image.topics() {
            for (i, p) in t.partition_states.iter().enumerate() {
                let live = image.broker(p.leader).is_some_and(|b| !b.fenced);
                if !(p.isr.contains(&p.leader) && live) {
                    problems.push(format!(
                        "{}-{i}: leader {} isr {:?} (leader unfenced: {live})",
                        t.name, p.leader, p.isr
                    ));
                }
            }
        }
        problems
    }

    /// Every running node's (offset, image): controllers and broker-only observers.
    fn all_images(&self) -> Vec<(NodeId, Option<u64>, std::sync::Arc<MetadataImage>)> {
        let mut out: Vec<_> = self
            .c
            .nodes
            .iter()
            .map(|(id, q)| (*id, q.status().high_watermark, q.image()))
            .collect();
        for b in self.brokers.values() {
            if let crate::sim_brokers::Source::Observer(_) = b.source {
                out.push((b.id, b.source.offset(), b.source.image()));
            }
        }
        out
    }

    /// Heals everything, restarts every node, waits until the cluster settles, then checks
    /// every invariant.
    async fn finish(mut self) -> Result<(), String> {
        self.c.net.heal();
        self.c.net.set_loss(0.0, 5);
        for id in self.c.ids.clone() {
            self.start_controller(id).await;
        }
        for id in self.broker_ids.clone() {
            self.start_broker(id);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let problems = self.settled_problems();
            let images = self.all_images();
            let same = images
                .windows(2)
                .all(|w| w[0].1 == w[1].1 && w[0].2 == w[1].2);
            if problems.is_empty() && same {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                let offsets: Vec<_> = images.iter().map(|(id, o, _)| (*id, *o)).collect();
                return Err(format!(
                    "not settled after 60 s: {problems:?}; offsets {offsets:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let image = self.leader_image().ok_or("no leader at the end")?;
        let violations = {
            let mut checker = self.c.checker.lock().unwrap();
            checker.check_acked();
            let mut lost = Vec::new();
            for (_, recs) in &checker.acked {
                if let Some(MetadataRecord::TopicCreated { name, .. }) = recs.first() {
                    if image.topic(name).is_none() {
                        lost.push(format!("acked topic {name} lost"));
                    }
                }
            }
            if std::env::var_os("RILL_SIM_VERBOSE").is_some() {
                let n = |f: fn(&MetadataRecord) -> bool| checker.count_records(f);
                eprintln!(
                    "seed {}: {} topics acked, terms {:?}, registrations {}, fences {}, \
                     unfences {}, snapshot installs {:?}",
                    self.c.seed(),
                    checker.acked.len(),
                    checker.terms(),
                    n(|r| matches!(r, MetadataRecord::BrokerRegistered { .. })),
                    n(|r| matches!(r, MetadataRecord::BrokerFenced { .. })),
                    n(|r| matches!(r, MetadataRecord::BrokerUnfenced { .. })),
                    checker.installed,
                );
            }
            checker.violations.extend(lost);
            std::mem::take(&mut checker.violations)
        };
        for (_, b) in std::mem::take(&mut self.brokers) {
            b.crash().await;
        }
        self.c.shutdown().await;
        if violations.is_empty() {
            Ok(())
        } else {
            Err(violations.join("; "))
        }
    }
}

/// Waits until `ok` holds on the leader's image, up to `within`.
async fn wait_image(
    w: &World,
    within: Duration,
    what: &str,
    ok: impl Fn(&MetadataImage) -> bool,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if w.leader_image().is_some_and(|i| ok(&i)) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("{what}: not within {within:?}"))
}

fn unfenced(image: &MetadataImage) -> BTreeSet<i32> {
    image
        .brokers()
        .filter(|b| !b.fenced)
        .map(|b| b.broker_id)
        .collect()
}

async fn chaos(seed: u64, combined: bool) -> Result<(), String> {
    let mut w = World::new(seed, combined, if combined { 1 } else { 3 }).await;
    let all: BTreeSet<i32> = w.broker_ids.iter().map(|i| *i as i32).collect();
    wait_image(&w, Duration::from_secs(30), "every broker unfenced", |i| {
        unfenced(i) == all
    })
    .await?;
    for _ in 0..60 {
        match w.rng.random_range(0..12) {
            0..=2 => w.create_topic().await?,
            3 => {
                let running: Vec<NodeId> = w.brokers.keys().copied().collect();
                if running.len() > 1 {
                    if let Some(id) = w.pick(&running) {
                        if w.c.ids.contains(&id) {
                            w.crash_controller(id).await;
                        } else {
                            w.crash_broker(id).await;
                        }
                    }
                }
            }
            4 => {
                let down: Vec<NodeId> = w
                    .broker_ids
                    .iter()
                    .copied()
                    .filter(|b| !w.brokers.contains_key(b) && !w.c.ids.contains(b))
                    .collect();
                if let Some(id) = w.pick(&down) {
                    w.start_broker(id);
                }
            }
            5 if w.c.down().is_empty() => {
                let ids = w.c.ids.clone();
                if let Some(id) = w.pick(&ids) {
                    w.crash_controller(id).await;
                }
            }
            6 => {
                if let Some(&id) = w.c.down().first() {
                    w.start_controller(id).await;
                }
            }
            7 => {
                let mut everyone = w.c.ids.clone();
                everyone.extend(w.broker_ids.iter().filter(|b| !w.c.ids.contains(b)));
                let everyone: Vec<NodeId> = everyone.into_iter().collect();
                if let Some(id) = w.pick(&everyone) {
                    w.c.net.heal();
                    w.c.net.isolate(id, &everyone);
                }
            }
            8 => w.c.net.heal(),
            9 => {
                let loss = w.rng.random_range(0.0..0.2);
                let delay = w.rng.random_range(1..30);
                w.c.net.set_loss(loss, delay);
            }
            _ => {
                let ms = w.rng.random_range(0..2 * SESSION_MS);
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
        }
    }
    w.finish().await
}

async fn fencing(seed: u64) -> Result<(), String> {
    let mut w = World::new(seed, false, 2).await;
    wait_image(
        &w,
        Duration::from_secs(30),
        "brokers 11 and 12 unfenced",
        |i| unfenced(i) == BTreeSet::from([11, 12]),
    )
    .await?;
    // Both brokers must see each other usable, or placement puts everything on one.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while w
        .brokers
        .values()
        .any(|b| unfenced(&b.source.image()) != BTreeSet::from([11, 12]))
    {
        if tokio::time::Instant::now() > deadline {
            return Err("brokers do not see each other unfenced".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..3 {
        w.create_topic().await?;
    }
    let leads = |i: &MetadataImage, b: i32| {
        i.topics()
            .flat_map(|t| t.partition_states.iter())
            .filter(|p| p.leader == b)
            .count()
    };
    wait_image(&w, Duration::from_secs(5), "partitions led by both", |i| {
        leads(i, 11) > 0 && leads(i, 12) > 0
    })
    .await
    .map_err(|e| {
        format!(
            "{e}: {:?}",
            w.leader_image()
                .map(|i| i.topics().cloned().collect::<Vec<_>>())
        )
    })?;

    // A dead broker: still unfenced a session minus one interval after the crash (its last
    // heartbeat may be up to one interval older), fenced soon after the session.
    let t0 = tokio::time::Instant::now();
    w.crash_broker(12).await;
    tokio::time::sleep(Duration::from_millis(SESSION_MS) - INTERVAL - Duration::from_millis(100))
        .await;
    let image = w.leader_image().ok_or("no leader")?;
    if !unfenced(&image).contains(&12) {
        return Err(format!(
            "broker 12 fenced early, {:?} after its crash",
            t0.elapsed()
        ));
    }
    wait_image(
        &w,
        Duration::from_millis(1500),
        "dead broker 12 fenced",
        |i| !unfenced(i).contains(&12) && leads(i, 12) == 0,
    )
    .await?;
    let image = w.leader_image().ok_or("no leader")?;
    for t in image.topics() {
        for p in &t.partition_states {
            if p.isr != vec![11] || p.leader != 11 {
                return Err(format!(
                    "after fencing 12: {} isr {:?} leader {}",
                    t.name, p.isr, p.leader
                ));
            }
        }
    }

    // Back as a new incarnation: registered again and unfenced, but not in any ISR.
    w.start_broker(12);
    let inc = w.brokers[&12].incarnation;
    wait_image(
        &w,
        Duration::from_secs(3),
        "broker 12 back and unfenced",
        |i| {
            i.broker(12)
                .is_some_and(|b| b.incarnation_id == inc && !b.fenced)
        },
    )
    .await?;
    let image = w.leader_image().ok_or("no leader")?;
    if leads(&image, 12) != 0 {
        return Err("broker 12 leads without being in an ISR".into());
    }

    // A controller failover fences nobody who keeps heartbeating.
    let old = w.c.leader().ok_or("no leader")?;
    w.crash_controller(old).await;
    let new =
        w.c.wait_leader(Duration::from_secs(10))
            .await
            .ok_or("no new controller")?;
    tokio::time::sleep(Duration::from_millis(2 * SESSION_MS)).await;
    let image = w.c.nodes[&new].image();
    if unfenced(&image) != BTreeSet::from([11, 12]) {
        return Err(format!(
            "after failover to {new}: unfenced {:?}",
            unfenced(&image)
        ));
    }
    w.start_controller(old).await;

    // Controlled shutdown: fenced at once; 11 was the last ISR member, so partitions keep
    // it as their ISR and have no leader.
    let leaving = w.brokers.remove(&11).ok_or("broker 11 not running")?;
    leaving.ask_to_leave().await;
    wait_image(
        &w,
        Duration::from_millis(1000),
        "broker 11 fenced on request",
        |i| !unfenced(i).contains(&11) && leads(i, 11) == 0,
    )
    .await?;
    let image = w.leader_image().ok_or("no leader")?;
    for t in image.topics() {
        for p in &t.partition_states {
            if p.isr != vec![11] || p.leader != -1 {
                return Err(format!(
                    "after 11 left: {} isr {:?} leader {}",
                    t.name, p.isr, p.leader
                ));
            }
        }
    }
    leaving.crash().await;
    w.finish().await
}

#[test]
fn sim_controller_chaos_separate_roles() {
    run_seeds("controller_chaos_separate", 10, |seed| chaos(seed, false));
}

#[test]
fn sim_controller_chaos_combined_roles() {
    run_seeds("controller_chaos_combined", 10, |seed| chaos(seed, true));
}

#[test]
fn sim_controller_fencing() {
    run_seeds("controller_fencing", 4, fencing);
}
