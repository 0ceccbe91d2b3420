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
//! Security ([`settings`]): when the Kafka side is secured the listener serves HTTPS
//! ([`tls_listener`]), authenticates every call but the open ones ([`auth`],
//! [`credentials`]) and authorizes each with the ACLs of the Kafka API it mirrors
//! ([`access`]) before acting: the admin API's own Kafka client is the broker's privileged
//! identity, so nothing is left to the Kafka side to refuse.
//!
//! Thread-safety: handlers share an `Arc<AppState>`; the server is one tokio task plus an
//! upkeep task (histogram upkeep, throughput samples) and, on HTTPS, the accept task and a
//! certificate reload task, all stopped by [`AdminHttp::stop`] or when the handle is dropped.

pub mod access;
pub mod acls;
pub mod auth;
pub mod cluster;
pub mod console;
pub mod credentials;
pub mod error;
pub mod groups;
pub mod health;
pub mod messages;
pub mod offsets;
pub mod quotas;
pub mod settings;
pub mod state;
pub mod tls_listener;
pub mod topics;
pub mod transactions;
pub mod users;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::serve::Listener;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::broker::Broker;
use crate::config::{parse_admin_listen, BrokerConfig, ADMIN_LISTEN_DEFAULT, ADMIN_LISTEN_KEY};
use crate::config_value::invalid;
use crate::error::{BrokerError, Result};
use crate::security::sasl::SaslListener;
use crate::security::tls::TlsAcceptorCell;
use auth::Peer;
use credentials::Authenticator;
use settings::{AdminSecurity, Authentication};
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
        .route(
            "/api/v1/acls",
            get(acls::list).post(acls::create).delete(acls::delete),
        )
        .route("/api/v1/users", get(users::list).post(users::upsert))
        .route("/api/v1/users/{name}", axum::routing::delete(users::delete))
        .route("/api/v1/whoami", get(auth::whoami))
        .route("/api/v1/quotas", get(quotas::list).post(quotas::alter))
        .fallback(|| async { error::ApiError::not_found("no such endpoint") })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
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
    /// The certificate reload task (HTTPS).
    reload: Option<JoinHandle<()>>,
    /// Whether it serves HTTPS.
    tls: bool,
}

impl AdminHttp {
    /// Starts the admin listener configured by `admin.listen`, if any, secured as the
    /// `admin.*` keys say ([`settings`]); bearer tokens are checked by `oauth`'s validator
    /// (a Kafka listener enabling OAUTHBEARER). A bind failure is a startup error, except on
    /// the default address when it was not configured explicitly (another node on this host
    /// has it): then the node runs without one and says so.
    ///
    /// # Errors
    /// A bad `admin.listen` or `admin.*` setting, certificates that do not load, or a bind
    /// failure of an explicitly configured address.
    pub async fn start_for(
        config: &BrokerConfig,
        oauth: Option<Arc<SaslListener>>,
    ) -> Result<Option<AdminHttp>> {
        let value = config
            .value(ADMIN_LISTEN_KEY)
            .unwrap_or(ADMIN_LISTEN_DEFAULT);
        let Some(addr) = parse_admin_listen(value)? else {
            return Ok(None);
        };
        let get = |k: &str| config.value(k).unwrap_or_default().to_string();
        let security = AdminSecurity::from_config(&config.listeners, &get)?;
        let tls = match &security.tls {
            Some(t) => Some(Arc::new(TlsAcceptorCell::load(t.clone()).map_err(
                |reason| BrokerError::Config(invalid("admin.ssl.keystore.location", "", reason)),
            )?)),
            None => None,
        };
        let reload_every = get("ssl.reload.check.interval.ms")
            .parse::<u64>()
            .unwrap_or(10_000);
        describe_security(&security, oauth.is_some());
        let auth = Authenticator::new(security, oauth);
        match Self::start_secured(addr, auth, tls, reload_every).await {
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

    /// Binds `addr` and serves plain HTTP without authentication.
    ///
    /// # Errors
    /// The bind error.
    pub async fn start(addr: SocketAddr) -> std::io::Result<AdminHttp> {
        Self::start_secured(addr, Authenticator::default(), None, 0).await
    }

    /// Binds `addr` and serves with `auth`, over TLS with `tls` (its certificate files
    /// checked for changes every `reload_every_ms`, 0: never).
    ///
    /// # Errors
    /// The bind error.
    pub async fn start_secured(
        addr: SocketAddr,
        auth: Authenticator,
        tls: Option<Arc<TlsAcceptorCell>>,
        reload_every_ms: u64,
    ) -> std::io::Result<AdminHttp> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(AppState::with_auth(auth));
        let (stop, stopped) = watch::channel(false);
        let app = router(state.clone());
        let is_tls = tls.is_some();
        let server = match &tls {
            Some(cell) => serve(
                tls_listener::TlsListener::new(listener, cell.clone())?,
                app,
                stopped.clone(),
            ),
            None => serve(listener, app, stopped.clone()),
        };
        let reload = match tls {
            Some(cell) if reload_every_ms > 0 => {
                Some(tokio::spawn(crate::security::watch_certificates(
                    vec![cell],
                    Vec::new(),
                    Duration::from_millis(reload_every_ms),
                    stopped.clone(),
                )))
            }
            _ => None,
        };
        let upkeep = tokio::spawn(upkeep(state.clone(), stopped));
        Ok(AdminHttp {
            addr,
            state,
            stop,
            server: Some(server),
            upkeep: Some(upkeep),
            reload,
            tls: is_tls,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether it serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls
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
        if let Some(reload) = self.reload.take() {
            let _ = reload.await;
        }
    }
}

impl Drop for AdminHttp {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for task in [self.server.take(), self.upkeep.take(), self.reload.take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
    }
}

/// Serves `app` on `listener` until `stopped` turns true (in-flight requests finish).
fn serve<L>(listener: L, app: Router, mut until: watch::Receiver<bool>) -> JoinHandle<()>
where
    L: Listener<Addr = SocketAddr>,
    for<'a> Peer: axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = until.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app.into_make_service_with_connect_info::<Peer>())
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "admin HTTP server failed");
        }
    })
}

/// Logs how the admin listener is secured, and warns when security is on and it is not.
fn describe_security(s: &AdminSecurity, bearer: bool) {
    let authentication = s.authentication == Authentication::Required;
    tracing::info!(
        tls = s.tls.is_some(),
        certificate_of = s.borrowed_from.as_deref().unwrap_or("admin.ssl.keystore"),
        authentication,
        bearer_tokens = bearer && authentication,
        health_open = s.health_open,
        metrics_open = s.metrics_open,
        "admin HTTP listener security"
    );
    if s.security_on && !authentication {
        tracing::warn!("the Kafka listeners are secured but admin.authentication=none: the admin API serves anyone as User:ANONYMOUS");
    }
    if s.security_on && s.tls.is_none() {
        tracing::warn!("security is on but the admin listener serves plain HTTP (admin.ssl.enabled=false, or no Kafka listener uses TLS): admin credentials and data cross the network in clear; set admin.ssl.keystore.location to serve HTTPS");
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
