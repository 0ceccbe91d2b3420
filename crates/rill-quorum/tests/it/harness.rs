//! A simulated cluster: N controllers on a [`SimNet`], each with its own data dir, crash and
//! restart, the [`Checker`] fed on every leader lookup, and helpers to propose through the leader.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rill_meta::{MetadataRecord, Uuid};
use rill_quorum::controller::{run_liveness_loop, ControllerSettings};
use rill_quorum::{AppliedEvent, MetadataQuorum, NodeId, QuorumConfig, QuorumError, RaftQuorum};
use tokio::sync::mpsc;

use crate::checker::Checker;
use crate::sim_net::SimNet;

pub struct Cluster {
    pub net: Arc<SimNet>,
    pub ids: Vec<NodeId>,
    _dir: tempfile::TempDir,
    root: PathBuf,
    pub nodes: BTreeMap<NodeId, Arc<RaftQuorum>>,
    /// When set, every controller runs the controller loop (session timeout in ms).
    pub controller_session_ms: Option<u64>,
    /// The controller loops, by node.
    drivers: BTreeMap<NodeId, tokio::task::JoinHandle<()>>,
    pub checker: Arc<Mutex<Checker>>,
    incarnation: u32,
    /// Snapshot every this many entries.
    pub snapshot_every: u64,
    next_topic: u64,
    seed: u64,
}

/// A fast temp dir: /dev/shm when there is one (fsync is then cheap).
pub fn temp_dir() -> tempfile::TempDir {
    match tempfile::tempdir_in("/dev/shm") {
        Ok(d) => d,
        Err(_) => tempfile::tempdir().unwrap(),
    }
}

pub fn topic(name: String, id: u128) -> MetadataRecord {
    MetadataRecord::TopicCreated {
        topic_id: Uuid::from_u128(id),
        name,
        partitions: 1,
        replication_factor: 1,
        configs: BTreeMap::new(),
    }
}

impl Cluster {
    pub async fn new(seed: u64, n: u64, snapshot_every: u64) -> Cluster {
        Self::with_controllers(seed, n, snapshot_every, None).await
    }

    /// A cluster whose controllers also run the controller loop when `session_ms` is set.
    pub async fn with_controllers(
        seed: u64,
        n: u64,
        snapshot_every: u64,
        session_ms: Option<u64>,
    ) -> Cluster {
        let dir = temp_dir();
        let root = dir.path().to_path_buf();
        let checker = Arc::new(Mutex::new(Checker::default()));
        let mut c = Cluster {
            net: SimNet::new(seed),
            ids: (1..=n).collect(),
            _dir: dir,
            root,
            nodes: BTreeMap::new(),
            controller_session_ms: None,
            drivers: BTreeMap::new(),
            checker,
            incarnation: 0,
            snapshot_every,
            next_topic: 0,
            seed,
        };
        c.controller_session_ms = session_ms;
        for id in c.ids.clone() {
            // Real clusters never start in the same microsecond; with paused time they would.
            tokio::time::sleep(Duration::from_millis(seed.rotate_left(id as u32 * 7) % 97)).await;
            c.start(id).await;
        }
        c
    }

    /// A channel whose events feed the checker as one new node incarnation.
    pub fn event_sink(&mut self) -> mpsc::UnboundedSender<AppliedEvent> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.incarnation += 1;
        let inc = self.incarnation;
        let checker = self.checker.clone();
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                checker.lock().unwrap().observe_event(inc, ev);
            }
        });
        tx
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub async fn start(&mut self, id: NodeId) {
        let voters = self
            .ids
            .iter()
            .map(|i| (*i, format!("sim-{i}:9093")))
            .collect();
        let mut cfg = QuorumConfig::new(id, voters, self.root.join(format!("node-{id}")));
        cfg.heartbeat_interval_ms = 50;
        cfg.election_timeout_min_ms = 300;
        cfg.election_timeout_max_ms = 600;
        cfg.snapshot_every_entries = self.snapshot_every;
        cfg.observer = Some(self.event_sink());
        let q = Arc::new(RaftQuorum::start(cfg, self.net.clone()).await.unwrap());
        self.net.register(id, q.rpc_handler());
        if let Some(session_ms) = self.controller_session_ms {
            // The controller's real liveness loop; a shorter proposal wait than a node's
            // (30 s), as the simulation always ran it.
            let settings = ControllerSettings {
                propose_timeout: Duration::from_secs(3),
                ..ControllerSettings::with_session_timeout_ms(session_ms)
            };
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let q = q.clone();
            let driver = async move {
                let _stop = stop; // aborted with the task, never sent
                run_liveness_loop(q, settings, stopped).await;
            };
            self.drivers.insert(id, tokio::spawn(driver));
        }
        self.nodes.insert(id, q);
    }

    /// Stops a node as a crash would (its durable files stay). Whoever else holds the node
    /// (a broker role on it) must have let go first.
    pub async fn crash(&mut self, id: NodeId) {
        self.net.unregister(id);
        if let Some(d) = self.drivers.remove(&id) {
            d.abort();
            let _ = d.await;
        }
        if let Some(q) = self.nodes.remove(&id) {
            let q = Arc::into_inner(q).expect("the node is still shared");
            q.shutdown().await.unwrap();
        }
    }

    pub fn down(&self) -> Vec<NodeId> {
        self.ids
            .iter()
            .copied()
            .filter(|i| !self.nodes.contains_key(i))
            .collect()
    }

    /// The live node that believes it leads with the highest term. Every call also feeds all
    /// statuses to the one-leader-per-term check.
    pub fn leader(&self) -> Option<NodeId> {
        let statuses: Vec<_> = self.nodes.values().map(|q| q.status()).collect();
        let mut checker = self.checker.lock().unwrap();
        for s in &statuses {
            checker.observe_status(s);
        }
        statuses
            .into_iter()
            .filter(|s| s.leader == Some(s.node_id))
            .max_by_key(|s| s.term)
            .map(|s| s.node_id)
    }

    pub async fn wait_leader(&self, within: Duration) -> Option<NodeId> {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if let Some(l) = self.leader() {
                return Some(l);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for q in self.nodes.values() {
            eprintln!("no leader; status {:?}", q.status());
        }
        None
    }

    /// Proposes one fresh topic through whoever leads; records the ack. `Ok(None)` when no
    /// leader answered in time (the outcome is then unknown, and it is not counted).
    pub async fn propose_one(&mut self) -> Result<Option<u64>, QuorumError> {
        self.next_topic += 1;
        let n = self.next_topic;
        let rec = topic(format!("t{}-{n}", self.seed), u128::from(n) | (1 << 100));
        let Some(leader) = self.leader() else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            return Ok(None);
        };
        let q = &self.nodes[&leader];
        let fut = q.propose(vec![rec.clone()]);
        match tokio::time::timeout(Duration::from_secs(3), fut).await {
            Ok(Ok(offset)) => {
                self.checker.lock().unwrap().acked.push((offset, vec![rec]));
                Ok(Some(offset))
            }
            Ok(Err(QuorumError::NotController { .. })) | Err(_) => Ok(None),
            Ok(Err(e)) => Err(e),
        }
    }

    /// Waits until every live node applied `offset`.
    pub async fn wait_applied(&self, offset: u64, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if self
                .nodes
                .values()
                .all(|q| q.status().high_watermark >= Some(offset))
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    pub async fn shutdown(mut self) {
        for id in self.ids.clone() {
            self.crash(id).await;
        }
    }
}
