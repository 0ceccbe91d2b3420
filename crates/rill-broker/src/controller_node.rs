//! A controller-only node (`process.roles=controller`): a voter of the metadata quorum that
//! can become the active controller. It serves its peers and the brokers on the controller
//! listener only; it has no Kafka listener, never registers as a broker and so never gets
//! replicas. Thread-safety: owned by `rill serve`'s task.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::BrokerConfig;
use crate::error::{BrokerError, Result};
use crate::server::{open_metadata, ClusterTasks};
use rill_quorum::network::BoxFuture;

/// How often a controller-only node checks that its peers are of its cluster.
const FOREIGN_CHECK: Duration = Duration::from_millis(500);

/// A running controller-only node.
pub struct ControllerNode {
    /// The cluster id from `meta.properties`.
    pub cluster_id: String,
    /// Where it serves peers and brokers.
    pub controller_addr: std::net::SocketAddr,
    /// The quorum.
    quorum: Arc<rill_quorum::RaftQuorum>,
    /// Its controller loop.
    cluster: ClusterTasks,
}

impl std::fmt::Debug for ControllerNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerNode")
            .field("cluster_id", &self.cluster_id)
            .field("controller_addr", &self.controller_addr)
            .finish_non_exhaustive()
    }
}

impl ControllerNode {
    /// Opens the data directory and the quorum, and starts the controller loop.
    ///
    /// Boxed in this crate, as [`crate::Server::bind`] is, so callers do not compile the
    /// quorum's async code again.
    ///
    /// # Errors
    /// Not a controller-only cluster node, a data directory of another node or cluster, bind
    /// or disk errors.
    pub fn start(config: BrokerConfig) -> BoxFuture<Result<Self>> {
        Box::pin(Self::open(config))
    }

    /// [`ControllerNode::start`]'s work.
    async fn open(config: BrokerConfig) -> Result<Self> {
        let roles = config.cluster.roles;
        if roles.broker || !roles.controller || !config.cluster.is_quorum() {
            return Err(BrokerError::Internal(
                "a controller-only node needs process.roles=controller and \
                 controller.quorum.voters"
                    .into(),
            ));
        }
        let props = crate::broker::identity(&config)?;
        let opened = open_metadata(&config, &props.cluster_id).await?;
        let quorum = opened
            .quorum
            .clone()
            .ok_or_else(|| BrokerError::Internal("controller without a quorum".into()))?;
        let controller_addr = match &config.cluster.controller_listener {
            Some(l) => l.bind_addr()?,
            None => return Err(BrokerError::Internal("no controller listener".into())),
        };
        let mut cluster = ClusterTasks::default();
        cluster.start_controller(&config, &opened);
        Ok(ControllerNode {
            cluster_id: props.cluster_id,
            controller_addr,
            quorum,
            cluster,
        })
    }

    /// Runs until `shutdown` becomes true.
    ///
    /// # Errors
    /// A controller peer belongs to another cluster: this node's data is not of this
    /// cluster, so it stops rather than sit outside the quorum forever.
    pub fn run(self, shutdown: watch::Receiver<bool>) -> BoxFuture<Result<()>> {
        Box::pin(self.serve_until(shutdown))
    }

    /// [`ControllerNode::run`]'s work.
    async fn serve_until(mut self, mut shutdown: watch::Receiver<bool>) -> Result<()> {
        let outcome = loop {
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => break Ok(()),
                () = tokio::time::sleep(FOREIGN_CHECK) => {}
            }
            if let Some((peer, theirs)) = self.quorum.foreign_peer() {
                break Err(BrokerError::BadDataDir(format!(
                    "controller {peer} belongs to cluster {theirs}, but this node's data \
                     (meta.properties) belongs to cluster {}; a node cannot join a cluster \
                     with another cluster's data",
                    self.cluster_id
                )));
            }
        };
        self.cluster.stop().await;
        tracing::info!("controller stopped");
        outcome
    }
}
