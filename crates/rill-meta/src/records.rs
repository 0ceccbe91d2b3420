//! The change records of the metadata log.
//!
//! Records are serialized with serde (JSON on the single-node local log). A record names
//! topics by id so that a deleted topic's records never apply to a new topic of the same name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{AclEntry, SecretBytes};

/// One advertised listener of a broker (Kafka's `BrokerEndpoint` of a registration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerEndpoint {
    /// The listener's name (`EXTERNAL`).
    pub name: String,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: u16,
    /// Kafka's security protocol id (0 PLAINTEXT, 1 SSL, 2 SASL_PLAINTEXT, 3 SASL_SSL).
    pub security_protocol: i16,
}

/// One change to the cluster metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MetadataRecord {
    /// The cluster was formatted with this id (first record of a fresh log).
    ClusterCreated {
        /// The cluster id clients see in Metadata and DescribeCluster.
        cluster_id: String,
    },
    /// A topic was created.
    TopicCreated {
        /// The topic's id (UUID v4), never reused.
        topic_id: Uuid,
        /// The topic's name.
        name: String,
        /// Number of partitions, numbered 0..partitions.
        partitions: u32,
        /// Replication factor.
        replication_factor: u16,
        /// Topic-level config overrides (Kafka names), the rest come from broker defaults.
        configs: BTreeMap<String, String>,
    },
    /// A topic grew to `partitions` partitions (CreatePartitions).
    PartitionsIncreased {
        /// The topic.
        topic_id: Uuid,
        /// The new total partition count.
        partitions: u32,
    },
    /// A topic was deleted.
    TopicDeleted {
        /// The topic.
        topic_id: Uuid,
    },
    /// A topic config override was set (`Some`) or removed (`None`).
    TopicConfigChanged {
        /// The topic.
        topic_id: Uuid,
        /// The config name (Kafka's).
        key: String,
        /// The new value, or `None` to fall back to the default.
        value: Option<String>,
    },
    /// A broker registered (or re-registered after a restart: a new incarnation). A
    /// registered broker starts fenced until the controller unfences it.
    BrokerRegistered {
        /// The broker's `node.id`.
        broker_id: i32,
        /// Changes at every process start, so a restart is told from a stale registration.
        incarnation_id: Uuid,
        /// Advertised host.
        host: String,
        /// Advertised port.
        port: u16,
        /// `broker.rack`, for rack-aware placement.
        rack: Option<String>,
        /// Every client listener's advertised endpoint (empty in logs written before
        /// listeners were recorded: then `host`/`port` is the only one).
        #[serde(default)]
        endpoints: Vec<BrokerEndpoint>,
    },
    /// The broker may lead and host partitions (it heartbeats and has caught up).
    BrokerUnfenced {
        /// The broker.
        broker_id: i32,
    },
    /// The broker stopped heartbeating or is shutting down: it may lead nothing.
    BrokerFenced {
        /// The broker.
        broker_id: i32,
    },
    /// A partition's replicas, ISR or leader changed. `None` keeps a field as it is. A new
    /// leader bumps the leader epoch (except the very first assignment); every change bumps
    /// the partition epoch.
    PartitionChanged {
        /// The topic.
        topic_id: Uuid,
        /// The partition index.
        partition: u32,
        /// New replica list.
        replicas: Option<Vec<i32>>,
        /// New in-sync replica set.
        isr: Option<Vec<i32>>,
        /// New leader (-1: no leader).
        leader: Option<i32>,
    },
    /// A partition leader changed its ISR (Kafka's AlterPartition flow). Applied only while
    /// `leader`, `leader_epoch` and `partition_epoch` still match the partition, so a request
    /// made on stale state is refused; the new ISR must hold the leader, only replicas, and
    /// no fenced broker that was not in the ISR already. Bumps the partition epoch.
    IsrChanged {
        /// The topic.
        topic_id: Uuid,
        /// The partition index.
        partition: u32,
        /// The leader asking.
        leader: i32,
        /// The leader epoch the leader acts in.
        leader_epoch: i32,
        /// The partition epoch the leader last saw.
        partition_epoch: i32,
        /// The new in-sync replica set.
        isr: Vec<i32>,
    },
    /// A precondition, changing nothing: the batch it is in applies only while the partition
    /// is still at `partition_epoch`. The active controller puts one before its partition
    /// changes, so a decision made on an image that has moved on since (a proposal that
    /// committed late, a deposed controller's batch committed by its successor) is refused
    /// instead of overwriting newer state.
    PartitionEpochIs {
        /// The topic.
        topic_id: Uuid,
        /// The partition index.
        partition: u32,
        /// The partition epoch the decision was made on.
        partition_epoch: i32,
    },
    /// A partition's whole state as a snapshot stores it (epochs included).
    PartitionRestored {
        /// The topic.
        topic_id: Uuid,
        /// The partition index.
        partition: u32,
        /// Replicas.
        replicas: Vec<i32>,
        /// In-sync replicas.
        isr: Vec<i32>,
        /// Leader, -1 for none.
        leader: i32,
        /// Leader epoch.
        leader_epoch: i32,
        /// Partition epoch.
        partition_epoch: i32,
        /// Replicas being added by an ongoing reassignment.
        #[serde(default)]
        adding_replicas: Vec<i32>,
        /// Replicas being removed by an ongoing reassignment.
        #[serde(default)]
        removing_replicas: Vec<i32>,
    },
    /// A reassignment began (AlterPartitionReassignments): the partition is hosted by the
    /// union of its old and target replicas until the added ones are in sync. Bumps the
    /// partition epoch.
    ReassignmentStarted {
        /// The topic.
        topic_id: Uuid,
        /// The partition index.
        partition: u32,
        /// Old and target replicas together, target order first.
        replicas: Vec<i32>,
        /// Target replicas not yet hosting it.
        adding: Vec<i32>,
        /// Old replicas not in the target.
        removing: Vec<i32>,
    },
    /// A reassignment finished (the added replicas caught up) or was cancelled: the
    /// partition has exactly `replicas`, the ISR and leader given; a new leader bumps the
    /// leader epoch. Bumps the partition epoch.
    ReassignmentEnded {
        /// The topic.
        topic_id: Uuid,
        /// The partition index.
        partition: u32,
        /// The final replicas.
        replicas: Vec<i32>,
        /// The final ISR (a subset of the replicas).
        isr: Vec<i32>,
        /// The leader (-1 none).
        leader: i32,
    },
    /// A dynamic config of a resource other than a topic was set (`Some`) or removed
    /// (`None`): a broker's (`resource_type` 4, `resource_name` its node id, or empty for the
    /// cluster-wide default) or a group's (32, the group id). Kafka's `ConfigRecord`.
    ResourceConfigChanged {
        /// Kafka's `ConfigResource.Type` code (4 BROKER, 32 GROUP).
        resource_type: i8,
        /// The broker id, "" for the cluster default, or the group id.
        resource_name: String,
        /// The config name (Kafka's).
        key: String,
        /// The new value, or `None` to remove it.
        value: Option<String>,
    },
    /// Producer ids below `next_producer_id` are taken (a block was handed out).
    ProducerIdsAllocated {
        /// First producer id not yet handed out.
        next_producer_id: i64,
    },
    /// A user's SCRAM credential for one mechanism was created or replaced (Kafka's
    /// `UserScramCredentialRecord`). Carries the derived keys, never the password.
    UserScramCredentialUpserted {
        /// The user name.
        name: String,
        /// Kafka's mechanism code (1 SCRAM-SHA-256, 2 SCRAM-SHA-512).
        mechanism: i8,
        /// The salt.
        salt: SecretBytes,
        /// `H(ClientKey)`.
        stored_key: SecretBytes,
        /// `HMAC(SaltedPassword, "Server Key")`.
        server_key: SecretBytes,
        /// The PBKDF2 iteration count.
        iterations: i32,
    },
    /// A user's SCRAM credential for one mechanism was deleted (Kafka's
    /// `RemoveUserScramCredentialRecord`); applies only while it exists.
    UserScramCredentialRemoved {
        /// The user name.
        name: String,
        /// Kafka's mechanism code.
        mechanism: i8,
    },
    /// An ACL was created (Kafka's `AccessControlEntryRecord`).
    AclCreated {
        /// Its id (a UUID string).
        id: String,
        /// The ACL.
        entry: AclEntry,
    },
    /// An ACL was deleted (Kafka's `RemoveAccessControlEntryRecord`); applies only while it
    /// exists.
    AclRemoved {
        /// Its id.
        id: String,
    },
    /// A client quota was set or removed (Kafka's `ClientQuotaRecord`).
    ClientQuotaAltered {
        /// The entity (`user`, `client-id`, both, or `ip`; a part without a name is the
        /// default).
        entity: crate::QuotaEntity,
        /// The quota key (`producer_byte_rate`, ...).
        key: String,
        /// The new value, or `None` to remove it.
        value: Option<crate::QuotaValue>,
    },
}
