//! The admin service: topic creation, deletion, growth and config changes, validated against
//! the metadata image and carried out as metadata records. API handlers call these; they map
//! [`AdminError`] to Kafka codes in one place ([`AdminError::code`]).
//!
//! Blocking (metadata fsync, partition opens): call from a blocking context.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use std::sync::Arc;

use rill_meta::control::place_replicas;
use rill_meta::{validate_topic_name, MetadataRecord, TopicImage, Uuid};

use crate::broker::Broker;
use crate::coordinator::OFFSETS_TOPIC as OFFSETS;
use crate::error::BrokerError;
use crate::topic_config::TopicConfig;

/// Why an admin change was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The topic exists already.
    #[error("topic '{0}' already exists")]
    TopicExists(String),
    /// No such topic.
    #[error("unknown topic '{0}'")]
    UnknownTopic(String),
    /// No topic with that id.
    #[error("unknown topic id {0}")]
    UnknownTopicId(Uuid),
    /// A name that breaks Kafka's rules.
    #[error("{0}")]
    InvalidTopicName(String),
    /// A bad partition count.
    #[error("{0}")]
    InvalidPartitions(String),
    /// A replication factor the cluster cannot provide.
    #[error("{0}")]
    InvalidReplicationFactor(String),
    /// A bad replica assignment.
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    /// A bad config name or value.
    #[error("{0}")]
    InvalidConfig(String),
    /// Topic deletion is disabled.
    #[error("topic deletion is disabled (delete.topic.enable=false)")]
    DeletionDisabled,
    /// A request that contradicts itself.
    #[error("{0}")]
    InvalidRequest(String),
    /// Storage or metadata log failure.
    #[error("{0}")]
    Storage(#[from] BrokerError),
    /// A resource (a SCRAM credential) that does not exist.
    #[error("{0}")]
    ResourceNotFound(String),
    /// A resource named twice in one request.
    #[error("{0}")]
    DuplicateResource(String),
    /// A SASL mechanism the broker does not know.
    #[error("{0}")]
    UnsupportedSaslMechanism(String),
    /// A credential Kafka would not accept (empty user name, iteration count out of range).
    #[error("{0}")]
    UnacceptableCredential(String),
    /// The principal may not do this (the Kafka code says on what: topic, group, cluster).
    #[error("Authorization failed.")]
    Unauthorized(ResponseError),
}

impl AdminError {
    /// The Kafka error code the Java broker sends for this.
    pub fn code(&self) -> i16 {
        let e = match self {
            AdminError::TopicExists(_) => ResponseError::TopicAlreadyExists,
            AdminError::UnknownTopic(_) => ResponseError::UnknownTopicOrPartition,
            AdminError::UnknownTopicId(_) => ResponseError::UnknownTopicId,
            AdminError::InvalidTopicName(_) => ResponseError::InvalidTopicException,
            AdminError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
            AdminError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
            AdminError::InvalidReplicaAssignment(_) => ResponseError::InvalidReplicaAssignment,
            AdminError::InvalidConfig(_) => ResponseError::InvalidConfig,
            AdminError::DeletionDisabled => ResponseError::TopicDeletionDisabled,
            AdminError::InvalidRequest(_) => ResponseError::InvalidRequest,
            // No active controller reachable: retriable, clients refresh metadata and retry.
            AdminError::Storage(BrokerError::NotController { .. }) => ResponseError::NotController,
            AdminError::Storage(_) => ResponseError::KafkaStorageError,
            AdminError::ResourceNotFound(_) => ResponseError::ResourceNotFound,
            AdminError::DuplicateResource(_) => ResponseError::DuplicateResource,
            AdminError::UnsupportedSaslMechanism(_) => ResponseError::UnsupportedSaslMechanism,
            AdminError::UnacceptableCredential(_) => ResponseError::UnacceptableCredential,
            AdminError::Unauthorized(e) => *e,
        };
        e.code()
    }
}

/// What a CreateTopics entry asks for, defaults still unresolved (-1).
#[derive(Debug, Clone)]
pub struct NewTopic {
    /// Topic name.
    pub name: String,
    /// Partitions, or -1 for `num.partitions`.
    pub num_partitions: i32,
    /// Replication factor, or -1 for `default.replication.factor`.
    pub replication_factor: i16,
    /// Manual assignment: replica broker ids per partition (empty for automatic).
    pub assignments: Vec<(i32, Vec<i32>)>,
    /// Config overrides.
    pub configs: BTreeMap<String, String>,
}

/// Creates a topic (or only validates it when `validate_only`). Returns the topic as created.
///
/// # Errors
/// [`AdminError`] naming what is wrong.
pub fn create_topic(
    broker: &Broker,
    t: NewTopic,
    validate_only: bool,
) -> Result<TopicImage, AdminError> {
    validate_topic_name(&t.name).map_err(|e| AdminError::InvalidTopicName(e.to_string()))?;
    if broker.image().topic(&t.name).is_some() {
        return Err(AdminError::TopicExists(t.name));
    }
    let live = usable_brokers(broker);
    let live_brokers: Vec<i32> = live.iter().map(|(id, _)| *id).collect();
    let (partitions, replication_factor) = if t.assignments.is_empty() {
        let partitions = match t.num_partitions {
            -1 => broker.config.num_partitions as i32,
            n if n <= 0 => {
                return Err(AdminError::InvalidPartitions(format!(
                    "number of partitions must be larger than 0, was {n}"
                )))
            }
            n => n,
        };
        let rf = match t.replication_factor {
            -1 => broker.config.default_replication_factor as i16,
            n if n <= 0 => {
                return Err(AdminError::InvalidReplicationFactor(format!(
                    "replication factor must be larger than 0, was {n}"
                )))
            }
            n => n,
        };
        if rf as usize > live_brokers.len() {
            return Err(AdminError::InvalidReplicationFactor(format!(
                "unable to replicate the partition {rf} time(s): the number of available brokers is {}",
                live_brokers.len()
            )));
        }
        (partitions, rf)
    } else {
        if t.num_partitions != -1 || t.replication_factor != -1 {
            return Err(AdminError::InvalidRequest(
                "both numPartitions or replicationFactor and replicasAssignments were set; \
                 both cannot be used at the same time"
                    .into(),
            ));
        }
        check_assignments(&t.assignments, 0, &live_brokers)?;
        let rf = t.assignments[0].1.len() as i16;
        (t.assignments.len() as i32, rf)
    };
    if partitions > 100_000 {
        return Err(AdminError::InvalidPartitions(format!(
            "{partitions} partitions is more than 100000"
        )));
    }
    TopicConfig::resolve(&t.configs, &broker.config.with_dynamic(&broker.image()))
        .map_err(|e| AdminError::InvalidConfig(e.to_string()))?;
    let replica_lists: Vec<Vec<i32>> = if t.assignments.is_empty() {
        let start = rand_start(live.len());
        place_replicas(&live, partitions as u32, replication_factor as u16, start)
            .map_err(|e| AdminError::InvalidReplicationFactor(e.to_string()))?
    } else {
        t.assignments.into_iter().map(|(_, r)| r).collect()
    };
    let topic_id = Uuid::new_v4();
    let mut records = vec![MetadataRecord::TopicCreated {
        topic_id,
        name: t.name.clone(),
        partitions: partitions as u32,
        replication_factor: replication_factor as u16,
        configs: t.configs,
    }];
    records.extend(assignment_records(topic_id, 0, replica_lists));
    let image = if validate_only {
        let mut image = (*broker.image()).clone();
        for r in &records {
            image
                .apply(r)
                .map_err(|e| AdminError::InvalidRequest(e.to_string()))?;
        }
        Arc::new(image)
    } else {
        match broker.commit(records) {
            Ok(()) => {}
            // Another node created it first (its record committed before ours): Kafka's answer
            // is TOPIC_ALREADY_EXISTS.
            Err(BrokerError::MetadataRejected(_)) if broker.image().topic(&t.name).is_some() => {
                return Err(AdminError::TopicExists(t.name));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(topic = %t.name, partitions, "topic created");
        broker.image()
    };
    image
        .topic(&t.name)
        .cloned()
        .ok_or_else(|| AdminError::UnknownTopic(t.name.clone()))
}

/// Brokers that may take replicas, with their racks: the unfenced registered brokers, or this
/// node alone while no broker has registered (a single node).
fn usable_brokers(broker: &Broker) -> Vec<(i32, Option<String>)> {
    let image = broker.image();
    let live: Vec<(i32, Option<String>)> = image
        .brokers()
        .filter(|b| !b.fenced)
        .map(|b| (b.broker_id, b.rack.clone()))
        .collect();
    if live.is_empty() {
        vec![(broker.config.node_id, None)]
    } else {
        live
    }
}

/// Where placement starts, so that topics do not all put their first leader on one broker.
fn rand_start(brokers: usize) -> usize {
    (Uuid::new_v4().as_u128() % brokers.max(1) as u128) as usize
}

/// One `PartitionChanged` per new partition: its replicas, all in sync, the first leading.
fn assignment_records(
    topic_id: Uuid,
    first_partition: u32,
    replica_lists: Vec<Vec<i32>>,
) -> impl Iterator<Item = MetadataRecord> {
    replica_lists
        .into_iter()
        .enumerate()
        .map(move |(i, replicas)| MetadataRecord::PartitionChanged {
            topic_id,
            partition: first_partition + i as u32,
            leader: Some(replicas.first().copied().unwrap_or(-1)),
            isr: Some(replicas.clone()),
            replicas: Some(replicas),
        })
}

/// Checks a manual replica assignment: partitions numbered from `first` without gaps, the same
/// replica count everywhere, no duplicate brokers, only live brokers.
fn check_assignments(
    assignments: &[(i32, Vec<i32>)],
    first: i32,
    live: &[i32],
) -> Result<(), AdminError> {
    let bad = |m: String| Err(AdminError::InvalidReplicaAssignment(m));
    let Some((_, first_replicas)) = assignments.first() else {
        return bad("empty assignment".into());
    };
    for (i, (partition, replicas)) in assignments.iter().enumerate() {
        if *partition != first + i as i32 {
            return bad(format!(
                "partitions should be a consecutive 0-based integer sequence, found {partition}"
            ));
        }
        if replicas.is_empty() || replicas.len() != first_replicas.len() {
            return bad(format!(
                "partition {partition} has {} replicas, expected {}",
                replicas.len(),
                first_replicas.len()
            ));
        }
        let mut sorted = replicas.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != replicas.len() {
            return bad(format!(
                "duplicate brokers in the assignment of partition {partition}"
            ));
        }
        if let Some(b) = replicas.iter().find(|b| !live.contains(b)) {
            return bad(format!(
                "broker {b} in the assignment of partition {partition} is not a live broker"
            ));
        }
    }
    Ok(())
}

/// Deletes a topic by name.
///
/// # Errors
/// Unknown topic, deletion disabled, storage errors.
pub fn delete_topic(broker: &Broker, name: &str) -> Result<Uuid, AdminError> {
    let topic = broker
        .image()
        .topic(name)
        .cloned()
        .ok_or_else(|| AdminError::UnknownTopic(name.to_string()))?;
    delete_topic_by_id(broker, topic.topic_id)?;
    Ok(topic.topic_id)
}

/// Deletes a topic by id. Returns its name.
///
/// # Errors
/// Unknown topic id, deletion disabled, storage errors.
pub fn delete_topic_by_id(broker: &Broker, topic_id: Uuid) -> Result<String, AdminError> {
    if !broker.config.delete_topic_enable {
        return Err(AdminError::DeletionDisabled);
    }
    let topic = broker
        .image()
        .topic_by_id(&topic_id)
        .cloned()
        .ok_or(AdminError::UnknownTopicId(topic_id))?;
    broker.commit(vec![MetadataRecord::TopicDeleted { topic_id }])?;
    tracing::info!(topic = %topic.name, "topic deleted");
    Ok(topic.name)
}

/// Grows a topic to `count` partitions (CreatePartitions).
///
/// # Errors
/// Unknown topic, a count not above the current one, a bad assignment, storage errors.
pub fn create_partitions(
    broker: &Broker,
    name: &str,
    count: i32,
    assignments: Option<Vec<Vec<i32>>>,
    validate_only: bool,
) -> Result<(), AdminError> {
    let topic = broker
        .image()
        .topic(name)
        .cloned()
        .ok_or_else(|| AdminError::UnknownTopic(name.to_string()))?;
    let current = topic.partitions as i32;
    if count < current {
        return Err(AdminError::InvalidPartitions(format!(
            "topic currently has {current} partitions, which is higher than the requested {count}"
        )));
    }
    if count == current {
        return Err(AdminError::InvalidPartitions(format!(
            "topic already has {current} partitions"
        )));
    }
    if count > 100_000 {
        return Err(AdminError::InvalidPartitions(format!(
            "{count} partitions is more than 100000"
        )));
    }
    let replica_lists = if let Some(a) = assignments {
        if a.len() as i32 != count - current {
            return Err(AdminError::InvalidReplicaAssignment(format!(
                "increasing the number of partitions by {} but {} assignments provided",
                count - current,
                a.len()
            )));
        }
        let numbered: Vec<(i32, Vec<i32>)> = a
            .into_iter()
            .enumerate()
            .map(|(i, r)| (current + i as i32, r))
            .collect();
        let live: Vec<i32> = usable_brokers(broker).iter().map(|(id, _)| *id).collect();
        check_assignments(&numbered, current, &live)?;
        if numbered[0].1.len() != topic.replication_factor as usize {
            return Err(AdminError::InvalidReplicaAssignment(format!(
                "inconsistent replication factor between partitions: new {} vs existing {}",
                numbered[0].1.len(),
                topic.replication_factor
            )));
        }
        numbered.into_iter().map(|(_, r)| r).collect()
    } else {
        let live = usable_brokers(broker);
        place_replicas(
            &live,
            (count - current) as u32,
            topic.replication_factor,
            current as usize,
        )
        .map_err(|e| AdminError::InvalidReplicationFactor(e.to_string()))?
    };
    if !validate_only {
        let mut records = vec![MetadataRecord::PartitionsIncreased {
            topic_id: topic.topic_id,
            partitions: count as u32,
        }];
        records.extend(assignment_records(
            topic.topic_id,
            current as u32,
            replica_lists,
        ));
        broker.commit(records)?;
        tracing::info!(topic = %name, partitions = count, "partitions added");
    }
    Ok(())
}

/// Replaces a topic's overrides with `configs` (AlterConfigs) or applies changes
/// (IncrementalAlterConfigs); validates the whole result before anything is written.
///
/// # Errors
/// Unknown topic, invalid configs, storage errors.
pub fn set_topic_configs(
    broker: &Broker,
    name: &str,
    new_overrides: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), AdminError> {
    let topic = broker
        .image()
        .topic(name)
        .cloned()
        .ok_or_else(|| AdminError::UnknownTopic(name.to_string()))?;
    TopicConfig::resolve(&new_overrides, &broker.config.with_dynamic(&broker.image()))
        .map_err(|e| AdminError::InvalidConfig(e.to_string()))?;
    let mut records = Vec::new();
    for k in topic
        .configs
        .keys()
        .filter(|k| !new_overrides.contains_key(*k))
    {
        records.push(MetadataRecord::TopicConfigChanged {
            topic_id: topic.topic_id,
            key: k.clone(),
            value: None,
        });
    }
    for (k, v) in &new_overrides {
        if topic.configs.get(k) != Some(v) {
            records.push(MetadataRecord::TopicConfigChanged {
                topic_id: topic.topic_id,
                key: k.clone(),
                value: Some(v.clone()),
            });
        }
    }
    if !validate_only && !records.is_empty() {
        broker.commit(records)?;
        tracing::info!(topic = %name, "topic configs changed");
    }
    Ok(())
}

/// The replication factor `__consumer_offsets` gets: `offsets.topic.replication.factor`,
/// but no more than the cluster can ever have (1 on a lone node, the number of voters or
/// registered brokers in a cluster, whichever is larger).
fn offsets_replication_factor(broker: &Broker) -> i16 {
    internal_replication_factor(broker, "offsets.topic.replication.factor")
}

/// An internal topic's replication factor: the setting `key`, capped as
/// [`offsets_replication_factor`] says.
fn internal_replication_factor(broker: &Broker, key: &str) -> i16 {
    let wanted = broker
        .config
        .value(key)
        .and_then(|v| v.parse::<i16>().ok())
        .unwrap_or(3)
        .max(1);
    let possible = if broker.config.cluster.is_quorum() {
        let voters = broker
            .config
            .cluster
            .quorum_voters
            .as_deref()
            .map_or(1, |v| v.split(',').filter(|s| !s.trim().is_empty()).count());
        voters.max(broker.image().brokers().count())
    } else {
        1
    };
    wanted.min(i16::try_from(possible).unwrap_or(i16::MAX))
}

/// The configs of `__consumer_offsets`, as Kafka creates it: `cleanup.policy=compact`,
/// `segment.bytes` from `offsets.topic.segment.bytes`, `compression.type=producer` (the
/// coordinator compresses its batches with `offsets.topic.compression.codec`).
pub fn offsets_topic_configs(config: &crate::config::BrokerConfig) -> BTreeMap<String, String> {
    let mut configs = BTreeMap::new();
    let segment_bytes = config
        .value("offsets.topic.segment.bytes")
        .unwrap_or("104857600");
    // Below segment.bytes' minimum (1 MiB) the size goes to Kafka's internal.segment.bytes,
    // which overrides it (tests use small segments).
    match segment_bytes.parse::<i64>() {
        Ok(n) if n < 1_048_576 => {
            configs.insert("internal.segment.bytes".to_string(), n.to_string());
        }
        _ => {
            configs.insert("segment.bytes".to_string(), segment_bytes.to_string());
        }
    }
    configs.insert("compression.type".to_string(), "producer".to_string());
    configs.insert("cleanup.policy".to_string(), "compact".to_string());
    configs
}

/// Creates `__consumer_offsets` with `offsets.topic.num.partitions` partitions if missing
/// and enough brokers are live for its replication factor (otherwise later: the
/// coordinator's timer retries, and FindCoordinator answers COORDINATOR_NOT_AVAILABLE
/// meanwhile), compacted ([`offsets_topic_configs`]).
///
/// # Errors
/// Metadata or storage errors.
pub fn ensure_offsets_topic(broker: &Broker, partitions: i32) -> Result<(), BrokerError> {
    if broker.image().topic(OFFSETS).is_some() {
        return Ok(());
    }
    let replication_factor = offsets_replication_factor(broker);
    let live = broker.live_brokers().len();
    if live < replication_factor as usize {
        tracing::debug!(
            live,
            replication_factor,
            "waiting for brokers before creating {OFFSETS}"
        );
        return Ok(());
    }
    let topic = NewTopic {
        name: OFFSETS.to_string(),
        num_partitions: partitions,
        replication_factor,
        assignments: Vec::new(),
        configs: offsets_topic_configs(&broker.config),
    };
    match create_topic(broker, topic, false) {
        Ok(_) | Err(AdminError::TopicExists(_)) => Ok(()),
        Err(AdminError::Storage(e)) => Err(e),
        Err(e) => Err(BrokerError::Internal(format!(
            "cannot create {OFFSETS}: {e}"
        ))),
    }
}

/// The configs of `__transaction_state`, as Kafka creates it: compacted, uncompressed,
/// `segment.bytes` from `transaction.state.log.segment.bytes`, `min.insync.replicas` from
/// `transaction.state.log.min.isr` (at most the replication factor, so a lone node can run
/// transactions with the defaults), no unclean election.
pub fn txn_topic_configs(
    config: &crate::config::BrokerConfig,
    replication_factor: i16,
) -> BTreeMap<String, String> {
    let mut configs = BTreeMap::new();
    let segment_bytes = config
        .value("transaction.state.log.segment.bytes")
        .unwrap_or("104857600");
    match segment_bytes.parse::<i64>() {
        Ok(n) if n < 1_048_576 => {
            configs.insert("internal.segment.bytes".to_string(), n.to_string());
        }
        _ => {
            configs.insert("segment.bytes".to_string(), segment_bytes.to_string());
        }
    }
    let min_isr = config
        .value("transaction.state.log.min.isr")
        .and_then(|v| v.parse::<i16>().ok())
        .unwrap_or(2)
        .clamp(1, replication_factor.max(1));
    configs.insert("min.insync.replicas".to_string(), min_isr.to_string());
    configs.insert("compression.type".to_string(), "uncompressed".to_string());
    configs.insert("cleanup.policy".to_string(), "compact".to_string());
    configs.insert(
        "unclean.leader.election.enable".to_string(),
        "false".to_string(),
    );
    configs
}

/// Creates `__transaction_state` with `transaction.state.log.num.partitions` partitions if
/// missing and enough brokers are live for its replication factor (as Kafka, on the first
/// FindCoordinator for a transactional id; until then that answers
/// COORDINATOR_NOT_AVAILABLE).
///
/// # Errors
/// Metadata or storage errors.
pub fn ensure_txn_topic(broker: &Broker, partitions: i32) -> Result<(), BrokerError> {
    let name = rill_txn::TRANSACTION_STATE_TOPIC;
    if broker.image().topic(name).is_some() {
        return Ok(());
    }
    let replication_factor =
        internal_replication_factor(broker, "transaction.state.log.replication.factor");
    if broker.live_brokers().len() < replication_factor as usize {
        return Ok(());
    }
    let topic = NewTopic {
        name: name.to_string(),
        num_partitions: partitions,
        replication_factor,
        assignments: Vec::new(),
        configs: txn_topic_configs(&broker.config, replication_factor),
    };
    match create_topic(broker, topic, false) {
        Ok(_) | Err(AdminError::TopicExists(_)) => Ok(()),
        Err(AdminError::Storage(e)) => Err(e),
        Err(e) => Err(BrokerError::Internal(format!("cannot create {name}: {e}"))),
    }
}
