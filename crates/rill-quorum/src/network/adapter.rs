//! openraft's network traits over our [`Transport`].
//!
//! One `PeerClient` per target; each call becomes one [`RaftRpc`] sent with openraft's
//! deadline. Transport failures map to `Unreachable` (openraft backs off before retrying) or
//! `Network`; errors the peer's Raft returned map to `RemoteError`. A successful AppendEntries
//! answer records the time in the shared ack table that `status()` reports as each voter's
//! last fetch. Thread-safety: the ack table is behind a mutex; clients are per task.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use tokio::time::Instant;

use super::{RaftReply, RaftRpc, Transport, TransportError};
use crate::types::TypeConfig;
use crate::NodeId;

/// When each peer last answered an AppendEntries successfully.
pub(crate) type AckTable = Arc<Mutex<BTreeMap<NodeId, Instant>>>;

/// Makes a [`PeerClient`] per target.
pub(crate) struct NetworkFactory {
    /// This node.
    pub(crate) from: NodeId,
    /// The transport.
    pub(crate) transport: Arc<dyn Transport>,
    /// Last successful AppendEntries per peer.
    pub(crate) acks: AckTable,
}

/// Sends one node's RPCs to one target.
pub(crate) struct PeerClient {
    from: NodeId,
    target: NodeId,
    transport: Arc<dyn Transport>,
    acks: AckTable,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> PeerClient {
        PeerClient {
            from: self.from,
            target,
            transport: self.transport.clone(),
            acks: self.acks.clone(),
        }
    }
}

type RpcErr<E> = RPCError<NodeId, BasicNode, E>;

fn transport_err<E: std::error::Error>(e: TransportError) -> RpcErr<E> {
    match e {
        TransportError::Unreachable { .. } => RPCError::Unreachable(Unreachable::new(&e)),
        TransportError::Timeout { .. } => RPCError::Network(NetworkError::new(&e)),
    }
}

impl PeerClient {
    async fn call<E: std::error::Error>(
        &self,
        rpc: RaftRpc,
        option: &RPCOption,
    ) -> Result<RaftReply, RpcErr<E>> {
        let timeout = option.hard_ttl();
        self.transport
            .send(self.from, self.target, rpc, timeout)
            .await
            .map_err(transport_err)
    }

    fn mismatch<E: std::error::Error>(&self, reply: &RaftReply) -> RpcErr<E> {
        let e = TransportError::Unreachable {
            target: self.target,
            reason: format!("reply of the wrong kind: {reply:?}"),
        };
        RPCError::Network(NetworkError::new(&e))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcErr<RaftError<NodeId>>> {
        match self.call(RaftRpc::AppendEntries(rpc), &option).await? {
            RaftReply::AppendEntries(Ok(r)) => {
                let mut acks = self.acks.lock().unwrap_or_else(|p| p.into_inner());
                acks.insert(self.target, Instant::now());
                Ok(r)
            }
            RaftReply::AppendEntries(Err(e)) => Err(RemoteError::new(self.target, e).into()),
            other => Err(self.mismatch(&other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcErr<RaftError<NodeId, InstallSnapshotError>>>
    {
        match self.call(RaftRpc::InstallSnapshot(rpc), &option).await? {
            RaftReply::InstallSnapshot(Ok(r)) => Ok(r),
            RaftReply::InstallSnapshot(Err(e)) => Err(RemoteError::new(self.target, e).into()),
            other => Err(self.mismatch(&other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcErr<RaftError<NodeId>>> {
        match self.call(RaftRpc::Vote(rpc), &option).await? {
            RaftReply::Vote(Ok(r)) => Ok(r),
            RaftReply::Vote(Err(e)) => Err(RemoteError::new(self.target, e).into()),
            other => Err(self.mismatch(&other)),
        }
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(Duration::from_millis(200)))
    }
}
