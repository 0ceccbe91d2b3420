//! Errors of the broker shell (startup, data directory, I/O outside the log engine).
//! Kafka error codes for clients are mapped in [`crate::api::errors`], nowhere else.

use std::path::PathBuf;

/// What went wrong in the broker.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// A configuration error.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// An I/O error with what we were doing and where.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What we were doing.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The data directory belongs to something else or is damaged beyond recovery.
    #[error("data directory: {0}")]
    BadDataDir(String),
    /// The storage engine failed.
    #[error(transparent)]
    Log(#[from] rill_log::LogError),
    /// A metadata change contradicts the current metadata.
    #[error(transparent)]
    Meta(#[from] rill_meta::MetaError),
    /// Binding the listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// This node cannot reach an active controller (none elected, or unreachable).
    #[error("no active controller reachable (last known: {leader:?})")]
    NotController {
        /// The controller this node last knew.
        leader: Option<i32>,
    },
    /// The metadata quorum committed the change but it contradicted the image (a race with
    /// another change): nothing changed.
    #[error("metadata change rejected: {0}")]
    MetadataRejected(String),
    /// A bug or an unexpected state, with a description.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, BrokerError>;
