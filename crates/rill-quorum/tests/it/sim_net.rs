//! An in-process [`Transport`] for the simulation: seeded delays and message loss, directed
//! link cuts (partitions), nodes that come and go (crash, restart).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rill_quorum::network::{BoxFuture, RaftReply, RaftRpc, RpcHandler, Transport, TransportError};
use rill_quorum::NodeId;

/// Mutable network state, behind one mutex.
struct NetState {
    /// Live nodes' handlers.
    handlers: HashMap<NodeId, RpcHandler>,
    /// Directed links that drop everything (from, to).
    cut: HashSet<(NodeId, NodeId)>,
    /// Probability that a request or a reply is lost.
    loss: f64,
    /// Max one-way delay in ms.
    max_delay_ms: u64,
    /// The seeded randomness of the network.
    rng: StdRng,
}

/// The simulated network.
pub struct SimNet {
    state: Arc<Mutex<NetState>>,
}

impl SimNet {
    pub fn new(seed: u64) -> Arc<Self> {
        Arc::new(SimNet {
            state: Arc::new(Mutex::new(NetState {
                handlers: HashMap::new(),
                cut: HashSet::new(),
                loss: 0.0,
                max_delay_ms: 5,
                rng: StdRng::seed_from_u64(seed ^ 0x5eed),
            })),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, NetState> {
        self.state.lock().unwrap()
    }

    pub fn register(&self, id: NodeId, h: RpcHandler) {
        self.lock().handlers.insert(id, h);
    }

    pub fn unregister(&self, id: NodeId) {
        self.lock().handlers.remove(&id);
    }

    /// Cuts every link between `id` and `others`, both ways.
    pub fn isolate(&self, id: NodeId, others: &[NodeId]) {
        let mut s = self.lock();
        for &o in others.iter().filter(|o| **o != id) {
            s.cut.insert((id, o));
            s.cut.insert((o, id));
        }
    }

    pub fn heal(&self) {
        self.lock().cut.clear();
    }

    pub fn set_loss(&self, loss: f64, max_delay_ms: u64) {
        let mut s = self.lock();
        s.loss = loss;
        s.max_delay_ms = max_delay_ms;
    }
}

impl Transport for SimNet {
    fn send(
        &self,
        from: NodeId,
        target: NodeId,
        rpc: RaftRpc,
        timeout: Duration,
    ) -> BoxFuture<Result<RaftReply, TransportError>> {
        let (handler, d1, d2, lose_req, lose_reply) = {
            let mut s = self.lock();
            let max = s.max_delay_ms.max(1);
            let loss = s.loss;
            let d1 = s.rng.random_range(0..=max);
            let d2 = s.rng.random_range(0..=max);
            let lose_req = s.rng.random_bool(loss);
            let lose_reply = s.rng.random_bool(loss);
            (
                s.handlers.get(&target).cloned(),
                d1,
                d2,
                lose_req,
                lose_reply,
            )
        };
        let state = self.state.clone();
        let linked = move |a: NodeId, b: NodeId| !state.lock().unwrap().cut.contains(&(a, b));
        Box::pin(async move {
            let unreachable = |reason: &str| TransportError::Unreachable {
                target,
                reason: reason.to_string(),
            };
            tokio::time::sleep(Duration::from_millis(d1)).await;
            let Some(handler) = handler else {
                return Err(unreachable("down"));
            };
            if !linked(from, target) {
                return Err(unreachable("partitioned"));
            }
            if lose_req {
                tokio::time::sleep(timeout.min(Duration::from_millis(100))).await;
                return Err(TransportError::Timeout { target, timeout });
            }
            let reply = handler.handle(rpc).await;
            tokio::time::sleep(Duration::from_millis(d2)).await;
            if lose_reply || !linked(target, from) {
                return Err(TransportError::Timeout { target, timeout });
            }
            Ok(reply)
        })
    }
}
