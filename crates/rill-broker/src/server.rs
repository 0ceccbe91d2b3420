//! The server: binds the listener, accepts connections, runs background maintenance, and
//! shuts everything down in order (stop accepting, let connections finish their current
//! request, flush and checkpoint every partition).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::error::{BrokerError, Result};
use crate::metadata::{MetadataBackend, MetadataStore};
use crate::net::connection::serve_connection;

/// A running server's handle.
#[derive(Debug)]
pub struct Server {
    /// Shared broker state.
    pub broker: Arc<Broker>,
    /// The bound listener.
    listener: TcpListener,
    /// The admin HTTP listener (metrics, health, API, console), unless disabled.
    admin: Option<crate::admin_http::AdminHttp>,
}

impl Server {
    /// Opens the broker's data and binds its listener.
    ///
    /// # Errors
    /// Startup errors: config, data directory, bind.
    pub async fn bind(config: BrokerConfig) -> Result<Self> {
        crate::observe::init();
        let addr = config.listener.bind_addr()?;
        let admin = crate::admin_http::AdminHttp::start_for(&config).await?;
        let props = crate::broker::identity(&config)?;
        let backend = open_metadata(&config, &props.cluster_id).await?;
        let broker = tokio::task::spawn_blocking(move || Broker::open(config, backend))
            .await
            .map_err(|e| BrokerError::Internal(e.to_string()))??;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| BrokerError::Bind { addr, source })?;
        if let (Some(a), Ok(bound)) = (&admin, listener.local_addr()) {
            a.set_opened(broker.clone(), bound);
        }
        Ok(Server {
            broker,
            listener,
            admin,
        })
    }

    /// The admin HTTP listener's address, when it runs.
    pub fn admin_addr(&self) -> Option<std::net::SocketAddr> {
        self.admin.as_ref().map(|a| a.local_addr())
    }

    /// The address actually bound (useful with port 0).
    ///
    /// # Errors
    /// The OS error.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` becomes true, then stops cleanly.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut tasks = JoinSet::new();
        tasks.spawn(crate::maintenance::run(
            self.broker.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(crate::coordinator::timer::run(
            self.broker.clone(),
            shutdown.clone(),
        ));
        if self.broker.config.cluster.is_quorum() {
            tasks.spawn(crate::cluster::run_reconcile_loop(
                self.broker.clone(),
                shutdown.clone(),
            ));
            tasks.spawn(crate::cluster::run_controller_loop(
                self.broker.clone(),
                shutdown.clone(),
            ));
            tasks.spawn(crate::controller_duties::run(
                self.broker.clone(),
                shutdown.clone(),
            ));
            tasks.spawn(crate::replica::isr::run_isr_loop(
                self.broker.clone(),
                shutdown.clone(),
            ));
            self.broker.fetchers.update(&self.broker);
        }
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        tasks.spawn(serve_connection(
                            self.broker.clone(), stream, peer, shutdown.clone(),
                        ));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                // Reap finished connection tasks so the set stays small.
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        drop(self.listener);
        if let Some(a) = &self.admin {
            a.set_stopping();
        }
        if self.broker.config.cluster.is_quorum() {
            let broker = self.broker.clone();
            let fence =
                tokio::task::spawn_blocking(move || crate::cluster::controlled_shutdown(&broker));
            if tokio::time::timeout(Duration::from_secs(10), fence)
                .await
                .is_err()
            {
                tracing::warn!("controlled shutdown did not finish in 10 s");
            }
        }
        tracing::info!(
            tasks = tasks.len(),
            "shutting down: waiting for connections"
        );
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(10), drain)
            .await
            .is_err()
        {
            tracing::warn!("connections did not finish in 10 s; aborting them");
        }
        self.broker.fetchers.shutdown();
        let broker = self.broker.clone();
        let _ = tokio::task::spawn_blocking(move || broker.flush_all()).await;
        if let Some(a) = self.admin {
            a.stop().await;
        }
        tracing::info!("shutdown complete");
    }
}

/// Opens the metadata log: the Raft quorum when `controller.quorum.voters` is set (serving
/// peers on the controller listener), else the local log of a lone node.
async fn open_metadata(config: &BrokerConfig, cluster_id: &str) -> Result<MetadataBackend> {
    let dir = config.log_dir.join(crate::metadata::METADATA_DIR);
    std::fs::create_dir_all(&dir).map_err(|source| BrokerError::Io {
        op: "create metadata dir",
        path: dir.clone(),
        source,
    })?;
    let (Some(voters), Some(listener)) = (
        &config.cluster.quorum_voters,
        &config.cluster.controller_listener,
    ) else {
        let store = tokio::task::spawn_blocking(move || MetadataStore::open_dir(&dir))
            .await
            .map_err(|e| BrokerError::Internal(e.to_string()))??;
        return Ok(MetadataBackend::Local(store));
    };
    let voters = rill_quorum::parse_voters(voters).map_err(|e| {
        BrokerError::Config(crate::config::ConfigError::InvalidValue {
            key: "controller.quorum.voters".into(),
            value: voters.clone(),
            reason: e.to_string(),
        })
    })?;
    let addr = listener.bind_addr()?;
    let tcp = TcpListener::bind(addr)
        .await
        .map_err(|source| BrokerError::Bind { addr, source })?;
    let mut qc = rill_quorum::QuorumConfig::new(config.node_id as u64, voters, dir.join("raft"));
    qc.cluster_id = cluster_id.to_string();
    let quorum = rill_quorum::RaftQuorum::start_tcp(qc, Some(tcp))
        .await
        .map_err(|e| BrokerError::Internal(format!("metadata quorum: {e}")))?;
    tracing::info!(%addr, "metadata quorum started");
    Ok(MetadataBackend::Quorum(Arc::new(quorum)))
}
