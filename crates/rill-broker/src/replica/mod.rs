//! Partitions this broker hosts and the manager that finds them.
//!
//! On a single node every partition is a leader with itself as the only replica. In a
//! cluster a partition's followers pull from its leader ([`fetcher`]), the leader tracks
//! their progress and the high watermark ([`state`]) and asks the controller for ISR
//! changes ([`isr`]). Delayed produces and fetches wait on the partitions they touch
//! ([`purgatory`]).

pub mod fetcher;
mod file_deleter;
pub mod isr;
mod manager;
mod partition;
pub mod purgatory;
pub mod state;
mod timestamps;

pub(crate) use file_deleter::delete_dir_later;
pub use manager::ReplicaManager;
pub use partition::{CommitError, FetchRead, FetchSlices, LogStats, Partition, PartitionId};
