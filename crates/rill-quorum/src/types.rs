//! The openraft type configuration of the metadata quorum, and the values it carries.
//!
//! A log entry's payload is a [`MetadataBatch`]: records proposed together and applied
//! atomically (all or none). The reply of applying a batch is an [`ApplyReply`]. Both are
//! serde values (JSON on disk and on the wire). Thread-safety: plain data.

use std::io::Cursor;

use rill_meta::MetadataRecord;
use serde::{Deserialize, Serialize};

/// A controller's node id (`node.id`).
pub type NodeId = u64;

/// The index of a committed entry in the metadata log (Kafka's metadata offset).
pub type CommittedOffset = u64;

/// Records proposed together; the state machine applies all of them or none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataBatch {
    /// The records, in order.
    pub records: Vec<MetadataRecord>,
}

/// What applying one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyReply {
    /// `Some(reason)` when the batch contradicted the image and was skipped.
    pub rejected: Option<String>,
}

openraft::declare_raft_types!(
    /// The openraft type configuration of the metadata quorum.
    pub TypeConfig:
        D = MetadataBatch,
        R = ApplyReply,
        NodeId = NodeId,
        Node = openraft::BasicNode,
);

/// A log entry of the metadata quorum.
pub type Entry = openraft::Entry<TypeConfig>;
/// A log id (term, leader, index).
pub type LogId = openraft::LogId<NodeId>;
/// A vote.
pub type Vote = openraft::Vote<NodeId>;
/// The openraft handle.
pub type Raft = openraft::Raft<TypeConfig>;
/// Storage errors as openraft wants them.
pub type StorageError = openraft::StorageError<NodeId>;
/// A membership as stored with the log.
pub type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
/// A snapshot's metadata.
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, openraft::BasicNode>;

/// Keeps `Cursor` used: openraft's macro names it as the default snapshot data type.
pub(crate) type SnapshotData = Cursor<Vec<u8>>;
