//! What a node's handler gets: the network (to send and set timers), the trace and the
//! settings.

use crate::replication_sim::config::SimConfig;
use crate::replication_sim::msg::{Msg, NodeId, Timer};
use crate::replication_sim::net::Net;
use crate::replication_sim::trace::Trace;

/// Simulated time starts here (a realistic wall-clock value: batches carry timestamps).
pub const T0: i64 = 1_700_000_000_000;

/// A handler's view of the world.
pub struct Ctx<'a> {
    /// The network and clock.
    pub net: &'a mut Net,
    /// The trace.
    pub trace: &'a mut Trace,
    /// The settings.
    pub cfg: &'a SimConfig,
    /// Whether routine events (every fetch) are traced too.
    pub verbose: bool,
}

impl Ctx<'_> {
    /// Now, in absolute simulated ms (what the real code gets as `now_ms`).
    pub fn now(&self) -> i64 {
        self.net.now
    }

    /// Sends a message.
    pub fn send(&mut self, from: NodeId, to: NodeId, msg: Msg) {
        self.net.send(from, to, msg);
    }

    /// Sets a timer of `node` (in `incarnation`).
    pub fn timer(&mut self, node: NodeId, incarnation: u64, after_ms: i64, timer: Timer) {
        self.net.set_timer(node, incarnation, after_ms, timer);
    }

    /// Traces a notable event.
    pub fn log(&mut self, node: NodeId, text: impl AsRef<str>) {
        let t = self.net.now - T0;
        self.trace.log(t, node, text);
    }

    /// Counts one `what` for the run summary.
    pub fn count(&mut self, what: &'static str) {
        self.trace.count(what);
    }

    /// Traces a routine event (only in verbose runs).
    pub fn debug(&mut self, node: NodeId, text: impl FnOnce() -> String) {
        if self.verbose {
            let t = self.net.now - T0;
            self.trace.log(t, node, text());
        }
    }
}
