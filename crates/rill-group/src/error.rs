//! Typed errors of the group coordinator. Each variant names one Kafka error the Java broker
//! sends for the same mistake; the broker maps them to wire codes in one place
//! (`rill-broker` `api/errors.rs`).

/// Why a group request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// Another node coordinates this group (NOT_COORDINATOR): the client looks it up again.
    #[error("this node is not the coordinator of group '{0}'")]
    NotCoordinator(String),
    /// The group id is empty or too long (INVALID_GROUP_ID).
    #[error("invalid group id '{0}'")]
    InvalidGroupId(String),
    /// The member id is not (or no longer) a member of the group (UNKNOWN_MEMBER_ID).
    #[error("unknown member id '{member_id}' in group '{group_id}'")]
    UnknownMemberId {
        /// The group.
        group_id: String,
        /// The member id sent.
        member_id: String,
    },
    /// A new dynamic member must rejoin with the id it was given (MEMBER_ID_REQUIRED, KIP-394).
    #[error("member id required: rejoin with '{member_id}'")]
    MemberIdRequired {
        /// The id issued to the member.
        member_id: String,
    },
    /// The generation is not the group's current one (ILLEGAL_GENERATION).
    #[error("generation {sent} is not the group's generation {current}")]
    IllegalGeneration {
        /// The generation sent.
        sent: i32,
        /// The group's generation.
        current: i32,
    },
    /// Protocol type or protocols do not match the group's (INCONSISTENT_GROUP_PROTOCOL).
    #[error("inconsistent group protocol: {0}")]
    InconsistentGroupProtocol(String),
    /// The group is rebalancing: rejoin (REBALANCE_IN_PROGRESS).
    #[error("the group is rebalancing")]
    RebalanceInProgress,
    /// Another member owns this group.instance.id (FENCED_INSTANCE_ID, KIP-345).
    #[error("group.instance.id '{instance_id}' belongs to another member")]
    FencedInstanceId {
        /// The static instance id.
        instance_id: String,
    },
    /// Session timeout outside the broker's bounds (INVALID_SESSION_TIMEOUT).
    #[error("session timeout {0} ms is outside the broker's bounds")]
    InvalidSessionTimeout(i32),
    /// The group is not there (GROUP_ID_NOT_FOUND).
    #[error("group '{0}' does not exist")]
    GroupIdNotFound(String),
    /// The group still has members (NON_EMPTY_GROUP).
    #[error("group '{0}' is not empty")]
    NonEmptyGroup(String),
    /// The group is being removed; ask again (COORDINATOR_NOT_AVAILABLE).
    #[error("group '{0}' is being removed")]
    CoordinatorNotAvailable(String),
    /// The group is full (GROUP_MAX_SIZE_REACHED).
    #[error("group '{0}' reached group.max.size")]
    GroupMaxSizeReached(String),
    /// Offset metadata longer than offset.metadata.max.bytes (OFFSET_METADATA_TOO_LARGE).
    #[error("offset metadata of {0} bytes is too large")]
    OffsetMetadataTooLarge(usize),
    /// The active group is subscribed to the topic (GROUP_SUBSCRIBED_TO_TOPIC).
    #[error("group is subscribed to topic '{0}'")]
    GroupSubscribedToTopic(String),
    /// A transaction's offset for the partition is pending and the fetch requires stable
    /// offsets (UNSTABLE_OFFSET_COMMIT, KIP-447).
    #[error("a transaction's offset of {topic}-{partition} in group '{group_id}' is pending")]
    UnstableOffsetCommit {
        /// The group.
        group_id: String,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
}

/// Why a record of `__consumer_offsets` does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The bytes end before the field does.
    #[error("record truncated reading {field}")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// A key or value version we do not know.
    #[error("unknown {what} version {version}")]
    UnknownVersion {
        /// Key or value.
        what: &'static str,
        /// The version found.
        version: i16,
    },
    /// A string that is not UTF-8 or has a negative length where one is required.
    #[error("bad string in {field}")]
    BadString {
        /// The field being read.
        field: &'static str,
    },
}

/// Result alias for coordinator operations.
pub type Result<T, E = GroupError> = std::result::Result<T, E>;
