//! One transactional id's metadata (Kafka's `TransactionMetadata`) and the transitions the
//! coordinator prepares on it (Kafka's `TxnTransitMetadata`).
//!
//! Invariants:
//! - the durable fields (everything [`TxnMetadata::stored`] returns) equal the last record of
//!   the id that the shell reported durable (or replayed): a transition is prepared as a
//!   `Transit`, written, and applied only by `on_append_complete`;
//! - at most one change is in flight per id (`Pending`); while one is, requests that would
//!   change the id get CONCURRENT_TRANSACTIONS (Kafka's `pendingState`);
//! - PrepareCommit and PrepareAbort always have a pending change (markers being written, or
//!   the Complete record), so a prepared transaction always moves on;
//! - two in-memory overlays are not durable, as in Kafka: `last_producer_epoch` (KIP-360
//!   retries; not in the record schema) and `fence_epoch` (the bumped epoch of a fence whose
//!   record is in flight or failed: Kafka bumps the epoch in memory before the write, and
//!   keeps it after a failed write as `hasFailedEpochFence`).

use std::collections::BTreeSet;

use crate::error::TxnError;
use crate::output::Reply;
use crate::records::StoredTxn;
use crate::state::TxnState;
use crate::types::{TopicPartition, TxnResult, WriteId, NO_PRODUCER_EPOCH, NO_PRODUCER_ID};

/// Whether an epoch leaves no room for another bump (Kafka keeps `i16::MAX` for fencing).
pub fn is_epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

/// The metadata of one transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    /// The transactional id.
    pub transactional_id: String,
    /// Producer id in use.
    pub producer_id: i64,
    /// Producer id before the last rotation (KIP-360), or the current one after a bump.
    pub previous_producer_id: i64,
    /// Durable producer epoch (see [`TxnMetadata::epoch`] for the one requests are checked
    /// against).
    pub producer_epoch: i16,
    /// Epoch before the last InitProducerId bump (KIP-360 retries); in memory only.
    pub last_producer_epoch: i16,
    /// The producer's `transaction.timeout.ms`.
    pub txn_timeout_ms: i32,
    /// State.
    pub state: TxnState,
    /// Partitions in the transaction.
    pub partitions: BTreeSet<TopicPartition>,
    /// When the transaction began, -1 if none did.
    pub txn_start_timestamp_ms: i64,
    /// When the id last changed (expiry counts from here).
    pub txn_last_update_timestamp_ms: i64,
    /// Bumped epoch of a fence in flight or failed (not durable).
    pub(crate) fence_epoch: Option<i16>,
    /// The change in flight, if any.
    pub(crate) pending: Option<Pending>,
}

/// A prepared state change: every durable field as it will be once its record is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Transit {
    /// Producer id.
    pub(crate) producer_id: i64,
    /// Previous producer id.
    pub(crate) previous_producer_id: i64,
    /// Producer epoch.
    pub(crate) producer_epoch: i16,
    /// Last producer epoch (in memory only).
    pub(crate) last_producer_epoch: i16,
    /// Transaction timeout.
    pub(crate) txn_timeout_ms: i32,
    /// Target state.
    pub(crate) state: TxnState,
    /// Partitions.
    pub(crate) partitions: BTreeSet<TopicPartition>,
    /// Transaction start.
    pub(crate) txn_start_timestamp_ms: i64,
    /// Last update.
    pub(crate) txn_last_update_timestamp_ms: i64,
}

/// What happens once a pending write is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Then {
    /// Apply the transit and send the reply (InitProducerId, AddPartitions, AddOffsets).
    Reply(Option<Reply>),
    /// Apply the PrepareCommit/PrepareAbort transit, send the reply, write the markers
    /// (EndTxn, fence, timeout abort).
    Markers(Option<Reply>),
    /// Apply the CompleteCommit/CompleteAbort transit.
    Complete,
    /// Forget the id (its tombstone is durable).
    Expire,
}

/// The change in flight for an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pending {
    /// A record is with the shell.
    Write {
        /// Its id.
        write_id: WriteId,
        /// The change it records.
        transit: Transit,
        /// What follows durability.
        then: Then,
    },
    /// The Prepare record is durable; markers are being written.
    Markers {
        /// COMMIT or ABORT.
        result: TxnResult,
        /// Partitions whose marker is not reported written yet; empty once they all are
        /// and the Complete record still has to be written (after a failed write).
        remaining: BTreeSet<TopicPartition>,
    },
}

impl TxnMetadata {
    /// A new id with a freshly allocated producer id and no epoch yet (Kafka creates it so,
    /// in state Empty, before its first InitProducerId record is written).
    pub(crate) fn fresh(
        transactional_id: &str,
        producer_id: i64,
        timeout_ms: i32,
        now: i64,
    ) -> Self {
        TxnMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id,
            previous_producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            txn_timeout_ms: timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            txn_start_timestamp_ms: -1,
            txn_last_update_timestamp_ms: now,
            fence_epoch: None,
            pending: None,
        }
    }

    /// The metadata a replayed record describes.
    pub(crate) fn from_stored(transactional_id: &str, v: StoredTxn) -> Self {
        TxnMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id: v.producer_id,
            previous_producer_id: v.previous_producer_id,
            producer_epoch: v.producer_epoch,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            txn_timeout_ms: v.txn_timeout_ms,
            state: v.state,
            partitions: v.partitions,
            txn_start_timestamp_ms: v.txn_start_timestamp_ms,
            txn_last_update_timestamp_ms: v.txn_last_update_timestamp_ms,
            fence_epoch: None,
            pending: None,
        }
    }

    /// The durable fields, as a record would store them.
    pub fn stored(&self) -> StoredTxn {
        StoredTxn {
            producer_id: self.producer_id,
            previous_producer_id: self.previous_producer_id,
            next_producer_id: NO_PRODUCER_ID,
            producer_epoch: self.producer_epoch,
            txn_timeout_ms: self.txn_timeout_ms,
            state: self.state,
            partitions: self.partitions.clone(),
            txn_last_update_timestamp_ms: self.txn_last_update_timestamp_ms,
            txn_start_timestamp_ms: self.txn_start_timestamp_ms,
            client_transaction_version: 0,
        }
    }

    /// The epoch requests are checked against: the fencing epoch while a fence is in flight
    /// (or failed), else the durable one.
    pub fn epoch(&self) -> i16 {
        self.fence_epoch.unwrap_or(self.producer_epoch)
    }

    /// Whether a change is in flight (Kafka's `pendingTransitionInProgress`).
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// The state the id is moving to, if a change is in flight (markers being written count
    /// as moving to CompleteCommit/CompleteAbort, as in Kafka).
    pub fn pending_state(&self) -> Option<TxnState> {
        match self.pending.as_ref()? {
            Pending::Write { transit, .. } => Some(transit.state),
            Pending::Markers { result, .. } => Some(match result {
                TxnResult::Commit => TxnState::CompleteCommit,
                TxnResult::Abort => TxnState::CompleteAbort,
            }),
        }
    }

    /// The partitions whose markers are not written yet while markers are in flight, else
    /// the transaction's partitions (what DescribeTransactions shows).
    pub fn partitions_without_markers(&self) -> &BTreeSet<TopicPartition> {
        match &self.pending {
            Some(Pending::Markers { remaining, .. }) => remaining,
            _ => &self.partitions,
        }
    }

    /// A transit to `state` that keeps every other field, stamped `now`.
    fn transit(&self, state: TxnState, now: i64) -> Transit {
        Transit {
            producer_id: self.producer_id,
            previous_producer_id: self.previous_producer_id,
            producer_epoch: self.producer_epoch,
            last_producer_epoch: self.last_producer_epoch,
            txn_timeout_ms: self.txn_timeout_ms,
            state,
            partitions: self.partitions.clone(),
            txn_start_timestamp_ms: self.txn_start_timestamp_ms,
            txn_last_update_timestamp_ms: now,
        }
    }

    /// Checks a transition is allowed now (Kafka's `prepareTransitionTo` checks): nothing
    /// in flight, a valid previous state, and a valid epoch.
    fn check(&self, t: &Transit) -> Result<(), TxnError> {
        if self.pending.is_some() {
            return Err(TxnError::UnknownServerError(format!(
                "{}: transition to {} while another is pending",
                self.transactional_id, t.state
            )));
        }
        if !self.state.can_transition_to(t.state) {
            return Err(TxnError::UnknownServerError(format!(
                "{}: illegal transition {} -> {}",
                self.transactional_id, self.state, t.state
            )));
        }
        if t.producer_id < 0 || (t.state != TxnState::Dead && t.producer_epoch < 0) {
            return Err(TxnError::UnknownServerError(format!(
                "{}: illegal producer {}/{}",
                self.transactional_id, t.producer_id, t.producer_epoch
            )));
        }
        Ok(())
    }

    /// InitProducerId on an Empty or completed id: the next epoch of the same producer id.
    /// With a KIP-360 expected epoch: the current epoch (or none yet) bumps and remembers the
    /// last one; the last epoch is a retry of a bump already done and returns it unchanged;
    /// anything else is fenced.
    ///
    /// An exhausted epoch cannot be bumped (the caller rotates the producer id instead when
    /// it may): a bump is then PRODUCER_FENCED where Kafka throws (UNKNOWN_SERVER_ERROR);
    /// a retry of the bump that reached it is still answered with it, as any other retry.
    pub(crate) fn prepare_increment_epoch(
        &self,
        timeout_ms: i32,
        expected_epoch: Option<i16>,
        now: i64,
    ) -> Result<Transit, TxnError> {
        let current = self.producer_epoch;
        let fenced = || TxnError::ProducerFenced {
            sent_epoch: expected_epoch.unwrap_or(NO_PRODUCER_EPOCH),
            current_epoch: current,
        };
        let bump = || {
            if is_epoch_exhausted(current) {
                Err(fenced())
            } else {
                Ok(current + 1)
            }
        };
        let (epoch, last) = match expected_epoch {
            None => (bump()?, NO_PRODUCER_EPOCH),
            Some(e) if current == NO_PRODUCER_EPOCH || e == current => (bump()?, current),
            Some(e) if e == self.last_producer_epoch => (current, self.last_producer_epoch),
            Some(_) => return Err(fenced()),
        };
        let t = Transit {
            previous_producer_id: self.producer_id,
            producer_epoch: epoch,
            last_producer_epoch: last,
            txn_timeout_ms: timeout_ms,
            partitions: BTreeSet::new(),
            txn_start_timestamp_ms: -1,
            ..self.transit(TxnState::Empty, now)
        };
        self.check(&t)?;
        Ok(t)
    }

    /// InitProducerId when the epoch is exhausted: a new producer id at epoch 0.
    pub(crate) fn prepare_rotation(
        &self,
        new_producer_id: i64,
        timeout_ms: i32,
        record_last_epoch: bool,
        now: i64,
    ) -> Result<Transit, TxnError> {
        let t = Transit {
            producer_id: new_producer_id,
            previous_producer_id: self.producer_id,
            producer_epoch: 0,
            last_producer_epoch: if record_last_epoch {
                self.producer_epoch
            } else {
                NO_PRODUCER_EPOCH
            },
            txn_timeout_ms: timeout_ms,
            partitions: BTreeSet::new(),
            txn_start_timestamp_ms: -1,
            ..self.transit(TxnState::Empty, now)
        };
        self.check(&t)?;
        Ok(t)
    }

    /// AddPartitionsToTxn/AddOffsetsToTxn: Ongoing with the union of partitions; a
    /// transaction that was not open starts now.
    pub(crate) fn prepare_add_partitions(
        &self,
        added: &[TopicPartition],
        now: i64,
    ) -> Result<Transit, TxnError> {
        let mut t = self.transit(TxnState::Ongoing, now);
        t.partitions.extend(added.iter().cloned());
        if matches!(
            self.state,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        ) {
            t.txn_start_timestamp_ms = now;
        }
        self.check(&t)?;
        Ok(t)
    }

    /// EndTxn from the client: PrepareCommit or PrepareAbort, same epoch (transactions V1).
    pub(crate) fn prepare_end(&self, result: TxnResult, now: i64) -> Result<Transit, TxnError> {
        let state = match result {
            TxnResult::Commit => TxnState::PrepareCommit,
            TxnResult::Abort => TxnState::PrepareAbort,
        };
        let t = self.transit(state, now);
        self.check(&t)?;
        Ok(t)
    }

    /// The abort of a fence (InitProducerId while Ongoing, a timeout, or a PrepareEpochFence
    /// found on load): PrepareAbort at `epoch`, last epoch forgotten.
    pub(crate) fn prepare_fence_abort(&self, epoch: i16, now: i64) -> Result<Transit, TxnError> {
        let t = Transit {
            producer_epoch: epoch,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            ..self.transit(TxnState::PrepareAbort, now)
        };
        self.check(&t)?;
        Ok(t)
    }

    /// All markers written: CompleteCommit or CompleteAbort with no partitions.
    pub(crate) fn prepare_complete(&self, now: i64) -> Result<Transit, TxnError> {
        let state = match self.state {
            TxnState::PrepareCommit => TxnState::CompleteCommit,
            _ => TxnState::CompleteAbort,
        };
        let t = Transit {
            partitions: BTreeSet::new(),
            ..self.transit(state, now)
        };
        self.check(&t)?;
        Ok(t)
    }

    /// Expiry: Dead (written as a tombstone), every field kept.
    pub(crate) fn prepare_dead(&self) -> Result<Transit, TxnError> {
        let t = self.transit(TxnState::Dead, self.txn_last_update_timestamp_ms);
        self.check(&t)?;
        Ok(t)
    }

    /// Applies a durable transit.
    pub(crate) fn apply(&mut self, t: Transit) {
        self.producer_id = t.producer_id;
        self.previous_producer_id = t.previous_producer_id;
        self.producer_epoch = t.producer_epoch;
        self.last_producer_epoch = t.last_producer_epoch;
        self.txn_timeout_ms = t.txn_timeout_ms;
        self.state = t.state;
        self.partitions = t.partitions;
        self.txn_start_timestamp_ms = t.txn_start_timestamp_ms;
        self.txn_last_update_timestamp_ms = t.txn_last_update_timestamp_ms;
        self.fence_epoch = None;
    }
}

impl Transit {
    /// The record value of this transit.
    pub(crate) fn stored(&self) -> StoredTxn {
        StoredTxn {
            producer_id: self.producer_id,
            previous_producer_id: self.previous_producer_id,
            next_producer_id: NO_PRODUCER_ID,
            producer_epoch: self.producer_epoch,
            txn_timeout_ms: self.txn_timeout_ms,
            state: self.state,
            partitions: self.partitions.clone(),
            txn_last_update_timestamp_ms: self.txn_last_update_timestamp_ms,
            txn_start_timestamp_ms: self.txn_start_timestamp_ms,
            client_transaction_version: 0,
        }
    }
}
