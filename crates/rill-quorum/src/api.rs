//! Our small interface to the metadata quorum, independent of openraft.
//!
//! The broker (and the controller logic on top of it) sees only [`MetadataQuorum`] and the
//! plain values here, so an openraft upgrade stays inside this crate. Thread-safety: every
//! method takes `&self` and may be called from any task; values are `Send + Sync`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rill_meta::{MetadataImage, MetadataRecord};
use tokio::sync::watch;

use crate::{CommittedOffset, NodeId, Result};

/// A replicated, durable metadata log whose committed records build a [`MetadataImage`].
pub trait MetadataQuorum: Send + Sync {
    /// Appends `records` as one batch through the leader and waits until it is committed
    /// (durable on a majority) and applied here; returns its offset.
    ///
    /// # Errors
    /// [`crate::QuorumError::NotController`] naming the leader when this node is not it (or
    /// lost leadership before the batch committed: the batch may or may not commit later);
    /// [`crate::QuorumError::Rejected`] when the committed batch contradicts the image;
    /// [`crate::QuorumError::ShuttingDown`].
    fn propose(
        &self,
        records: Vec<MetadataRecord>,
    ) -> impl Future<Output = Result<CommittedOffset>> + Send;

    /// The image after the last batch applied on this node.
    fn image(&self) -> Arc<MetadataImage>;

    /// A channel that always holds the latest applied image and its offset.
    fn subscribe(&self) -> watch::Receiver<MetadataUpdate>;

    /// The leader (active controller) as this node knows it.
    fn leader(&self) -> Option<NodeId>;

    /// This node's view of the quorum, for DescribeQuorum.
    fn status(&self) -> QuorumStatus;

    /// Stops Raft, the listener and every connection; returns when they are gone.
    ///
    /// # Errors
    /// [`crate::QuorumError::Raft`] when the Raft core did not stop cleanly.
    fn shutdown(self) -> impl Future<Output = Result<()>> + Send
    where
        Self: Sized;
}

/// The applied state published after each apply.
#[derive(Debug, Clone)]
pub struct MetadataUpdate {
    /// The offset of the last applied entry (`None` before any).
    pub offset: Option<CommittedOffset>,
    /// The image after it.
    pub image: Arc<MetadataImage>,
}

/// What a state machine applied, sent to [`crate::QuorumConfig::observer`] when set.
#[derive(Debug, Clone)]
pub enum AppliedEvent {
    /// A committed batch was applied (or rejected, leaving the image as it was).
    Batch {
        /// The node that applied it.
        node_id: NodeId,
        /// Its log index.
        index: u64,
        /// Its records.
        records: Vec<MetadataRecord>,
        /// Whether the image rejected it.
        rejected: bool,
        /// The image after it.
        image: Arc<MetadataImage>,
    },
    /// A snapshot replaced the image.
    Snapshot {
        /// The node that installed it.
        node_id: NodeId,
        /// The last log index it covers.
        index: Option<u64>,
        /// The image it holds.
        image: Arc<MetadataImage>,
    },
}

/// One node's view of the quorum (Kafka's DescribeQuorum).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumStatus {
    /// The node answering.
    pub node_id: NodeId,
    /// The leader it knows of.
    pub leader: Option<NodeId>,
    /// Its current term (Kafka's leader epoch).
    pub term: u64,
    /// The last applied (hence committed) offset here.
    pub high_watermark: Option<CommittedOffset>,
    /// The last offset in its log.
    pub log_end_offset: Option<u64>,
    /// Every voter; replication progress is known only on the leader.
    pub voters: Vec<VoterStatus>,
}

/// One voter as the answering node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoterStatus {
    /// The voter.
    pub node_id: NodeId,
    /// The last offset the leader knows it holds (`None` off the leader or unknown).
    pub log_end_offset: Option<u64>,
    /// Time since it last answered the leader's replication (`None` off the leader or never).
    pub last_fetch_ago: Option<Duration>,
}
