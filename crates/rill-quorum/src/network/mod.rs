//! The network of the metadata quorum: our [`Transport`] seam and the messages it carries
//! between controllers (Raft, forwarded proposals) and from brokers to controllers (metadata
//! fetches, heartbeats, proposals).
//!
//! openraft talks to peers through `adapter` (its `RaftNetworkFactory`), which sends our
//! [`RaftRpc`] values over a [`Transport`] and maps failures to openraft's RPC errors. A peer
//! answers through an [`RpcHandler`]. Production uses [`tcp::TcpTransport`] (framed TCP, see
//! `frame`, optionally over mutual TLS, see [`tls`]); tests plug in an in-process transport
//! with partitions, loss, delays and restarts.
//! Thread-safety: transports are `Send + Sync` and shared by every replication task.

pub(crate) mod adapter;
pub mod frame;
mod handler;
pub mod tcp;
pub mod tls;

pub use handler::RpcHandler;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

use rill_meta::control::BrokerHeartbeat;

use crate::fetch::{FetchReply, FetchRequest};
use crate::heartbeats::HeartbeatReply;
use crate::types::TypeConfig;
use crate::NodeId;

/// A boxed, sendable future: keeps [`Transport`] object-safe, and lets
/// [`crate::RaftQuorum::start`] (and the broker's `Server::bind`) compile their async bodies
/// once, in their own crate.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// One request from a controller to a peer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum RaftRpc {
    /// Replicate entries or heartbeat.
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// Ask for a vote.
    Vote(VoteRequest<NodeId>),
    /// One chunk of a snapshot.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A proposal forwarded by a follower (or a broker) to the leader it knows.
    Propose(crate::MetadataBatch),
    /// A broker that is not a voter fetches the committed metadata log.
    FetchMetadata(FetchRequest),
    /// A broker's heartbeat to the active controller.
    BrokerHeartbeat(BrokerHeartbeat),
}

/// The peer's answer to a [`RaftRpc`], including Raft-level errors it returned.
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftReply {
    /// Answer to [`RaftRpc::AppendEntries`].
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    /// Answer to [`RaftRpc::Vote`].
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    /// Answer to [`RaftRpc::InstallSnapshot`].
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    /// Answer to [`RaftRpc::Propose`].
    Propose(ForwardedOutcome),
    /// Answer to [`RaftRpc::FetchMetadata`].
    FetchMetadata(FetchReply),
    /// Answer to [`RaftRpc::BrokerHeartbeat`].
    BrokerHeartbeat(HeartbeatReply),
    /// The peer belongs to another cluster (its id); nothing was done.
    WrongCluster(String),
}

/// What a forwarded proposal came to on the node that received it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ForwardedOutcome {
    /// Committed at this offset.
    Committed(u64),
    /// Committed at this offset but contradicted the image (skipped everywhere).
    Rejected(u64, String),
    /// That node is not the leader either; the leader it knows.
    NotLeader(Option<NodeId>),
    /// It failed otherwise.
    Failed(String),
}

/// Why a message did not get an answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    /// The peer could not be reached (down, partitioned, connection refused or reset).
    #[error("node {target} unreachable: {reason}")]
    Unreachable {
        /// The peer.
        target: NodeId,
        /// Why.
        reason: String,
    },
    /// No answer within the deadline.
    #[error("node {target} did not answer within {timeout:?}")]
    Timeout {
        /// The peer.
        target: NodeId,
        /// The deadline.
        timeout: Duration,
    },
}

/// Carries requests between controllers.
///
/// Contract: `send` delivers `rpc` to `target`'s [`RpcHandler`] at most once and returns its
/// reply, or an error when it cannot tell; it never retries by itself (Raft does).
pub trait Transport: Send + Sync + 'static {
    /// Sends `rpc` from `from` to `target`, waiting up to `timeout` for the reply.
    fn send(
        &self,
        from: NodeId,
        target: NodeId,
        rpc: RaftRpc,
        timeout: Duration,
    ) -> BoxFuture<Result<RaftReply, TransportError>>;
}
