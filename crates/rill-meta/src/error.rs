//! Errors of applying metadata records or validating metadata changes.

/// What is wrong with a metadata change.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum MetaError {
    /// A topic of that name exists already.
    #[error("topic '{name}' already exists")]
    TopicExists {
        /// The topic's name.
        name: String,
    },
    /// No topic of that name or id.
    #[error("unknown topic '{name}'")]
    UnknownTopic {
        /// The name (or id, as text) that was asked for.
        name: String,
    },
    /// The topic name breaks Kafka's naming rules.
    #[error("invalid topic name '{name}': {reason}")]
    InvalidTopicName {
        /// The rejected name.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The log already belongs to another cluster.
    #[error("the metadata log belongs to cluster {existing}, not {proposed}")]
    ClusterIdMismatch {
        /// The cluster id the log has.
        existing: String,
        /// The one proposed.
        proposed: String,
    },
    /// No broker of that id is registered.
    #[error("unknown broker {broker_id}")]
    UnknownBroker {
        /// The broker id.
        broker_id: i32,
    },
    /// The topic has no such partition.
    #[error("topic '{topic}' has no partition {partition}")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: u32,
    },
    /// More replicas asked for than there are usable brokers.
    #[error("replication factor {requested} is larger than the {available} available brokers")]
    InvalidReplicationFactor {
        /// The replication factor asked for.
        requested: u16,
        /// Unfenced brokers.
        available: usize,
    },
    /// An ISR change made on stale partition state (AlterPartition's epoch check).
    #[error("stale ISR change for partition {partition} of topic '{topic}': {reason}")]
    StalePartitionState {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// What did not match.
        reason: String,
    },
    /// A replica list that cannot be used (empty, duplicates, unknown brokers).
    #[error("invalid replica assignment: {0}")]
    InvalidReplicaAssignment(String),
    /// A reassignment was cancelled where none runs.
    #[error("no reassignment in progress for partition {partition} of topic '{topic}'")]
    NoReassignmentInProgress {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
    },
    /// A partition count that is not positive, or that would shrink a topic.
    #[error("invalid partition count {requested} for topic '{name}' (current {current})")]
    InvalidPartitions {
        /// The topic's name.
        name: String,
        /// The count asked for.
        requested: i64,
        /// The count the topic has now (0 for a new topic).
        current: u32,
    },
    /// A SCRAM credential removal for a credential that is not stored.
    #[error("no SCRAM credential of user '{user}' for mechanism {mechanism}")]
    UnknownScramCredential {
        /// The user.
        user: String,
        /// Kafka's mechanism code.
        mechanism: i8,
    },
    /// An ACL removal names an ACL that is not stored.
    #[error("no ACL with id {id}")]
    UnknownAcl {
        /// The id.
        id: String,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, MetaError>;
