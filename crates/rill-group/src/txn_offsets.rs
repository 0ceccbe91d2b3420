//! Transactional offset commits (KIP-98's TxnOffsetCommit, KIP-447's `require_stable`), kept
//! as Kafka 4's `OffsetMetadataManager` keeps them.
//!
//! A TxnOffsetCommit is checked as Kafka's `ClassicGroup.validateOffsetCommit` with
//! `isTransactional` set: an unknown group is created (as a simple group) only when the
//! generation is negative; a request with no generation, member id or instance id is accepted
//! in any state (v0-v2 send none); there is no REBALANCE_IN_PROGRESS. Its offsets go to the
//! group's `__consumer_offsets` partition as one batch of the producer ([`TxnOffsetWrite`]:
//! producer id and epoch, transactional bit), so the log fences an older producer epoch.
//! Once that batch is appended ([`GroupCoordinator::apply_txn_offsets`]) the offsets are
//! *pending* for (group, producer id): OffsetFetch returns the committed offset as before, or
//! UNSTABLE_OFFSET_COMMIT with `require_stable` ([`GroupCoordinator::fetch_offsets_stable`]).
//! The producer's marker in that partition ends them ([`GroupCoordinator::complete_txn`],
//! Kafka's `replayEndTransactionMarker`): ABORT drops them; COMMIT makes each one the
//! committed offset unless the committed offset's record is later in the log ("we always keep
//! the most recent committed offset when we have a mix of transactional and regular offset
//! commits"). A producer id of -1 makes a plain write, as Kafka's coordinator runtime writes a
//! transactional batch only for a real producer id.
//!
//! Log order without log offsets: every offset record applied to a group takes the group's
//! next `order` — live, because the shell appends under the coordinator lock in the order the
//! handlers ran; on load, because records are replayed in log order. Comparing orders thus
//! compares log positions within the group's partition, the only comparison the rule needs.
//!
//! Removal: a tombstone of a key drops that key's pending offsets too (Kafka's `replay` of a
//! null value); OffsetDelete, DeleteGroups and deleted topics write tombstones for keys that
//! only have pending offsets as well; expiry keeps a key with pending offsets and never
//! removes a group with an open transaction.

use std::collections::BTreeSet;

use crate::classic::join::check_member;
use crate::classic::{Group, GroupState};
use crate::coordinator::{GroupCoordinator, RecordOrigin};
use crate::error::GroupError;
use crate::join_types::MemberRef;
use crate::offsets::{CommittedOffset, OffsetToCommit};
use crate::records::{offset_key, offset_value, partition_for, CoordinatorRecord, StoredOffset};

/// A (topic, partition) of a group's offsets.
pub type OffsetKey = (String, i32);

/// One partition's answer to an OffsetFetch that requires stable offsets: (topic,
/// partition, the committed offset or UNSTABLE_OFFSET_COMMIT).
pub type FetchedOffset = (String, i32, Result<CommittedOffset, GroupError>);

/// One pending transactional offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTxnOffset {
    /// The offset as written.
    pub offset: StoredOffset,
    /// Its record's log order within the group (see the module doc).
    pub(crate) order: u64,
}

/// A TxnOffsetCommit request (v0-v4); the member fields are sent from v3 on.
#[derive(Debug, Clone, Default)]
pub struct TxnOffsetCommit {
    /// The producer's transactional id (logged; Kafka checks it only for authorization).
    pub transactional_id: String,
    /// The group.
    pub group_id: String,
    /// The transaction's producer id.
    pub producer_id: i64,
    /// The transaction's producer epoch (the log fences older ones).
    pub producer_epoch: i16,
    /// Generation; -1 when not sent (before v3) or outside group management.
    pub generation_id: i32,
    /// Member id and group.instance.id (empty/`None` before v3).
    pub member: MemberRef,
    /// The offsets.
    pub offsets: Vec<OffsetToCommit>,
}

/// What a TxnOffsetCommit writes: one batch of the producer to the group's partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetWrite {
    /// The `__consumer_offsets` partition.
    pub partition: i32,
    /// The batch's producer id (-1: a plain batch, see the module doc).
    pub producer_id: i64,
    /// The batch's producer epoch.
    pub producer_epoch: i16,
    /// The offset records, in request order.
    pub records: Vec<CoordinatorRecord>,
}

impl TxnOffsetWrite {
    /// Whether the batch is transactional (it has a producer id).
    pub fn is_transactional(&self) -> bool {
        self.producer_id >= 0
    }
}

impl GroupCoordinator {
    /// TxnOffsetCommit: per-partition results (same order as `req.offsets`) and the batch to
    /// write, if any. Changes nothing: once the batch is in the log, under the same lock,
    /// call [`GroupCoordinator::apply_txn_offsets`]; if the append fails, drop it.
    pub fn txn_commit_offsets(
        &self,
        req: &TxnOffsetCommit,
        now_ms: i64,
    ) -> (Vec<Result<(), GroupError>>, Option<TxnOffsetWrite>) {
        if let Err(e) = self.check_txn_commit(req) {
            return (req.offsets.iter().map(|_| Err(e.clone())).collect(), None);
        }
        let partition = self.partition_for(&req.group_id);
        let max_meta = self.config.offset_metadata_max_bytes;
        let mut records = Vec::new();
        let results = req
            .offsets
            .iter()
            .map(|o| {
                let metadata = o.metadata.clone().unwrap_or_default();
                if metadata.len() > max_meta {
                    return Err(GroupError::OffsetMetadataTooLarge(metadata.len()));
                }
                let stored = StoredOffset {
                    offset: o.offset,
                    leader_epoch: o.leader_epoch,
                    metadata,
                    commit_timestamp: now_ms,
                };
                records.push(CoordinatorRecord {
                    partition,
                    key: offset_key(&req.group_id, &o.topic, o.partition),
                    value: Some(offset_value(&stored)),
                });
                Ok(())
            })
            .collect();
        let write = (!records.is_empty()).then(|| TxnOffsetWrite {
            partition,
            producer_id: req.producer_id,
            producer_epoch: req.producer_epoch,
            records,
        });
        (results, write)
    }

    /// Kafka's `validateTransactionalOffsetCommit` + `ClassicGroup.validateOffsetCommit`.
    fn check_txn_commit(&self, req: &TxnOffsetCommit) -> Result<(), GroupError> {
        self.check_group(&req.group_id)?;
        let Some(g) = self.groups.get(&req.group_id) else {
            if req.generation_id < 0 {
                return Ok(());
            }
            return Err(GroupError::IllegalGeneration {
                sent: req.generation_id,
                current: -1,
            });
        };
        if g.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable(req.group_id.clone()));
        }
        if req.generation_id < 0 && g.state == GroupState::Empty {
            return Ok(());
        }
        let member = &req.member;
        if req.generation_id >= 0
            || !member.member_id.is_empty()
            || member.group_instance_id.is_some()
        {
            check_member(g, &member.member_id, member.group_instance_id.as_deref())?;
            if req.generation_id != g.generation {
                return Err(GroupError::IllegalGeneration {
                    sent: req.generation_id,
                    current: g.generation,
                });
            }
        }
        Ok(())
    }

    /// Applies a [`TxnOffsetWrite`] now in the log: its offsets become pending for the
    /// producer (the group is created if needed), exactly as replaying the batch would.
    pub fn apply_txn_offsets(&mut self, write: &TxnOffsetWrite) {
        let origin = RecordOrigin::of_batch(write.producer_id, write.is_transactional());
        for r in &write.records {
            if let Err(e) = self.replay_from(origin, &r.key, r.value.as_deref()) {
                // Our own encoding: unreachable unless the codec is broken.
                tracing::error!(error = %e, "cannot apply a transactional offset record");
            }
        }
    }

    /// Ends producer `producer_id`'s transaction in the groups of `__consumer_offsets`
    /// partition `partition`: its marker is there. `commit`: each pending offset becomes the
    /// committed one unless the committed one's record is later in the log; else they are
    /// dropped. A producer with nothing pending here is ignored, so calling it again, or for
    /// a partition not served here, is harmless.
    pub fn complete_txn(&mut self, partition: i32, producer_id: i64, commit: bool) {
        let n = self.config.offsets_partitions;
        let Some(groups) = self.txn_groups.remove(&producer_id) else {
            return;
        };
        let (here, elsewhere): (BTreeSet<String>, BTreeSet<String>) = groups
            .into_iter()
            .partition(|g| partition_for(g, n) == partition);
        if !elsewhere.is_empty() {
            self.txn_groups.insert(producer_id, elsewhere);
        }
        for id in here {
            if let Some(g) = self.groups.get_mut(&id) {
                g.complete_txn(producer_id, commit);
            }
        }
    }

    /// Whether a transaction's offsets for (topic, partition) of the group are pending.
    pub fn has_pending_txn_offset(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        self.group(group_id)
            .is_some_and(|g| g.has_pending(&(topic.to_string(), partition)))
    }

    /// The producers with an open transaction in the group, in id order.
    pub fn open_txn_producers(&self, group_id: &str) -> Vec<i64> {
        self.group(group_id)
            .map(|g| g.pending_txn_offsets.keys().copied().collect())
            .unwrap_or_default()
    }

    /// OffsetFetch with `require_stable` (KIP-447): as [`GroupCoordinator::fetch_offsets`],
    /// but a partition with pending transactional offsets answers UNSTABLE_OFFSET_COMMIT
    /// (Kafka's `fetchOffsets`/`fetchAllOffsets` with `requireStable`; asked for all, only
    /// partitions with a committed offset are listed).
    ///
    /// # Errors
    /// INVALID_GROUP_ID, NOT_COORDINATOR; per partition UNSTABLE_OFFSET_COMMIT.
    pub fn fetch_offsets_stable(
        &self,
        group_id: &str,
        partitions: Option<&[(String, Vec<i32>)]>,
    ) -> Result<Vec<FetchedOffset>, GroupError> {
        let found = self.fetch_offsets(group_id, partitions)?;
        let g = self.group(group_id);
        Ok(found
            .into_iter()
            .map(|(topic, partition, c)| {
                let key = (topic, partition);
                let answer = if g.is_some_and(|g| g.has_pending(&key)) {
                    Err(GroupError::UnstableOffsetCommit {
                        group_id: group_id.to_string(),
                        topic: key.0.clone(),
                        partition,
                    })
                } else {
                    Ok(c)
                };
                (key.0, partition, answer)
            })
            .collect())
    }

    /// Notes that `producer_id` has pending offsets in `group_id`.
    pub(crate) fn note_open_txn(&mut self, producer_id: i64, group_id: &str) {
        self.txn_groups
            .entry(producer_id)
            .or_default()
            .insert(group_id.to_string());
    }
}

impl Group {
    /// Takes the log order of the group's next offset record.
    fn take_order(&mut self) -> u64 {
        let order = self.next_order;
        self.next_order += 1;
        order
    }

    /// Records a committed offset (a plain record).
    pub(crate) fn put_offset(&mut self, key: OffsetKey, offset: StoredOffset) {
        let order = self.take_order();
        self.offset_order.insert(key.clone(), order);
        self.offsets.insert(key, offset);
    }

    /// Records a pending transactional offset of `producer_id`.
    pub(crate) fn put_pending(&mut self, producer_id: i64, key: OffsetKey, offset: StoredOffset) {
        let order = self.take_order();
        self.pending_txn_offsets
            .entry(producer_id)
            .or_default()
            .insert(key, PendingTxnOffset { offset, order });
    }

    /// A tombstone: drops the committed offset and every pending one of `key`. Returns
    /// whether there was any.
    pub(crate) fn remove_offset(&mut self, key: &OffsetKey) -> bool {
        let committed = self.offsets.remove(key).is_some();
        self.offset_order.remove(key);
        let mut pending = false;
        for offsets in self.pending_txn_offsets.values_mut() {
            pending |= offsets.remove(key).is_some();
        }
        committed || pending
    }

    /// Whether a transaction's offset for `key` is pending.
    pub(crate) fn has_pending(&self, key: &OffsetKey) -> bool {
        self.pending_txn_offsets
            .values()
            .any(|p| p.contains_key(key))
    }

    /// Every key with a committed or a pending offset.
    pub(crate) fn offset_keys(&self) -> BTreeSet<OffsetKey> {
        let mut keys: BTreeSet<OffsetKey> = self.offsets.keys().cloned().collect();
        for p in self.pending_txn_offsets.values() {
            keys.extend(p.keys().cloned());
        }
        keys
    }

    /// Ends `producer_id`'s transaction in this group (see
    /// [`GroupCoordinator::complete_txn`]).
    pub(crate) fn complete_txn(&mut self, producer_id: i64, commit: bool) {
        let Some(pending) = self.pending_txn_offsets.remove(&producer_id) else {
            return;
        };
        if !commit {
            return;
        }
        for (key, p) in pending {
            let newer = !self.offsets.contains_key(&key)
                || self.offset_order.get(&key).is_none_or(|o| p.order > *o);
            if newer {
                self.offset_order.insert(key.clone(), p.order);
                self.offsets.insert(key, p.offset);
            } else {
                tracing::debug!(
                    group = %self.group_id,
                    topic = %key.0,
                    partition = key.1,
                    producer_id,
                    "a committed transaction's offset is older than the committed one: kept the latter"
                );
            }
        }
    }
}
