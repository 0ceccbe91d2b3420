//! The classic group protocol's state: groups, members, and their states, as Kafka's
//! `GroupMetadata`/`MemberMetadata`. The handlers live in [`join`] (JoinGroup, rebalance
//! start and completion) and [`membership`] (SyncGroup, Heartbeat, LeaveGroup, expiry).
//!
//! Invariants: `static_members` maps each group.instance.id to the member holding it; a member
//! has at most one parked JoinGroup and one parked SyncGroup; `leader` is a member while the
//! group has members; only `PreparingRebalance` has a rebalance deadline for joins and only
//! `CompletingRebalance` has one for syncs.

pub mod join;
pub mod membership;
pub mod rebalance;

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

use crate::records::StoredOffset;
use crate::txn_offsets::PendingTxnOffset;

/// Identifies a parked request; the shell maps it to whoever waits for the answer.
pub type RequestId = u64;

/// A classic group's state (Kafka's names, as DescribeGroups and ListGroups show them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members; may still hold committed offsets.
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment in SyncGroup.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// Removed; kept only while requests still refer to it.
    Dead,
}

impl GroupState {
    /// Kafka's display name.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// One member of a group.
#[derive(Debug, Clone)]
pub struct Member {
    /// Member id issued by the coordinator.
    pub member_id: String,
    /// Static membership id (KIP-345), if any.
    pub group_instance_id: Option<String>,
    /// Client id from the request header.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// How long a rebalance may wait for this member to rejoin.
    pub rebalance_timeout_ms: i32,
    /// How long the member may go without a heartbeat.
    pub session_timeout_ms: i32,
    /// Supported protocols (assignor name, metadata), in the member's preference order.
    pub protocols: Vec<(String, Bytes)>,
    /// The assignment of the current generation.
    pub assignment: Bytes,
    /// A parked JoinGroup.
    pub pending_join: Option<RequestId>,
    /// A parked SyncGroup.
    pub pending_sync: Option<RequestId>,
    /// The member is removed when no heartbeat comes by then (unless parked).
    pub session_deadline_ms: i64,
}

impl Member {
    /// The member's metadata for `protocol`, empty when it does not support it.
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }
}

/// One consumer group.
#[derive(Debug, Clone)]
pub struct Group {
    /// Group id.
    pub group_id: String,
    /// State.
    pub state: GroupState,
    /// When the group entered `state`.
    pub state_timestamp_ms: i64,
    /// Protocol type of the members ("consumer"); `None` for groups that only commit offsets.
    pub protocol_type: Option<String>,
    /// Protocol chosen for the current generation.
    pub protocol_name: Option<String>,
    /// Generation; increases with every completed join phase.
    pub generation: i32,
    /// Leader member id.
    pub leader: Option<String>,
    /// Members by id.
    pub members: BTreeMap<String, Member>,
    /// group.instance.id -> member id.
    pub static_members: HashMap<String, String>,
    /// Member ids issued with MEMBER_ID_REQUIRED, with the deadline to come back by.
    pub pending_members: BTreeMap<String, i64>,
    /// Deadline of the current join or sync phase.
    pub rebalance_deadline_ms: Option<i64>,
    /// Initial delay phase of a new group (group.initial.rebalance.delay.ms): joins do not
    /// complete the phase early; each new member pushes the deadline up to this cap.
    pub initial_delay_cap_ms: Option<i64>,
    /// Committed offsets by (topic, partition).
    pub offsets: BTreeMap<(String, i32), StoredOffset>,
    /// Transactional offsets whose transaction has not ended in this group's offsets
    /// partition, by producer id, then (topic, partition) (Kafka's
    /// `pendingTransactionalOffsets`; see [`crate::txn_offsets`]). A producer stays listed
    /// until its marker, even when tombstones emptied its map (Kafka's
    /// `openTransactionsByGroup`).
    pub pending_txn_offsets: BTreeMap<i64, BTreeMap<(String, i32), PendingTxnOffset>>,
    /// Log order of the record behind each committed offset (Kafka's `recordOffset`):
    /// a committed transaction's offset replaces only an older one.
    pub(crate) offset_order: HashMap<(String, i32), u64>,
    /// The log order the group's next offset record gets.
    pub(crate) next_order: u64,
}

impl Group {
    /// A new empty group.
    pub fn new(group_id: &str, now_ms: i64) -> Self {
        Group {
            group_id: group_id.to_string(),
            state: GroupState::Empty,
            state_timestamp_ms: now_ms,
            protocol_type: None,
            protocol_name: None,
            generation: 0,
            leader: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending_members: BTreeMap::new(),
            rebalance_deadline_ms: None,
            initial_delay_cap_ms: None,
            offsets: BTreeMap::new(),
            pending_txn_offsets: BTreeMap::new(),
            offset_order: HashMap::new(),
            next_order: 0,
        }
    }

    /// Moves to `state` at `now_ms`.
    pub fn transition(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_timestamp_ms = now_ms;
    }

    /// Protocols every member supports, in the first member's order.
    pub fn candidate_protocols(&self) -> Vec<String> {
        let mut iter = self.members.values();
        let Some(first) = iter.next() else {
            return Vec::new();
        };
        let mut out: Vec<String> = first.protocols.iter().map(|(n, _)| n.clone()).collect();
        for m in iter {
            out.retain(|p| m.protocols.iter().any(|(n, _)| n == p));
        }
        out
    }

    /// Whether a member with these protocols may join (Kafka's `supportsProtocols`).
    pub fn supports_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && self
                .candidate_protocols()
                .iter()
                .any(|c| protocols.iter().any(|(n, _)| n == c))
    }

    /// Picks the protocol: each member votes for its most preferred candidate; most votes
    /// wins, ties go to the earlier candidate.
    pub fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes = vec![0usize; candidates.len()];
        for m in self.members.values() {
            if let Some(i) = m
                .protocols
                .iter()
                .find_map(|(n, _)| candidates.iter().position(|c| c == n))
            {
                votes[i] += 1;
            }
        }
        let best = votes.iter().copied().max()?;
        let i = votes.iter().position(|v| *v == best)?;
        candidates.get(i).cloned()
    }

    /// The longest rebalance timeout of the members.
    pub fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    /// Whether every member has a parked JoinGroup and no issued id is outstanding.
    pub fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.pending_join.is_some())
    }
}
