//! The admin HTTP listener of every node (`admin.listen`, default `127.0.0.1:9644`):
//! `/metrics` (Prometheus text), `/health/live` and `/health/ready`, the JSON admin API under
//! `/api/v1`, and the embedded web console at `/`.
//!
//! The listener starts before the broker opens its data, so orchestrators see the node live
//! (and not ready) while it recovers; [`AdminHttp::set_opened`] hands it the broker when the
//! Kafka listener is bound. Admin changes go through the broker's admin service and reads
//! through its own read path; what lives on other nodes is asked of them over the Kafka
//! protocol with `rill-client`, so every node's console shows the whole cluster.
//!
//! Thread-safety: handlers share an `Arc<AppState>`; the server is one tokio task plus an
//! upkeep task (histogram upkeep, throughput samples), both stopped by [`AdminHttp::stop`]
//! or when the handle is dropped.

pub mod cluster;
pub mod console;
pub mod error;
pub mod groups;
pub mod health;
pub mod messages;
pub mod offsets;
pub mod state;
pub mod topics;
pub mod transactions;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::broker::Broker;
use crate::config::{parse_admin_listen, BrokerConfig, ADMIN_LISTEN_DEFAULT, ADMIN_LISTEN_KEY};
use crate::error::{BrokerError, Result};
use state::AppState;

/// How often throughput is sampled (and histogram upkeep runs).
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// The API and console routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(console::index))
        .route("/console", get(console::index))
        .route("/console/app.js", get(console::script))
        .route("/console/app.css", get(console::style))
        .route("/metrics", get(health::metrics))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/api/v1/cluster", get(cluster::cluster))
        .route("/api/v1/brokers", get(cluster::brokers))
        .route("/api/v1/throughput", get(cluster::throughput))
        .route("/api/v1/topics", get(topics::list).post(topics::create))
        .route(
            "/api/v1/topics/{name}",
            get(topics::describe).delete(topics::delete),
        )
        .route("/api/v1/topics/{name}/messages", get(messages::browse))
        .route("/api/v1/partitions", get(topics::partitions))
        .route("/api/v1/groups", get(groups::list))
        .route("/api/v1/transactions", get(transactions::list))
        .route("/api/v1/groups/{id}", get(groups::describe))
        .fallback(|| async { error::ApiError::not_found("no such endpoint") })
        .with_state(state)
}

/// A running admin HTTP server.
#[derive(Debug)]
pub struct AdminHttp {
    /// The bound address.
    addr: SocketAddr,
    /// Shared with the handlers.
    state: Arc<AppState>,
    /// Tells both tasks to stop.
    stop: watch::Sender<bool>,
    /// The HTTP server task.
    server: Option<JoinHandle<()>>,
    /// The upkeep task.
    upkeep: Option<JoinHandle<()>>,
}

impl AdminHttp {
    /// Starts the admin listener configured by `admin.listen`, if any. A bind failure is a
    /// startup error, except on the default address when it was not configured explicitly
    /// (another node on this host has it): then the node runs without one and says so.
    ///
    /// # Errors
    /// A bad `admin.listen`, or a bind failure of an explicitly configured address.
    pub async fn start_for(config: &BrokerConfig) -> Result<Option<AdminHttp>> {
        let value = config
            .value(ADMIN_LISTEN_KEY)
            .unwrap_or(ADMIN_LISTEN_DEFAULT);
        let Some(addr) = parse_admin_listen(value)? else {
            return Ok(None);
        };
        match Self::start(addr).await {
            Ok(a) => {
                tracing::info!(addr = %a.addr, "admin HTTP listener: console, /metrics, /health, /api/v1");
                Ok(Some(a))
            }
            Err(source) if !config.explicit.contains_key(ADMIN_LISTEN_KEY) => {
                tracing::warn!(%addr, error = %source, "admin HTTP listener not started: its default address is taken; set admin.listen (or --admin-listen) to another address");
                Ok(None)
            }
            Err(source) => Err(BrokerError::Bind { addr, source }),
        }
    }

    /// Binds `addr` and starts serving.
    ///
    /// # Errors
    /// The bind error.
    pub async fn start(addr: SocketAddr) -> std::io::Result<AdminHttp> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(AppState::default());
        let (stop, stopped) = watch::channel(false);
        let app = router(state.clone());
        let mut until = stopped.clone();
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = until.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "admin HTTP server failed");
            }
        });
        let upkeep = tokio::spawn(upkeep(state.clone(), stopped));
        Ok(AdminHttp {
            addr,
            state,
            stop,
            server: Some(server),
            upkeep: Some(upkeep),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The broker is open and its Kafka listener bound at `kafka_addr`: the API answers.
    pub fn set_opened(&self, broker: Arc<Broker>, kafka_addr: SocketAddr) {
        self.state.set_opened(broker, kafka_addr);
    }

    /// Shutdown began: readiness turns false (the listener keeps answering).
    pub fn set_stopping(&self) {
        self.state.set_stopping();
    }

    /// Stops serving (in-flight requests finish, for up to 5 s).
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(server) = self.server.take() {
            if tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .is_err()
            {
                tracing::warn!("admin HTTP requests did not finish in 5 s");
            }
        }
        if let Some(upkeep) = self.upkeep.take() {
            let _ = upkeep.await;
        }
    }
}

impl Drop for AdminHttp {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for task in [self.server.take(), self.upkeep.take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
    }
}

/// Every [`SAMPLE_INTERVAL`]: fold histogram samples into buckets and sample throughput.
async fn upkeep(state: Arc<AppState>, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
    loop {
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => return,
            _ = tick.tick() => {}
        }
        crate::observe::recorder::upkeep();
        let totals = crate::observe::throughput::totals();
        let cluster_end =
            tokio::time::timeout(Duration::from_secs(2), offsets::cluster_end_total(&state))
                .await
                .ok()
                .flatten();
        state
            .history
            .sample(crate::clock::now_ms(), totals, cluster_end);
    }
}
