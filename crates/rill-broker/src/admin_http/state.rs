//! What every admin HTTP handler shares: the broker (once it is open), a Kafka-protocol
//! client for the parts of the cluster that live on other nodes, and the throughput history.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rill_client::{Client, ClientConfig};

use super::error::{ApiError, ApiResult};
use crate::broker::Broker;
use crate::observe::throughput::History;

/// How long one request of the admin API's Kafka client may take.
const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The broker once it is open, and where its Kafka listener is.
#[derive(Debug)]
pub struct Opened {
    /// The broker.
    pub broker: Arc<Broker>,
    /// The bound Kafka listener (the client's bootstrap address).
    pub kafka_addr: SocketAddr,
}

/// Shared state of the admin HTTP server.
#[derive(Debug, Default)]
pub struct AppState {
    /// Set when the broker is open and its Kafka listener bound; until then the node is
    /// live but not ready.
    opened: OnceLock<Opened>,
    /// Set when shutdown begins: not ready any more.
    stopping: AtomicBool,
    /// A client of this cluster, connected on first use (reconnected after a failure).
    client: tokio::sync::Mutex<Option<Client>>,
    /// Throughput samples for the console's chart.
    pub history: History,
    /// Authentication settings and state.
    pub auth: super::credentials::Authenticator,
}

impl AppState {
    /// A state authenticating with `auth`.
    pub fn with_auth(auth: super::credentials::Authenticator) -> Self {
        AppState {
            auth,
            ..AppState::default()
        }
    }

    /// Records that the broker is open (the first call wins).
    pub fn set_opened(&self, broker: Arc<Broker>, kafka_addr: SocketAddr) {
        let _ = self.opened.set(Opened { broker, kafka_addr });
    }

    /// The broker, once open.
    pub fn opened(&self) -> Option<&Opened> {
        self.opened.get()
    }

    /// The broker, or 503 while the node is starting.
    ///
    /// # Errors
    /// 503 before the broker is open.
    pub fn broker(&self) -> ApiResult<Arc<Broker>> {
        self.opened.get().map(|o| o.broker.clone()).ok_or_else(|| {
            ApiError::unavailable("the node is starting: metadata and partitions are loading")
        })
    }

    /// Marks the start of shutdown.
    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// A Kafka-protocol client of this cluster, bootstrapped from this node's own listener.
    ///
    /// # Errors
    /// 503 before the broker is open; 502 when the listener does not answer.
    pub async fn client(&self) -> ApiResult<Client> {
        let opened = self
            .opened
            .get()
            .ok_or_else(|| ApiError::unavailable("the node is starting"))?;
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let mut addr = opened.kafka_addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let mut config = ClientConfig::new(&addr.to_string());
        config.client_id = "rill-admin-http".into();
        config.request_timeout = CLIENT_REQUEST_TIMEOUT;
        config.retries = 3;
        config.security = opened.broker.inter_broker_security.clone();
        let client = Client::connect(config).await?;
        *slot = Some(client.clone());
        Ok(client)
    }
}
