//! The client's transaction calls: AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, and the
//! KIP-890 verification a partition leader asks for before appending a transactional batch
//! (AddPartitionsToTxn v4+ with VerifyOnly). Checks come in Kafka's order, so a request gets
//! the same error code as from the Java coordinator.

use crate::coordinator::{validate_transactional_id, TxnCoordinator};
use crate::error::TxnError;
use crate::metadata::{Then, TxnMetadata};
use crate::output::{Answer, Output, Reply};
use crate::state::TxnState;
use crate::types::{partition_for, RequestId, TopicPartition, TxnResult, CONSUMER_OFFSETS_TOPIC};

/// The producer a transaction request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnProducer {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id the client uses.
    pub producer_id: i64,
    /// The epoch the client uses.
    pub producer_epoch: i16,
}

impl TxnProducer {
    /// A producer.
    pub fn new(transactional_id: impl Into<String>, producer_id: i64, producer_epoch: i16) -> Self {
        TxnProducer {
            transactional_id: transactional_id.into(),
            producer_id,
            producer_epoch,
        }
    }
}

/// Kafka's checks shared by AddPartitionsToTxn, verification and EndTxn: an unknown id or
/// another producer id is INVALID_PRODUCER_ID_MAPPING.
fn mapped<'a>(meta: Option<&'a TxnMetadata>, p: &TxnProducer) -> Result<&'a TxnMetadata, TxnError> {
    match meta {
        Some(m) if m.producer_id == p.producer_id => Ok(m),
        _ => Err(TxnError::InvalidProducerIdMapping {
            sent: p.producer_id,
        }),
    }
}

/// The producer's epoch must be the current one (PRODUCER_FENCED otherwise, older or newer).
fn same_epoch(meta: &TxnMetadata, p: &TxnProducer) -> Result<(), TxnError> {
    if p.producer_epoch != meta.epoch() {
        return Err(TxnError::ProducerFenced {
            sent_epoch: p.producer_epoch,
            current_epoch: meta.epoch(),
        });
    }
    Ok(())
}

impl TxnCoordinator {
    /// AddPartitionsToTxn (v0-v3, or v4+ without VerifyOnly): adds partitions to the
    /// producer's transaction, opening it if none is. Answers `request` once durable (at
    /// once when every partition is already in the ongoing transaction, or on error).
    pub fn add_partitions(
        &mut self,
        request: RequestId,
        producer: &TxnProducer,
        partitions: &[TopicPartition],
        now_ms: i64,
    ) -> Output {
        let mut out = Output::default();
        match self.try_add(request, producer, partitions, now_ms, &mut out) {
            Ok(true) => {}
            Ok(false) => out.reply(request, Answer::Done(Ok(()))),
            Err(e) => out.reply(request, Answer::Done(Err(e))),
        }
        out
    }

    /// AddOffsetsToTxn: adds the `__consumer_offsets` partition of `group_id` (placed with
    /// `offsets_partitions`, `offsets.topic.num.partitions`) to the transaction, so that its
    /// TxnOffsetCommits are committed or aborted with it.
    pub fn add_offsets(
        &mut self,
        request: RequestId,
        producer: &TxnProducer,
        group_id: &str,
        offsets_partitions: i32,
        now_ms: i64,
    ) -> Output {
        let tp = TopicPartition::new(
            CONSUMER_OFFSETS_TOPIC,
            partition_for(group_id, offsets_partitions),
        );
        self.add_partitions(request, producer, &[tp], now_ms)
    }

    /// Ok(true) when a write was begun, Ok(false) when there is nothing to write.
    fn try_add(
        &mut self,
        request: RequestId,
        producer: &TxnProducer,
        partitions: &[TopicPartition],
        now: i64,
        out: &mut Output,
    ) -> Result<bool, TxnError> {
        let id = producer.transactional_id.as_str();
        validate_transactional_id(id)?;
        let partition = self.owner_of(id)?;
        let meta = mapped(self.meta(partition, id), producer)?;
        same_epoch(meta, producer)?;
        if meta.is_pending()
            || matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort)
        {
            return Err(TxnError::ConcurrentTransactions);
        }
        if meta.state == TxnState::Ongoing && partitions.iter().all(|p| meta.partitions.contains(p))
        {
            return Ok(false);
        }
        let transit = meta.prepare_add_partitions(partitions, now)?;
        let reply = Reply {
            request,
            answer: Answer::Done(Ok(())),
        };
        self.begin_write(partition, id, transit, Then::Reply(Some(reply)), out);
        Ok(true)
    }

    /// KIP-890 verification (AddPartitionsToTxn v4+ with VerifyOnly, from a partition
    /// leader): whether each partition is in the producer's ongoing transaction (Ok) or not
    /// (TRANSACTION_ABORTABLE). Writes nothing; a pending change is not waited for (the
    /// append is checked again when it happens), as in Kafka.
    ///
    /// # Errors
    /// For every partition alike: INVALID_REQUEST, NOT_COORDINATOR,
    /// COORDINATOR_LOAD_IN_PROGRESS, INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED,
    /// CONCURRENT_TRANSACTIONS (while the transaction is completing).
    #[allow(clippy::type_complexity)]
    pub fn verify_partitions(
        &self,
        producer: &TxnProducer,
        partitions: &[TopicPartition],
    ) -> Result<Vec<(TopicPartition, Result<(), TxnError>)>, TxnError> {
        let id = producer.transactional_id.as_str();
        validate_transactional_id(id)?;
        let partition = self.owner_of(id)?;
        let meta = mapped(self.meta(partition, id), producer)?;
        same_epoch(meta, producer)?;
        if matches!(meta.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
            return Err(TxnError::ConcurrentTransactions);
        }
        Ok(partitions
            .iter()
            .map(|tp| {
                let r = if meta.partitions.contains(tp) {
                    Ok(())
                } else {
                    Err(TxnError::TransactionAbortable)
                };
                (tp.clone(), r)
            })
            .collect())
    }

    /// EndTxn (transactions V1: the epoch is not bumped): records PrepareCommit or
    /// PrepareAbort, answers `request` once that is durable, then has the markers written.
    /// A retry after completion with the same result succeeds; the other result is
    /// INVALID_TXN_STATE.
    pub fn end_txn(
        &mut self,
        request: RequestId,
        producer: &TxnProducer,
        result: TxnResult,
        now_ms: i64,
    ) -> Output {
        let mut out = Output::default();
        match self.try_end(request, producer, result, now_ms, &mut out) {
            Ok(true) => {}
            Ok(false) => out.reply(request, Answer::Done(Ok(()))),
            Err(e) => out.reply(request, Answer::Done(Err(e))),
        }
        out
    }

    fn try_end(
        &mut self,
        request: RequestId,
        producer: &TxnProducer,
        result: TxnResult,
        now: i64,
        out: &mut Output,
    ) -> Result<bool, TxnError> {
        let id = producer.transactional_id.as_str();
        validate_transactional_id(id)?;
        let partition = self.owner_of(id)?;
        let meta = mapped(self.meta(partition, id), producer)?;
        same_epoch(meta, producer)?;
        if meta.is_pending() {
            return Err(TxnError::ConcurrentTransactions);
        }
        let invalid = Err(TxnError::InvalidTxnState {
            state: meta.state,
            result,
        });
        use TxnResult::{Abort, Commit};
        match (meta.state, result) {
            (TxnState::Ongoing, _) => {
                let transit = meta.prepare_end(result, now)?;
                let reply = Reply {
                    request,
                    answer: Answer::Done(Ok(())),
                };
                self.begin_write(partition, id, transit, Then::Markers(Some(reply)), out);
                Ok(true)
            }
            (TxnState::CompleteCommit, Commit) | (TxnState::CompleteAbort, Abort) => Ok(false),
            (TxnState::PrepareCommit, Commit) | (TxnState::PrepareAbort, Abort) => {
                Err(TxnError::ConcurrentTransactions)
            }
            (TxnState::Dead | TxnState::PrepareEpochFence, _) => Err(TxnError::UnknownServerError(
                format!("{id} found in state {} on EndTxn", meta.state),
            )),
            _ => invalid,
        }
    }
}
