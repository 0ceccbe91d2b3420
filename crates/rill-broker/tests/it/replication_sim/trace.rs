//! The run's event trace: what happened, in order, printed when a seed fails.

use std::collections::{BTreeMap, VecDeque};

use crate::replication_sim::msg::NodeId;

/// Lines kept (the oldest are dropped beyond this).
const KEEP: usize = 200_000;

/// The trace of one run.
#[derive(Debug, Default)]
pub struct Trace {
    lines: VecDeque<String>,
    /// Lines written, including dropped ones.
    pub total: u64,
    /// How often each kind of notable thing happened (for the run summary).
    pub counts: BTreeMap<&'static str, u64>,
}

impl Trace {
    /// Records `text` as said by `node` at `now` (relative simulated ms).
    pub fn log(&mut self, now: i64, node: NodeId, text: impl AsRef<str>) {
        let who = match node {
            crate::replication_sim::msg::CONTROLLER => "ctl".to_string(),
            crate::replication_sim::msg::CLIENT => "cli".to_string(),
            crate::replication_sim::world::FAULTS => "sim".to_string(),
            b => format!("b{b}"),
        };
        if self.lines.len() == KEEP {
            self.lines.pop_front();
        }
        self.lines
            .push_back(format!("{:>8} {who:>3} {}", now, text.as_ref()));
        self.total += 1;
    }

    /// Counts one `what`.
    pub fn count(&mut self, what: &'static str) {
        *self.counts.entry(what).or_default() += 1;
    }

    /// The last `n` lines (all with `n == usize::MAX`).
    pub fn tail(&self, n: usize) -> String {
        let skip = self.lines.len().saturating_sub(n);
        let mut out = String::new();
        for l in self.lines.iter().skip(skip) {
            out.push_str(l);
            out.push('\n');
        }
        out
    }
}
