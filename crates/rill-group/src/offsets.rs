//! Committed offsets: OffsetCommit (with the generation and member checks of the classic
//! protocol), OffsetFetch, OffsetDelete. Every commit becomes one `OffsetCommitKey` record;
//! the shell acknowledges it only once that record is durable.
//!
//! Invariant: a group's `offsets` map equals what replaying its partition of
//! `__consumer_offsets` gives: the last plain record per key, or a committed transaction's
//! offset written after it (the shell appends under the same lock that changed the map;
//! transactional commits: [`crate::txn_offsets`]).

use bytes::Bytes;

use crate::classic::join::check_member;
use crate::classic::{Group, GroupState};
use crate::coordinator::{GroupCoordinator, Output};
use crate::error::GroupError;
use crate::join_types::MemberRef;
use crate::records::{offset_key, offset_value, CoordinatorRecord, StoredOffset};

/// One partition's offset to commit.
#[derive(Debug, Clone)]
pub struct OffsetToCommit {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Leader epoch, -1 if unknown.
    pub leader_epoch: i32,
    /// Client metadata (None = empty).
    pub metadata: Option<String>,
}

/// A committed offset as OffsetFetch returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// Offset, -1 if none.
    pub offset: i64,
    /// Leader epoch, -1 if unknown.
    pub leader_epoch: i32,
    /// Metadata.
    pub metadata: String,
}

impl GroupCoordinator {
    /// OffsetCommit: per-partition results (same order as `offsets`) and the records.
    /// `generation_id` < 0 with an empty member id is a commit from outside group management
    /// (admin tools, manual assignment), allowed on empty or unknown groups.
    pub fn commit_offsets(
        &mut self,
        group_id: &str,
        generation_id: i32,
        member: &MemberRef,
        offsets: &[OffsetToCommit],
        now_ms: i64,
    ) -> (Vec<Result<(), GroupError>>, Output) {
        let mut out = Output::default();
        if let Err(e) = self.check_commit(group_id, generation_id, member) {
            return (offsets.iter().map(|_| Err(e.clone())).collect(), out);
        }
        let max_meta = self.config.offset_metadata_max_bytes;
        let partition = self.partition_for(group_id);
        let g = self
            .groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(group_id, now_ms));
        let mut results = Vec::with_capacity(offsets.len());
        for o in offsets {
            let metadata = o.metadata.clone().unwrap_or_default();
            if metadata.len() > max_meta {
                results.push(Err(GroupError::OffsetMetadataTooLarge(metadata.len())));
                continue;
            }
            let stored = StoredOffset {
                offset: o.offset,
                leader_epoch: o.leader_epoch,
                metadata,
                commit_timestamp: now_ms,
            };
            out.records.push(CoordinatorRecord {
                partition,
                key: offset_key(group_id, &o.topic, o.partition),
                value: Some(offset_value(&stored)),
            });
            g.put_offset((o.topic.clone(), o.partition), stored);
            results.push(Ok(()));
        }
        (results, out)
    }

    fn check_commit(
        &self,
        group_id: &str,
        generation_id: i32,
        member: &MemberRef,
    ) -> Result<(), GroupError> {
        self.check_group(group_id)?;
        let Some(g) = self.groups.get(group_id) else {
            if generation_id < 0 {
                return Ok(());
            }
            return Err(GroupError::IllegalGeneration {
                sent: generation_id,
                current: -1,
            });
        };
        if g.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable(group_id.to_string()));
        }
        if generation_id < 0 && g.state == GroupState::Empty {
            return Ok(());
        }
        check_member(g, &member.member_id, member.group_instance_id.as_deref())?;
        if generation_id != g.generation {
            return Err(GroupError::IllegalGeneration {
                sent: generation_id,
                current: g.generation,
            });
        }
        if g.state == GroupState::CompletingRebalance {
            return Err(GroupError::RebalanceInProgress);
        }
        Ok(())
    }

    /// OffsetFetch: the committed offsets of the given partitions (offset -1 when none), or
    /// of every partition the group has committed when `partitions` is `None`.
    ///
    /// # Errors
    /// INVALID_GROUP_ID.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<&[(String, Vec<i32>)]>,
    ) -> Result<Vec<(String, i32, CommittedOffset)>, GroupError> {
        self.check_group(group_id)?;
        let g = self.group(group_id);
        let none = CommittedOffset {
            offset: -1,
            leader_epoch: -1,
            metadata: String::new(),
        };
        let lookup = |topic: &str, p: i32| {
            g.and_then(|g| g.offsets.get(&(topic.to_string(), p)))
                .map(|o| CommittedOffset {
                    offset: o.offset,
                    leader_epoch: o.leader_epoch,
                    metadata: o.metadata.clone(),
                })
                .unwrap_or_else(|| none.clone())
        };
        Ok(match partitions {
            Some(wanted) => wanted
                .iter()
                .flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p)))
                .map(|(t, p)| {
                    let c = lookup(&t, p);
                    (t, p, c)
                })
                .collect(),
            None => g
                .map(|g| {
                    g.offsets
                        .keys()
                        .map(|(t, p)| (t.clone(), *p, lookup(t, *p)))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// OffsetDelete: removes committed offsets of topics the group is not subscribed to.
    ///
    /// # Errors
    /// GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP (an active group of another protocol type),
    /// INVALID_GROUP_ID. Per partition: GROUP_SUBSCRIBED_TO_TOPIC.
    pub fn delete_offsets(
        &mut self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<(Vec<Result<(), GroupError>>, Output), GroupError> {
        self.check_group(group_id)?;
        let partition = self.partition_for(group_id);
        let g = self
            .groups
            .get_mut(group_id)
            .filter(|g| g.state != GroupState::Dead)
            .ok_or_else(|| GroupError::GroupIdNotFound(group_id.to_string()))?;
        let active = g.state != GroupState::Empty;
        if active && g.protocol_type.as_deref() != Some("consumer") {
            return Err(GroupError::NonEmptyGroup(group_id.to_string()));
        }
        let subscribed = if active {
            subscribed_topics(g)
        } else {
            Vec::new()
        };
        let mut out = Output::default();
        let mut results = Vec::with_capacity(partitions.len());
        for (topic, p) in partitions {
            if subscribed.iter().any(|t| t == topic) {
                results.push(Err(GroupError::GroupSubscribedToTopic(topic.clone())));
                continue;
            }
            // A key with only a transaction's pending offset gets its tombstone too (Kafka 4).
            if g.remove_offset(&(topic.clone(), *p)) {
                out.records.push(CoordinatorRecord {
                    partition,
                    key: offset_key(group_id, topic, *p),
                    value: None,
                });
            }
            results.push(Ok(()));
        }
        Ok((results, out))
    }
}

/// Topics in the members' consumer-protocol subscriptions (selected protocol).
fn subscribed_topics(g: &Group) -> Vec<String> {
    let protocol = g.protocol_name.clone().unwrap_or_default();
    let mut topics = Vec::new();
    for m in g.members.values() {
        topics.extend(decode_subscription_topics(&m.metadata(&protocol)));
    }
    topics
}

/// The topics of a `ConsumerProtocolSubscription` (version prefix + body); empty on garbage.
pub fn decode_subscription_topics(metadata: &Bytes) -> Vec<String> {
    subscription_topics(metadata).unwrap_or_default()
}

/// The topics of a `ConsumerProtocolSubscription`, `None` when it does not decode.
pub fn subscription_topics(metadata: &Bytes) -> Option<Vec<String>> {
    use kafka_protocol::messages::ConsumerProtocolSubscription;
    use kafka_protocol::protocol::Decodable;
    let mut buf = metadata.clone();
    if buf.len() < 2 {
        return None;
    }
    let version = i16::from_be_bytes([buf[0], buf[1]]);
    let _ = bytes::Buf::get_i16(&mut buf);
    // Newer subscription versions decode as the newest we know (fields are appended).
    let version = version.clamp(0, 3);
    ConsumerProtocolSubscription::decode(&mut buf, version)
        .ok()
        .map(|s| s.topics.into_iter().map(|t| t.to_string()).collect())
}
