//! [`QuorumObserver`]: a broker-only node's copy of the metadata log. It is not a voter: it
//! follows the committed log by fetching it from the controllers (see [`crate::fetch`]) and
//! sends its proposals to the active controller.
//!
//! Why fetching and not openraft learners: a learner must be added to the Raft membership by
//! the leader (a membership change per broker, kept forever in the log, replicated to even
//! when the broker is gone for good) and must serve a listener the leader pushes to. A fetch
//! needs neither: the broker pulls from whichever controller answers, like Kafka's brokers
//! pull `__cluster_metadata`, and only committed entries exist to be pulled. The copy is held
//! in memory: a restarted broker starts from a snapshot fetched from a controller (the image is
//! small), and waits for it before serving anything.
//!
//! Thread-safety: all methods take `&self`; one task fetches and publishes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rill_meta::{MetadataImage, MetadataRecord};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::api::{AppliedEvent, MetadataQuorum, MetadataUpdate, QuorumStatus, VoterStatus};
use crate::client::ControllerClient;
use crate::fetch::{FetchDelta, FetchReply, FetchRequest};
use crate::network::tcp::{ForeignPeer, TcpTransport};
use crate::network::tls::QuorumTls;
use crate::network::Transport;
use crate::{CommittedOffset, MetadataBatch, NodeId, QuorumError, Result};

/// How to run an observer.
#[derive(Debug, Clone)]
pub struct ObserverConfig {
    /// This broker's `node.id` (not a voter).
    pub node_id: NodeId,
    /// The voters' controller addresses (`controller.quorum.voters`).
    pub voters: BTreeMap<NodeId, String>,
    /// The cluster id every request carries.
    pub cluster_id: String,
    /// How long a controller may hold a fetch open waiting for news (a long poll).
    pub fetch_wait_ms: u64,
    /// Gets every applied batch and installed snapshot (tests).
    pub observer: Option<mpsc::UnboundedSender<AppliedEvent>>,
    /// Mutual TLS to the controllers ([`QuorumObserver::start_tcp`]; only its client side is
    /// used); `None`: plain TCP.
    pub tls: Option<QuorumTls>,
}

impl ObserverConfig {
    /// A config with a 500 ms long poll.
    pub fn new(node_id: NodeId, voters: BTreeMap<NodeId, String>, cluster_id: String) -> Self {
        ObserverConfig {
            node_id,
            voters,
            cluster_id,
            fetch_wait_ms: 500,
            observer: None,
            tls: None,
        }
    }
}

/// The observer's view of the quorum: the leader and term the last answer named.
#[derive(Debug, Default, Clone, Copy)]
struct View {
    leader: Option<NodeId>,
    term: u64,
}

/// A broker-only node's follower of the committed metadata log.
pub struct QuorumObserver {
    /// This broker.
    node_id: NodeId,
    /// The voters.
    voters: BTreeMap<NodeId, String>,
    /// The line to the controllers.
    client: Arc<ControllerClient>,
    /// The latest applied image.
    updates: watch::Receiver<MetadataUpdate>,
    /// Leader and term as last heard.
    view: Arc<Mutex<View>>,
    /// Stops the fetch task.
    stop: watch::Sender<bool>,
    /// The fetch task.
    task: JoinHandle<()>,
    /// Over TCP: a controller that answered with another cluster's id.
    foreign: Option<ForeignPeer>,
}

impl QuorumObserver {
    /// Starts following the log over `transport`.
    ///
    /// # Errors
    /// `node_id` is a voter (a voter runs [`crate::RaftQuorum`]) or there are no voters.
    pub fn start(config: ObserverConfig, transport: Arc<dyn Transport>) -> Result<Self> {
        if config.voters.is_empty() || config.voters.contains_key(&config.node_id) {
            return Err(QuorumError::InvalidVoters {
                input: crate::format_voters(&config.voters),
                reason: format!(
                    "node.id {} must not be a voter to follow the log as a broker only",
                    config.node_id
                ),
            });
        }
        let voters: Vec<NodeId> = config.voters.keys().copied().collect();
        let client = Arc::new(ControllerClient::new(config.node_id, voters, transport));
        let (publisher, updates) = watch::channel(MetadataUpdate {
            offset: None,
            image: Arc::new(MetadataImage::new()),
        });
        let view = Arc::new(Mutex::new(View::default()));
        let (stop, stop_rx) = watch::channel(false);
        let follower = Follower {
            node_id: config.node_id,
            client: client.clone(),
            publisher,
            view: view.clone(),
            wait_ms: config.fetch_wait_ms,
            events: config.observer,
            image: Arc::new(MetadataImage::new()),
            offset: None,
            resync: false,
        };
        let task = tokio::spawn(follower.run(stop_rx));
        Ok(QuorumObserver {
            node_id: config.node_id,
            voters: config.voters,
            client,
            updates,
            view,
            stop,
            task,
            foreign: None,
        })
    }

    /// Starts following the log over framed TCP to the voters' controller listeners (over
    /// mutual TLS when `config.tls` is set).
    ///
    /// # Errors
    /// As [`Self::start`].
    pub fn start_tcp(config: ObserverConfig) -> Result<Self> {
        let transport = Arc::new(
            TcpTransport::for_cluster(config.voters.clone(), config.cluster_id.clone())
                .with_tls(config.tls.as_ref()),
        );
        let foreign = transport.foreign_peer();
        let mut observer = Self::start(config, transport)?;
        observer.foreign = Some(foreign);
        Ok(observer)
    }

    /// The line to the controllers (heartbeats go through it too).
    pub fn client(&self) -> &Arc<ControllerClient> {
        &self.client
    }

    /// A controller that answered with another cluster's id: (controller, its cluster id).
    pub fn foreign_peer(&self) -> Option<(NodeId, String)> {
        self.foreign
            .as_ref()
            .and_then(|f| f.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// This broker's id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }
}

impl MetadataQuorum for QuorumObserver {
    async fn propose(&self, records: Vec<MetadataRecord>) -> Result<CommittedOffset> {
        self.client.propose(MetadataBatch { records }).await
    }

    fn image(&self) -> Arc<MetadataImage> {
        self.updates.borrow().image.clone()
    }

    fn subscribe(&self) -> watch::Receiver<MetadataUpdate> {
        self.updates.clone()
    }

    fn leader(&self) -> Option<NodeId> {
        self.client.leader()
    }

    fn status(&self) -> QuorumStatus {
        let view = *self.view.lock().unwrap_or_else(|p| p.into_inner());
        let offset = self.updates.borrow().offset;
        QuorumStatus {
            node_id: self.node_id,
            leader: view.leader,
            term: view.term,
            high_watermark: offset,
            log_end_offset: offset,
            voters: self
                .voters
                .keys()
                .map(|id| VoterStatus {
                    node_id: *id,
                    log_end_offset: None,
                    last_fetch_ago: None,
                })
                .collect(),
        }
    }

    async fn shutdown(self) -> Result<()> {
        let _ = self.stop.send(true);
        self.task.await.map_err(|e| QuorumError::Raft {
            message: format!("observer task: {e}"),
        })
    }
}

/// The fetch task's state.
struct Follower {
    node_id: NodeId,
    client: Arc<ControllerClient>,
    publisher: watch::Sender<MetadataUpdate>,
    view: Arc<Mutex<View>>,
    wait_ms: u64,
    events: Option<mpsc::UnboundedSender<AppliedEvent>>,
    /// The image after `offset`.
    image: Arc<MetadataImage>,
    /// The last offset applied.
    offset: Option<u64>,
    /// A fetched entry did not apply: take the next snapshot whatever its offset.
    resync: bool,
}

/// Pause after a failed fetch before trying the next controller.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

impl Follower {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            let target = self.client.target();
            let req = FetchRequest {
                after: if self.resync { None } else { self.offset },
                max_wait_ms: self.wait_ms,
            };
            let timeout = Duration::from_millis(self.wait_ms + 3000);
            let reply = tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                r = self.client.fetch(target, req, timeout) => r,
            };
            match reply {
                Ok(reply) => {
                    self.note_view(&reply);
                    if self.apply(reply.delta) {
                        self.publisher.send_replace(MetadataUpdate {
                            offset: self.offset,
                            image: self.image.clone(),
                        });
                    }
                }
                Err(e) => {
                    tracing::debug!(target, error = %e, "metadata fetch failed");
                    tokio::select! {
                        _ = stop.wait_for(|s| *s) => return,
                        () = tokio::time::sleep(RETRY_PAUSE) => {}
                    }
                }
            }
        }
    }

    fn note_view(&self, reply: &FetchReply) {
        let mut view = self.view.lock().unwrap_or_else(|p| p.into_inner());
        if reply.term >= view.term {
            *view = View {
                leader: reply.leader,
                term: reply.term,
            };
        }
    }

    /// Applies what a fetch brought; true when the image or offset moved.
    fn apply(&mut self, delta: FetchDelta) -> bool {
        match delta {
            FetchDelta::Snapshot {
                offset: at,
                records,
            } => {
                if Some(at) <= self.offset && !(self.resync && Some(at) == self.offset) {
                    return false;
                }
                let mut next = MetadataImage::new();
                if let Err(e) = records.iter().try_for_each(|r| next.apply(r)) {
                    tracing::error!(error = %e, at, "a fetched metadata snapshot does not apply");
                    return false;
                }
                self.image = Arc::new(next);
                self.offset = Some(at);
                self.resync = false;
                self.emit(AppliedEvent::Snapshot {
                    node_id: self.node_id,
                    index: Some(at),
                    image: self.image.clone(),
                });
                true
            }
            FetchDelta::Entries(entries) => {
                let mut moved = false;
                if self.resync {
                    return false;
                }
                for e in entries {
                    if Some(e.offset) <= self.offset {
                        continue;
                    }
                    if self.offset.is_some_and(|o| e.offset != o + 1) {
                        tracing::warn!(at = e.offset, after = ?self.offset, "gap in fetched metadata");
                        break;
                    }
                    if let (Some(records), false) = (&e.records, e.rejected) {
                        let mut next = (*self.image).clone();
                        if let Err(err) = records.iter().try_for_each(|r| next.apply(r)) {
                            // Cannot happen while our image matches the controllers'; start
                            // over from a snapshot rather than diverge.
                            tracing::error!(error = %err, at = e.offset,
                                "fetched metadata does not apply; fetching a snapshot");
                            self.resync = true;
                            return moved;
                        }
                        self.image = Arc::new(next);
                    }
                    self.offset = Some(e.offset);
                    moved = true;
                    if let Some(records) = e.records {
                        self.emit(AppliedEvent::Batch {
                            node_id: self.node_id,
                            index: e.offset,
                            records,
                            rejected: e.rejected,
                            image: self.image.clone(),
                        });
                    }
                }
                moved
            }
        }
    }

    fn emit(&self, ev: AppliedEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(ev);
        }
    }
}
