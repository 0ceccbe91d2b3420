//! Partitions this broker hosts and the manager that finds them.
//!
//! On a single node every partition is a leader with itself as the only replica. In a
//! cluster a partition's followers pull from its leader ([`fetcher`]), the leader tracks
//! their progress and the high watermark ([`state`]) and asks the controller for ISR
//! changes ([`isr`]). Delayed produces and fetches wait on the partitions they touch
//! ([`purgatory`]).
//!
//! The [`ReplicaManager`] is the partition service the API handlers call: it holds the
//! produce rules ([`append`]: `ReplicaManager::append_records`) and the fetch rules
//! ([`fetch_records`]: `ReplicaManager::fetch_records`), with their guards ([`guards`]:
//! leadership and leader epochs by the metadata image). It takes the image per call and never
//! the whole `Broker`.

pub mod append;
mod append_route;
pub mod fetch_records;
pub mod fetcher;
mod file_deleter;
mod guards;
pub mod isr;
mod manager;
mod partition;
pub mod produce_checks;
pub mod purgatory;
pub mod state;
mod timestamps;

pub use append_route::{AppendNeeds, AppendRouting};
pub(crate) use file_deleter::delete_dir_later;
pub use guards::{check_leader_epoch, fetch_target_in, leader_epoch, leader_partition_in};
pub use manager::ReplicaManager;
pub use partition::{
    CommitError, FetchRead, FetchSlices, Isolation, LogStats, Partition, PartitionId,
};
