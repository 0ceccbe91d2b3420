//! The broker's shared state: configuration, identity, metadata, hosted partitions.
//!
//! One `Arc<Broker>` is shared by every connection task. Metadata changes go through
//! [`Broker::commit`], which persists the records and then makes the hosted partitions match
//! the new image, the same path a Raft-replicated metadata log will take later.

use std::sync::Arc;

use rill_meta::{MetadataImage, MetadataRecord};

use crate::config::BrokerConfig;
use crate::coordinator::{group_config, GroupService};
use crate::error::{BrokerError, Result};
use crate::metadata::{load_or_create_meta_properties, MetaProperties, MetadataBackend};
use crate::producer_ids::ProducerIdAllocator;
use crate::replica::ReplicaManager;

/// Creates the data directory and reads (or writes) `meta.properties`. A lone node makes up
/// its cluster id; a quorum member takes `cluster.id` from its config on first start.
pub(crate) fn identity(config: &BrokerConfig) -> Result<MetaProperties> {
    let dir = &config.log_dir;
    std::fs::create_dir_all(dir).map_err(|source| BrokerError::Io {
        op: "create data dir",
        path: dir.clone(),
        source,
    })?;
    let fresh = !dir.join("meta.properties").exists();
    if fresh && config.cluster.is_quorum() {
        let Some(id) = &config.cluster.cluster_id else {
            return Err(BrokerError::BadDataDir(format!(
                "{} is not formatted: a node of a multi-node cluster needs the cluster's id; \
                 run `rill format --cluster-id <id> --config <file>` first (`rill format \
                 --random-uuid` makes an id), or set cluster.id on first start",
                dir.display()
            )));
        };
        crate::metadata::validate_cluster_id(id).map_err(|reason| {
            BrokerError::Config(crate::config::ConfigError::InvalidValue {
                key: "cluster.id".into(),
                value: id.clone(),
                reason,
            })
        })?;
        crate::metadata::write_meta_properties(dir, id, config.node_id)?;
    }
    let props = load_or_create_meta_properties(dir, config.node_id)?;
    if let Some(id) = &config.cluster.cluster_id {
        if *id != props.cluster_id {
            return Err(BrokerError::BadDataDir(format!(
                "{} belongs to cluster {}, not cluster.id={id}",
                dir.display(),
                props.cluster_id
            )));
        }
    }
    Ok(props)
}

/// How long a cluster node waits at start to be registered and unfenced.
const REGISTER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Everything a request handler needs.
#[derive(Debug)]
pub struct Broker {
    /// The broker's configuration.
    pub config: BrokerConfig,
    /// The cluster id from `meta.properties`.
    pub cluster_id: String,
    /// The metadata image and its log.
    pub metadata: Arc<MetadataBackend>,
    /// Registration and heartbeats (a node of a multi-node cluster).
    pub membership: Option<Arc<crate::membership::Membership>>,
    /// How this broker connects to the others (the inter-broker listener's security).
    pub inter_broker_security: rill_client::security::ClientSecurity,
    /// Hosted partitions.
    pub replicas: ReplicaManager,
    /// Replica fetchers: one per leader this broker follows partitions of.
    pub fetchers: crate::replica::fetcher::FetcherManager,
    /// InitProducerId's id source.
    pub producer_ids: ProducerIdAllocator,
    /// The group coordinator (consumer groups, committed offsets).
    pub groups: GroupService,
    /// The transaction coordinator (transactional ids, `__transaction_state`).
    pub txns: crate::txn::TxnService,
    /// Serializes reconciliation so partitions always follow the newest image, never an
    /// older one that a slower concurrent commit still holds.
    reconcile_lock: std::sync::Mutex<()>,
    /// Set once shutdown begins: the node must not unfence itself any more.
    pub stopping: std::sync::atomic::AtomicBool,
    /// Logs and counts leader and ISR changes between the images applied here.
    pub observer: crate::observe::ImageObserver,
    /// The log cleaner's figures (written by its threads, shown at `/metrics`).
    pub cleaner: Arc<crate::cleaner::CleanerMetrics>,
    /// The authorizer, when `authorizer.class.name` sets one.
    pub authz: Option<Arc<crate::authz::Authz>>,
    /// Client quotas: the table of the image's quotas and the usage sensors.
    pub quotas: crate::quota::ClientQuotas,
}

impl Broker {
    /// Opens a lone node over its local metadata log (see [`Broker::open`]). Blocking.
    ///
    /// # Errors
    /// As [`Broker::open`].
    pub fn open_local(config: BrokerConfig) -> Result<Arc<Self>> {
        let store = crate::metadata::MetadataStore::open(&config.log_dir)?;
        Self::open(config, Arc::new(MetadataBackend::Local(store)), None)
    }

    /// Opens the data directory over the given metadata log: identity, cluster membership
    /// (in a cluster: waits until the active controller registered and unfenced this
    /// incarnation, whose heartbeats `membership` must already be sending), and every hosted
    /// partition's log (running recovery). Blocking.
    ///
    /// # Errors
    /// A data directory of another node or cluster, I/O errors, unrecoverable storage errors,
    /// no active controller unfencing this broker within a minute.
    pub fn open(
        config: BrokerConfig,
        metadata: Arc<MetadataBackend>,
        membership: Option<Arc<crate::membership::Membership>>,
    ) -> Result<Arc<Self>> {
        let dir = config.log_dir.clone();
        let props = identity(&config)?;
        // Partitions deleted just before a crash may have left their renamed directories.
        for trashed in rill_log::trash::trashed_dirs(&dir)? {
            tracing::info!(dir = %trashed.display(), "deleting a deleted partition's directory");
            crate::replica::delete_dir_later(trashed);
        }
        metadata.catch_up(std::time::Duration::from_secs(120))?;
        let inter_broker = crate::security::inter_broker_client_security(&config)?;
        let broker = Broker {
            cluster_id: props.cluster_id.clone(),
            replicas: ReplicaManager::new(&dir, &config),
            fetchers: crate::replica::fetcher::FetcherManager::new(
                crate::replica::fetcher::FetcherIdentity {
                    node_id: config.node_id,
                    config: config.fetcher,
                    security: inter_broker.clone(),
                },
            ),
            producer_ids: ProducerIdAllocator::default(),
            groups: GroupService::new(group_config(&config)?)
                .with_compression(crate::coordinator::offsets_compression(&config)?),
            txns: crate::txn::TxnService::new(crate::txn::txn_config(&config)?)
                .with_verification(crate::config_value::parse_bool(
                    "transaction.partition.verification.enable",
                    config
                        .value("transaction.partition.verification.enable")
                        .unwrap_or("true"),
                )?)
                .with_peer_security(inter_broker.clone()),
            inter_broker_security: inter_broker,
            authz: crate::authz::Authz::from_config(&|k: &str| {
                config.value(k).unwrap_or_default().to_string()
            })?
            .map(Arc::new),
            quotas: crate::quota::ClientQuotas::from_config(&|k: &str| {
                config.value(k).unwrap_or_default().to_string()
            })?,
            reconcile_lock: std::sync::Mutex::new(()),
            stopping: std::sync::atomic::AtomicBool::new(false),
            observer: crate::observe::ImageObserver::new(config.node_id),
            cleaner: Arc::default(),
            metadata,
            membership,
            config,
        };
        match broker.metadata.image().cluster_id.clone() {
            None => {
                // The node that creates the cluster in the log also proposes what `rill
                // format` left for the first start (SCRAM users), in the same batch.
                let mut batch = vec![MetadataRecord::ClusterCreated {
                    cluster_id: props.cluster_id,
                }];
                batch.extend(crate::metadata::bootstrap::bootstrap_records(&dir)?);
                broker.commit(batch)?
            }
            Some(id) if id != props.cluster_id => {
                return Err(BrokerError::BadDataDir(format!(
                    "the metadata log belongs to cluster {id} but this node's meta.properties says {}; \
                     a node cannot join another cluster with its data",
                    props.cluster_id
                )))
            }
            Some(_) => {}
        }
        if let Some(m) = &broker.membership {
            m.wait_unfenced(REGISTER_TIMEOUT)?;
        }
        broker.reconcile()?;
        crate::admin::ensure_offsets_topic(&broker, broker.groups.offsets_partitions())?;
        broker.groups.sync_ownership(&broker.replicas)?;
        broker.txns.sync_ownership(&broker.replicas)?;
        Ok(Arc::new(broker))
    }

    /// The current metadata image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.metadata.image()
    }

    /// Persists `records` as one metadata change and brings hosted partitions in line.
    /// Blocking: call from a blocking context.
    ///
    /// # Errors
    /// Records that contradict the image, I/O errors.
    pub fn commit(&self, records: Vec<MetadataRecord>) -> Result<()> {
        self.metadata.commit(records)?;
        self.reconcile()
    }

    /// Brings hosted partitions in line with the newest image. Blocking.
    ///
    /// # Errors
    /// Storage errors opening or deleting partitions.
    pub fn reconcile(&self) -> Result<()> {
        let _guard = self
            .reconcile_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let image = self.metadata.image();
        self.observer.observe(&image);
        self.replicas.reconcile(&image, &self.config)?;
        self.groups.observe_image(&image);
        self.groups.sync_ownership(&self.replicas)?;
        self.txns.sync_ownership(&self.replicas)
    }

    /// Brokers clients may use: (id, host, port, rack) of every unfenced registered broker,
    /// or this node alone on a single node.
    pub fn live_brokers(&self) -> Vec<(i32, String, u16, Option<String>)> {
        let image = self.image();
        let live: Vec<_> = image
            .brokers()
            .filter(|b| !b.fenced)
            .map(|b| (b.broker_id, b.host.clone(), b.port, b.rack.clone()))
            .collect();
        if live.is_empty() && !self.config.cluster.is_quorum() {
            let adv = &self.config.advertised_listener;
            return vec![(self.config.node_id, adv.host.clone(), adv.port, None)];
        }
        live
    }

    /// Brokers clients on listener `listener` may use: (id, host, port, rack) of every
    /// unfenced registered broker with that listener (a broker without it is left out, as
    /// Kafka does), or this node alone on a single node.
    pub fn live_brokers_on(&self, listener: &str) -> Vec<(i32, String, u16, Option<String>)> {
        let image = self.image();
        let live: Vec<_> = image
            .brokers()
            .filter(|b| !b.fenced)
            .filter_map(|b| {
                let (host, port) = b.endpoint(listener)?;
                Some((b.broker_id, host.to_string(), port, b.rack.clone()))
            })
            .collect();
        if live.is_empty() && !self.config.cluster.is_quorum() {
            let adv = self
                .config
                .listeners
                .get(listener)
                .map_or(&self.config.advertised_listener, |l| &l.advertised);
            return vec![(self.config.node_id, adv.host.clone(), adv.port, None)];
        }
        live
    }

    /// The active controller (the metadata quorum's leader) as this node knows it, -1 when
    /// none is known. For operators (admin HTTP API, metrics, health); Kafka clients are told
    /// [`Broker::client_controller_id`].
    pub fn controller_id(&self) -> i32 {
        self.metadata
            .controller_id(self.config.node_id)
            .unwrap_or(-1)
    }

    /// The controller id Kafka clients are told in Metadata and DescribeCluster (-1 when none
    /// is known): the active controller when it is a live broker; when it is a controller-only
    /// node (which serves no Kafka), the lowest-id unfenced broker, so every broker names the
    /// same one. Clients send admin requests there and that broker forwards them to the active
    /// controller, as Kafka's KRaft brokers do.
    pub fn client_controller_id(&self) -> i32 {
        let active = self.controller_id();
        if active < 0 || !self.config.cluster.roles.broker {
            return active;
        }
        let image = self.image();
        let reachable =
            active == self.config.node_id || image.broker(active).is_some_and(|b| !b.fenced);
        if reachable {
            return active;
        }
        image
            .brokers()
            .filter(|b| !b.fenced)
            .map(|b| b.broker_id)
            .min()
            .unwrap_or(self.config.node_id)
    }

    /// The partition if this node leads it; otherwise the Kafka error a client must see (see
    /// [`ReplicaManager::leader_partition`]).
    ///
    /// # Errors
    /// The Kafka error as above.
    pub fn leader_partition(
        &self,
        topic: &str,
        index: i32,
    ) -> std::result::Result<Arc<crate::replica::Partition>, kafka_protocol::ResponseError> {
        self.replicas.leader_partition(&self.image(), topic, index)
    }

    /// The partition's current leader epoch (0 for a lone node's partitions).
    pub fn leader_epoch(&self, topic: &str, index: i32) -> i32 {
        crate::replica::leader_epoch(&self.image(), topic, index)
    }

    /// KIP-320 fencing (see [`crate::replica::check_leader_epoch`]).
    ///
    /// # Errors
    /// UNKNOWN_LEADER_EPOCH or FENCED_LEADER_EPOCH.
    pub fn check_leader_epoch(
        &self,
        topic: &str,
        index: i32,
        requested: i32,
    ) -> std::result::Result<(), kafka_protocol::ResponseError> {
        crate::replica::check_leader_epoch(&self.image(), topic, index, requested)
    }

    /// Flushes every partition and checkpoints high watermarks (clean shutdown).
    pub fn flush_all(&self) {
        for p in self.replicas.all() {
            if let Err(e) = p.close() {
                tracing::error!(topic = %p.topic, partition = p.index, error = %e, "flush failed");
            }
        }
    }
}

impl crate::replica::isr::IsrHost for Broker {
    fn hosted_partitions(&self) -> Vec<Arc<crate::replica::Partition>> {
        self.replicas.all()
    }

    fn commit_metadata(&self, records: Vec<MetadataRecord>) -> Result<()> {
        self.commit(records)
    }

    fn reconcile_metadata(&self) -> Result<()> {
        self.reconcile()
    }
}

impl crate::coordinator::timer::CoordinatorHost for Broker {
    fn groups(&self) -> &GroupService {
        &self.groups
    }

    fn replicas(&self) -> &ReplicaManager {
        &self.replicas
    }

    fn offsets_topic_exists(&self) -> bool {
        self.image()
            .topic(crate::coordinator::OFFSETS_TOPIC)
            .is_some()
    }

    fn create_offsets_topic(&self, partitions: i32) -> Result<()> {
        crate::admin::ensure_offsets_topic(self, partitions)
    }
}

impl crate::txn::markers::TxnHost for Broker {
    fn txns(&self) -> &crate::txn::TxnService {
        &self.txns
    }

    fn replicas(&self) -> &ReplicaManager {
        &self.replicas
    }

    fn image(&self) -> Arc<MetadataImage> {
        self.metadata.image()
    }

    fn node_id(&self) -> i32 {
        self.config.node_id
    }

    fn broker_address(&self, id: i32) -> Option<String> {
        self.live_brokers()
            .into_iter()
            .find(|(b, ..)| *b == id)
            .map(|(_, host, port, _)| format!("{host}:{port}"))
    }

    fn offsets_marker_written(&self, partition: i32, producer_id: i64, commit: bool) {
        tracing::debug!(
            partition,
            producer_id,
            commit,
            "marker written to __consumer_offsets"
        );
        self.groups.complete_txn(partition, producer_id, commit);
    }
}

impl AsRef<ReplicaManager> for Broker {
    fn as_ref(&self) -> &ReplicaManager {
        &self.replicas
    }
}
