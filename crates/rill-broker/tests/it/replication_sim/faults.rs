//! The fault injector of the chaos phase: every 0.2-1.5 simulated seconds one fault drawn
//! from the seed: kill -9 or clean shutdown of a broker (restarted later from its disk), a
//! broker cut off from everyone / from the controller only / from the other brokers only, a
//! one-way link cut, the client cut from a broker, a stormy network (loss, long delays, so
//! reordering), or a flush (high watermark checkpoint). Cuts and storms heal after a while.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::replication_sim::broker::Life;
use crate::replication_sim::ctx::T0;
use crate::replication_sim::msg::{NodeId, Timer, CLIENT, CONTROLLER};
use crate::replication_sim::world::{ctx, Plan, World, FAULTS};

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
    /// The script's next step.
    step: usize,
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
            step: 0,
        }
    }

    /// A new fault id.
    pub fn id(&mut self) -> u64 {
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
        Timer::Tick => match w.plan {
            Plan::Random => {
                inject(w);
                let next = w.faults.rng.random_range(200..=1500);
                w.net.set_timer(FAULTS, 0, next, Timer::Tick);
            }
            Plan::Script(script) => {
                let Some((_, step)) = script.steps.get(w.faults.step) else {
                    return;
                };
                w.faults.step += 1;
                w.faults.injected += 1;
                step(w);
                if let Some((at, _)) = script.steps.get(w.faults.step) {
                    let after = T0 + at - w.net.now;
                    w.net.set_timer(FAULTS, 0, after, Timer::Tick);
                }
            }
        },
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
pub fn cut(w: &mut World, what: String, links: Vec<(NodeId, NodeId)>) {
    let id = w.faults.id();
    let lasts = w.faults.rng.random_range(200..=4000);
    ctx!(w).log(FAULTS, format!("fault {id}: {what} for {lasts} ms"));
    w.net.cut(id, links);
    w.net.set_timer(FAULTS, 0, lasts, Timer::Heal(id));
}

/// Both directions between `a` and each of `others`.
pub fn both_ways(a: NodeId, others: &[NodeId]) -> Vec<(NodeId, NodeId)> {
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
