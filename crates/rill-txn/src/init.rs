//! InitProducerId with a transactional id (Kafka's `handleInitProducerId`): a new id gets a
//! fresh producer id; an existing one gets its epoch bumped (KIP-360 rules when the client
//! sends its current producer), a new producer id when the epoch is exhausted, and an open
//! transaction of an older producer is fenced: its epoch is bumped, it is aborted, and the
//! client is told CONCURRENT_TRANSACTIONS so that it retries once the abort is complete.
//!
//! Producer ids come from the shell (a block allocator in the metadata): the handler calls
//! `new_producer_id` only when it needs one, and passes its error on to the client (Kafka
//! answers COORDINATOR_LOAD_IN_PROGRESS while no block is available).

use crate::coordinator::{validate_transactional_id, TxnCoordinator};
use crate::error::TxnError;
use crate::metadata::{is_epoch_exhausted, Then, TxnMetadata};
use crate::output::{Answer, Output, Reply};
use crate::state::TxnState;
use crate::types::{ProducerIdAndEpoch, RequestId, NO_PRODUCER_EPOCH};

/// The arguments of InitProducerId with a transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerIdRequest {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer's `transaction.timeout.ms`.
    pub txn_timeout_ms: i32,
    /// KIP-360 (v3+): the producer the client has now, to continue with it after an error
    /// (see [`ProducerIdAndEpoch::expected_from_request`]).
    pub expected: Option<ProducerIdAndEpoch>,
}

impl TxnCoordinator {
    /// InitProducerId: answers `request` with a producer id and epoch once the new state is
    /// durable (or at once with an error). `new_producer_id` is called at most once, when a
    /// new producer id is needed.
    pub fn init_producer_id(
        &mut self,
        request: RequestId,
        req: &InitProducerIdRequest,
        new_producer_id: &mut dyn FnMut() -> Result<i64, TxnError>,
        now_ms: i64,
    ) -> Output {
        let mut out = Output::default();
        if let Err(e) = self.try_init(request, req, new_producer_id, now_ms, &mut out) {
            out.reply(request, Answer::ProducerId(Err(e)));
        }
        out
    }

    fn try_init(
        &mut self,
        request: RequestId,
        req: &InitProducerIdRequest,
        new_producer_id: &mut dyn FnMut() -> Result<i64, TxnError>,
        now: i64,
        out: &mut Output,
    ) -> Result<(), TxnError> {
        let id = req.transactional_id.as_str();
        validate_transactional_id(id)?;
        if !self.config.valid_timeout(req.txn_timeout_ms) {
            return Err(TxnError::InvalidTransactionTimeout {
                timeout_ms: req.txn_timeout_ms,
                max_ms: self.config.max_timeout_ms,
            });
        }
        let partition = self.owner_of(id)?;
        if self.meta(partition, id).is_none() {
            let producer_id = new_producer_id()?;
            let fresh = TxnMetadata::fresh(id, producer_id, req.txn_timeout_ms, now);
            if let Some(p) = self.partitions.get_mut(&partition) {
                p.txns.insert(id.to_string(), fresh);
            }
        }
        let meta = self
            .meta(partition, id)
            .ok_or(TxnError::NotCoordinator { partition })?;
        if meta.is_pending() {
            return Err(TxnError::ConcurrentTransactions);
        }
        if let Some(expected) = req.expected {
            if !valid_expected_producer(meta, expected) {
                return Err(TxnError::ProducerFenced {
                    sent_epoch: expected.epoch,
                    current_epoch: meta.epoch(),
                });
            }
        }
        match meta.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                Err(TxnError::ConcurrentTransactions)
            }
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                let rotate = is_epoch_exhausted(meta.producer_epoch)
                    && req.expected.is_none_or(|e| e.epoch == meta.producer_epoch);
                let transit = if rotate {
                    let producer_id = new_producer_id()?;
                    meta.prepare_rotation(
                        producer_id,
                        req.txn_timeout_ms,
                        req.expected.is_some(),
                        now,
                    )?
                } else {
                    meta.prepare_increment_epoch(
                        req.txn_timeout_ms,
                        req.expected.map(|e| e.epoch),
                        now,
                    )?
                };
                let answer = Answer::ProducerId(Ok(ProducerIdAndEpoch::new(
                    transit.producer_id,
                    transit.producer_epoch,
                )));
                let reply = Reply { request, answer };
                self.begin_write(partition, id, transit, Then::Reply(Some(reply)), out);
                Ok(())
            }
            TxnState::Ongoing | TxnState::PrepareEpochFence => {
                self.begin_fence(partition, id, Some(request), now, out)
            }
            TxnState::Dead => Err(TxnError::UnknownServerError(format!(
                "{id} is Dead while in the cache"
            ))),
        }
    }

    /// Fences the producer of an open transaction and aborts it (Kafka's
    /// `prepareFenceProducerEpoch` then `endTransaction(ABORT)`): the epoch is bumped at
    /// once in memory (the old producer is fenced from now on) and recorded with the
    /// PrepareAbort; `request` (an InitProducerId) is answered CONCURRENT_TRANSACTIONS once
    /// that is durable, or with the write's error. A previous fence whose write failed is
    /// retried with the same epoch; a PrepareEpochFence found on load is aborted at its
    /// recorded (already bumped) epoch.
    pub(crate) fn begin_fence(
        &mut self,
        partition: i32,
        id: &str,
        request: Option<RequestId>,
        now: i64,
        out: &mut Output,
    ) -> Result<(), TxnError> {
        let meta = self
            .meta_mut(partition, id)
            .ok_or(TxnError::NotCoordinator { partition })?;
        let epoch = match (meta.state, meta.fence_epoch) {
            (TxnState::PrepareEpochFence, _) => meta.producer_epoch,
            (_, Some(epoch)) => epoch,
            (_, None) => meta.producer_epoch.checked_add(1).ok_or_else(|| {
                TxnError::UnknownServerError(format!("{id}: cannot fence epoch {}", i16::MAX))
            })?,
        };
        let transit = meta.prepare_fence_abort(epoch, now)?;
        meta.fence_epoch = Some(epoch);
        meta.last_producer_epoch = NO_PRODUCER_EPOCH;
        let reply = request.map(|request| Reply {
            request,
            answer: Answer::ProducerId(Err(TxnError::ConcurrentTransactions)),
        });
        self.begin_write(partition, id, transit, Then::Markers(reply), out);
        Ok(())
    }
}

/// Kafka's `isValidProducerId`: an expected producer is accepted when the id has no epoch
/// yet (it was just created), when it is the current producer id (its epoch is checked
/// when bumping), or when it is the previous producer id at an exhausted epoch (a retry of
/// a rotation whose answer was lost).
fn valid_expected_producer(meta: &TxnMetadata, expected: ProducerIdAndEpoch) -> bool {
    meta.producer_epoch == NO_PRODUCER_EPOCH
        || expected.producer_id == meta.producer_id
        || (expected.producer_id == meta.previous_producer_id && is_epoch_exhausted(expected.epoch))
}
