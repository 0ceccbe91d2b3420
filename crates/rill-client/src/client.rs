//! [`Client`]: bootstrap, per-broker connections, the metadata cache, leader lookup and the
//! retry loop every feature uses.
//!
//! Invariants: the metadata cache only grows by whole Metadata answers (a topic's entry is
//! replaced, never patched); a dead connection is dropped from the pool and reopened on next
//! use. Retries back off exponentially (`retry_backoff` doubling, capped at 1 s) and refresh
//! the metadata before each new attempt, so leader moves are followed.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use kafka_protocol::messages::{ApiKey, MetadataRequest};

use crate::connection::Connection;
use crate::error::{ClientError, Result};
use crate::metadata::{self, ClusterMetadata, PartitionInfo, TopicInfo};
use crate::security::ClientSecurity;

/// How a [`Client`] connects and retries.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Bootstrap `host:port` addresses.
    pub bootstrap: Vec<String>,
    /// Client id sent in request headers.
    pub client_id: String,
    /// How long one request may take.
    pub request_timeout: Duration,
    /// Attempts after the first on retriable errors.
    pub retries: u32,
    /// First backoff between attempts (doubles, capped at 1 s).
    pub retry_backoff: Duration,
    /// TLS and SASL for every connection (bootstrap and per-broker); plaintext by default.
    pub security: ClientSecurity,
}

impl ClientConfig {
    /// Config for a comma-separated bootstrap list with defaults for the rest.
    pub fn new(bootstrap: &str) -> Self {
        ClientConfig {
            bootstrap: bootstrap
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            client_id: "rill".into(),
            request_timeout: Duration::from_secs(30),
            retries: 10,
            retry_backoff: Duration::from_millis(100),
            security: ClientSecurity::plaintext(),
        }
    }
}

/// Shared state behind [`Client`].
struct Inner {
    /// Settings.
    config: ClientConfig,
    /// Open connections by `host:port`.
    conns: tokio::sync::Mutex<HashMap<String, Arc<Connection>>>,
    /// The cached cluster view.
    metadata: RwLock<ClusterMetadata>,
}

/// A Kafka-protocol client: cheap to clone, shared between tasks.
#[derive(Clone)]
pub struct Client {
    /// Shared state.
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("bootstrap", &self.inner.config.bootstrap)
            .finish()
    }
}

impl Client {
    /// Connects to the first reachable bootstrap broker and loads the broker list.
    ///
    /// # Errors
    /// [`ClientError::Connect`] for the last bootstrap address when none answers.
    pub async fn connect(config: ClientConfig) -> Result<Client> {
        if config.bootstrap.is_empty() {
            return Err(ClientError::Invalid(
                "no bootstrap server given (--bootstrap-server HOST:PORT)".into(),
            ));
        }
        let client = Client {
            inner: Arc::new(Inner {
                config,
                conns: tokio::sync::Mutex::new(HashMap::new()),
                metadata: RwLock::new(ClusterMetadata::default()),
            }),
        };
        client.refresh_metadata(Some(&[])).await?;
        Ok(client)
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// A connection to `addr`, opened if needed.
    ///
    /// # Errors
    /// [`ClientError::Connect`].
    pub async fn connection_to_addr(&self, addr: &str) -> Result<Arc<Connection>> {
        let mut conns = self.inner.conns.lock().await;
        if let Some(c) = conns.get(addr) {
            if !c.is_closed() {
                return Ok(c.clone());
            }
        }
        let c = Connection::connect_with(
            addr,
            &self.inner.config.client_id,
            self.inner.config.request_timeout,
            &self.inner.config.security,
        )
        .await?;
        conns.insert(addr.to_string(), c.clone());
        Ok(c)
    }

    /// A connection to broker `node_id`.
    ///
    /// # Errors
    /// Unknown node, or [`ClientError::Connect`].
    pub async fn connection_to(&self, node_id: i32) -> Result<Arc<Connection>> {
        let addr = self.snapshot().brokers.get(&node_id).map(|b| b.addr());
        match addr {
            Some(a) => self.connection_to_addr(&a).await,
            None => Err(ClientError::Kafka {
                context: format!("no address known for broker {node_id}"),
                code: 5,
                message: None,
            }),
        }
    }

    /// A connection to any broker: an open one, else known brokers, else the bootstrap list.
    ///
    /// # Errors
    /// The last connect error when none answers.
    pub async fn any_connection(&self) -> Result<Arc<Connection>> {
        {
            let conns = self.inner.conns.lock().await;
            if let Some(c) = conns.values().find(|c| !c.is_closed()) {
                return Ok(c.clone());
            }
        }
        let mut addrs: Vec<String> = self.snapshot().brokers.values().map(|b| b.addr()).collect();
        addrs.extend(self.inner.config.bootstrap.iter().cloned());
        let mut last = None;
        for a in addrs {
            match self.connection_to_addr(&a).await {
                Ok(c) => return Ok(c),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Invalid("no broker address known".into())))
    }

    /// A connection to the controller when known (admin requests), else any broker.
    ///
    /// # Errors
    /// As [`Client::any_connection`].
    pub async fn controller_connection(&self) -> Result<Arc<Connection>> {
        let controller = self.snapshot().controller_id;
        if controller >= 0 {
            if let Ok(c) = self.connection_to(controller).await {
                return Ok(c);
            }
        }
        self.any_connection().await
    }

    /// A copy of the cached metadata.
    pub fn snapshot(&self) -> ClusterMetadata {
        self.inner
            .metadata
            .read()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// Asks a broker for metadata (`None`: every topic; `Some(&[])`: brokers only) and merges
    /// the answer into the cache.
    ///
    /// # Errors
    /// Connection and protocol errors.
    pub async fn refresh_metadata(&self, topics: Option<&[String]>) -> Result<ClusterMetadata> {
        let conn = self.any_connection().await?;
        let version = conn.version(ApiKey::Metadata)?;
        let req: MetadataRequest = metadata::request(topics, version);
        let resp = match conn.call(&req, version).await {
            Ok(r) => r,
            Err(e) => {
                // Drop a dead connection so the next attempt picks another broker.
                if conn.is_closed() {
                    self.inner.conns.lock().await.retain(|_, c| !c.is_closed());
                }
                return Err(e);
            }
        };
        let fresh = metadata::from_response(&resp);
        if let Ok(mut cache) = self.inner.metadata.write() {
            cache.cluster_id = fresh.cluster_id.clone();
            cache.controller_id = fresh.controller_id;
            if !fresh.brokers.is_empty() {
                cache.brokers = fresh.brokers.clone();
            }
            if topics.is_none() {
                cache.topics.clear();
            }
            for (name, t) in &fresh.topics {
                if t.error_code == 3 {
                    cache.topics.remove(name);
                } else {
                    cache.topics.insert(name.clone(), t.clone());
                }
            }
        }
        Ok(fresh)
    }

    /// A topic's metadata, from the cache or (on a miss or `refresh`) from a broker.
    ///
    /// # Errors
    /// [`ClientError::UnknownTopic`], or the topic's error.
    pub async fn topic(&self, name: &str, refresh: bool) -> Result<TopicInfo> {
        if !refresh {
            if let Some(t) = self.snapshot().topics.get(name) {
                if t.error_code == 0 && !t.partitions.is_empty() {
                    return Ok(t.clone());
                }
            }
        }
        let fresh = self.refresh_metadata(Some(&[name.to_string()])).await?;
        let t = fresh
            .topics
            .get(name)
            .cloned()
            .ok_or_else(|| ClientError::UnknownTopic { topic: name.into() })?;
        if t.error_code == 3 {
            return Err(ClientError::UnknownTopic { topic: name.into() });
        }
        ClientError::check(
            t.error_code,
            || format!("metadata for topic '{name}'"),
            None,
        )?;
        Ok(t)
    }

    /// The placement of one partition.
    ///
    /// # Errors
    /// Unknown topic or partition.
    pub async fn partition(
        &self,
        topic: &str,
        partition: i32,
        refresh: bool,
    ) -> Result<PartitionInfo> {
        let t = self.topic(topic, refresh).await?;
        t.partitions
            .iter()
            .find(|p| p.partition == partition)
            .cloned()
            .ok_or(ClientError::UnknownPartition {
                topic: topic.into(),
                partition,
                count: t.partitions.len(),
            })
    }

    /// The leader of a partition (`LEADER_NOT_AVAILABLE` when it has none).
    ///
    /// # Errors
    /// Unknown topic or partition; no leader.
    pub async fn leader(&self, topic: &str, partition: i32, refresh: bool) -> Result<i32> {
        let p = self.partition(topic, partition, refresh).await?;
        if p.leader < 0 {
            return Err(ClientError::Kafka {
                context: format!("partition {topic}-{partition}"),
                code: 5,
                message: Some("no leader".into()),
            });
        }
        Ok(p.leader)
    }

    /// Runs `attempt` until it succeeds, fails with a non-retriable error, or the retries
    /// run out; refreshes the metadata and backs off between attempts. `attempt` gets the
    /// attempt number (0 first).
    ///
    /// # Errors
    /// The last error.
    pub async fn retry<T, F, Fut>(&self, mut attempt: F) -> Result<T>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut backoff = self.inner.config.retry_backoff;
        let mut n = 0;
        loop {
            match attempt(n).await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_retriable() && n < self.inner.config.retries => {
                    tracing::debug!(error = %e, attempt = n, "retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    n += 1;
                    let _ = self.refresh_metadata(Some(&[])).await;
                    let topics: Vec<String> = self.snapshot().topics.keys().cloned().collect();
                    if !topics.is_empty() {
                        let _ = self.refresh_metadata(Some(&topics)).await;
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}
