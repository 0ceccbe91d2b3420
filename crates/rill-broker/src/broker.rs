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
use crate::metadata::{load_or_create_meta_properties, MetadataStore};
use crate::producer_ids::ProducerIdAllocator;
use crate::replica::ReplicaManager;

/// Everything a request handler needs.
#[derive(Debug)]
pub struct Broker {
    /// The broker's configuration.
    pub config: BrokerConfig,
    /// The cluster id from `meta.properties`.
    pub cluster_id: String,
    /// The metadata image and its log.
    pub metadata: MetadataStore,
    /// Hosted partitions.
    pub replicas: ReplicaManager,
    /// InitProducerId's id source.
    pub producer_ids: ProducerIdAllocator,
    /// The group coordinator (consumer groups, committed offsets).
    pub groups: GroupService,
    /// Serializes reconciliation so partitions always follow the newest image, never an
    /// older one that a slower concurrent commit still holds.
    reconcile_lock: std::sync::Mutex<()>,
}

impl Broker {
    /// Opens the data directory: identity, metadata replay, and every partition's log
    /// (running recovery).
    ///
    /// # Errors
    /// A data directory of another node, I/O errors, unrecoverable storage errors.
    pub fn open(config: BrokerConfig) -> Result<Arc<Self>> {
        let dir = config.log_dir.clone();
        std::fs::create_dir_all(&dir).map_err(|source| BrokerError::Io {
            op: "create data dir",
            path: dir.clone(),
            source,
        })?;
        let props = load_or_create_meta_properties(&dir, config.node_id)?;
        let metadata = MetadataStore::open(&dir)?;
        let broker = Broker {
            cluster_id: props.cluster_id.clone(),
            replicas: ReplicaManager::new(&dir),
            producer_ids: ProducerIdAllocator::default(),
            groups: GroupService::new(group_config(&config)?),
            reconcile_lock: std::sync::Mutex::new(()),
            metadata,
            config,
        };
        match broker.metadata.image().cluster_id.clone() {
            None => broker.commit(vec![MetadataRecord::ClusterCreated {
                cluster_id: props.cluster_id,
            }])?,
            Some(id) if id != props.cluster_id => {
                return Err(BrokerError::BadDataDir(format!(
                    "metadata log belongs to cluster {id} but meta.properties says {}",
                    props.cluster_id
                )))
            }
            Some(_) => {}
        }
        broker
            .replicas
            .reconcile(&broker.metadata.image(), &broker.config)?;
        broker.groups.start(&broker)?;
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
        let _guard = self
            .reconcile_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        self.replicas
            .reconcile(&self.metadata.image(), &self.config)
    }

    /// Flushes every partition and checkpoints high watermarks (clean shutdown).
    pub fn flush_all(&self) {
        for p in self.replicas.all() {
            if let Err(e) = p.flush() {
                tracing::error!(topic = %p.topic, partition = p.index, error = %e, "flush failed");
            }
        }
    }
}
