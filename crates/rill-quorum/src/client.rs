//! [`ControllerClient`]: a broker's line to the controllers (heartbeats, metadata fetches,
//! proposals), following the active controller as the answers name it.
//!
//! Requests go to the last known active controller, else to the voters in turn. An answer
//! that names another leader moves the client there; an unreachable target or an answer
//! without a leader moves it to the next voter. Heartbeats and fetches are idempotent and
//! retried across voters; a proposal is retried only when a node answered that it is not the
//! leader (it was then not committed through that node), never after a transport failure, whose
//! outcome is unknown. Thread-safety: `Send + Sync`, shared by the broker's tasks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rill_meta::control::BrokerHeartbeat;

use crate::fetch::{FetchReply, FetchRequest};
use crate::heartbeats::HeartbeatReply;
use crate::network::{ForwardedOutcome, RaftReply, RaftRpc, Transport, TransportError};
use crate::{CommittedOffset, MetadataBatch, NodeId, QuorumError, Result};

/// How long a proposal may take to commit on the leader.
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(15);

/// A broker's client of the controller quorum.
pub struct ControllerClient {
    /// The sender's node id (a broker's `node.id`).
    from: NodeId,
    /// The voters, in id order.
    voters: Vec<NodeId>,
    /// How requests travel.
    transport: Arc<dyn Transport>,
    /// The active controller as last heard.
    leader: Mutex<Option<NodeId>>,
    /// Which voter to try next when no leader is known.
    next: AtomicUsize,
}

impl ControllerClient {
    /// A client of `voters` sending as node `from` over `transport`.
    pub fn new(from: NodeId, voters: Vec<NodeId>, transport: Arc<dyn Transport>) -> Self {
        ControllerClient {
            from,
            voters,
            transport,
            leader: Mutex::new(None),
            next: AtomicUsize::new(0),
        }
    }

    /// The active controller as last heard (`None` while unknown).
    pub fn leader(&self) -> Option<NodeId> {
        *self.leader.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where the next request goes: the known leader, else the next voter in turn.
    pub fn target(&self) -> NodeId {
        if let Some(l) = self.leader() {
            return l;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.voters
            .get(i % self.voters.len().max(1))
            .copied()
            .unwrap_or(0)
    }

    /// Takes `leader` as the active controller (`None`: forget it and try the voters).
    pub fn note_leader(&self, leader: Option<NodeId>) {
        let leader = leader.filter(|l| self.voters.contains(l));
        *self.leader.lock().unwrap_or_else(|p| p.into_inner()) = leader;
    }

    /// `target` did not answer: forget it as leader.
    fn failed(&self, target: NodeId) {
        let mut leader = self.leader.lock().unwrap_or_else(|p| p.into_inner());
        if *leader == Some(target) {
            *leader = None;
        }
    }

    async fn send(&self, target: NodeId, rpc: RaftRpc, timeout: Duration) -> Result<RaftReply> {
        self.transport
            .send(self.from, target, rpc, timeout)
            .await
            .map_err(|e| {
                self.failed(target);
                tracing::debug!(target, error = %e, "controller request failed");
                QuorumError::NotController {
                    node_id: self.from,
                    leader: None,
                }
            })
    }

    fn unexpected(reply: &RaftReply) -> QuorumError {
        QuorumError::Raft {
            message: format!("unexpected reply from a controller: {reply:?}"),
        }
    }

    /// Sends a heartbeat to the active controller, following leader hints across at most
    /// one round of the voters.
    ///
    /// # Errors
    /// [`QuorumError::NotController`] when no node took it as the active controller.
    pub async fn heartbeat(
        &self,
        hb: &BrokerHeartbeat,
        timeout: Duration,
    ) -> Result<HeartbeatReply> {
        for _ in 0..=self.voters.len() {
            let target = self.target();
            let reply = match self
                .send(target, RaftRpc::BrokerHeartbeat(hb.clone()), timeout)
                .await
            {
                Ok(r) => r,
                Err(_) => continue,
            };
            match reply {
                RaftReply::BrokerHeartbeat(ok @ HeartbeatReply::Accepted { .. }) => {
                    self.note_leader(Some(target));
                    return Ok(ok);
                }
                RaftReply::BrokerHeartbeat(HeartbeatReply::NotController(hint)) => {
                    self.note_leader(hint.filter(|h| *h != target));
                }
                other => return Err(Self::unexpected(&other)),
            }
        }
        Err(QuorumError::NotController {
            node_id: self.from,
            leader: self.leader(),
        })
    }

    /// Fetches committed metadata after `req.after` from `target`, and takes the leader it
    /// names (forgetting `target` when it names none).
    ///
    /// # Errors
    /// The transport's error.
    pub async fn fetch(
        &self,
        target: NodeId,
        req: FetchRequest,
        timeout: Duration,
    ) -> std::result::Result<FetchReply, TransportError> {
        let reply = self
            .transport
            .send(self.from, target, RaftRpc::FetchMetadata(req), timeout)
            .await;
        match reply {
            Ok(RaftReply::FetchMetadata(r)) => {
                self.note_leader(r.leader);
                Ok(r)
            }
            Ok(other) => Err(TransportError::Unreachable {
                target,
                reason: format!("unexpected reply to a fetch: {other:?}"),
            }),
            Err(e) => {
                self.failed(target);
                Err(e)
            }
        }
    }

    /// Proposes `batch` through the active controller; returns its committed offset.
    ///
    /// # Errors
    /// [`QuorumError::NotController`] (no leader reached, or the outcome is unknown after a
    /// transport failure: the caller may retry), [`QuorumError::Rejected`], [`QuorumError::Raft`].
    pub async fn propose(&self, batch: MetadataBatch) -> Result<CommittedOffset> {
        for _ in 0..=self.voters.len() {
            let target = self.target();
            let reply = self
                .send(target, RaftRpc::Propose(batch.clone()), PROPOSE_TIMEOUT)
                .await?;
            match reply {
                RaftReply::Propose(ForwardedOutcome::Committed(offset)) => {
                    self.note_leader(Some(target));
                    return Ok(offset);
                }
                RaftReply::Propose(ForwardedOutcome::Rejected(offset, reason)) => {
                    return Err(QuorumError::Rejected { offset, reason })
                }
                RaftReply::Propose(ForwardedOutcome::NotLeader(hint)) => {
                    self.note_leader(hint.filter(|h| *h != target));
                }
                RaftReply::Propose(ForwardedOutcome::Failed(message)) => {
                    return Err(QuorumError::Raft { message })
                }
                other => return Err(Self::unexpected(&other)),
            }
        }
        Err(QuorumError::NotController {
            node_id: self.from,
            leader: self.leader(),
        })
    }
}
