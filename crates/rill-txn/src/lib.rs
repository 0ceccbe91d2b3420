//! Rill's transaction coordinator as a pure state machine: Kafka's transactions (KIP-98)
//! with producer-epoch recovery (KIP-360) and the server side of KIP-890 part 1 (partition
//! leaders verify a transactional append against the coordinator), on the records of
//! `__transaction_state`.
//!
//! Like rill-group's group coordinator, it is a replicated state machine: every handler
//! takes the time (`now_ms`) and returns an [`Output`]; there are no sockets, tasks,
//! clocks or I/O, and the state of a `__transaction_state` partition is rebuilt by
//! replaying its records. Transactions V1 only (no epoch bump per transaction, KIP-890
//! part 2): the broker must not finalize `transaction.version` 2, so clients stay on
//! EndTxn v4 semantics.
//!
//! # The shell's contract
//!
//! The broker ("the shell") keeps one [`TxnCoordinator`] behind a lock and:
//!
//! 1. **Ownership.** On becoming leader of `__transaction_state-p` in leader epoch `e`, calls
//!    [`TxnCoordinator::begin_load`], feeds every record of the partition to
//!    [`TxnCoordinator::replay`], then calls [`TxnCoordinator::loaded_partition`]; on losing
//!    it, [`TxnCoordinator::unload_partition`]. Until loaded, the partition's ids answer
//!    COORDINATOR_LOAD_IN_PROGRESS; ids of partitions not held answer NOT_COORDINATOR.
//! 2. **Requests.** Gives each parked request a [`RequestId`] and calls
//!    [`TxnCoordinator::init_producer_id`], [`TxnCoordinator::add_partitions`],
//!    [`TxnCoordinator::add_offsets`], [`TxnCoordinator::end_txn`] (answers come as
//!    [`Reply`]s, now or later), [`TxnCoordinator::verify_partitions`],
//!    [`TxnCoordinator::describe_transaction`] and [`TxnCoordinator::list_transactions`]
//!    (answered at once). Error codes for old request versions come from
//!    [`TxnError::code_for`].
//! 3. **Records.** Appends `Output::records` to their `__transaction_state` partitions in
//!    the order given (acks=all, under the lock so log order is state order), and reports
//!    each one's fate by its [`WriteId`]: [`TxnCoordinator::on_append_complete`] once it is
//!    durable, or [`TxnCoordinator::on_append_failed`] (with
//!    [`TxnError::from_append_error_code`]) when it was not appended. A state change takes
//!    effect only once its record is durable; the reply that waited for it comes then.
//! 4. **Replies.** Sends every [`Reply`] of every output to its parked request.
//! 5. **Markers.** Writes each [`MarkerBatch`] with WriteTxnMarkers to the partitions'
//!    leaders (retrying until written; a deleted partition counts as written) and reports
//!    the partitions done, once each, with [`TxnCoordinator::markers_written`] and the
//!    batch's coordinator epoch. When all are, the coordinator writes the Complete record.
//! 6. **Time.** Calls [`TxnCoordinator::tick`] at [`TxnCoordinator::next_deadline`]: it
//!    aborts timed-out transactions, expires idle transactional ids and retries failed
//!    Complete records.
//!
//! Producer ids come from the shell (a block allocator): handlers that may need one take a
//! closure and call it at most once. InitProducerId without a transactional id (idempotent
//! producers) never reaches the coordinator.

pub mod admin;
pub mod config;
pub mod coordinator;
pub mod error;
pub mod init;
pub mod load;
pub mod markers;
pub mod metadata;
pub mod output;
pub mod records;
pub mod state;
pub mod timers;
pub mod txn_ops;
pub mod types;

#[cfg(test)]
mod tests;

pub use admin::{ListTransactionsFilter, ListedTxn, TxnDescription, TxnListing};
pub use config::TxnConfig;
pub use coordinator::{validate_transactional_id, TxnCoordinator, MAX_TRANSACTIONAL_ID_LEN};
pub use error::{RecordError, TxnApi, TxnError};
pub use init::InitProducerIdRequest;
pub use metadata::{is_epoch_exhausted, TxnMetadata};
pub use output::{Answer, MarkerBatch, Output, Reply};
pub use records::{decode_key, decode_value, encode_key, encode_value, StoredTxn, TxnRecord};
pub use state::TxnState;
pub use txn_ops::TxnProducer;
pub use types::{
    partition_for, ProducerIdAndEpoch, RequestId, TopicPartition, TxnResult, WriteId,
    CONSUMER_OFFSETS_TOPIC, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, TRANSACTION_STATE_TOPIC,
};
