//! The server of a node with the broker role: opens the metadata log (and, on a controller,
//! starts the controller loop; in a cluster, the heartbeats), binds the listener, accepts
//! connections, runs background maintenance, and shuts everything down in order (stop
//! accepting, controlled shutdown, let connections finish their current request, flush and
//! checkpoint every partition).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use rill_quorum::controller::{self, ControllerSettings};
use rill_quorum::network::BoxFuture;
use rill_quorum::{ControllerClient, ObserverConfig, QuorumObserver, RaftQuorum};
use tokio::task::JoinHandle;

use crate::api::ApiHandler;
use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::error::{BrokerError, Result};
use crate::membership::Membership;
use crate::metadata::{MetadataBackend, MetadataStore};
use crate::net::handler::NetShared;
use crate::net::listeners::{accept_loop, BoundListener};

/// How long controlled shutdown may take before the node stops anyway.
const CONTROLLED_SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// A running server's handle.
#[derive(Debug)]
pub struct Server {
    /// Shared broker state.
    pub broker: Arc<Broker>,
    /// What the network edge owns across connections (limits, budget, send statistics).
    pub net: Arc<NetShared>,
    /// The bound client listeners (the inter-broker one first).
    listeners: Vec<BoundListener>,
    /// The admin HTTP listener (metrics, health, API, console), unless disabled.
    admin: Option<crate::admin_http::AdminHttp>,
    /// The controller loop and the heartbeats, stopped last.
    cluster: ClusterTasks,
}

/// The cluster tasks of a node: its controller loop (controller role) and heartbeats
/// (broker role), which run from before the broker opens until after it stopped.
#[derive(Debug, Default)]
pub(crate) struct ClusterTasks {
    /// Stops the controller loop.
    stop: Option<watch::Sender<bool>>,
    /// The controller loop and the controller duties.
    controller: Vec<JoinHandle<()>>,
    /// The heartbeat task.
    heartbeats: Option<JoinHandle<()>>,
    /// Its membership (to stop it).
    membership: Option<Arc<Membership>>,
    /// Reloads the controller listener's certificates (aborted at stop).
    tls_reload: Option<JoinHandle<()>>,
}

/// The controller loops' settings from this node's configuration.
fn controller_settings(config: &BrokerConfig) -> ControllerSettings {
    let flag = |key: &str| {
        config
            .value(key)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    };
    let check_secs = config
        .value("leader.imbalance.check.interval.seconds")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(300);
    ControllerSettings {
        auto_leader_rebalance: flag("auto.leader.rebalance.enable"),
        unclean_leader_election_default: flag("unclean.leader.election.enable"),
        leader_imbalance_check_interval: Duration::from_secs(check_secs),
        ..ControllerSettings::with_session_timeout_ms(config.cluster.session_timeout_ms)
    }
}

impl ClusterTasks {
    /// Starts the controller loop over `quorum`.
    pub(crate) fn start_controller(&mut self, config: &BrokerConfig, opened: &OpenedMetadata) {
        let Some(quorum) = &opened.quorum else {
            return;
        };
        let (stop, rx) = watch::channel(false);
        let settings = controller_settings(config);
        self.controller = vec![
            tokio::spawn(controller::run_liveness_loop(
                quorum.clone(),
                settings.clone(),
                rx.clone(),
            )),
            tokio::spawn(controller::run_partition_duties(
                quorum.clone(),
                settings,
                rx,
            )),
        ];
        self.stop = Some(stop);
    }

    /// Stops everything and waits for it.
    pub(crate) async fn stop(&mut self) {
        if let Some(t) = self.tls_reload.take() {
            t.abort();
        }
        if let Some(m) = self.membership.take() {
            m.stop();
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        let tasks = self
            .heartbeats
            .take()
            .into_iter()
            .chain(self.controller.drain(..));
        for task in tasks {
            let _ = task.await;
        }
    }
}

impl Server {
    /// Opens the broker's data and binds its listener.
    ///
    /// The future is boxed here, in this crate, so the whole server's async code (every API
    /// handler, the quorum, openraft) is compiled once, in `rill-broker`: an `async fn` body
    /// is compiled in each crate that polls its future, and each binary or test that started
    /// a server spent about 50 s of a release build compiling the broker again.
    ///
    /// # Errors
    /// Startup errors: config, data directory, bind.
    pub fn bind(config: BrokerConfig) -> BoxFuture<Result<Self>> {
        Box::pin(Self::open_and_bind(config))
    }

    /// [`Server::bind`]'s work.
    async fn open_and_bind(config: BrokerConfig) -> Result<Self> {
        crate::observe::init();
        // Certificates, JAAS users and token keys load before anything opens, so a listener
        // that cannot be served stops the start at once.
        let prepared = crate::security::prepare_listeners(&config)?;
        // Bearer tokens on the admin listener are checked by the first listener (the
        // inter-broker one first) that validates OAUTHBEARER tokens.
        let oauth = prepared
            .iter()
            .filter_map(|p| p.context.sasl.clone())
            .find(|s| s.mechanisms.iter().any(|m| m == "OAUTHBEARER"));
        let admin = crate::admin_http::AdminHttp::start_for(&config, oauth).await?;
        let props = crate::broker::identity(&config)?;
        let opened = open_metadata(&config, &props.cluster_id).await?;
        let mut cluster = ClusterTasks::default();
        let reload_every = config
            .value("ssl.reload.check.interval.ms")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(10_000);
        if let (Some(cell), true) = (&opened.controller_tls, reload_every > 0) {
            cluster.tls_reload = Some(tokio::spawn(
                crate::security::watch_controller_certificates(
                    cell.clone(),
                    Duration::from_millis(reload_every),
                ),
            ));
        }
        cluster.start_controller(&config, &opened);
        let membership = opened.client.as_ref().map(|client| {
            Arc::new(Membership::new(
                &config,
                client.clone(),
                opened.backend.clone(),
            ))
        });
        if let Some(m) = &membership {
            cluster.heartbeats = Some(tokio::spawn(m.clone().run()));
            cluster.membership = Some(m.clone());
        }
        let backend = opened.backend.clone();
        let opening =
            tokio::task::spawn_blocking(move || Broker::open(config, backend, membership))
                .await
                .map_err(|e| BrokerError::Internal(e.to_string()))
                .and_then(|r| r);
        let broker = match opening {
            Ok(b) => b,
            Err(e) => {
                cluster.stop().await;
                return Err(e);
            }
        };
        let mut listeners = Vec::new();
        for p in prepared {
            let addr = p.addr;
            match TcpListener::bind(addr).await {
                Ok(socket) => listeners.push(p.bound(socket)),
                Err(source) => {
                    cluster.stop().await;
                    return Err(BrokerError::Bind { addr, source });
                }
            }
        }
        if let (Some(a), Some(Ok(bound))) = (&admin, listeners.first().map(|l| l.local_addr())) {
            a.set_opened(broker.clone(), bound);
        }
        let net = Arc::new(NetShared::new(
            broker.config.socket_request_max_bytes as usize,
            broker.config.queued_max_request_bytes,
        ));
        Ok(Server {
            broker,
            net,
            listeners,
            admin,
            cluster,
        })
    }

    /// The admin HTTP listener's base URL (`https://127.0.0.1:9644` when it serves TLS), when
    /// it runs.
    pub fn admin_url(&self) -> Option<String> {
        self.admin.as_ref().map(|a| {
            let scheme = if a.is_tls() { "https" } else { "http" };
            format!("{scheme}://{}", a.local_addr())
        })
    }

    /// The admin HTTP listener's address, when it runs.
    pub fn admin_addr(&self) -> Option<std::net::SocketAddr> {
        self.admin.as_ref().map(|a| a.local_addr())
    }

    /// The address the inter-broker listener (the first client listener) actually bound
    /// (useful with port 0).
    ///
    /// # Errors
    /// The OS error, or no client listener.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        match self.listeners.first() {
            Some(l) => l.local_addr(),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no client listener",
            )),
        }
    }

    /// Every client listener's name and bound address.
    pub fn listener_addrs(&self) -> Vec<(String, std::net::SocketAddr)> {
        self.listeners
            .iter()
            .filter_map(|l| Some((l.context.name.clone(), l.local_addr().ok()?)))
            .collect()
    }

    /// Serves until `shutdown` becomes true, then stops cleanly. Boxed for the reason given
    /// at [`Server::bind`].
    pub fn run(self, shutdown: watch::Receiver<bool>) -> BoxFuture<()> {
        Box::pin(self.serve_until(shutdown))
    }

    /// [`Server::run`]'s work.
    async fn serve_until(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut tasks = JoinSet::new();
        tasks.spawn(crate::maintenance::run(
            self.broker.clone(),
            self.broker.config.retention_check_interval_ms,
            shutdown.clone(),
        ));
        let expire_check_ms = self
            .broker
            .config
            .value("offsets.retention.check.interval.ms")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(600_000);
        tasks.spawn(crate::coordinator::timer::run(
            self.broker.clone(),
            expire_check_ms,
            shutdown.clone(),
        ));
        tasks.spawn(crate::txn::timer::run(
            self.broker.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(crate::txn::markers::run(
            self.broker.clone(),
            shutdown.clone(),
        ));
        if self.broker.config.cluster.is_quorum() {
            tasks.spawn(crate::cluster::run_reconcile_loop(
                self.broker.clone(),
                shutdown.clone(),
            ));
            tasks.spawn(crate::replica::isr::run_isr_loop(
                self.broker.clone(),
                crate::replica::isr::IsrSettings {
                    node_id: self.broker.config.node_id,
                    lag_max_ms: self.broker.config.replica_lag_time_max_ms,
                },
                shutdown.clone(),
            ));
            self.broker
                .fetchers
                .update(&self.broker.replicas, &self.broker.image());
        }
        let cleaner = match crate::cleaner::CleanerService::start(
            self.broker.clone(),
            self.broker.config.cleaner.clone(),
            self.broker.cleaner.clone(),
        ) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::error!(error = %e, "the log cleaner could not start");
                None
            }
        };
        let handler = Arc::new(ApiHandler::new(self.broker.clone()));
        let mut accepting = JoinSet::new();
        let reload_every = self
            .broker
            .config
            .value("ssl.reload.check.interval.ms")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(10_000);
        let tls: Vec<_> = self
            .listeners
            .iter()
            .filter_map(|l| l.tls.clone())
            .collect();
        let sasl: Vec<_> = self
            .listeners
            .iter()
            .filter_map(|l| l.context.sasl.clone())
            .collect();
        if (!tls.is_empty() || !sasl.is_empty()) && reload_every > 0 {
            tasks.spawn(crate::security::watch_certificates(
                tls,
                sasl,
                Duration::from_millis(reload_every),
                shutdown.clone(),
            ));
        }
        for l in self.listeners.drain(..) {
            accepting.spawn(accept_loop(
                l,
                handler.clone(),
                self.net.clone(),
                shutdown.clone(),
            ));
        }
        let _ = shutdown.changed().await;
        if let Some(a) = &self.admin {
            a.set_stopping();
        }
        if let Some(m) = self.broker.membership.clone() {
            let fence = tokio::task::spawn_blocking(move || {
                m.controlled_shutdown(CONTROLLED_SHUTDOWN_WAIT);
            });
            let _ = fence.await;
        }
        // Each listener stopped accepting at once and lets its connections finish.
        while accepting.join_next().await.is_some() {}
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(10), drain)
            .await
            .is_err()
        {
            tracing::warn!("background tasks did not finish in 10 s");
        }
        self.broker.fetchers.shutdown();
        if let Some(c) = cleaner {
            // Aborts a pass in progress at its next I/O and joins the threads.
            let _ = tokio::task::spawn_blocking(move || c.shutdown()).await;
        }
        let broker = self.broker.clone();
        let _ = tokio::task::spawn_blocking(move || broker.flush_all()).await;
        if let Some(a) = self.admin.take() {
            a.stop().await;
        }
        self.cluster.stop().await;
        tracing::info!("shutdown complete");
    }
}

/// A node's metadata log and what comes with it.
pub(crate) struct OpenedMetadata {
    /// The log, as the broker and controller use it.
    pub(crate) backend: Arc<MetadataBackend>,
    /// The Raft quorum, on a controller.
    pub(crate) quorum: Option<Arc<RaftQuorum>>,
    /// The line to the active controller, for a broker in a cluster.
    pub(crate) client: Option<Arc<ControllerClient>>,
    /// The controller listener's TLS, when it is SSL (reloaded with the listeners').
    pub(crate) controller_tls: Option<Arc<crate::security::controller::ControllerTlsCell>>,
}

/// Opens the metadata log: without `controller.quorum.voters` the local log of a lone node;
/// on a controller the Raft quorum (serving peers and brokers on the controller listener);
/// on a broker-only node an observer fetching the committed log from the controllers.
///
/// # Errors
/// Bad voters, a node.id that is (not) a voter against its roles, bind or disk errors.
pub(crate) async fn open_metadata(
    config: &BrokerConfig,
    cluster_id: &str,
) -> Result<OpenedMetadata> {
    let dir = config.log_dir.join(crate::metadata::METADATA_DIR);
    std::fs::create_dir_all(&dir).map_err(|source| BrokerError::Io {
        op: "create metadata dir",
        path: dir.clone(),
        source,
    })?;
    let Some(voters) = &config.cluster.quorum_voters else {
        let store = tokio::task::spawn_blocking(move || MetadataStore::open_dir(&dir))
            .await
            .map_err(|e| BrokerError::Internal(e.to_string()))??;
        return Ok(OpenedMetadata {
            backend: Arc::new(MetadataBackend::Local(store)),
            quorum: None,
            client: None,
            controller_tls: None,
        });
    };
    let bad_voters = |reason: String| {
        BrokerError::Config(crate::config::ConfigError::InvalidValue {
            key: "controller.quorum.voters".into(),
            value: voters.clone(),
            reason,
        })
    };
    let voters = rill_quorum::parse_voters(voters).map_err(|e| bad_voters(e.to_string()))?;
    let me = config.node_id as u64;
    let roles = config.cluster.roles;
    if roles.controller != voters.contains_key(&me) {
        return Err(bad_voters(if roles.controller {
            format!("node.id {me} is a controller (process.roles) but not one of the voters")
        } else {
            format!("node.id {me} is one of the voters but process.roles has no controller")
        }));
    }
    let get = |k: &str| config.value(k).unwrap_or_default().to_string();
    // The controller listener's TLS (mutual): what the quorum serves and connects with.
    let controller_tls =
        crate::security::controller::quorum_tls(&config.listeners, &get)?.map(Arc::new);
    let tls = controller_tls.as_ref().map(|c| c.quorum_tls());
    if !roles.controller {
        let mut cfg = ObserverConfig::new(me, voters, cluster_id.to_string());
        cfg.tls = tls;
        let observer = QuorumObserver::start_tcp(cfg)
            .map_err(|e| BrokerError::Internal(format!("metadata observer: {e}")))?;
        let client = observer.client().clone();
        tracing::info!("following the metadata quorum as a broker-only node");
        return Ok(OpenedMetadata {
            backend: Arc::new(MetadataBackend::Observer(Arc::new(observer))),
            quorum: None,
            client: Some(client),
            controller_tls,
        });
    }
    let Some(listener) = &config.cluster.controller_listener else {
        return Err(bad_voters(
            "this controller has no CONTROLLER listener".into(),
        ));
    };
    let addr = listener.bind_addr()?;
    let tcp = TcpListener::bind(addr)
        .await
        .map_err(|source| BrokerError::Bind { addr, source })?;
    let ids: Vec<u64> = voters.keys().copied().collect();
    let transport = Arc::new(
        rill_quorum::network::tcp::TcpTransport::for_cluster(
            voters.clone(),
            cluster_id.to_string(),
        )
        .with_tls(tls.as_ref()),
    );
    let secured = tls.is_some();
    let mut qc = rill_quorum::QuorumConfig::new(me, voters, dir.join("raft"));
    qc.cluster_id = cluster_id.to_string();
    qc.tls = tls;
    let quorum = rill_quorum::RaftQuorum::start_tcp(qc, Some(tcp))
        .await
        .map_err(|e| BrokerError::Internal(format!("metadata quorum: {e}")))?;
    tracing::info!(%addr, tls = secured, "metadata quorum started");
    let quorum = Arc::new(quorum);
    // The broker side of a combined node heartbeats over its own connections.
    let client = roles
        .broker
        .then(|| Arc::new(ControllerClient::new(me, ids, transport)));
    Ok(OpenedMetadata {
        backend: Arc::new(MetadataBackend::Quorum(quorum.clone())),
        quorum: Some(quorum),
        client,
        controller_tls,
    })
}
