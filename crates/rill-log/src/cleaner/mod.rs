//! The log cleaner (Kafka's log compaction): keeps the latest record of each key below the
//! cleaner point of a `cleanup.policy=compact` log.
//!
//! A pass runs in three steps so that appends keep flowing while a log is cleaned (the
//! broker holds a [`crate::PartitionLog`] behind a mutex):
//! 1. [`crate::PartitionLog::plan_clean`] (`&PartitionLog`, the lock held briefly): a
//!    [`CleanPlan`], a snapshot of the immutable segments to clean (open handles, offsets,
//!    sizes), the cleaner checkpoint and the producers' last batches.
//! 2. [`Cleaner::clean`] (no lock): builds the [`OffsetMap`] over the dirty section (up to
//!    where it fills, so a log with more keys than the map holds is cleaned in several
//!    passes), then rewrites the segments below that point in groups ([`grouping`]) into
//!    `<base>.log.cleaned` files with their indexes, all through the storage seam, paced by
//!    a [`Throttle`]. Result: [`CleanedSegments`].
//! 3. [`crate::PartitionLog::commit_clean`] (`&mut PartitionLog`): checks the planned
//!    segments are still there (else abandons), swaps the cleaned segments in atomically
//!    ([`swap`]) and moves the cleaner checkpoint ([`checkpoint`]).
//!
//! Retention rules per record and batch: [`filter`]. When a log is due: [`cleanable`].
//! Crash safety: [`swap`] (recovery finds the old segments or the new ones, never a mix).
//! Thread-safety: a [`Cleaner`] is owned by one cleaner thread; plans and results are plain
//! data that may move between threads.

pub mod checkpoint;
mod clean;
pub mod cleanable;
pub mod filter;
pub mod grouping;
pub mod offset_map;
pub mod plan;
mod reader;
pub mod swap;
#[cfg(test)]
mod tests;
pub mod throttle;
mod writer;

pub use clean::{CleanStats, CleanedSegments, Cleaner, CleanerConfig};
pub use cleanable::CleanableInfo;
pub use offset_map::OffsetMap;
pub use plan::CleanPlan;
pub use swap::{CommitOutcome, ObsoleteFiles};
pub use throttle::{NoThrottle, Throttle, TokenBucket};
