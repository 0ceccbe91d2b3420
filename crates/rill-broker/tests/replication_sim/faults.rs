//! The fault injector of the chaos phase: every 0.2-1.5 simulated seconds one fault drawn
//! from the seed: kill -9 or clean shutdown of a broker (restarted later from its disk), a
//! broker cut off from everyone / from the controller only / from the other brokers only, a
//! one-way link cut, the client cut from a broker, a stormy network (loss, long delays, so
//! reordering), or a flush (high watermark checkpoint). Cuts and storms heal after a while.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rill_meta::MetadataRecord;

use crate::broker::Life;
use crate::msg::{NodeId, Timer, CLIENT, CONTROLLER};
use crate::world::{ctx, Sabotage, World, FAULTS, TOPIC, TOPIC_ID};

/// The fault injector's state.
pub struct Faults {
    rng: StdRng,
    /// Faults injected so far.
    pub injected: u64,
    next_id: u64,
    /// The calm phase started: nothing more is injected.
    pub calm: bool,
    /// The storm in progress (its fault id).
    storm: Option<u64>,
    /// Sabotage step reached.
    sabotage_step: u32,
}

impl Faults {
    /// The injector of run `seed`.
    pub fn new(seed: u64) -> Self {
        Faults {
            rng: StdRng::seed_from_u64(seed ^ 0xfa17),
            injected: 0,
            next_id: 0,
            calm: false,
            storm: None,
            sabotage_step: 0,
        }
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// The injector's timers: the next fault, or the end of one.
pub fn on_timer(w: &mut World, timer: Timer) {
    if w.faults.calm {
        return;
    }
    match timer {
        Timer::Heal(id) => heal(w, id),
        Timer::Tick if w.sabotage == Sabotage::UncleanElection => unclean_election(w),
        Timer::Tick => {
            inject(w);
            let next = w.faults.rng.random_range(200..=1500);
            w.net.set_timer(FAULTS, 0, next, Timer::Tick);
        }
        _ => {}
    }
}

fn heal(w: &mut World, id: u64) {
    if w.faults.storm == Some(id) {
        w.faults.storm = None;
        w.net.loss = 0.0;
        w.net.max_delay_ms = 3;
        ctx!(w).log(FAULTS, format!("fault {id} over: the network calms"));
    } else {
        w.net.restore(id);
        ctx!(w).log(FAULTS, format!("fault {id} over: links restored"));
    }
}

fn random_broker(w: &mut World, life: Life) -> Option<NodeId> {
    let ids: Vec<NodeId> = w
        .brokers
        .iter()
        .filter(|(_, b)| b.life == life)
        .map(|(id, _)| *id)
        .collect();
    (!ids.is_empty()).then(|| ids[w.faults.rng.random_range(0..ids.len())])
}

/// Cuts `links` as a new fault healed after a random time.
fn cut(w: &mut World, what: String, links: Vec<(NodeId, NodeId)>) {
    let id = w.faults.id();
    let lasts = w.faults.rng.random_range(200..=4000);
    ctx!(w).log(FAULTS, format!("fault {id}: {what} for {lasts} ms"));
    w.net.cut(id, links);
    w.net.set_timer(FAULTS, 0, lasts, Timer::Heal(id));
}

/// Both directions between `a` and each of `others`.
fn both_ways(a: NodeId, others: &[NodeId]) -> Vec<(NodeId, NodeId)> {
    others
        .iter()
        .filter(|b| **b != a)
        .flat_map(|b| [(a, *b), (*b, a)])
        .collect()
}

fn inject(w: &mut World) {
    w.faults.injected += 1;
    let all_brokers: Vec<NodeId> = w.brokers.keys().copied().collect();
    let down = w.brokers.values().filter(|b| b.life == Life::Down).count();
    let cuts_full = w.net.cut_faults() >= 2;
    match w.faults.rng.random_range(0..100) {
        0..=17 if down < 2 => {
            let Some(b) = random_broker(w, Life::Up) else {
                return;
            };
            let after = w.faults.rng.random_range(100..=4000);
            let broker = w.brokers.get_mut(&b).expect("broker");
            broker.crash(ctx!(w));
            let inc = broker.incarnation;
            w.net.set_timer(b, inc, after, Timer::Restart);
        }
        18..=25 if down < 2 => {
            let Some(b) = random_broker(w, Life::Up) else {
                return;
            };
            let after = w.faults.rng.random_range(100..=3000);
            let broker = w.brokers.get_mut(&b).expect("broker");
            broker.shut_down(ctx!(w));
            let inc = broker.incarnation;
            w.net.set_timer(b, inc, after, Timer::Restart);
        }
        26..=40 if !cuts_full => {
            let b = all_brokers[w.faults.rng.random_range(0..all_brokers.len())];
            let mut others = all_brokers.clone();
            others.extend([CONTROLLER, CLIENT]);
            cut(
                w,
                format!("b{b} cut off from everyone"),
                both_ways(b, &others),
            );
        }
        41..=50 if !cuts_full => {
            let b = all_brokers[w.faults.rng.random_range(0..all_brokers.len())];
            cut(
                w,
                format!("b{b} cut off from the controller"),
                both_ways(b, &[CONTROLLER]),
            );
        }
        51..=62 if !cuts_full => {
            let b = all_brokers[w.faults.rng.random_range(0..all_brokers.len())];
            cut(
                w,
                format!("b{b} cut off from the other brokers"),
                both_ways(b, &all_brokers),
            );
        }
        63..=70 if !cuts_full => {
            let mut nodes = all_brokers.clone();
            nodes.push(CONTROLLER);
            let a = nodes[w.faults.rng.random_range(0..nodes.len())];
            let b = nodes[w.faults.rng.random_range(0..nodes.len())];
            if a != b {
                cut(w, format!("link b{a} -> b{b} cut (one way)"), vec![(a, b)]);
            }
        }
        71..=76 if !cuts_full => {
            let b = all_brokers[w.faults.rng.random_range(0..all_brokers.len())];
            cut(
                w,
                format!("client cut off from b{b}"),
                both_ways(CLIENT, &[b]),
            );
        }
        77..=86 if w.faults.storm.is_none() => {
            let id = w.faults.id();
            let loss = w.faults.rng.random_range(0.0..0.2);
            let delay = w.faults.rng.random_range(5..=150);
            let lasts = w.faults.rng.random_range(300..=3000);
            w.faults.storm = Some(id);
            w.net.loss = loss;
            w.net.max_delay_ms = delay;
            ctx!(w).log(
                FAULTS,
                format!(
                    "fault {id}: storm, loss {loss:.2}, delays up to {delay} ms, for {lasts} ms"
                ),
            );
            w.net.set_timer(FAULTS, 0, lasts, Timer::Heal(id));
        }
        87..=93 => {
            let Some(b) = random_broker(w, Life::Up) else {
                return;
            };
            let broker = w.brokers.get_mut(&b).expect("broker");
            broker.flush_all(ctx!(w));
            ctx!(w).log(b, "flushed (high watermarks checkpointed)");
        }
        _ => {}
    }
}

/// The sabotage run: partition 0's first follower is cut off from the other brokers at 1 s;
/// once it is out of the ISR and more was acknowledged, it is made leader anyway.
fn unclean_election(w: &mut World) {
    let p0 = w
        .controller
        .image
        .topic(TOPIC)
        .map(|t| t.partition_states[0].clone())
        .expect("partition 0");
    let victim = p0.replicas[1];
    match w.faults.sabotage_step {
        0 => {
            let all: Vec<NodeId> = w.brokers.keys().copied().collect();
            let id = w.faults.id();
            ctx!(w).log(
                FAULTS,
                format!("sabotage: b{victim} cut off from the other brokers"),
            );
            w.net.cut(id, both_ways(victim, &all));
            w.faults.storm = None;
            let wait = w.cfg.lag_max_ms + 4000;
            w.net.set_timer(FAULTS, 0, wait, Timer::Tick);
        }
        1 => {
            ctx!(w).log(
                FAULTS,
                format!(
                    "sabotage: unclean election of b{victim} (ISR was {:?})",
                    p0.isr
                ),
            );
            let records = vec![MetadataRecord::PartitionChanged {
                topic_id: TOPIC_ID,
                partition: 0,
                replicas: None,
                isr: Some(vec![victim]),
                leader: Some(victim),
            }];
            w.controller.commit(records, ctx!(w));
            w.net.heal();
        }
        _ => {}
    }
    w.faults.sabotage_step += 1;
}
