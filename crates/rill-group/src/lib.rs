//! Rill's group coordinator as a pure state machine: Kafka's classic group protocol
//! (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, static membership, the cooperative flow the
//! clients drive), committed offsets, transactional offset commits (KIP-98, KIP-447), and the
//! records of `__consumer_offsets`.
//!
//! Like Kafka's GroupMetadataManager it is "a replicated state machine": handlers take the
//! time (`now_ms`) and return an [`Output`] — records to append and answers to parked
//! requests — and the state is rebuilt on start by [`GroupCoordinator::replay`] of every
//! record. No tokio, no sockets, no clock: timers are deadlines the shell drives with
//! [`GroupCoordinator::tick`]. Not thread-safe by itself; the broker keeps it behind a lock.

pub mod admin;
pub mod classic;
pub mod coordinator;
pub mod error;
pub mod join_types;
pub mod offsets;
pub mod records;
pub mod retention;
pub mod txn_offsets;

#[cfg(test)]
mod tests;

pub use admin::{GroupDescription, MemberDescription};
pub use classic::{GroupState, RequestId};
pub use coordinator::{
    validate_group_id, GroupConfig, GroupCoordinator, Output, RecordOrigin, Reply,
};
pub use error::{GroupError, RecordError};
pub use join_types::{
    JoinFailure, JoinOk, JoinRequest, JoinResult, JoinedMember, MemberRef, SyncOk, SyncRequest,
    SyncResult,
};
pub use offsets::{CommittedOffset, OffsetToCommit};
pub use records::{partition_for, CoordinatorRecord};
pub use txn_offsets::{FetchedOffset, PendingTxnOffset, TxnOffsetCommit, TxnOffsetWrite};
