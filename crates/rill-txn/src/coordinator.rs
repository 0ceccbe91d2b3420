//! The transaction coordinator: the ids of the `__transaction_state` partitions this node
//! owns, the plumbing of writes (a write id per record, one in flight per id) and the
//! shell's callbacks for their fate.
//!
//! Ownership (Kafka's `TransactionStateManager` cache): a partition is absent (requests get
//! NOT_COORDINATOR), loading (COORDINATOR_LOAD_IN_PROGRESS) or owned, each with the
//! coordinator epoch (the partition's leader epoch) it was loaded in. Writes carry ids; a
//! callback for a write the coordinator no longer waits for (its partition was unloaded or
//! reloaded meanwhile) is ignored.
//!
//! Thread-safety: none inside; the shell keeps it behind a mutex. No clocks, no I/O.

use std::collections::HashMap;

use crate::config::TxnConfig;
use crate::error::TxnError;
use crate::metadata::{Pending, Then, Transit, TxnMetadata};
use crate::output::{MarkerBatch, Output};
use crate::records::{encode_key, encode_value, TxnRecord};
use crate::state::TxnState;
use crate::types::{partition_for, TxnResult, WriteId};

/// Longest transactional id accepted: what a record key can carry (Kafka has no limit of
/// its own; longer ids could not be written).
pub const MAX_TRANSACTIONAL_ID_LEN: usize = i16::MAX as usize;

/// One `__transaction_state` partition this node loads or owns.
#[derive(Debug, Default)]
pub(crate) struct TxnPartition {
    /// Its leader epoch when loading began.
    pub(crate) coordinator_epoch: i32,
    /// Whether its records are still being replayed.
    pub(crate) loading: bool,
    /// Its transactional ids.
    pub(crate) txns: HashMap<String, TxnMetadata>,
}

/// The transaction coordinator state machine.
///
/// Memory: one [`TxnMetadata`] per transactional id of an owned partition (ids clients
/// created with InitProducerId and that did not expire), each holding its partitions, plus
/// one entry per write in flight (at most one per id). Nothing else grows.
#[derive(Debug)]
pub struct TxnCoordinator {
    /// Settings.
    pub(crate) config: TxnConfig,
    /// Partitions loading or owned, by index.
    pub(crate) partitions: HashMap<i32, TxnPartition>,
    /// Writes in flight: write id -> (partition, transactional id).
    pub(crate) writes: HashMap<WriteId, (i32, String)>,
    /// The next write id.
    next_write_id: WriteId,
    /// When the next timed-out transaction scan is due.
    pub(crate) next_abort_check_ms: Option<i64>,
    /// When the next expiry scan is due.
    pub(crate) next_expire_check_ms: Option<i64>,
    /// When stalled work (a failed Complete record) is retried.
    pub(crate) next_retry_ms: Option<i64>,
}

/// Checks a transactional id is usable: not empty (INVALID_REQUEST, as Kafka) and short
/// enough for a record key.
///
/// # Errors
/// [`TxnError::InvalidRequest`].
pub fn validate_transactional_id(transactional_id: &str) -> Result<(), TxnError> {
    if transactional_id.is_empty() {
        return Err(TxnError::InvalidRequest(
            "the transactional id is empty".into(),
        ));
    }
    if transactional_id.len() > MAX_TRANSACTIONAL_ID_LEN {
        return Err(TxnError::InvalidRequest(format!(
            "the transactional id is longer than {MAX_TRANSACTIONAL_ID_LEN} bytes"
        )));
    }
    Ok(())
}

impl TxnCoordinator {
    /// A coordinator owning no partition yet.
    pub fn new(config: TxnConfig) -> Self {
        TxnCoordinator {
            config,
            partitions: HashMap::new(),
            writes: HashMap::new(),
            next_write_id: 1,
            next_abort_check_ms: None,
            next_expire_check_ms: None,
            next_retry_ms: None,
        }
    }

    /// The settings.
    pub fn config(&self) -> &TxnConfig {
        &self.config
    }

    /// The `__transaction_state` partition of a transactional id.
    pub fn partition_for(&self, transactional_id: &str) -> i32 {
        partition_for(transactional_id, self.config.num_partitions)
    }

    /// The coordinator epoch of a partition loading or owned here.
    pub fn coordinator_epoch(&self, partition: i32) -> Option<i32> {
        self.partitions.get(&partition).map(|p| p.coordinator_epoch)
    }

    /// Whether a partition is being loaded.
    pub fn is_loading(&self, partition: i32) -> bool {
        self.partitions.get(&partition).is_some_and(|p| p.loading)
    }

    /// The partitions owned (loaded), sorted.
    pub fn owned_partitions(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self
            .partitions
            .iter()
            .filter(|(_, p)| !p.loading)
            .map(|(i, _)| *i)
            .collect();
        v.sort_unstable();
        v
    }

    /// The metadata of a transactional id of an owned or loading partition.
    pub fn get(&self, transactional_id: &str) -> Option<&TxnMetadata> {
        self.partitions
            .get(&self.partition_for(transactional_id))?
            .txns
            .get(transactional_id)
    }

    /// How many transactional ids are held.
    pub fn transactional_id_count(&self) -> usize {
        self.partitions.values().map(|p| p.txns.len()).sum()
    }

    /// How many writes are in flight.
    pub fn writes_in_flight(&self) -> usize {
        self.writes.len()
    }

    /// The partition of an id if this node serves it now.
    ///
    /// # Errors
    /// NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS.
    pub(crate) fn owner_of(&self, transactional_id: &str) -> Result<i32, TxnError> {
        let partition = self.partition_for(transactional_id);
        match self.partitions.get(&partition) {
            None => Err(TxnError::NotCoordinator { partition }),
            Some(p) if p.loading => Err(TxnError::CoordinatorLoadInProgress { partition }),
            Some(_) => Ok(partition),
        }
    }

    pub(crate) fn meta(&self, partition: i32, id: &str) -> Option<&TxnMetadata> {
        self.partitions.get(&partition)?.txns.get(id)
    }

    pub(crate) fn meta_mut(&mut self, partition: i32, id: &str) -> Option<&mut TxnMetadata> {
        self.partitions.get_mut(&partition)?.txns.get_mut(id)
    }

    /// Hands a transit to the shell as a record and makes it the id's pending change.
    pub(crate) fn begin_write(
        &mut self,
        partition: i32,
        id: &str,
        transit: Transit,
        then: Then,
        out: &mut Output,
    ) {
        let write_id = self.next_write_id;
        self.next_write_id += 1;
        let value = (transit.state != TxnState::Dead)
            .then(|| encode_value(&transit.stored(), self.config.log_value_version));
        let Some(meta) = self.meta_mut(partition, id) else {
            return;
        };
        meta.pending = Some(Pending::Write {
            write_id,
            transit,
            then,
        });
        out.records.push(TxnRecord {
            partition,
            key: encode_key(id),
            value,
            write_id,
        });
        self.writes.insert(write_id, (partition, id.to_string()));
    }

    /// The record of write `write_id` is durable (and, in a cluster, replicated like
    /// acks=all): the change it records takes effect. Returns the answers that waited for
    /// it, markers to write after a Prepare record, or the next record.
    pub fn on_append_complete(&mut self, write_id: WriteId, now_ms: i64) -> Output {
        let mut out = Output::default();
        let Some((partition, id, transit, then)) = self.take_write(write_id) else {
            return out;
        };
        if then == Then::Expire {
            if let Some(p) = self.partitions.get_mut(&partition) {
                p.txns.remove(&id);
            }
            return out;
        }
        let Some(meta) = self.meta_mut(partition, &id) else {
            return out;
        };
        meta.apply(transit);
        match then {
            Then::Reply(reply) => out.replies.extend(reply),
            Then::Markers(reply) => {
                out.replies.extend(reply);
                self.start_markers(partition, &id, now_ms, &mut out);
            }
            Then::Complete | Then::Expire => {}
        }
        out
    }

    /// The record of write `write_id` could not be appended or did not become durable
    /// (`error` as [`TxnError::from_append_error_code`] maps the log's error): the change
    /// does not happen; the request that waited for it gets `error`. A failed Complete
    /// record is retried by [`TxnCoordinator::tick`] `append_retry_backoff_ms` later; a failed
    /// fence (retried by the next timeout scan or InitProducerId) keeps its bumped epoch
    /// in memory (Kafka's `hasFailedEpochFence`) so the old producer stays fenced and the
    /// next fence reuses the epoch.
    ///
    /// As in Kafka, a record whose fate is unknown (a replication timeout) is reported
    /// failed; should it become durable after all, it is the same change the request will be
    /// retried with, and the next load of the partition reads it.
    pub fn on_append_failed(&mut self, write_id: WriteId, error: TxnError, now_ms: i64) -> Output {
        let mut out = Output::default();
        let Some((partition, id, _transit, then)) = self.take_write(write_id) else {
            return out;
        };
        let Some(meta) = self.meta_mut(partition, &id) else {
            return out;
        };
        match then {
            Then::Reply(reply) | Then::Markers(reply) => {
                out.replies.extend(reply.map(|r| crate::output::Reply {
                    answer: r.answer.failed(error.clone()),
                    request: r.request,
                }));
            }
            Then::Complete => {
                meta.pending = Some(Pending::Markers {
                    result: result_of(meta.state),
                    remaining: Default::default(),
                });
                let retry = now_ms.saturating_add(self.config.append_retry_backoff_ms.max(0));
                self.next_retry_ms = Some(self.next_retry_ms.map_or(retry, |t| t.min(retry)));
            }
            Then::Expire => {}
        }
        out
    }

    /// Removes a write from the books; `None` when it is not awaited any more.
    fn take_write(&mut self, write_id: WriteId) -> Option<(i32, String, Transit, Then)> {
        let (partition, id) = self.writes.remove(&write_id)?;
        let meta = self.meta_mut(partition, &id)?;
        match meta.pending.take() {
            Some(Pending::Write {
                write_id: w,
                transit,
                then,
            }) if w == write_id => Some((partition, id, transit, then)),
            other => {
                meta.pending = other;
                None
            }
        }
    }

    /// After a durable Prepare record: the markers to write, or (no partitions) the
    /// Complete record at once.
    pub(crate) fn start_markers(&mut self, partition: i32, id: &str, now: i64, out: &mut Output) {
        let coordinator_epoch = self.coordinator_epoch(partition).unwrap_or(-1);
        let Some(meta) = self.meta_mut(partition, id) else {
            return;
        };
        let result = result_of(meta.state);
        if meta.partitions.is_empty() {
            self.begin_complete(partition, id, now, out);
            return;
        }
        meta.pending = Some(Pending::Markers {
            result,
            remaining: meta.partitions.clone(),
        });
        out.markers.push(MarkerBatch {
            transactional_id: id.to_string(),
            producer_id: meta.producer_id,
            producer_epoch: meta.producer_epoch,
            coordinator_epoch,
            result,
            partitions: meta.partitions.iter().cloned().collect(),
        });
    }

    /// Writes the Complete record of a transaction whose markers are all written.
    pub(crate) fn begin_complete(&mut self, partition: i32, id: &str, now: i64, out: &mut Output) {
        let Some(meta) = self.meta_mut(partition, id) else {
            return;
        };
        meta.pending = None;
        // Not in a Prepare state: nothing to complete.
        if let Ok(t) = meta.prepare_complete(now) {
            self.begin_write(partition, id, t, Then::Complete, out);
        }
    }
}

/// The result a Prepare state ends with.
pub(crate) fn result_of(state: TxnState) -> TxnResult {
    if state == TxnState::PrepareCommit {
        TxnResult::Commit
    } else {
        TxnResult::Abort
    }
}
