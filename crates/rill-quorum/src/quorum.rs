//! [`RaftQuorum`]: one controller's member of the metadata quorum, on openraft.
//!
//! Start opens the durable log and the snapshot from `data_dir`, starts openraft with our
//! network adapter, and on a fresh node proposes the initial membership (every voter does; the
//! identical first entry makes that safe). The TCP variant also serves peers on the node's
//! `controller.listener`. Thread-safety: all methods take `&self`; openraft runs its own tasks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, Fatal, InitializeError, RaftError};
use openraft::{BasicNode, Config, SnapshotPolicy};
use rill_meta::{MetadataImage, MetadataRecord};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::api::{AppliedEvent, MetadataQuorum, MetadataUpdate, QuorumStatus, VoterStatus};
use crate::fetch::SharedRecent;
use crate::heartbeats::HeartbeatTable;
use crate::log_store::LogStore;
use crate::network::adapter::{AckTable, NetworkFactory};
use crate::network::tcp::{serve, TcpTransport};
use crate::network::tls::QuorumTls;
use crate::network::{BoxFuture, ForwardedOutcome, RaftReply, RaftRpc, RpcHandler, Transport};
use crate::state_machine::StateMachine;
use crate::types::{MetadataBatch, Raft};
use crate::{CommittedOffset, NodeId, QuorumError, Result};

/// How to run one controller.
#[derive(Debug, Clone)]
pub struct QuorumConfig {
    /// This node (`node.id`); must be one of `voters`.
    pub node_id: NodeId,
    /// Every voter's controller address (`controller.quorum.voters`).
    pub voters: BTreeMap<NodeId, String>,
    /// Directory for the Raft log, vote and snapshot (created if missing).
    pub data_dir: PathBuf,
    /// Leader heartbeat interval.
    pub heartbeat_interval_ms: u64,
    /// Lower bound of the randomized election timeout.
    pub election_timeout_min_ms: u64,
    /// Upper bound of the randomized election timeout.
    pub election_timeout_max_ms: u64,
    /// Take a snapshot (and purge the log before it) every this many applied entries.
    pub snapshot_every_entries: u64,
    /// Gets every applied batch and installed snapshot (tests, metrics).
    pub observer: Option<mpsc::UnboundedSender<AppliedEvent>>,
    /// The cluster id every controller RPC carries; peers of another cluster are refused.
    pub cluster_id: String,
    /// Mutual TLS on the controller connections ([`Self::start_tcp`]); `None`: plain TCP.
    pub tls: Option<QuorumTls>,
}

impl QuorumConfig {
    /// A config with Kafka-like timings (100 ms heartbeats, 1-2 s election timeout).
    pub fn new(node_id: NodeId, voters: BTreeMap<NodeId, String>, data_dir: PathBuf) -> Self {
        QuorumConfig {
            node_id,
            voters,
            data_dir,
            heartbeat_interval_ms: 100,
            election_timeout_min_ms: 1000,
            election_timeout_max_ms: 2000,
            snapshot_every_entries: 1000,
            observer: None,
            cluster_id: String::new(),
            tls: None,
        }
    }

    fn raft_config(&self) -> Result<Arc<Config>> {
        let config = Config {
            cluster_name: "rill-metadata".into(),
            heartbeat_interval: self.heartbeat_interval_ms,
            election_timeout_min: self.election_timeout_min_ms,
            election_timeout_max: self.election_timeout_max_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snapshot_every_entries),
            max_in_snapshot_log_to_keep: 0,
            purge_batch_size: 1,
            ..Config::default()
        };
        let config = config.validate().map_err(|e| QuorumError::Raft {
            message: format!("invalid raft config: {e}"),
        })?;
        Ok(Arc::new(config))
    }
}

/// One controller's member of the metadata quorum.
pub struct RaftQuorum {
    /// This node.
    node_id: NodeId,
    /// The voters.
    voters: BTreeMap<NodeId, String>,
    /// The openraft handle.
    raft: Raft,
    /// The latest applied image.
    updates: watch::Receiver<MetadataUpdate>,
    /// Last successful replication answer per peer.
    acks: AckTable,
    /// Tells our own tasks (the TCP server) to stop.
    stop: watch::Sender<bool>,
    /// Our own tasks.
    tasks: Vec<JoinHandle<()>>,
    /// Reaches the other controllers (for forwarding proposals to the leader).
    transport: Arc<dyn Transport>,
    /// Over TCP: a peer that answered with another cluster's id.
    foreign: Option<crate::network::tcp::ForeignPeer>,
    /// The last applied entries, served to fetching brokers.
    recent: SharedRecent,
    /// Broker heartbeats heard while leading.
    heartbeats: HeartbeatTable,
    /// How long a leader may go without a majority's answer and still act as active.
    lease_ms: u64,
}

fn raft_err(e: impl std::fmt::Display) -> QuorumError {
    QuorumError::Raft {
        message: e.to_string(),
    }
}

impl RaftQuorum {
    /// Starts this controller over `transport` (peers reach it through [`Self::rpc_handler`]).
    ///
    /// The future is boxed here so that openraft's generic core is compiled once, in this
    /// crate: an `async fn` body is compiled in every crate that polls its future.
    ///
    /// # Errors
    /// `node_id` not a voter, I/O errors or corrupt files in `data_dir`, openraft start errors.
    pub fn start(config: QuorumConfig, transport: Arc<dyn Transport>) -> BoxFuture<Result<Self>> {
        Box::pin(Self::open(config, transport))
    }

    /// [`Self::start`]'s work.
    async fn open(config: QuorumConfig, transport: Arc<dyn Transport>) -> Result<Self> {
        if !config.voters.contains_key(&config.node_id) {
            return Err(QuorumError::InvalidVoters {
                input: crate::format_voters(&config.voters),
                reason: format!("node.id {} is not a voter", config.node_id),
            });
        }
        let raft_config = config.raft_config()?;
        let log = LogStore::open(&config.data_dir)?;
        let recent = SharedRecent::default();
        let (sm, updates) = StateMachine::open(
            config.node_id,
            &config.data_dir,
            config.observer.clone(),
            recent.clone(),
        )?;
        let acks = AckTable::default();
        let network = NetworkFactory {
            from: config.node_id,
            transport: transport.clone(),
            acks: acks.clone(),
        };
        let raft = Raft::new(config.node_id, raft_config, network, log, sm)
            .await
            .map_err(raft_err)?;
        if !raft.is_initialized().await.map_err(raft_err)? {
            let members: BTreeMap<NodeId, BasicNode> = config
                .voters
                .iter()
                .map(|(id, addr)| (*id, BasicNode::new(addr)))
                .collect();
            match raft.initialize(members).await {
                Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(raft_err(e)),
            }
        }
        let (stop, _) = watch::channel(false);
        let split_votes = tokio::spawn(crate::split_votes::run(
            raft.clone(),
            config.node_id,
            config.election_timeout_max_ms,
            stop.subscribe(),
        ));
        Ok(RaftQuorum {
            node_id: config.node_id,
            voters: config.voters,
            raft,
            updates,
            acks,
            stop,
            tasks: vec![split_votes],
            transport,
            foreign: None,
            recent,
            heartbeats: HeartbeatTable::default(),
            lease_ms: config.election_timeout_max_ms,
        })
    }

    /// Starts this controller with framed TCP to its peers, serving them on `listener` (or on
    /// its own address in `voters` when `None`); over mutual TLS when `config.tls` is set.
    ///
    /// # Errors
    /// As [`Self::start`], plus failing to bind the listener.
    pub fn start_tcp(
        config: QuorumConfig,
        listener: Option<TcpListener>,
    ) -> BoxFuture<Result<Self>> {
        Box::pin(Self::open_tcp(config, listener))
    }

    /// [`Self::start_tcp`]'s work.
    async fn open_tcp(config: QuorumConfig, listener: Option<TcpListener>) -> Result<Self> {
        let listener = match listener {
            Some(l) => l,
            None => {
                let addr = config
                    .voters
                    .get(&config.node_id)
                    .cloned()
                    .unwrap_or_default();
                TcpListener::bind(&addr)
                    .await
                    .map_err(|e| QuorumError::io("bind controller listener", addr, e))?
            }
        };
        let cluster_id = config.cluster_id.clone();
        let tls = config.tls.clone();
        let transport = Arc::new(
            TcpTransport::for_cluster(config.voters.clone(), cluster_id.clone())
                .with_tls(tls.as_ref()),
        );
        let foreign = transport.foreign_peer();
        let mut quorum = Self::start(config, transport).await?;
        quorum.foreign = Some(foreign);
        let server = serve(
            listener,
            quorum.rpc_handler(),
            quorum.stop.subscribe(),
            cluster_id,
            tls,
        );
        quorum.tasks.push(tokio::spawn(server));
        Ok(quorum)
    }

    /// The handler that answers peers' requests for this node.
    pub fn rpc_handler(&self) -> RpcHandler {
        RpcHandler {
            node_id: self.node_id,
            raft: self.raft.clone(),
            updates: self.updates.clone(),
            recent: self.recent.clone(),
            heartbeats: self.heartbeats.clone(),
            lease_ms: self.lease_ms,
        }
    }

    /// Broker heartbeats this controller heard while it was active.
    pub fn heartbeats(&self) -> &HeartbeatTable {
        &self.heartbeats
    }

    /// The active controller as this node sees it: the leader it knows, but not itself when
    /// it leads without having heard from a majority within the election timeout.
    pub fn active_controller(&self) -> Option<NodeId> {
        self.rpc_handler().active_controller()
    }

    /// True when this node is the active controller and has applied the log up to an entry
    /// of its own term: every entry of earlier terms that will ever commit is then in its
    /// image, so decisions made on the image cannot be undone by a predecessor's late batch
    /// (Kafka's new controller likewise replays the log before it acts).
    pub fn may_decide(&self) -> bool {
        if self.active_controller() != Some(self.node_id) {
            return false;
        }
        let m = self.raft.metrics();
        let m = m.borrow();
        m.last_applied
            .is_some_and(|l| l.leader_id.term == m.current_term)
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// Asks this node to take a snapshot now (and purge the log it covers).
    ///
    /// # Errors
    /// [`QuorumError::ShuttingDown`] when Raft has stopped.
    pub async fn trigger_snapshot(&self) -> Result<()> {
        self.raft
            .trigger()
            .snapshot()
            .await
            .map_err(|_| QuorumError::ShuttingDown)
    }
}

impl RaftQuorum {
    /// A controller peer that answered with another cluster's id: (peer, its cluster id).
    pub fn foreign_peer(&self) -> Option<(NodeId, String)> {
        self.foreign
            .as_ref()
            .and_then(|f| f.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// Sends a proposal to the leader this node knows and waits for its outcome.
    async fn forward(&self, leader: NodeId, batch: MetadataBatch) -> Result<CommittedOffset> {
        let reply = self
            .transport
            .send(
                self.node_id,
                leader,
                RaftRpc::Propose(batch),
                Duration::from_secs(FORWARD_TIMEOUT_S),
            )
            .await
            .map_err(|e| {
                tracing::debug!(leader, error = %e, "forwarding a proposal failed");
                // Retriable like any NOT_CONTROLLER: the caller may try again.
                QuorumError::NotController {
                    node_id: self.node_id,
                    leader: Some(leader),
                }
            })?;
        match reply {
            RaftReply::Propose(ForwardedOutcome::Committed(offset)) => Ok(offset),
            RaftReply::Propose(ForwardedOutcome::Rejected(offset, reason)) => {
                Err(QuorumError::Rejected { offset, reason })
            }
            RaftReply::Propose(ForwardedOutcome::NotLeader(leader)) => {
                Err(QuorumError::NotController {
                    node_id: self.node_id,
                    leader,
                })
            }
            RaftReply::Propose(ForwardedOutcome::Failed(message)) => {
                Err(QuorumError::Raft { message })
            }
            other => Err(QuorumError::Raft {
                message: format!("unexpected reply to a forwarded proposal: {other:?}"),
            }),
        }
    }
}

/// How long a forwarded proposal may take to commit on the leader.
const FORWARD_TIMEOUT_S: u64 = 15;

fn write_err(
    node_id: NodeId,
    e: RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>,
) -> QuorumError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => QuorumError::NotController {
            node_id,
            leader: f.leader_id,
        },
        RaftError::Fatal(Fatal::Stopped) => QuorumError::ShuttingDown,
        other => raft_err(other),
    }
}

impl MetadataQuorum for RaftQuorum {
    async fn propose(&self, records: Vec<MetadataRecord>) -> Result<CommittedOffset> {
        let batch = MetadataBatch { records };
        let leader = match self.raft.client_write(batch.clone()).await {
            Ok(resp) => {
                return match resp.data.rejected {
                    None => Ok(resp.log_id.index),
                    Some(reason) => Err(QuorumError::Rejected {
                        offset: resp.log_id.index,
                        reason,
                    }),
                }
            }
            Err(e) => match write_err(self.node_id, e) {
                QuorumError::NotController {
                    leader: Some(leader),
                    ..
                } if leader != self.node_id => leader,
                other => return Err(other),
            },
        };
        self.forward(leader, batch).await
    }

    fn image(&self) -> Arc<MetadataImage> {
        self.updates.borrow().image.clone()
    }

    fn subscribe(&self) -> watch::Receiver<MetadataUpdate> {
        self.updates.clone()
    }

    fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    fn status(&self) -> QuorumStatus {
        let m = self.raft.metrics().borrow().clone();
        let acks = self.acks.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let is_leader = m.current_leader == Some(self.node_id);
        let voter_ids: BTreeSet<NodeId> = self.voters.keys().copied().collect();
        let voters = voter_ids
            .into_iter()
            .map(|id| {
                let (log_end_offset, last_fetch_ago) = if !is_leader {
                    (None, None)
                } else if id == self.node_id {
                    (m.last_log_index, Some(std::time::Duration::ZERO))
                } else {
                    let matched = m.replication.as_ref().and_then(|r| r.get(&id).copied());
                    let ago = acks.get(&id).map(|t| Instant::now().duration_since(*t));
                    (matched.flatten().map(|l| l.index), ago)
                };
                VoterStatus {
                    node_id: id,
                    log_end_offset,
                    last_fetch_ago,
                }
            })
            .collect();
        QuorumStatus {
            node_id: self.node_id,
            leader: m.current_leader,
            term: m.current_term,
            high_watermark: m.last_applied.map(|l| l.index),
            log_end_offset: m.last_log_index,
            voters,
        }
    }

    async fn shutdown(self) -> Result<()> {
        let _ = self.stop.send(true);
        let result = self.raft.shutdown().await.map_err(raft_err);
        for t in self.tasks {
            let _ = t.await;
        }
        result
    }
}
