//! Real TCP on 127.0.0.1: controllers in one process, each with its own listener and data dir.
//! Contract checked: a leader is elected and replicates; killing it elects another within a few
//! seconds and loses nothing committed; everything survives a restart of all nodes from disk;
//! 5 voters with 2 down keep committing; garbage on the controller port closes only that
//! connection.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rill_quorum::{MetadataQuorum, NodeId, QuorumConfig, QuorumTls, RaftQuorum};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::harness::{temp_dir, topic};

pub(crate) struct TcpCluster {
    pub(crate) voters: BTreeMap<NodeId, String>,
    root: PathBuf,
    pub(crate) nodes: BTreeMap<NodeId, RaftQuorum>,
    /// Each node's TLS (none: plain TCP).
    tls: BTreeMap<NodeId, QuorumTls>,
}

impl TcpCluster {
    async fn new(n: u64, root: PathBuf) -> TcpCluster {
        Self::with_tls(n, root, BTreeMap::new()).await
    }

    /// `n` nodes, node `id` serving and connecting with `tls[id]` (plain TCP if absent).
    pub(crate) async fn with_tls(
        n: u64,
        root: PathBuf,
        tls: BTreeMap<NodeId, QuorumTls>,
    ) -> TcpCluster {
        let mut listeners = BTreeMap::new();
        for id in 1..=n {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            listeners.insert(id, l);
        }
        let voters = listeners
            .iter()
            .map(|(id, l)| (*id, l.local_addr().unwrap().to_string()))
            .collect();
        let mut c = TcpCluster {
            voters,
            root,
            nodes: BTreeMap::new(),
            tls,
        };
        for (id, l) in listeners {
            c.start(id, Some(l)).await;
        }
        c
    }

    async fn start(&mut self, id: NodeId, listener: Option<TcpListener>) {
        let mut cfg = QuorumConfig::new(id, self.voters.clone(), self.root.join(format!("n{id}")));
        cfg.election_timeout_min_ms = 400;
        cfg.election_timeout_max_ms = 800;
        cfg.snapshot_every_entries = 7;
        cfg.tls = self.tls.get(&id).cloned();
        let q = RaftQuorum::start_tcp(cfg, listener).await.unwrap();
        self.nodes.insert(id, q);
    }

    pub(crate) async fn kill(&mut self, id: NodeId) {
        if let Some(q) = self.nodes.remove(&id) {
            q.shutdown().await.unwrap();
        }
    }

    pub(crate) async fn wait_leader(&self, within: Duration) -> NodeId {
        let deadline = Instant::now() + within;
        loop {
            let leader = self
                .nodes
                .values()
                .map(|q| q.status())
                .filter(|s| s.leader == Some(s.node_id))
                .max_by_key(|s| s.term);
            if let Some(s) = leader {
                return s.node_id;
            }
            assert!(Instant::now() < deadline, "no leader within {within:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Proposes topics named `{prefix}{i}` through the leader, retrying on leader changes.
    pub(crate) async fn commit(&self, prefix: &str, range: std::ops::Range<u32>) -> u64 {
        let mut last = 0;
        for i in range {
            let name = format!("{prefix}{i}");
            let rec = topic(name.clone(), id_of(&name));
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let leader = self.wait_leader(Duration::from_secs(10)).await;
                match self.nodes[&leader].propose(vec![rec.clone()]).await {
                    Ok(off) => {
                        last = off;
                        break;
                    }
                    Err(e) => {
                        assert!(Instant::now() < deadline, "cannot commit {prefix}{i}: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
        last
    }

    pub(crate) async fn wait_all_have(&self, names: &[String], within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let missing: Vec<_> = self
                .nodes
                .values()
                .flat_map(|q| {
                    let image = q.image();
                    names
                        .iter()
                        .filter(|n| image.topic(n).is_none())
                        .map(|n| (q.node_id(), n.clone()))
                        .collect::<Vec<_>>()
                })
                .collect();
            if missing.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "still missing: {missing:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) async fn shutdown(mut self) {
        for id in self.nodes.keys().copied().collect::<Vec<_>>() {
            self.kill(id).await;
        }
    }
}

/// A topic id derived from the name (unique enough for a test).
pub(crate) fn id_of(name: &str) -> u128 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    u128::from(h.finish()) | (1 << 120)
}

pub(crate) fn names(prefix: &str, range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_three_nodes_elect_replicate_and_reject_garbage() {
    let dir = temp_dir();
    let c = TcpCluster::new(3, dir.path().to_path_buf()).await;
    let leader = c.wait_leader(Duration::from_secs(10)).await;
    c.commit("a", 0..10).await;
    c.wait_all_have(&names("a", 0..10), Duration::from_secs(5))
        .await;

    // A follower forwards a proposal to the leader; it commits and reaches every node.
    let follower = c.nodes.keys().copied().find(|i| *i != leader).unwrap();
    let offset = c.nodes[&follower]
        .propose(vec![topic("x99".into(), id_of("x99"))])
        .await
        .expect("a follower's proposal is forwarded to the leader and committed");
    assert!(offset > 0);
    c.wait_all_have(&names("x", 99..100), Duration::from_secs(5))
        .await;
    // The leader's status shows every voter's progress.
    let status = c.nodes[&leader].status();
    assert_eq!(status.voters.len(), 3);
    assert!(status.voters.iter().all(|v| v.log_end_offset.is_some()));

    // Garbage on a controller port: that connection is closed, the cluster keeps going.
    let mut s = tokio::net::TcpStream::connect(&c.voters[&follower])
        .await
        .unwrap();
    s.write_all(&[0, 0, 0, 5, 9, b'{', b'x', b'y', b'z'])
        .await
        .unwrap();
    let mut buf = [0u8; 8];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(n, Ok(0) | Err(_)), "connection should be closed");
    c.commit("b", 0..3).await;
    c.wait_all_have(&names("b", 0..3), Duration::from_secs(5))
        .await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_leader_failover_then_full_restart_from_disk() {
    let dir = temp_dir();
    let mut c = TcpCluster::new(3, dir.path().to_path_buf()).await;
    let old = c.wait_leader(Duration::from_secs(10)).await;
    c.commit("a", 0..10).await;

    let killed_at = Instant::now();
    c.kill(old).await;
    let new = c.wait_leader(Duration::from_secs(5)).await;
    assert_ne!(new, old);
    let failover = killed_at.elapsed();
    assert!(
        failover < Duration::from_secs(5),
        "failover took {failover:?}"
    );
    c.commit("b", 0..10).await;
    let mut all = names("a", 0..10);
    all.extend(names("b", 0..10));
    c.wait_all_have(&all, Duration::from_secs(5)).await;

    // The old leader comes back from its disk and catches up.
    c.start(old, None).await;
    c.wait_all_have(&all, Duration::from_secs(10)).await;

    // Everyone down, everyone up: all committed records are still there.
    for id in [1, 2, 3] {
        c.kill(id).await;
    }
    for id in [1, 2, 3] {
        c.start(id, None).await;
    }
    c.wait_leader(Duration::from_secs(10)).await;
    c.wait_all_have(&all, Duration::from_secs(10)).await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_five_nodes_with_two_down_keep_committing() {
    let dir = temp_dir();
    let mut c = TcpCluster::new(5, dir.path().to_path_buf()).await;
    let leader = c.wait_leader(Duration::from_secs(10)).await;
    c.commit("a", 0..3).await;
    // Take down the leader and one follower.
    let follower = c.nodes.keys().copied().find(|i| *i != leader).unwrap();
    c.kill(leader).await;
    c.kill(follower).await;
    c.commit("b", 0..5).await;
    let mut all = names("a", 0..3);
    all.extend(names("b", 0..5));
    c.wait_all_have(&all, Duration::from_secs(5)).await;
    c.shutdown().await;
}
