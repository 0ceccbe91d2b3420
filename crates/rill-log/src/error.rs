//! Typed errors of the storage engine.
//!
//! One enum, [`LogError`], with structured fields so the broker can map each case to a Kafka
//! error code in exactly one place. I/O failures carry the operation and the path; `ENOSPC`
//! becomes [`LogError::NoSpace`]. Values are plain data: `Send + Sync`.

use std::path::{Path, PathBuf};

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, LogError>;

/// Everything that can go wrong in the storage engine.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The batch bytes fail an integrity check (CRC, magic, declared length).
    #[error("corrupt record batch: {reason}")]
    CorruptBatch {
        /// What exactly is wrong.
        reason: String,
    },
    /// The batch is well-formed but its sizes or counts are not acceptable.
    #[error("invalid record batch: {reason}")]
    InvalidBatch {
        /// What exactly is wrong.
        reason: String,
    },
    /// The batch is larger than `max.message.bytes`.
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    BatchTooLarge {
        /// Size of the batch in bytes.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A read or DeleteRecords asked for an offset outside `[log_start, log_end]`.
    #[error("offset {requested} out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        requested: i64,
        /// The log start offset at the time.
        log_start: i64,
        /// The log end offset at the time.
        log_end: i64,
    },
    /// An idempotent producer's sequence number does not follow its last one.
    #[error("out of order sequence for producer {producer_id}: expected {expected}, got {got}")]
    OutOfOrderSequence {
        /// The producer.
        producer_id: i64,
        /// The sequence number that would have been accepted.
        expected: i32,
        /// The batch's first sequence number.
        got: i32,
    },
    /// The producer epoch is older than the one already seen (a fenced, zombie producer).
    #[error("producer {producer_id} epoch {got} is older than current epoch {current}")]
    InvalidProducerEpoch {
        /// The producer.
        producer_id: i64,
        /// The current epoch of that producer.
        current: i16,
        /// The epoch the batch carries.
        got: i16,
    },
    /// A batch does not fit the producer's transaction state (Kafka's INVALID_TXN_STATE): a
    /// non-transactional batch while the producer's transaction is open.
    #[error("invalid transaction state for producer {producer_id}: {reason}")]
    InvalidTxnState {
        /// The producer.
        producer_id: i64,
        /// What is wrong.
        reason: String,
    },
    /// A transaction marker from a coordinator epoch older than the last marker's (a
    /// coordinator that lost its partition; TRANSACTION_COORDINATOR_FENCED).
    #[error(
        "marker for producer {producer_id} from coordinator epoch {got}, older than {current}"
    )]
    TransactionCoordinatorFenced {
        /// The producer.
        producer_id: i64,
        /// The coordinator epoch of the last marker.
        current: i32,
        /// The marker's coordinator epoch.
        got: i32,
    },
    /// A replicated append did not start at the log end offset or went backwards.
    #[error("replicated batch at offset {got} does not follow log end offset {expected}")]
    NonContiguousReplicatedBatch {
        /// The offset the batch had to start at (or exceed).
        expected: i64,
        /// The batch's base offset.
        got: i64,
    },
    /// A durability wait asked for offsets that were never written.
    #[error("cannot wait for offset {requested}: log end offset is {log_end}")]
    NotWritten {
        /// The end offset asked for.
        requested: i64,
        /// The log end offset at the time.
        log_end: i64,
    },
    /// The disk is full.
    #[error("no space left on device during {op} of {path}")]
    NoSpace {
        /// The operation (write, sync, create, ...).
        op: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// An earlier fsync failed; the log can no longer promise durability (KafkaStorageError).
    #[error("log {path} is offline after a failed fsync: {reason}")]
    StorageOffline {
        /// The partition directory.
        path: PathBuf,
        /// The first failure.
        reason: String,
    },
    /// A cleaning pass was stopped by its caller (see `cleaner::Throttle`).
    #[error("log cleaning aborted: {reason}")]
    CleanerAborted {
        /// Why.
        reason: String,
    },
    /// A fault injected by a test (feature `fault-injection`): the process "crashed" here.
    #[error("simulated crash at {point}")]
    SimulatedCrash {
        /// Where.
        point: &'static str,
    },
    /// Any other I/O failure.
    #[error("I/O error during {op} of {path}: {source}")]
    Io {
        /// The operation (open, read, write, sync, rename, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl LogError {
    /// Builds an I/O error for `op` on `path`, mapping `ENOSPC` to [`LogError::NoSpace`].
    pub fn io(op: &'static str, path: &Path, source: std::io::Error) -> LogError {
        if source.raw_os_error() == Some(libc::ENOSPC) {
            LogError::NoSpace {
                op,
                path: path.to_path_buf(),
            }
        } else {
            LogError::Io {
                op,
                path: path.to_path_buf(),
                source,
            }
        }
    }

    /// Whether this is a failed fsync (of a file or a directory): afterwards the log goes
    /// offline (see [`LogError::StorageOffline`]).
    pub fn is_sync_failure(&self) -> bool {
        matches!(
            self,
            LogError::Io {
                op: "sync" | "sync dir",
                ..
            } | LogError::NoSpace {
                op: "sync" | "sync dir",
                ..
            }
        )
    }

    /// Shorthand for [`LogError::InvalidBatch`].
    pub(crate) fn invalid(reason: impl Into<String>) -> LogError {
        LogError::InvalidBatch {
            reason: reason.into(),
        }
    }

    /// Shorthand for [`LogError::CorruptBatch`].
    pub(crate) fn corrupt(reason: impl Into<String>) -> LogError {
        LogError::CorruptBatch {
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_becomes_no_space_and_other_errors_keep_their_context() {
        let p = Path::new("/x/00000000000000000000.log");
        let full = LogError::io("write", p, std::io::Error::from_raw_os_error(libc::ENOSPC));
        assert!(matches!(full, LogError::NoSpace { op: "write", ref path } if path == p));
        let other = LogError::io("open", p, std::io::Error::from_raw_os_error(libc::EACCES));
        assert!(matches!(other, LogError::Io { op: "open", .. }));
        assert!(other.to_string().contains("00000000000000000000.log"));
    }
}
