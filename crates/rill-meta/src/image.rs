//! The metadata image: what the metadata log says the cluster is, after applying every record.
//!
//! Invariants: topic names and ids are unique and map to each other one to one; partition
//! counts only grow; `next_producer_id` only grows. `apply` leaves the image unchanged when it
//! returns an error.

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

use crate::{MetaError, MetadataRecord, Result, ScramCredentialImage};

/// One partition's placement and leadership.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionImage {
    /// Brokers holding a replica, preferred leader first. Empty on a single node whose log
    /// predates replica assignment: the one broker hosts it.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// Current leader, -1 for none.
    pub leader: i32,
    /// Bumped at every leader change; fences stale leaders and followers.
    pub leader_epoch: i32,
    /// Bumped at every change; AlterPartition requests carry it so stale ones are refused.
    pub partition_epoch: i32,
    /// Replicas an ongoing reassignment adds (empty: none running).
    pub adding_replicas: Vec<i32>,
    /// Replicas an ongoing reassignment removes.
    pub removing_replicas: Vec<i32>,
}

/// One registered broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerImage {
    /// `node.id`.
    pub broker_id: i32,
    /// The registration's process incarnation.
    pub incarnation_id: Uuid,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: u16,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// Every client listener's advertised endpoint (see [`BrokerImage::endpoint`]).
    pub endpoints: Vec<crate::BrokerEndpoint>,
    /// Fenced brokers lead nothing.
    pub fenced: bool,
}

impl BrokerImage {
    /// The broker's endpoint on listener `name` (case-insensitive): from its recorded
    /// endpoints, or, for a registration that recorded none, its one host and port whatever
    /// the name. `None`: the broker has no such listener (Kafka leaves it out of answers).
    pub fn endpoint(&self, name: &str) -> Option<(&str, u16)> {
        if self.endpoints.is_empty() {
            return Some((&self.host, self.port));
        }
        self.endpoints
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(name))
            .map(|e| (e.host.as_str(), e.port))
    }
}

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
    /// Per-partition state, index = partition number (`partitions` entries).
    pub partition_states: Vec<PartitionImage>,
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
    /// Registered brokers by id.
    brokers: BTreeMap<i32, BrokerImage>,
    /// Dynamic configs of brokers and groups by (resource type, resource name); never holds
    /// an empty map.
    resource_configs: BTreeMap<(i8, String), BTreeMap<String, String>>,
    /// SCRAM credentials by (user, mechanism code); see [`crate::scram`].
    pub(crate) scram_credentials: BTreeMap<(String, i8), ScramCredentialImage>,
    /// ACLs by id; see [`crate::acl`].
    pub(crate) acls: BTreeMap<String, crate::AclEntry>,
    /// ACL records applied (see [`MetadataImage::acl_changes`]).
    pub(crate) acl_changes: u64,
    /// Client quotas by entity (canonical form); see [`crate::quota`].
    pub(crate) client_quotas: BTreeMap<crate::QuotaEntity, BTreeMap<String, crate::QuotaValue>>,
    /// Quota records applied (see [`MetadataImage::quota_changes`]).
    pub(crate) quota_changes: u64,
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
        self.names_by_id
            .get(topic_id)
            .and_then(|n| self.topics.get(n))
    }

    /// All topics in name order.
    pub fn topics(&self) -> impl Iterator<Item = &TopicImage> {
        self.topics.values()
    }

    /// The dynamic configs of a broker (`resource_type` 4; "" is the cluster default) or a
    /// group (32), if any are set.
    pub fn resource_configs(
        &self,
        resource_type: i8,
        resource_name: &str,
    ) -> Option<&BTreeMap<String, String>> {
        self.resource_configs
            .get(&(resource_type, resource_name.to_string()))
    }

    /// Every resource with dynamic configs: ((type, name), configs), in order.
    pub fn all_resource_configs(
        &self,
    ) -> impl Iterator<Item = (&(i8, String), &BTreeMap<String, String>)> {
        self.resource_configs.iter()
    }

    /// The broker of that id.
    pub fn broker(&self, broker_id: i32) -> Option<&BrokerImage> {
        self.brokers.get(&broker_id)
    }

    /// All registered brokers in id order.
    pub fn brokers(&self) -> impl Iterator<Item = &BrokerImage> {
        self.brokers.values()
    }

    /// One partition of a topic, by topic id.
    ///
    /// # Errors
    /// Unknown topic or partition.
    pub fn partition(&self, topic_id: &Uuid, partition: u32) -> Result<&PartitionImage> {
        let topic = self
            .topic_by_id(topic_id)
            .ok_or_else(|| MetaError::UnknownTopic {
                name: topic_id.to_string(),
            })?;
        topic
            .partition_states
            .get(partition as usize)
            .ok_or(MetaError::UnknownPartition {
                topic: topic.name.clone(),
                partition,
            })
    }

    fn partition_mut(&mut self, topic_id: &Uuid, partition: u32) -> Result<&mut PartitionImage> {
        let topic = self.topic_mut(topic_id)?;
        let name = topic.name.clone();
        topic
            .partition_states
            .get_mut(partition as usize)
            .ok_or(MetaError::UnknownPartition {
                topic: name,
                partition,
            })
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
            MetadataRecord::ClusterCreated { cluster_id } => match &self.cluster_id {
                Some(existing) if existing != cluster_id => {
                    return Err(MetaError::ClusterIdMismatch {
                        existing: existing.clone(),
                        proposed: cluster_id.clone(),
                    })
                }
                _ => self.cluster_id = Some(cluster_id.clone()),
            },
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
                        partition_states: vec![PartitionImage::unassigned(); *partitions as usize],
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
                topic
                    .partition_states
                    .resize(*partitions as usize, PartitionImage::unassigned());
            }
            MetadataRecord::TopicDeleted { topic_id } => {
                let name =
                    self.names_by_id
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
            MetadataRecord::BrokerRegistered {
                broker_id,
                incarnation_id,
                host,
                port,
                rack,
                endpoints,
            } => {
                self.brokers.insert(
                    *broker_id,
                    BrokerImage {
                        broker_id: *broker_id,
                        incarnation_id: *incarnation_id,
                        host: host.clone(),
                        port: *port,
                        rack: rack.clone(),
                        endpoints: endpoints.clone(),
                        fenced: true,
                    },
                );
            }
            MetadataRecord::BrokerFenced { broker_id }
            | MetadataRecord::BrokerUnfenced { broker_id } => {
                let fenced = matches!(record, MetadataRecord::BrokerFenced { .. });
                let b = self
                    .brokers
                    .get_mut(broker_id)
                    .ok_or(MetaError::UnknownBroker {
                        broker_id: *broker_id,
                    })?;
                b.fenced = fenced;
            }
            MetadataRecord::PartitionChanged {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
            } => {
                let p = self.partition_mut(topic_id, *partition)?;
                p.change(replicas.as_deref(), isr.as_deref(), *leader);
            }
            MetadataRecord::IsrChanged {
                topic_id,
                partition,
                leader,
                leader_epoch,
                partition_epoch,
                isr,
            } => {
                let fenced: Vec<i32> = self
                    .brokers
                    .values()
                    .filter(|b| b.fenced)
                    .map(|b| b.broker_id)
                    .collect();
                let name = self
                    .topic_by_id(topic_id)
                    .map_or_else(|| topic_id.to_string(), |t| t.name.clone());
                let p = self.partition_mut(topic_id, *partition)?;
                let problem =
                    p.isr_change_problem(*leader, *leader_epoch, *partition_epoch, isr, &fenced);
                if let Some(reason) = problem {
                    return Err(MetaError::StalePartitionState {
                        topic: name,
                        partition: *partition,
                        reason,
                    });
                }
                p.isr = isr.clone();
                p.partition_epoch += 1;
            }
            MetadataRecord::PartitionEpochIs {
                topic_id,
                partition,
                partition_epoch,
            } => {
                let p = self.partition(topic_id, *partition)?;
                if p.partition_epoch != *partition_epoch {
                    let topic = self
                        .topic_by_id(topic_id)
                        .map_or_else(|| topic_id.to_string(), |t| t.name.clone());
                    return Err(MetaError::StalePartitionState {
                        topic,
                        partition: *partition,
                        reason: format!(
                            "decided at partition epoch {partition_epoch}, but the partition is at {}",
                            p.partition_epoch
                        ),
                    });
                }
            }
            MetadataRecord::PartitionRestored {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
                adding_replicas,
                removing_replicas,
            } => {
                let p = self.partition_mut(topic_id, *partition)?;
                *p = PartitionImage {
                    replicas: replicas.clone(),
                    isr: isr.clone(),
                    leader: *leader,
                    leader_epoch: *leader_epoch,
                    partition_epoch: *partition_epoch,
                    adding_replicas: adding_replicas.clone(),
                    removing_replicas: removing_replicas.clone(),
                };
            }
            MetadataRecord::ReassignmentStarted {
                topic_id,
                partition,
                replicas,
                adding,
                removing,
            } => {
                let p = self.partition_mut(topic_id, *partition)?;
                p.replicas = replicas.clone();
                p.adding_replicas = adding.clone();
                p.removing_replicas = removing.clone();
                p.partition_epoch += 1;
            }
            MetadataRecord::ReassignmentEnded {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
            } => {
                let p = self.partition_mut(topic_id, *partition)?;
                p.adding_replicas.clear();
                p.removing_replicas.clear();
                p.change(Some(replicas), Some(isr), Some(*leader));
            }
            MetadataRecord::ResourceConfigChanged {
                resource_type,
                resource_name,
                key,
                value,
            } => {
                let id = (*resource_type, resource_name.clone());
                match value {
                    Some(v) => {
                        self.resource_configs
                            .entry(id)
                            .or_default()
                            .insert(key.clone(), v.clone());
                    }
                    None => {
                        if let Some(configs) = self.resource_configs.get_mut(&id) {
                            configs.remove(key);
                            if configs.is_empty() {
                                self.resource_configs.remove(&id);
                            }
                        }
                    }
                }
            }
            MetadataRecord::ProducerIdsAllocated { next_producer_id } => {
                self.next_producer_id = self.next_producer_id.max(*next_producer_id);
            }
            MetadataRecord::UserScramCredentialUpserted { .. }
            | MetadataRecord::UserScramCredentialRemoved { .. } => self.apply_scram(record)?,
            MetadataRecord::AclCreated { .. } | MetadataRecord::AclRemoved { .. } => {
                self.apply_acl(record)?
            }
            MetadataRecord::ClientQuotaAltered { .. } => self.apply_client_quota(record),
        }
        Ok(())
    }
}

impl PartitionImage {
    /// A partition not placed yet.
    pub fn unassigned() -> Self {
        PartitionImage {
            leader: -1,
            ..Default::default()
        }
    }

    /// Why an [`MetadataRecord::IsrChanged`] cannot apply, or `None` when it can.
    fn isr_change_problem(
        &self,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        isr: &[i32],
        fenced: &[i32],
    ) -> Option<String> {
        if self.leader != leader || self.leader_epoch != leader_epoch {
            return Some(format!(
                "leader {leader} epoch {leader_epoch}, but the partition has leader {} epoch {}",
                self.leader, self.leader_epoch
            ));
        }
        if self.partition_epoch != partition_epoch {
            return Some(format!(
                "partition epoch {partition_epoch}, but the partition is at {}",
                self.partition_epoch
            ));
        }
        if !isr.contains(&leader) {
            return Some("the ISR must contain the leader".into());
        }
        if let Some(b) = isr.iter().find(|b| !self.replicas.contains(b)) {
            return Some(format!("broker {b} is not a replica"));
        }
        if let Some(b) = isr
            .iter()
            .find(|b| fenced.contains(b) && !self.isr.contains(b))
        {
            return Some(format!("broker {b} is fenced and cannot join the ISR"));
        }
        None
    }

    /// Applies a change; see [`MetadataRecord::PartitionChanged`].
    fn change(&mut self, replicas: Option<&[i32]>, isr: Option<&[i32]>, leader: Option<i32>) {
        let first_assignment = self.replicas.is_empty();
        if let Some(r) = replicas {
            self.replicas = r.to_vec();
        }
        if let Some(i) = isr {
            self.isr = i.to_vec();
        }
        if let Some(l) = leader {
            if l != self.leader && !first_assignment {
                self.leader_epoch += 1;
            }
            self.leader = l;
        }
        if !first_assignment {
            self.partition_epoch += 1;
        }
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
