//! Partitions this broker hosts and the manager that finds them.
//!
//! On a single node every partition is a leader with itself as the only replica; replication
//! (followers, ISR) extends [`Partition`] later without changing the produce and fetch paths.

mod manager;
mod partition;
mod timestamps;

pub use manager::ReplicaManager;
pub use partition::{FetchRead, Partition};
