//! The group coordinator: every group this node coordinates, the handlers' common output, the
//! timers and `replay` of `__consumer_offsets` records.
//!
//! Contract with the shell: call a handler with `now_ms`; append `Output::records` to the
//! named `__consumer_offsets` partitions in the order given (under the same lock that called
//! the handler, so log order is state order); wait until they are durable; then deliver
//! `Output::replies` to the parked requests. Call [`GroupCoordinator::tick`] at or after
//! [`GroupCoordinator::next_deadline`]. On start, replay every record of the partitions in
//! log order ([`GroupCoordinator::replay_from`] with the batch's [`RecordOrigin`], and
//! [`GroupCoordinator::complete_txn`] for each transaction marker), then
//! [`GroupCoordinator::finish_load`]. Transactional offset commits: see
//! [`crate::txn_offsets`].
//!
//! Thread-safety: none inside; the shell owns it behind a mutex. No clocks, no I/O.

use std::collections::{BTreeSet, HashMap};

use crate::classic::{Group, GroupState, Member, RequestId};
use crate::error::{GroupError, RecordError};
use crate::join_types::{JoinResult, SyncResult};
use crate::records::{
    decode_group_value, decode_key, decode_offset_value, group_key, group_value, partition_for,
    CoordinatorRecord, RecordKey, StoredGroup, StoredMember,
};

/// Longest group id accepted (Kafka has no limit; ours keeps record keys small).
pub const MAX_GROUP_ID_LEN: usize = 255;

/// The coordinator's settings (broker configs with Kafka's names in the comments).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `offsets.topic.num.partitions`.
    pub offsets_partitions: i32,
    /// `group.initial.rebalance.delay.ms`.
    pub initial_rebalance_delay_ms: i64,
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout_ms: i32,
    /// `group.max.size`.
    pub max_group_size: usize,
    /// `offsets.retention.minutes`, in ms.
    pub offsets_retention_ms: i64,
    /// `offset.metadata.max.bytes`.
    pub offset_metadata_max_bytes: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            offsets_partitions: 50,
            initial_rebalance_delay_ms: 3000,
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 1_800_000,
            max_group_size: i32::MAX as usize,
            offsets_retention_ms: 10080 * 60_000,
            offset_metadata_max_bytes: 4096,
        }
    }
}

/// An answer to a parked request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Answer to a JoinGroup.
    Join(RequestId, JoinResult),
    /// Answer to a SyncGroup.
    Sync(RequestId, SyncResult),
}

/// What a handler wants done: records to append, then replies to send.
#[derive(Debug, Default)]
pub struct Output {
    /// Records for `__consumer_offsets`, in order.
    pub records: Vec<CoordinatorRecord>,
    /// Answers to parked requests, to send once the records are durable.
    pub replies: Vec<Reply>,
}

impl Output {
    /// Appends another output.
    pub fn extend(&mut self, other: Output) {
        self.records.extend(other.records);
        self.replies.extend(other.replies);
    }
}

/// The group coordinator state machine.
#[derive(Debug, Default)]
pub struct GroupCoordinator {
    /// Settings.
    pub config: GroupConfig,
    /// Groups by id.
    pub(crate) groups: HashMap<String, Group>,
    /// The offsets partitions whose groups are served here (`None`: all).
    owned: Option<std::collections::HashSet<i32>>,
    /// Groups where each producer may have pending transactional offsets (Kafka's
    /// `openTransactionsByGroup`, inverted): what [`GroupCoordinator::complete_txn`] visits.
    /// May name groups since removed or completed; never misses one with pending offsets.
    pub(crate) txn_groups: HashMap<i64, BTreeSet<String>>,
}

/// The batch a replayed record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOrigin {
    /// A batch outside any transaction (the coordinator's own writes).
    Plain,
    /// A transactional batch of this producer: its offsets stay pending until the
    /// producer's marker in the same partition.
    Transactional {
        /// The batch's producer id.
        producer_id: i64,
    },
}

impl RecordOrigin {
    /// The origin of a batch with this producer id and transactional bit (a transactional
    /// batch without a producer id counts as plain, as Kafka's loader keys on the id).
    pub fn of_batch(producer_id: i64, transactional: bool) -> RecordOrigin {
        if transactional && producer_id >= 0 {
            RecordOrigin::Transactional { producer_id }
        } else {
            RecordOrigin::Plain
        }
    }
}

/// Checks a group id (INVALID_GROUP_ID when empty or longer than [`MAX_GROUP_ID_LEN`]).
///
/// # Errors
/// [`GroupError::InvalidGroupId`].
pub fn validate_group_id(group_id: &str) -> Result<(), GroupError> {
    if group_id.is_empty() || group_id.len() > MAX_GROUP_ID_LEN {
        return Err(GroupError::InvalidGroupId(group_id.to_string()));
    }
    Ok(())
}

impl GroupCoordinator {
    /// An empty coordinator.
    pub fn new(config: GroupConfig) -> Self {
        GroupCoordinator {
            config,
            groups: HashMap::new(),
            owned: None,
            txn_groups: HashMap::new(),
        }
    }

    /// Says which `__consumer_offsets` partitions' groups this coordinator serves:
    /// `None` (the default) for all of them; requests for other groups get
    /// [`GroupError::NotCoordinator`].
    pub fn set_owned(&mut self, owned: Option<std::collections::HashSet<i32>>) {
        self.owned = owned;
    }

    /// Checks a group id is valid and served here.
    ///
    /// # Errors
    /// [`GroupError::InvalidGroupId`], [`GroupError::NotCoordinator`].
    pub fn check_group(&self, group_id: &str) -> Result<(), GroupError> {
        validate_group_id(group_id)?;
        match &self.owned {
            Some(owned) if !owned.contains(&self.partition_for(group_id)) => {
                Err(GroupError::NotCoordinator(group_id.to_string()))
            }
            _ => Ok(()),
        }
    }

    /// The group, if known.
    pub fn group(&self, group_id: &str) -> Option<&Group> {
        self.groups
            .get(group_id)
            .filter(|g| g.state != GroupState::Dead)
    }

    /// The `__consumer_offsets` partition of a group.
    pub fn partition_for(&self, group_id: &str) -> i32 {
        partition_for(group_id, self.config.offsets_partitions)
    }
}

/// The group's metadata record as it stands.
pub(crate) fn group_record(g: &Group, partitions: i32) -> CoordinatorRecord {
    {
        let protocol = g.protocol_name.clone();
        let stored = StoredGroup {
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            generation: g.generation,
            protocol: protocol.clone(),
            leader: g.leader.clone(),
            current_state_timestamp: g.state_timestamp_ms,
            members: g
                .members
                .values()
                .map(|m| StoredMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: protocol
                        .as_deref()
                        .map(|p| m.metadata(p))
                        .unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        };
        CoordinatorRecord {
            partition: partition_for(&g.group_id, partitions),
            key: group_key(&g.group_id),
            value: Some(group_value(&stored)),
        }
    }
}

impl GroupCoordinator {
    /// The earliest deadline of any timer (rebalance, session, pending member), if any.
    pub fn next_deadline(&self) -> Option<i64> {
        let mut next: Option<i64> = None;
        let mut take = |t: i64| next = Some(next.map_or(t, |n: i64| n.min(t)));
        for g in self.groups.values() {
            if let Some(t) = g.rebalance_deadline_ms {
                take(t);
            }
            for m in g.members.values() {
                take(m.session_deadline_ms);
            }
            for t in g.pending_members.values() {
                take(*t);
            }
        }
        next
    }

    /// Fires every timer due at `now_ms`: rebalance phases that ran out, sessions that
    /// expired, issued member ids never used.
    pub fn tick(&mut self, now_ms: i64) -> Output {
        let mut out = Output::default();
        let ids: Vec<String> = self.groups.keys().cloned().collect();
        for id in ids {
            out.extend(self.tick_group(&id, now_ms));
        }
        out
    }

    /// Applies one stored record of a plain batch while loading (`value` `None` =
    /// tombstone); see [`GroupCoordinator::replay_from`].
    ///
    /// # Errors
    /// [`RecordError`] for bytes that do not decode; the record is then ignored.
    pub fn replay(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), RecordError> {
        self.replay_from(RecordOrigin::Plain, key, value)
    }

    /// Applies one stored record (`value` `None` = tombstone) of a batch of `origin`, as
    /// Kafka's `GroupCoordinatorShard.replay`: an offset of a transactional batch becomes
    /// pending for its producer; an offset tombstone also drops the key's pending offsets;
    /// group records apply whatever the batch.
    ///
    /// # Errors
    /// [`RecordError`] for bytes that do not decode; the record is then ignored.
    pub fn replay_from(
        &mut self,
        origin: RecordOrigin,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(), RecordError> {
        match decode_key(key)? {
            RecordKey::Offset {
                group,
                topic,
                partition,
            } => match value {
                None => {
                    if let Some(g) = self.groups.get_mut(&group) {
                        g.remove_offset(&(topic, partition));
                    }
                }
                Some(v) => {
                    let o = decode_offset_value(v)?;
                    let g = self
                        .groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(&group, 0));
                    match origin {
                        RecordOrigin::Plain => g.put_offset((topic, partition), o),
                        RecordOrigin::Transactional { producer_id } => {
                            g.put_pending(producer_id, (topic, partition), o);
                            self.note_open_txn(producer_id, &group);
                        }
                    }
                }
            },
            RecordKey::Group { group } => match value {
                None => {
                    self.groups.remove(&group);
                }
                Some(v) => {
                    let stored = decode_group_value(v)?;
                    let g = self
                        .groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(&group, 0));
                    load_group(g, stored);
                }
            },
        }
        Ok(())
    }

    /// Forgets every group stored in `__consumer_offsets` partition `partition` (this node
    /// no longer coordinates them, or is about to load them afresh).
    pub fn unload_partition(&mut self, partition: i32) {
        let n = self.config.offsets_partitions;
        self.groups
            .retain(|id, _| partition_for(id, n) != partition);
        self.txn_groups.retain(|_, groups| {
            groups.retain(|id| partition_for(id, n) != partition);
            !groups.is_empty()
        });
    }

    /// Ends loading of one partition: its loaded members get a full session from `now_ms`.
    pub fn finish_load_partition(&mut self, partition: i32, now_ms: i64) {
        let n = self.config.offsets_partitions;
        for g in self
            .groups
            .values_mut()
            .filter(|g| partition_for(&g.group_id, n) == partition)
        {
            for m in g.members.values_mut() {
                m.session_deadline_ms = now_ms + i64::from(m.session_timeout_ms);
            }
        }
    }

    /// Ends loading: loaded members get a full session from `now_ms`.
    pub fn finish_load(&mut self, now_ms: i64) {
        for g in self.groups.values_mut() {
            for m in g.members.values_mut() {
                m.session_deadline_ms = now_ms + i64::from(m.session_timeout_ms);
            }
        }
    }
}

/// Rebuilds a group's membership from its stored metadata.
fn load_group(g: &mut Group, stored: StoredGroup) {
    g.protocol_type = (!stored.protocol_type.is_empty()).then_some(stored.protocol_type);
    g.generation = stored.generation;
    g.protocol_name = stored.protocol.clone();
    g.leader = stored.leader;
    g.members.clear();
    g.static_members.clear();
    g.pending_members.clear();
    g.rebalance_deadline_ms = None;
    g.initial_delay_cap_ms = None;
    for m in stored.members {
        if let Some(i) = &m.group_instance_id {
            g.static_members.insert(i.clone(), m.member_id.clone());
        }
        let protocols = stored
            .protocol
            .clone()
            .map(|p| vec![(p, m.subscription.clone())])
            .unwrap_or_default();
        g.members.insert(
            m.member_id.clone(),
            Member {
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                session_timeout_ms: m.session_timeout_ms,
                protocols,
                assignment: m.assignment,
                pending_join: None,
                pending_sync: None,
                session_deadline_ms: i64::MAX,
            },
        );
    }
    let state = if g.members.is_empty() {
        GroupState::Empty
    } else {
        GroupState::Stable
    };
    g.transition(state, stored.current_state_timestamp);
}
