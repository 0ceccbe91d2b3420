//! Loading and unloading `__transaction_state` partitions (Kafka's `onElection` /
//! `onResignation` and `loadTransactionsForTxnTopicPartition`).
//!
//! On becoming leader of a partition in leader epoch `e`, the shell calls
//! [`TxnCoordinator::begin_load`]`(p, e)`, [`TxnCoordinator::replay`]s every record of the
//! partition from its log start to its log end, then calls
//! [`TxnCoordinator::loaded_partition`]`(p, e, now)`. Transactions the previous coordinator
//! left in PrepareCommit/PrepareAbort get their markers written again (markers are
//! idempotent), and a PrepareEpochFence (never written by Kafka or Rill, but a state a
//! record may carry) is aborted at its recorded epoch. On losing leadership the shell calls
//! [`TxnCoordinator::unload_partition`].

use crate::coordinator::{TxnCoordinator, TxnPartition};
use crate::error::{RecordError, TxnError};
use crate::metadata::{Pending, Then, TxnMetadata};
use crate::output::{Output, Reply};
use crate::records::{decode_key, decode_value};
use crate::state::TxnState;

impl TxnCoordinator {
    /// Starts loading `partition` in `coordinator_epoch`: whatever was held for it is
    /// dropped (parked requests get NOT_COORDINATOR) and its ids answer
    /// COORDINATOR_LOAD_IN_PROGRESS until [`TxnCoordinator::loaded_partition`].
    pub fn begin_load(&mut self, partition: i32, coordinator_epoch: i32) -> Output {
        let out = self.unload_partition(partition);
        self.partitions.insert(
            partition,
            TxnPartition {
                coordinator_epoch,
                loading: true,
                txns: Default::default(),
            },
        );
        out
    }

    /// Applies one record of a partition being loaded (`value` `None` = tombstone).
    ///
    /// # Errors
    /// [`RecordError`] for bytes that do not decode (the record is then skipped, as Kafka
    /// skips unknown keys) or a record of a partition not being loaded.
    pub fn replay(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), RecordError> {
        let id = decode_key(key)?;
        let partition = self.partition_for(&id);
        let stored = value.map(decode_value).transpose()?;
        let p = self
            .partitions
            .get_mut(&partition)
            .filter(|p| p.loading)
            .ok_or(RecordError::NotLoading { partition })?;
        match stored {
            // Kafka never writes Dead (expiry writes a tombstone); read it as one.
            None => {
                p.txns.remove(&id);
            }
            Some(v) if v.state == TxnState::Dead => {
                p.txns.remove(&id);
            }
            Some(v) => {
                p.txns.insert(id.clone(), TxnMetadata::from_stored(&id, v));
            }
        }
        Ok(())
    }

    /// Ends the load of `partition` begun in `coordinator_epoch` (ignored if another load
    /// or an unload came since): its ids are served from now on, and unfinished
    /// transactions are driven on.
    pub fn loaded_partition(
        &mut self,
        partition: i32,
        coordinator_epoch: i32,
        now_ms: i64,
    ) -> Output {
        let mut out = Output::default();
        let Some(p) = self
            .partitions
            .get_mut(&partition)
            .filter(|p| p.loading && p.coordinator_epoch == coordinator_epoch)
        else {
            return out;
        };
        p.loading = false;
        self.schedule_scans(now_ms);
        let Some(p) = self.partitions.get(&partition) else {
            return out;
        };
        let mut unfinished: Vec<(String, TxnState)> = p
            .txns
            .values()
            .filter(|m| {
                matches!(
                    m.state,
                    TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence
                )
            })
            .map(|m| (m.transactional_id.clone(), m.state))
            .collect();
        unfinished.sort();
        for (id, state) in unfinished {
            if state == TxnState::PrepareEpochFence {
                let _ = self.begin_fence(partition, &id, None, now_ms, &mut out);
            } else {
                self.start_markers(partition, &id, now_ms, &mut out);
            }
        }
        out
    }

    /// Stops serving `partition` (its leadership moved, or a newer load replaces it): its
    /// ids are forgotten, requests waiting for their writes get NOT_COORDINATOR, and later
    /// callbacks for those writes are ignored.
    pub fn unload_partition(&mut self, partition: i32) -> Output {
        let mut out = Output::default();
        let Some(p) = self.partitions.remove(&partition) else {
            return out;
        };
        let error = TxnError::NotCoordinator { partition };
        let mut parked: Vec<Reply> = Vec::new();
        for meta in p.txns.into_values() {
            if let Some(Pending::Write {
                write_id,
                then: Then::Reply(Some(r)) | Then::Markers(Some(r)),
                ..
            }) = meta.pending
            {
                self.writes.remove(&write_id);
                parked.push(Reply {
                    request: r.request,
                    answer: r.answer.failed(error.clone()),
                });
            }
        }
        self.writes.retain(|_, (part, _)| *part != partition);
        parked.sort_by_key(|r| r.request);
        out.replies = parked;
        self.unschedule_if_idle();
        out
    }
}
