//! The metadata image: what the metadata log says the cluster is, after applying every record.
//!
//! Invariants: topic names and ids are unique and map to each other one to one; partition
//! counts only grow; `next_producer_id` only grows. `apply` leaves the image unchanged when it
//! returns an error.

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

use crate::{MetaError, MetadataRecord, Result};

/// One topic as the metadata log describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    /// The topic's id.
    pub topic_id: Uuid,
    /// The topic's name.
    pub name: String,
    /// Number of partitions.
    pub partitions: u32,
    /// Replication factor.
    pub replication_factor: u16,
    /// Topic-level config overrides.
    pub configs: BTreeMap<String, String>,
}

/// The whole cluster metadata at one point of the metadata log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataImage {
    /// The cluster id, once the log has a `ClusterCreated` record.
    pub cluster_id: Option<String>,
    /// Topics by name.
    topics: BTreeMap<String, TopicImage>,
    /// Topic names by id.
    names_by_id: HashMap<Uuid, String>,
    /// First producer id not handed out yet.
    pub next_producer_id: i64,
}

impl MetadataImage {
    /// An empty image (a fresh cluster before any record).
    pub fn new() -> Self {
        Self::default()
    }

    /// The topic of that name.
    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.topics.get(name)
    }

    /// The topic of that id.
    pub fn topic_by_id(&self, topic_id: &Uuid) -> Option<&TopicImage> {
        self.names_by_id.get(topic_id).and_then(|n| self.topics.get(n))
    }

    /// All topics in name order.
    pub fn topics(&self) -> impl Iterator<Item = &TopicImage> {
        self.topics.values()
    }

    fn topic_mut(&mut self, topic_id: &Uuid) -> Result<&mut TopicImage> {
        let name = self
            .names_by_id
            .get(topic_id)
            .ok_or_else(|| MetaError::UnknownTopic {
                name: topic_id.to_string(),
            })?;
        self.topics
            .get_mut(name)
            .ok_or_else(|| MetaError::UnknownTopic { name: name.clone() })
    }

    /// Applies one record.
    ///
    /// # Errors
    /// A record that contradicts the image (a duplicate topic, an unknown topic id, a shrinking
    /// partition count); the image is then unchanged.
    pub fn apply(&mut self, record: &MetadataRecord) -> Result<()> {
        match record {
            MetadataRecord::ClusterCreated { cluster_id } => {
                self.cluster_id = Some(cluster_id.clone());
            }
            MetadataRecord::TopicCreated {
                topic_id,
                name,
                partitions,
                replication_factor,
                configs,
            } => {
                if self.topics.contains_key(name) || self.names_by_id.contains_key(topic_id) {
                    return Err(MetaError::TopicExists { name: name.clone() });
                }
                self.names_by_id.insert(*topic_id, name.clone());
                self.topics.insert(
                    name.clone(),
                    TopicImage {
                        topic_id: *topic_id,
                        name: name.clone(),
                        partitions: *partitions,
                        replication_factor: *replication_factor,
                        configs: configs.clone(),
                    },
                );
            }
            MetadataRecord::PartitionsIncreased {
                topic_id,
                partitions,
            } => {
                let topic = self.topic_mut(topic_id)?;
                if *partitions <= topic.partitions {
                    return Err(MetaError::InvalidPartitions {
                        name: topic.name.clone(),
                        requested: i64::from(*partitions),
                        current: topic.partitions,
                    });
                }
                topic.partitions = *partitions;
            }
            MetadataRecord::TopicDeleted { topic_id } => {
                let name = self
                    .names_by_id
                    .remove(topic_id)
                    .ok_or_else(|| MetaError::UnknownTopic {
                        name: topic_id.to_string(),
                    })?;
                self.topics.remove(&name);
            }
            MetadataRecord::TopicConfigChanged {
                topic_id,
                key,
                value,
            } => {
                let topic = self.topic_mut(topic_id)?;
                match value {
                    Some(v) => {
                        topic.configs.insert(key.clone(), v.clone());
                    }
                    None => {
                        topic.configs.remove(key);
                    }
                }
            }
            MetadataRecord::ProducerIdsAllocated { next_producer_id } => {
                self.next_producer_id = self.next_producer_id.max(*next_producer_id);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(name: &str, id: u128, partitions: u32) -> MetadataRecord {
        MetadataRecord::TopicCreated {
            topic_id: Uuid::from_u128(id),
            name: name.into(),
            partitions,
            replication_factor: 1,
            configs: BTreeMap::new(),
        }
    }

    #[test]
    fn create_grow_configure_delete() {
        let mut image = MetadataImage::new();
        image.apply(&created("a", 1, 2)).unwrap();
        assert_eq!(image.topic("a").unwrap().partitions, 2);
        let grow = MetadataRecord::PartitionsIncreased {
            topic_id: Uuid::from_u128(1),
            partitions: 5,
        };
        image.apply(&grow).unwrap();
        assert_eq!(image.topic("a").unwrap().partitions, 5);
        let set = MetadataRecord::TopicConfigChanged {
            topic_id: Uuid::from_u128(1),
            key: "retention.ms".into(),
            value: Some("1000".into()),
        };
        image.apply(&set).unwrap();
        assert_eq!(image.topic("a").unwrap().configs["retention.ms"], "1000");
        image
            .apply(&MetadataRecord::TopicDeleted {
                topic_id: Uuid::from_u128(1),
            })
            .unwrap();
        assert!(image.topic("a").is_none());
        assert!(image.topic_by_id(&Uuid::from_u128(1)).is_none());
    }

    #[test]
    fn contradicting_records_leave_the_image_unchanged() {
        let mut image = MetadataImage::new();
        image.apply(&created("a", 1, 3)).unwrap();
        let before = image.clone();
        assert!(matches!(
            image.apply(&created("a", 2, 1)),
            Err(MetaError::TopicExists { .. })
        ));
        let shrink = MetadataRecord::PartitionsIncreased {
            topic_id: Uuid::from_u128(1),
            partitions: 2,
        };
        assert!(image.apply(&shrink).is_err());
        let unknown = MetadataRecord::TopicDeleted {
            topic_id: Uuid::from_u128(9),
        };
        assert!(image.apply(&unknown).is_err());
        assert_eq!(image, before);
    }

    #[test]
    fn records_round_trip_through_json() {
        let rec = created("orders", 7, 4);
        let text = serde_json::to_string(&rec).unwrap();
        let back: MetadataRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(rec, back);
    }
}
