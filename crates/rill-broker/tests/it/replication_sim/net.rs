//! The simulated network and clock: one queue of timed events (message deliveries and node
//! timers) in virtual milliseconds, with seeded random delays (hence reordering), message
//! loss and directed link cuts (partitions).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::replication_sim::msg::{Msg, NodeId, Timer};

/// Something that happens at one instant.
#[derive(Debug)]
pub enum Event {
    /// A message arrives at `to`.
    Deliver {
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// The message.
        msg: Msg,
    },
    /// A node's timer fires (ignored if the node restarted since: `incarnation` differs).
    Timer {
        /// The node.
        node: NodeId,
        /// The node's incarnation when the timer was set.
        incarnation: u64,
        /// Which timer.
        timer: Timer,
    },
}

/// A queued event, ordered by time then by insertion (so equal times keep their order).
struct Queued {
    at: i64,
    seq: u64,
    event: Event,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The network: the event queue plus the fault settings messages are sent under.
pub struct Net {
    /// Virtual time now, in ms.
    pub now: i64,
    queue: BinaryHeap<Reverse<Queued>>,
    seq: u64,
    /// Directed links that drop everything, (from, to), by the fault that cut them.
    cuts: BTreeMap<u64, Vec<(NodeId, NodeId)>>,
    /// Probability that one message is lost.
    pub loss: f64,
    /// Largest one-way delay in ms (the smallest is 1).
    pub max_delay_ms: i64,
    /// The network's own randomness (delays, loss), seeded from the run's seed.
    rng: StdRng,
    /// Messages sent and lost so far (for the summary).
    pub sent: u64,
    /// Messages dropped by loss or cuts.
    pub dropped: u64,
}

impl Net {
    /// A healthy network at time `start`.
    pub fn new(seed: u64, start: i64) -> Self {
        Net {
            now: start,
            queue: BinaryHeap::new(),
            seq: 0,
            cuts: BTreeMap::new(),
            loss: 0.0,
            max_delay_ms: 3,
            rng: StdRng::seed_from_u64(seed ^ 0x6e65_7477_6f72_6b00),
            sent: 0,
            dropped: 0,
        }
    }

    fn push(&mut self, at: i64, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse(Queued {
            at,
            seq: self.seq,
            event,
        }));
    }

    /// Sends `msg` unless the link is cut or the message is lost; it arrives after a random
    /// delay, so messages on one link may overtake each other.
    pub fn send(&mut self, from: NodeId, to: NodeId, msg: Msg) {
        self.sent += 1;
        if self.is_cut(from, to) || (self.loss > 0.0 && self.rng.random_bool(self.loss)) {
            self.dropped += 1;
            return;
        }
        let delay = self.rng.random_range(1..=self.max_delay_ms.max(1));
        self.push(self.now + delay, Event::Deliver { from, to, msg });
    }

    /// Sets `timer` of `node` (in `incarnation`) to fire `after_ms` from now.
    pub fn set_timer(&mut self, node: NodeId, incarnation: u64, after_ms: i64, timer: Timer) {
        self.push(
            self.now + after_ms.max(0),
            Event::Timer {
                node,
                incarnation,
                timer,
            },
        );
    }

    /// The next event, advancing the clock to it; `None` when nothing is left before `until`.
    pub fn next_before(&mut self, until: i64) -> Option<Event> {
        let at = self.queue.peek()?.0.at;
        if at > until {
            return None;
        }
        let Reverse(q) = self.queue.pop()?;
        self.now = self.now.max(q.at);
        Some(q.event)
    }

    /// Whether the link from `from` to `to` is cut.
    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.cuts.values().flatten().any(|l| *l == (from, to))
    }

    /// Cuts `links` (directed) as fault `fault`, until [`Net::restore`] of that fault.
    pub fn cut(&mut self, fault: u64, links: Vec<(NodeId, NodeId)>) {
        self.cuts.entry(fault).or_default().extend(links);
    }

    /// Restores the links fault `fault` cut (others stay cut).
    pub fn restore(&mut self, fault: u64) {
        self.cuts.remove(&fault);
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        self.cuts.clear();
    }

    /// How many faults cut links now.
    pub fn cut_faults(&self) -> usize {
        self.cuts.len()
    }
}
