//! The ReplicaManager: every partition this broker hosts, found by topic and index, kept in
//! line with the metadata image.
//!
//! Thread-safety: the partition map is behind an `RwLock` taken only to look up, add or remove
//! `Arc<Partition>`s; no log I/O happens under it except opening new partitions.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rill_meta::MetadataImage;

use super::append_route::AppendRouting;
use super::partition::PartitionId;
use super::Partition;
use crate::clock::now_ms;
use crate::config::BrokerConfig;
use crate::error::Result;
use crate::topic_config::TopicConfig;

/// All hosted partitions.
#[derive(Debug)]
pub struct ReplicaManager {
    /// The data directory (`log.dirs`).
    data_dir: PathBuf,
    /// Partitions by (topic name, index).
    partitions: RwLock<HashMap<(String, i32), Arc<Partition>>>,
    /// This broker's id (`node.id`): whether the image names it a partition's leader.
    node_id: i32,
    /// `fetch.max.bytes`: what one fetch response carries at most.
    fetch_max_bytes: u64,
    /// Whether produce appends run on the async worker or the blocking pool.
    append_routing: AppendRouting,
}

impl ReplicaManager {
    /// An empty manager over `data_dir` for the broker configured by `config`.
    pub fn new(data_dir: &Path, config: &BrokerConfig) -> Self {
        ReplicaManager {
            data_dir: data_dir.to_path_buf(),
            partitions: RwLock::new(HashMap::new()),
            node_id: config.node_id,
            fetch_max_bytes: config.fetch_max_bytes,
            append_routing: AppendRouting::default(),
        }
    }

    /// This broker's id.
    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    /// `fetch.max.bytes`.
    pub fn fetch_max_bytes(&self) -> u64 {
        self.fetch_max_bytes
    }

    /// Where produce appends run (see [`AppendRouting`]).
    pub fn append_routing(&self) -> &AppendRouting {
        &self.append_routing
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The partition, if hosted here.
    pub fn get(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        let map = self.partitions.read().unwrap_or_else(|p| p.into_inner());
        map.get(&(topic.to_string(), index)).cloned()
    }

    /// Every hosted partition.
    pub fn all(&self) -> Vec<Arc<Partition>> {
        let map = self.partitions.read().unwrap_or_else(|p| p.into_inner());
        map.values().cloned().collect()
    }

    /// Makes the hosted partitions match `image`: opens partitions of new topics and new
    /// partitions (and those reassigned here), applies changed configs and roles, and
    /// deletes the data of topics no longer there and of partitions reassigned away.
    ///
    /// # Errors
    /// Storage errors opening or deleting logs, or an invalid stored config.
    pub fn reconcile(&self, image: &MetadataImage, broker: &BrokerConfig) -> Result<()> {
        // Remove what the image no longer has (deleted topics, or a recreated topic's old id).
        let stale: Vec<Arc<Partition>> = {
            let mut map = self.partitions.write().unwrap_or_else(|p| p.into_inner());
            let keys: Vec<(String, i32)> = map
                .iter()
                .filter(|(_, p)| match image.topic(&p.topic) {
                    None => true,
                    Some(t) if t.topic_id != p.topic_id => true,
                    // Moved away by a reassignment.
                    Some(t) => t.partition_states.get(p.index as usize).is_some_and(|s| {
                        !s.replicas.is_empty() && !s.replicas.contains(&broker.node_id)
                    }),
                })
                .map(|(k, _)| k.clone())
                .collect();
            keys.iter().filter_map(|k| map.remove(k)).collect()
        };
        for p in stale {
            // Fetches parked on it read it once more (as after any metadata change).
            p.watchers().committed.notify_waiters();
            tracing::info!(topic = %p.topic, partition = p.index, "deleting partition data");
            match Arc::try_unwrap(p) {
                Ok(p) => p.delete()?,
                // A request still holds it: move the directory away; open handles stay valid
                // until the background thread cuts the files.
                Err(p) => trash_dir(p.dir())?,
            }
        }
        // Topic defaults include the dynamic broker configs.
        let defaults = broker.with_dynamic(image);
        for topic in image.topics() {
            let (config, dropped) = TopicConfig::resolve_stored(&topic.configs, &defaults)
                .map_err(crate::config::ConfigError::from)?;
            // Said once per open partition, not at every metadata change.
            let warn_dropped = || {
                for e in &dropped {
                    tracing::warn!(topic = %topic.name, error = %e, "stored topic config ignored");
                }
            };
            for index in 0..topic.partitions as i32 {
                let hosted_here = topic
                    .partition_states
                    .get(index as usize)
                    .is_none_or(|s| s.replicas.is_empty() || s.replicas.contains(&broker.node_id));
                if !hosted_here {
                    continue;
                }
                let state = topic
                    .partition_states
                    .get(index as usize)
                    .cloned()
                    .unwrap_or_default();
                let p = match self.get(&topic.name, index) {
                    Some(p) => {
                        p.set_config(
                            config.log_for_partition(&topic.name, index),
                            config.min_insync_replicas,
                        )?;
                        p
                    }
                    None => {
                        warn_dropped();
                        let dir = self.data_dir.join(format!("{}-{}", topic.name, index));
                        let p = Arc::new(Partition::open(
                            PartitionId {
                                dir: &dir,
                                topic: &topic.name,
                                topic_id: topic.topic_id,
                                index,
                            },
                            config.log_for_partition(&topic.name, index),
                            config.min_insync_replicas,
                            broker.node_id,
                        )?);
                        let mut map = self.partitions.write().unwrap_or_else(|p| p.into_inner());
                        map.insert((topic.name.clone(), index), p.clone());
                        p
                    }
                };
                p.set_produce_rules(config.produce);
                // Wakes the partition's parked fetches and acks=all produces.
                p.apply_image(&state, now_ms())?;
            }
        }
        Ok(())
    }
}

fn trash_dir(dir: &Path) -> Result<()> {
    if let Some(trashed) = rill_log::trash::trash_dir(dir)? {
        super::file_deleter::delete_dir_later(trashed);
    }
    Ok(())
}
