//! Broker heartbeats heard by this controller while it led, and their answers.
//!
//! A broker sends a [`BrokerHeartbeat`] to the active controller every
//! `broker.heartbeat.interval.ms`; the controller's RPC handler records it here with the
//! arrival time (tokio's clock, so simulated time works) and wakes the controller loop, which
//! turns the table into a [`Liveness`] for [`rill_meta::control::tick`]. Heartbeats reaching a
//! node that does not lead are answered with the leader it knows and not recorded.
//! Thread-safety: the table is a mutex-protected map, shared by the handler and the loop.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rill_meta::control::{BrokerHeartbeat, Liveness};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::NodeId;

/// A controller's answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeartbeatReply {
    /// Recorded by the active controller; the broker's state in its image.
    Accepted {
        /// This incarnation is registered.
        registered: bool,
        /// The broker is fenced (or not registered yet).
        fenced: bool,
    },
    /// The node is not the active controller; the leader it knows, if any.
    NotController(Option<NodeId>),
}

/// The heartbeats a controller heard, cheap to clone (shared).
#[derive(Clone)]
pub struct HeartbeatTable {
    /// The clock's zero: times in [`Liveness`] are milliseconds since it.
    epoch: Instant,
    /// The last heartbeat of each broker and when it arrived.
    heard: Arc<Mutex<BTreeMap<i32, (Instant, BrokerHeartbeat)>>>,
    /// Woken at every heartbeat, so the controller reacts at once.
    arrived: Arc<Notify>,
}

impl Default for HeartbeatTable {
    fn default() -> Self {
        HeartbeatTable {
            epoch: Instant::now(),
            heard: Arc::default(),
            arrived: Arc::default(),
        }
    }
}

impl HeartbeatTable {
    /// Records a heartbeat that arrived now.
    pub fn record(&self, hb: BrokerHeartbeat) {
        let mut heard = self.heard.lock().unwrap_or_else(|p| p.into_inner());
        heard.insert(hb.broker_id, (Instant::now(), hb));
        drop(heard);
        self.arrived.notify_one();
    }

    /// Resolves at the next heartbeat (or at once if one arrived since the last call).
    pub async fn arrived(&self) {
        self.arrived.notified().await;
    }

    /// Milliseconds from the table's zero to `at`.
    pub fn millis(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_millis() as u64
    }

    /// What was heard, for a controller active since `active_since` with the given session
    /// timeout; `now_ms` for [`rill_meta::control::tick`] is `self.millis(Instant::now())`.
    pub fn liveness(&self, active_since: Instant, session_timeout_ms: u64) -> Liveness {
        let heard = self.heard.lock().unwrap_or_else(|p| p.into_inner());
        Liveness {
            active_since_ms: self.millis(active_since),
            session_timeout_ms,
            heard: heard
                .iter()
                .map(|(id, (at, hb))| (*id, (self.millis(*at), hb.clone())))
                .collect(),
        }
    }
}
