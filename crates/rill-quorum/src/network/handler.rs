//! [`RpcHandler`]: answers requests addressed to one controller, from its peers (Raft,
//! forwarded proposals) and from brokers (metadata fetches, heartbeats).
//!
//! A controller counts as the active one for brokers only while it leads and has heard from
//! a majority within the lease (the election timeout): a leader cut off from the others keeps
//! believing it leads until it hears a higher term, and brokers must not keep heartbeating to
//! it. Thread-safety: cheap to clone; every clone shares the same controller.

use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use rill_meta::control::BrokerHeartbeat;
use tokio::sync::watch;

use super::{ForwardedOutcome, RaftReply, RaftRpc};
use crate::fetch::{
    FetchDelta, FetchReply, FetchRequest, SharedRecent, MAX_BATCHES_PER_FETCH, MAX_FETCH_WAIT_MS,
};
use crate::heartbeats::{HeartbeatReply, HeartbeatTable};
use crate::types::Raft;
use crate::{MetadataUpdate, NodeId};

/// Answers peers' and brokers' requests on behalf of one controller. Cheap to clone.
#[derive(Clone)]
pub struct RpcHandler {
    /// This controller.
    pub(crate) node_id: NodeId,
    /// The controller's Raft.
    pub(crate) raft: Raft,
    /// The latest applied image and offset.
    pub(crate) updates: watch::Receiver<MetadataUpdate>,
    /// The last applied entries, for fetching brokers.
    pub(crate) recent: SharedRecent,
    /// Heartbeats heard while leading.
    pub(crate) heartbeats: HeartbeatTable,
    /// A leader that heard from no majority for longer than this does not act as active.
    pub(crate) lease_ms: u64,
}

impl RpcHandler {
    /// Hands `rpc` to this controller and returns its answer.
    pub async fn handle(&self, rpc: RaftRpc) -> RaftReply {
        match rpc {
            RaftRpc::AppendEntries(r) => {
                RaftReply::AppendEntries(self.raft.append_entries(r).await)
            }
            RaftRpc::Vote(r) => RaftReply::Vote(self.raft.vote(r).await),
            RaftRpc::InstallSnapshot(r) => {
                RaftReply::InstallSnapshot(self.raft.install_snapshot(r).await)
            }
            RaftRpc::Propose(batch) => {
                RaftReply::Propose(match self.raft.client_write(batch).await {
                    Ok(resp) => match resp.data.rejected {
                        None => ForwardedOutcome::Committed(resp.log_id.index),
                        Some(reason) => ForwardedOutcome::Rejected(resp.log_id.index, reason),
                    },
                    Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                        ForwardedOutcome::NotLeader(f.leader_id)
                    }
                    Err(e) => ForwardedOutcome::Failed(e.to_string()),
                })
            }
            RaftRpc::FetchMetadata(req) => RaftReply::FetchMetadata(self.fetch(req).await),
            RaftRpc::BrokerHeartbeat(hb) => RaftReply::BrokerHeartbeat(self.heartbeat(hb)),
        }
    }

    /// The active controller as this node knows it: the leader it knows, except itself when
    /// it has not heard from a majority within the lease.
    pub fn active_controller(&self) -> Option<NodeId> {
        let m = self.raft.metrics();
        let m = m.borrow();
        match m.current_leader {
            Some(l) if l == self.node_id => {
                let stale = m
                    .millis_since_quorum_ack
                    .is_some_and(|ms| ms > self.lease_ms);
                (!stale).then_some(l)
            }
            other => other,
        }
    }

    /// Records a broker's heartbeat if this node is the active controller.
    fn heartbeat(&self, hb: BrokerHeartbeat) -> HeartbeatReply {
        let active = self.active_controller();
        if active != Some(self.node_id) {
            return HeartbeatReply::NotController(active);
        }
        let image = self.updates.borrow().image.clone();
        let state = image
            .broker(hb.broker_id)
            .filter(|b| b.incarnation_id == hb.incarnation_id)
            .map(|b| b.fenced);
        self.heartbeats.record(hb);
        HeartbeatReply::Accepted {
            registered: state.is_some(),
            fenced: state.unwrap_or(true),
        }
    }

    /// Answers a metadata fetch: waits (up to the request's limit) for an entry after the
    /// requested offset, then sends the kept entries after it or a snapshot.
    async fn fetch(&self, req: FetchRequest) -> FetchReply {
        let wait = Duration::from_millis(req.max_wait_ms.min(MAX_FETCH_WAIT_MS));
        let mut updates = self.updates.clone();
        let _ = tokio::time::timeout(wait, updates.wait_for(|u| u.offset > req.after)).await;
        let kept = req.after.and_then(|after| {
            let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            recent.since(after, MAX_BATCHES_PER_FETCH)
        });
        let delta = match kept {
            Some(entries) => FetchDelta::Entries(entries),
            None => {
                let current = self.updates.borrow().clone();
                match current.offset {
                    Some(offset) => FetchDelta::Snapshot {
                        offset,
                        records: current.image.to_records(),
                    },
                    None => FetchDelta::Entries(Vec::new()),
                }
            }
        };
        FetchReply {
            leader: self.active_controller(),
            term: self.raft.metrics().borrow().current_term,
            delta,
        }
    }
}
