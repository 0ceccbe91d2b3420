//! Rill's storage engine: one partition's segmented RecordBatch v2 log on disk.
//!
//! A [`PartitionLog`] is a directory of segments (`.log` + `.index` + `.timeindex`), small
//! atomic checkpoint files and producer snapshots. Synchronous file I/O through the storage
//! seam ([`storage`]), no tokio, no network; no clock either: callers pass the time in.
//! See `/work/notes/rill-log-architecture.md` for formats, recovery and group commit.
//! Thread-safety: every public type is `Send + Sync`; mutation needs `&mut PartitionLog`.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod batch;
pub mod batch_builder;
pub mod checkpoint;
pub mod cleaner;
pub mod compression;
pub mod config;
pub mod control;
pub mod dir_sync;
pub mod epoch_cache;
pub mod error;
pub mod file_cache;
pub mod flush;
mod index_check;
mod index_file;
pub mod io;
pub mod log;
mod log_admin;
pub mod log_read;
mod log_replicated;
pub mod offset_index;
pub mod producer_state;
pub mod records;
pub mod recovery;
pub mod recycle;
mod roll_sync;
pub mod segment;
pub mod storage;
#[cfg(feature = "fault-injection")]
pub mod storage_sim;
#[cfg(any(test, feature = "test-util"))]
pub mod testutil;
pub mod time_index;
pub mod trash;
pub mod txn_index;
mod varint;

pub use batch::{
    set_base_offset, set_log_append_time, set_partition_leader_epoch, split_batches,
    validate_batch, BatchHeader, ValidBatch, BATCH_HEADER_LEN,
};
pub use batch_builder::{recompress, BatchBuilder, BatchTemplate, NewRecord};
pub use cleaner::{
    CleanPlan, CleanStats, CleanableInfo, CleanedSegments, Cleaner, CleanerConfig, CommitOutcome,
    ObsoleteFiles, Throttle, TokenBucket,
};
pub use compression::Codec;
pub use config::{CleanupPolicy, FlushPolicy, LogConfig, TimestampType};
pub use control::{build_marker, read_control, ControlKind, MarkerSpec, TxnOutcome};
pub use epoch_cache::LeaderEpochCache;
pub use error::{LogError, Result};
pub use file_cache::FileCache;
pub use flush::{Durability, SyncObserver};
pub use log::{AppendInfo, PartitionLog};
pub use log_admin::{RemovedFiles, RemovedSegments};
pub use log_read::{FileSlice, ReadResult};
pub use producer_state::{CompletedTxn, ProducerStateManager, ProducerView};
pub use records::{Header, Headers, Record, Records};
pub use recovery::RecoveryReport;
pub use roll_sync::RollSyncs;
pub use txn_index::AbortedTxn;
#[cfg(test)]
mod log_tests;
#[cfg(test)]
mod records_tests;
#[cfg(test)]
mod recycle_tests;
