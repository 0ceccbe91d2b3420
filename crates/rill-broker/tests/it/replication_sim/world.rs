//! One simulated run: the controller, the brokers, the client and the checker on one seeded
//! network; events are handled one at a time in time order and the invariants are checked
//! after each. A run has a chaos phase (faults from `faults.rs`), then a calm phase (every
//! broker restarted, every link healed) after which `convergence.rs` checks that the cluster
//! recovered.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::SeedableRng;
use rill_meta::Uuid;

use crate::replication_sim::broker::{Life, SimBroker};
use crate::replication_sim::checker::Checker;
use crate::replication_sim::client::SimClient;
use crate::replication_sim::config::SimConfig;
use crate::replication_sim::controller::SimController;
use crate::replication_sim::ctx::{Ctx, T0};
use crate::replication_sim::faults::Faults;
use crate::replication_sim::msg::{Msg, NodeId, Timer, CLIENT, CONTROLLER};
use crate::replication_sim::net::{Event, Net};
use crate::replication_sim::trace::Trace;

/// The topic every run replicates.
pub const TOPIC: &str = "sim";
/// Its id.
pub const TOPIC_ID: Uuid = Uuid::from_u128(0x5117_0000_0000_0000_0000_0000_0000_0001);
/// The fault injector's timers.
pub const FAULTS: NodeId = -1;

/// A script step: at this many ms from the start, do this.
pub type Step = (i64, fn(&mut World));

/// A scripted run: settings adjusted, then steps at fixed times instead of random faults.
pub struct Script {
    /// What it shows.
    pub name: &'static str,
    /// Adjusts the settings drawn from the seed.
    pub config: fn(&mut SimConfig),
    /// (ms from the start, step), in time order.
    pub steps: &'static [Step],
}

/// Where a run's faults come from.
#[derive(Clone, Copy)]
pub enum Plan {
    /// Drawn from the seed (`faults.rs`).
    Random,
    /// A script (`scripts.rs`).
    Script(&'static Script),
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Acknowledged batches.
    pub acked: usize,
    /// Acknowledged in the calm phase.
    pub acked_calm: usize,
    /// Produce requests sent.
    pub produced: u64,
    /// Metadata changes committed.
    pub metadata_changes: u64,
    /// Events handled.
    pub events: u64,
    /// Faults injected.
    pub faults: u64,
    /// Messages sent / dropped.
    pub messages: (u64, u64),
    /// Notable things by kind.
    pub counts: BTreeMap<&'static str, u64>,
}

/// A run.
pub struct World {
    /// The seed.
    pub seed: u64,
    /// The settings.
    pub cfg: SimConfig,
    /// The network.
    pub net: Net,
    /// The trace.
    pub trace: Trace,
    /// Whether routine events are traced.
    pub verbose: bool,
    /// The controller.
    pub controller: SimController,
    /// The brokers by id.
    pub brokers: BTreeMap<NodeId, SimBroker>,
    /// The client.
    pub client: SimClient,
    /// The checker.
    pub checker: Checker,
    /// The fault injector.
    pub faults: Faults,
    /// Where the faults come from.
    pub plan: Plan,
    /// Brokers a script remembers by role.
    pub marks: BTreeMap<&'static str, NodeId>,
    /// Events handled.
    pub events: u64,
    /// The brokers' data (removed at the end).
    _dir: tempfile::TempDir,
}

/// A tempdir on tmpfs when there is one (fsync there costs nothing).
fn data_dir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::Builder::new().prefix("rill-sim-").tempdir_in(shm) {
            return d;
        }
    }
    tempfile::Builder::new()
        .prefix("rill-sim-")
        .tempdir()
        .expect("tempdir")
}

macro_rules! ctx {
    ($w:expr) => {
        &mut $crate::replication_sim::ctx::Ctx {
            net: &mut $w.net,
            trace: &mut $w.trace,
            cfg: &$w.cfg,
            verbose: $w.verbose,
        }
    };
}
pub(crate) use ctx;

impl World {
    /// Sets up the run of `seed`: every broker starts with empty logs.
    pub fn new(seed: u64, plan: Plan, verbose: bool) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut cfg = SimConfig::draw(&mut rng);
        if let Plan::Script(s) = plan {
            (s.config)(&mut cfg);
        }
        let dir = data_dir();
        let mut net = Net::new(seed, T0);
        let mut trace = Trace::default();
        let (controller, client) = {
            let ctx = &mut Ctx {
                net: &mut net,
                trace: &mut trace,
                cfg: &cfg,
                verbose,
            };
            ctx.log(CONTROLLER, format!("seed {seed}: {cfg:?}"));
            let mut controller = SimController::new(
                seed,
                cfg.brokers,
                cfg.partitions,
                cfg.replication_factor,
                ctx,
            );
            controller.hear_all(ctx.now());
            let client = SimClient::new(seed, cfg.partitions, cfg.brokers, ctx);
            (controller, client)
        };
        let mut w = World {
            seed,
            brokers: (1..=cfg.brokers)
                .map(|b| (b, SimBroker::new(b, dir.path().join(format!("broker-{b}")))))
                .collect(),
            faults: Faults::new(seed),
            cfg,
            net,
            trace,
            verbose,
            controller,
            client,
            checker: Checker::default(),
            plan,
            marks: BTreeMap::new(),
            events: 0,
            _dir: dir,
        };
        for b in w.brokers.values_mut() {
            b.start(ctx!(w));
        }
        let first = match plan {
            Plan::Random => 1000,
            Plan::Script(s) => s.steps.first().map_or(i64::MAX / 4, |(at, _)| *at),
        };
        w.net.set_timer(FAULTS, 0, first, Timer::Tick);
        w
    }

    /// Runs the chaos and calm phases; the violations found, if any, are in the checker.
    pub fn run(&mut self) -> Summary {
        let chaos_end = T0 + self.cfg.chaos_ms;
        let end = chaos_end + self.cfg.calm_ms;
        let mut acked_calm = 0;
        self.run_until(chaos_end);
        if self.checker.violations.is_empty() {
            self.calm_down();
            let acked_before = self.checker.acked.len();
            self.run_until(end - 5_000);
            self.client.producing = false;
            acked_calm = self.checker.acked.len() - acked_before;
            self.run_until(end);
            if self.checker.violations.is_empty() {
                crate::replication_sim::convergence::check(self, acked_calm);
            }
        }
        Summary {
            acked: self.checker.acked.len(),
            acked_calm,
            produced: self.client.sent,
            metadata_changes: self.controller.offset,
            events: self.events,
            faults: self.faults.injected,
            messages: (self.net.sent, self.net.dropped),
            counts: self.trace.counts.clone(),
        }
    }

    fn run_until(&mut self, until: i64) {
        while let Some(event) = self.net.next_before(until) {
            self.events += 1;
            // Only the node an event reaches changes (the fault injector reaches any).
            let touched = match &event {
                Event::Deliver { to, .. } => *to,
                Event::Timer { node, .. } => *node,
            };
            self.handle(event);
            self.observe(touched);
            if !self.checker.violations.is_empty() {
                return;
            }
        }
        self.net.now = self.net.now.max(until);
    }

    /// The end of the chaos: every link heals, the network calms, every broker runs.
    fn calm_down(&mut self) {
        ctx!(self).log(FAULTS, "calm: healing every link, restarting every broker");
        self.net.heal();
        self.net.loss = 0.0;
        self.net.max_delay_ms = 3;
        self.faults.calm = true;
        let down: Vec<NodeId> = self
            .brokers
            .iter()
            .filter(|(_, b)| b.life == Life::Down)
            .map(|(id, _)| *id)
            .collect();
        for id in down {
            let b = self.brokers.get_mut(&id).expect("broker");
            b.start(ctx!(self));
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Deliver { from, to, msg } => self.deliver(from, to, msg),
            Event::Timer {
                node,
                incarnation,
                timer,
            } => match node {
                CONTROLLER => self.controller.on_tick(ctx!(self)),
                CLIENT => self.client.on_tick(ctx!(self)),
                FAULTS => crate::replication_sim::faults::on_timer(self, timer),
                b => {
                    let Some(broker) = self.brokers.get_mut(&b) else {
                        return;
                    };
                    if broker.incarnation != incarnation {
                        return;
                    }
                    let ctx = ctx!(self);
                    match timer {
                        Timer::Tick => broker.on_tick(ctx),
                        Timer::FetchRound(leader) if broker.is_up() => {
                            broker.on_fetch_round(leader, ctx)
                        }
                        Timer::Restart if broker.life == Life::Down => broker.start(ctx),
                        _ => {}
                    }
                }
            },
        }
    }

    fn deliver(&mut self, from: NodeId, to: NodeId, msg: Msg) {
        match to {
            CONTROLLER => self.controller.on_message(from, msg, ctx!(self)),
            CLIENT => self.client.on_message(from, msg, ctx!(self)),
            b => {
                let Some(broker) = self.brokers.get_mut(&b) else {
                    return;
                };
                let ctx = ctx!(self);
                match (broker.life, msg) {
                    (Life::Down, _) => {}
                    (_, Msg::Metadata { offset, image }) => broker.on_metadata(offset, image, ctx),
                    (_, Msg::Registered { req, offset }) => broker.on_registered(req, offset, ctx),
                    (Life::Starting { .. }, _) => {}
                    (Life::Up, msg) => dispatch_up(broker, from, msg, ctx),
                }
            }
        }
    }

    /// Runs the checker over the broker `touched` (every broker for the fault injector) and
    /// takes the client's new acknowledgements.
    fn observe(&mut self, touched: NodeId) {
        for b in self.brokers.values() {
            if b.is_up() && (touched == FAULTS || touched == b.id) {
                self.checker.observe(b);
            }
        }
        for ack in std::mem::take(&mut self.client.new_acks) {
            self.checker.on_ack(ack);
        }
        for read in std::mem::take(&mut self.client.new_reads) {
            self.checker.on_read(read);
        }
        for v in std::mem::take(&mut self.controller.violations) {
            self.checker.fail(v);
        }
    }

    /// The failure report: seed, settings, violations, how to rerun, the trace's end.
    pub fn report(&self, lines: usize) -> String {
        let plan = match self.plan {
            Plan::Random => "random faults",
            Plan::Script(s) => s.name,
        };
        format!(
            "seed {} ({plan}) FAILED: {:#?}\nsettings: {:?}\nrerun: SIM_SEED={} cargo test --release -p rill-broker --test replication_sim -- --nocapture\n(SIM_TRACE=full traces every fetch and prints the whole trace)\n--- last {} of {} trace lines ---\n{}",
            self.seed,
            self.checker.violations,
            self.cfg,
            self.seed,
            lines.min(self.trace.total as usize),
            self.trace.total,
            self.trace.tail(lines)
        )
    }
}

/// A message to a serving broker.
fn dispatch_up(broker: &mut SimBroker, from: NodeId, msg: Msg, ctx: &mut Ctx) {
    match msg {
        Msg::Fetch { req, parts } => broker.on_fetch(from, req, &parts, ctx),
        Msg::FetchReply { req, parts } => broker.on_fetch_reply(from, req, parts, ctx),
        Msg::EpochQuery { req, parts } => broker.on_epoch_query(from, req, &parts, ctx),
        Msg::EpochReply { req, parts } => broker.on_epoch_reply(from, req, &parts, ctx),
        Msg::AlterIsrReply {
            req,
            committed,
            offset,
        } => broker.on_alter_isr_reply(req, &committed, offset, ctx),
        Msg::Produce {
            req,
            partition,
            batch,
        } => broker.on_produce(from, req, partition, batch, ctx),
        Msg::LeaderQuery { req } => broker.on_leader_query(from, req, ctx),
        Msg::ConsumerFetch {
            req,
            partition,
            offset,
        } => broker.on_consumer_fetch(from, req, partition, offset, ctx),
        other => panic!("b{} got {other:?}", broker.id),
    }
}
