//! The errors of the metadata quorum, one enum with structured fields.
//!
//! `NotController` is the quorum's NOT_CONTROLLER: it names the leader when this node knows
//! it, so a caller can forward the proposal. Thread-safety: plain data, `Send + Sync`.

use std::path::PathBuf;

use crate::NodeId;

/// A `Result` with [`QuorumError`].
pub type Result<T, E = QuorumError> = std::result::Result<T, E>;

/// Why a quorum operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    /// This node is not the active controller; `leader` is the one it knows of, if any.
    #[error("node {node_id} is not the active controller (leader: {leader:?})")]
    NotController {
        /// This node.
        node_id: NodeId,
        /// The current leader as this node knows it.
        leader: Option<NodeId>,
    },
    /// The records were committed to the log but contradict the image, so the state machine
    /// skipped them on every node (the image is unchanged).
    #[error("metadata records rejected at offset {offset}: {reason}")]
    Rejected {
        /// The log index the rejected batch occupies.
        offset: u64,
        /// The image's reason.
        reason: String,
    },
    /// `controller.quorum.voters` could not be parsed.
    #[error("invalid controller.quorum.voters {input:?}: {reason}")]
    InvalidVoters {
        /// The text given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A disk operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What we were doing.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file on disk is corrupt beyond a torn tail.
    #[error("corrupt {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The Raft core stopped or reported an error we do not map.
    #[error("raft: {message}")]
    Raft {
        /// openraft's description.
        message: String,
    },
    /// The quorum is shutting down.
    #[error("the metadata quorum is shutting down")]
    ShuttingDown,
}

impl QuorumError {
    /// Shorthand for an [`QuorumError::Io`].
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        QuorumError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
