//! Requests and answers of the membership APIs, free of wire details: the broker fills them
//! from the Kafka messages and back.

use bytes::Bytes;

use crate::error::GroupError;

/// A JoinGroup request.
#[derive(Debug, Clone, Default)]
pub struct JoinRequest {
    /// Group id.
    pub group_id: String,
    /// Member id; empty for a new member.
    pub member_id: String,
    /// group.instance.id (KIP-345).
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Session timeout.
    pub session_timeout_ms: i32,
    /// Rebalance timeout (v0: the session timeout).
    pub rebalance_timeout_ms: i32,
    /// Protocol type ("consumer").
    pub protocol_type: String,
    /// (assignor name, metadata) in preference order.
    pub protocols: Vec<(String, Bytes)>,
    /// v4+: a new member must rejoin with the id it is given (KIP-394).
    pub require_known_member_id: bool,
    /// Unique text for a new member id (the shell passes a UUID; the core has no randomness).
    pub member_id_suffix: String,
}

/// One member as the leader sees it in its JoinGroup answer.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinedMember {
    /// Member id.
    pub member_id: String,
    /// Static id.
    pub group_instance_id: Option<String>,
    /// Metadata for the selected protocol.
    pub metadata: Bytes,
}

/// A successful JoinGroup.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinOk {
    /// The generation.
    pub generation_id: i32,
    /// Protocol type.
    pub protocol_type: String,
    /// Selected protocol.
    pub protocol_name: String,
    /// Leader member id.
    pub leader: String,
    /// The member's id.
    pub member_id: String,
    /// v9+: the static leader rejoined and must not reassign (KIP-814).
    pub skip_assignment: bool,
    /// All members: for the leader only.
    pub members: Vec<JoinedMember>,
}

/// A failed JoinGroup: the error and the member id to echo.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinFailure {
    /// The error.
    pub error: GroupError,
    /// The member id to return (the issued one for MEMBER_ID_REQUIRED).
    pub member_id: String,
}

/// The answer to JoinGroup.
pub type JoinResult = Result<JoinOk, JoinFailure>;

/// A SyncGroup request.
#[derive(Debug, Clone, Default)]
pub struct SyncRequest {
    /// Group id.
    pub group_id: String,
    /// Generation.
    pub generation_id: i32,
    /// Member id.
    pub member_id: String,
    /// group.instance.id.
    pub group_instance_id: Option<String>,
    /// v5+: protocol type, checked when present.
    pub protocol_type: Option<String>,
    /// v5+: protocol name, checked when present.
    pub protocol_name: Option<String>,
    /// Leader only: (member id, assignment).
    pub assignments: Vec<(String, Bytes)>,
}

/// A successful SyncGroup.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncOk {
    /// Protocol type.
    pub protocol_type: String,
    /// Protocol name.
    pub protocol_name: String,
    /// The member's assignment.
    pub assignment: Bytes,
}

/// The answer to SyncGroup.
pub type SyncResult = Result<SyncOk, GroupError>;

/// Identifies a member in Heartbeat, LeaveGroup and OffsetCommit.
#[derive(Debug, Clone, Default)]
pub struct MemberRef {
    /// Member id (may be empty in LeaveGroup v3+ with an instance id).
    pub member_id: String,
    /// group.instance.id.
    pub group_instance_id: Option<String>,
}
