//! Removing committed offsets without a request: expiry after `offsets.retention.minutes`
//! (Kafka 4.x rules) and the offsets of deleted topics. Every removal yields a tombstone for
//! its key, so the compacted `__consumer_offsets` forgets it too.
//!
//! Expiry, per group (Kafka's `ClassicGroup.offsetExpirationCondition` and
//! `OffsetMetadataManager.cleanupExpiredOffsets`):
//! - a group that only commits offsets (no protocol type): each offset expires
//!   `retention` after its own commit;
//! - an `Empty` group with a protocol type: every offset expires `retention` after the group
//!   became empty;
//! - a `Stable` consumer-protocol group whose members' subscriptions decode: offsets of
//!   topics no member subscribes to expire `retention` after their commit; subscribed
//!   topics never expire;
//! - any other group (rebalancing, another protocol type): nothing expires.
//!
//! An offset whose key has a transaction's offset pending does not expire, and a group with
//! an open transaction is never deleted (Kafka 4's `cleanupExpiredOffsets`). An `Empty`
//! group left with no offsets is deleted (group metadata tombstone). Removing a deleted
//! topic's offsets drops pending ones too (Kafka's `onPartitionsDeleted`).

use std::collections::{BTreeSet, HashSet};

use crate::classic::{Group, GroupState};
use crate::coordinator::{GroupCoordinator, Output};
use crate::offsets::subscription_topics;
use crate::records::{group_key, offset_key, partition_for, CoordinatorRecord, StoredOffset};

/// Which offsets of a group may expire, and from which time.
enum Expiry {
    /// Offsets of topics outside `subscribed` expire `retention` after their commit.
    SinceCommit {
        /// Topics that never expire.
        subscribed: BTreeSet<String>,
    },
    /// Every offset expires `retention` after this time (the group became empty).
    Since(i64),
}

/// The group's expiry rule, `None` when its offsets do not expire now.
fn expiry_of(g: &Group) -> Option<Expiry> {
    match (&g.protocol_type, g.state) {
        (None, _) => Some(Expiry::SinceCommit {
            subscribed: BTreeSet::new(),
        }),
        (Some(_), GroupState::Empty) => Some(Expiry::Since(g.state_timestamp_ms)),
        (Some(t), GroupState::Stable) if t == "consumer" => {
            subscribed_topics(g).map(|subscribed| Expiry::SinceCommit { subscribed })
        }
        _ => None,
    }
}

/// The topics the members subscribe to (selected protocol), `None` when a member's
/// subscription does not decode (then nothing is known to be unsubscribed).
fn subscribed_topics(g: &Group) -> Option<BTreeSet<String>> {
    let protocol = g.protocol_name.as_deref()?;
    let mut topics = BTreeSet::new();
    for m in g.members.values() {
        topics.extend(subscription_topics(&m.metadata(protocol))?);
    }
    Some(topics)
}

impl Expiry {
    fn expired(&self, topic: &str, o: &StoredOffset, now_ms: i64, retention_ms: i64) -> bool {
        let base = match self {
            Expiry::SinceCommit { subscribed } if subscribed.contains(topic) => return false,
            Expiry::SinceCommit { .. } => o.commit_timestamp,
            Expiry::Since(t) => *t,
        };
        now_ms.saturating_sub(base) >= retention_ms
    }
}

impl GroupCoordinator {
    /// Expires committed offsets by Kafka's rules (see the module doc) and deletes empty
    /// groups left with no offsets. Returns the tombstones to write.
    pub fn expire_offsets(&mut self, now_ms: i64) -> Output {
        let retention = self.config.offsets_retention_ms;
        let partitions = self.config.offsets_partitions;
        let mut out = Output::default();
        let mut dead = Vec::new();
        for g in self.groups.values_mut() {
            if g.state == GroupState::Dead {
                continue;
            }
            let Some(rule) = expiry_of(g) else { continue };
            let partition = partition_for(&g.group_id, partitions);
            let group_id = g.group_id.clone();
            let expired: Vec<_> = g
                .offsets
                .iter()
                .filter(|(key, o)| {
                    rule.expired(&key.0, o, now_ms, retention) && !g.has_pending(key)
                })
                .map(|(key, _)| key.clone())
                .collect();
            for key in expired {
                g.remove_offset(&key);
                out.records.push(CoordinatorRecord {
                    partition,
                    key: offset_key(&group_id, &key.0, key.1),
                    value: None,
                });
            }
            if g.offsets.is_empty()
                && g.pending_txn_offsets.is_empty()
                && g.state == GroupState::Empty
            {
                dead.push((group_id, partition));
            }
        }
        for (id, partition) in dead {
            self.groups.remove(&id);
            out.records.push(CoordinatorRecord {
                partition,
                key: group_key(&id),
                value: None,
            });
        }
        out
    }

    /// Removes every committed offset of the deleted `topics` from every group served here
    /// (Kafka's `onPartitionsDeleted`). Returns their tombstones.
    pub fn delete_topic_offsets(&mut self, topics: &HashSet<String>) -> Output {
        let partitions = self.config.offsets_partitions;
        let mut out = Output::default();
        for g in self.groups.values_mut() {
            let partition = partition_for(&g.group_id, partitions);
            for key in g.offset_keys() {
                if topics.contains(&key.0) {
                    g.remove_offset(&key);
                    out.records.push(CoordinatorRecord {
                        partition,
                        key: offset_key(&g.group_id, &key.0, key.1),
                        value: None,
                    });
                }
            }
        }
        out
    }

    /// The topics some group served here has offsets for, committed or pending in a
    /// transaction (to find deleted ones).
    pub fn committed_topics(&self) -> HashSet<String> {
        self.groups
            .values()
            .flat_map(|g| g.offset_keys().into_iter().map(|(t, _)| t))
            .collect()
    }

    /// Number of committed offsets held (memory follows the live set).
    pub fn offset_count(&self) -> usize {
        self.groups.values().map(|g| g.offsets.len()).sum()
    }
}
