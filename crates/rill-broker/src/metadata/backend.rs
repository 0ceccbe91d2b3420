//! Where the metadata log lives: a local file on a lone node, the Raft quorum on a controller,
//! or a fetched copy of the committed log on a broker-only node.
//!
//! Both give the same three things: the current image, a way to append records (waiting until
//! they are durable and applied here), and the active controller's id. Thread-safety: all
//! methods take `&self`; [`MetadataBackend::commit`] blocks and must run on a blocking thread.

use std::sync::Arc;

use rill_meta::{MetadataImage, MetadataRecord};
use rill_quorum::{
    MetadataQuorum, MetadataUpdate, QuorumError, QuorumObserver, QuorumStatus, RaftQuorum,
};
use tokio::sync::watch;

use super::MetadataStore;
use crate::error::{BrokerError, Result};

/// How long a proposal may wait to be committed before the caller is told to retry.
const PROPOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a committed change may take to be applied on this node.
const APPLY_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The metadata log behind this node.
pub enum MetadataBackend {
    /// A lone node's local, fsynced log.
    Local(MetadataStore),
    /// A voter of the Raft metadata quorum.
    Quorum(Arc<RaftQuorum>),
    /// A broker-only node following the committed log of the quorum.
    Observer(Arc<QuorumObserver>),
}

impl std::fmt::Debug for MetadataBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetadataBackend::Local(_) => f.write_str("MetadataBackend::Local"),
            MetadataBackend::Quorum(q) => {
                write!(f, "MetadataBackend::Quorum(node {})", q.node_id())
            }
            MetadataBackend::Observer(o) => {
                write!(f, "MetadataBackend::Observer(node {})", o.node_id())
            }
        }
    }
}

impl MetadataBackend {
    /// The latest image applied on this node.
    pub fn image(&self) -> Arc<MetadataImage> {
        match self {
            MetadataBackend::Local(s) => s.image(),
            MetadataBackend::Quorum(q) => q.image(),
            MetadataBackend::Observer(o) => o.image(),
        }
    }

    /// Appends `records` as one change and waits until it is committed and applied here.
    /// On a quorum follower or a broker-only node the proposal goes to the active
    /// controller. Blocking.
    ///
    /// # Errors
    /// Records that contradict the image, no active controller, I/O errors.
    pub fn commit(&self, records: Vec<MetadataRecord>) -> Result<()> {
        self.commit_within(records, PROPOSE_WAIT)
    }

    /// [`MetadataBackend::commit`], giving up after `limit` without a commit (a leader cut off
    /// from its majority never commits).
    fn commit_within(
        &self,
        records: Vec<MetadataRecord>,
        limit: std::time::Duration,
    ) -> Result<()> {
        match self {
            MetadataBackend::Local(s) => s.commit(records).map(|_| ()),
            MetadataBackend::Quorum(q) => commit_through(q.as_ref(), records, limit),
            MetadataBackend::Observer(o) => commit_through(o.as_ref(), records, limit),
        }
    }

    /// Waits until a controller is active and this node has applied everything committed
    /// before now (an empty proposal as a barrier), retrying for up to `timeout`. Blocking.
    ///
    /// # Errors
    /// No active controller within `timeout`.
    pub fn catch_up(&self, timeout: std::time::Duration) -> Result<()> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let foreign = match self {
                MetadataBackend::Local(_) => None,
                MetadataBackend::Quorum(q) => q.foreign_peer(),
                MetadataBackend::Observer(o) => o.foreign_peer(),
            };
            if let Some((peer, theirs)) = foreign {
                return Err(BrokerError::BadDataDir(format!(
                    "controller {peer} belongs to cluster {theirs}, but this node's data \
                     (meta.properties) belongs to another cluster; a node cannot join a \
                     cluster with another cluster's data"
                )));
            }
            match self.commit_within(Vec::new(), std::time::Duration::from_secs(2)) {
                Ok(()) => return Ok(()),
                Err(e) if std::time::Instant::now() < deadline => {
                    tracing::info!(reason = %e, "waiting for the metadata quorum");
                    std::thread::sleep(std::time::Duration::from_millis(250));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The active controller, as this node knows it.
    pub fn controller_id(&self, own_id: i32) -> Option<i32> {
        match self {
            MetadataBackend::Local(_) => Some(own_id),
            MetadataBackend::Quorum(q) => q.leader().and_then(|l| i32::try_from(l).ok()),
            MetadataBackend::Observer(o) => o.leader().and_then(|l| i32::try_from(l).ok()),
        }
    }

    /// Image updates, for nodes whose image also changes by others' commits.
    pub fn subscribe(&self) -> Option<watch::Receiver<MetadataUpdate>> {
        match self {
            MetadataBackend::Local(_) => None,
            MetadataBackend::Quorum(q) => Some(q.subscribe()),
            MetadataBackend::Observer(o) => Some(o.subscribe()),
        }
    }

    /// The quorum's state for DescribeQuorum (`None` on a lone node).
    pub fn quorum_status(&self) -> Option<QuorumStatus> {
        match self {
            MetadataBackend::Local(_) => None,
            MetadataBackend::Quorum(q) => Some(q.status()),
            MetadataBackend::Observer(o) => Some(o.status()),
        }
    }
}

/// Proposes `records` through `q` and waits until the change is applied on this node,
/// giving up after `limit` without a commit. Blocking (runs the future on the current runtime).
fn commit_through<Q: MetadataQuorum>(
    q: &Q,
    records: Vec<MetadataRecord>,
    limit: std::time::Duration,
) -> Result<()> {
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|e| BrokerError::Internal(format!("no runtime for a proposal: {e}")))?;
    handle.block_on(async move {
        let proposed = tokio::time::timeout(limit, q.propose(records)).await;
        // A rejected batch is still committed (and skipped everywhere): wait for it here
        // too, so the caller sees the change that won the race.
        let (offset, rejected) = match proposed {
            Ok(Ok(offset)) => (offset, None),
            Ok(Err(QuorumError::Rejected { offset, reason })) => (offset, Some(reason)),
            Ok(Err(e)) => return Err(quorum_error(e)),
            Err(_) => {
                return Err(BrokerError::NotController {
                    leader: q.leader().and_then(|l| i32::try_from(l).ok()),
                })
            }
        };
        // A forwarded proposal commits on the leader first: wait until this node applied it
        // too, so what the caller does next sees it.
        let mut updates = q.subscribe();
        let applied = tokio::time::timeout(APPLY_WAIT, async {
            updates
                .wait_for(|u| u.offset.is_some_and(|o| o >= offset))
                .await
                .is_ok()
        })
        .await;
        match applied {
            Ok(true) => match rejected {
                None => Ok(()),
                Some(reason) => Err(BrokerError::MetadataRejected(reason)),
            },
            _ => Err(BrokerError::Internal(format!(
                "metadata offset {offset} committed but not applied here within {APPLY_WAIT:?}"
            ))),
        }
    })
}

/// Maps a quorum error to the broker's.
fn quorum_error(e: QuorumError) -> BrokerError {
    match e {
        QuorumError::NotController { leader, .. } => BrokerError::NotController {
            leader: leader.and_then(|l| i32::try_from(l).ok()),
        },
        QuorumError::Rejected { reason, .. } => BrokerError::MetadataRejected(reason),
        other => BrokerError::Internal(other.to_string()),
    }
}
