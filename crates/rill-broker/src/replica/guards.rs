//! The request guards of the partition service: is this broker the partition's leader by the
//! metadata image, does the client's leader epoch match ours (KIP-320), is a fetching follower
//! one of the partition's replicas. Pure over the image and the hosted partitions.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use rill_meta::MetadataImage;

use super::{Partition, ReplicaManager};

impl ReplicaManager {
    /// The partition if this node leads it by `image`; otherwise the Kafka error a client must
    /// see (see [`leader_partition_in`]).
    ///
    /// # Errors
    /// The Kafka error as above.
    pub fn leader_partition(
        &self,
        image: &MetadataImage,
        topic: &str,
        index: i32,
    ) -> Result<Arc<Partition>, ResponseError> {
        leader_partition_in(image, self.node_id(), topic, index, || {
            self.get(topic, index)
        })
    }

    /// The partition a fetch reads, or the Kafka error to answer (see [`fetch_target_in`]).
    ///
    /// # Errors
    /// The Kafka error a client must see.
    pub fn fetch_target(
        &self,
        image: &MetadataImage,
        topic: &str,
        index: i32,
        current_leader_epoch: i32,
        follower: Option<i32>,
    ) -> Result<Arc<Partition>, ResponseError> {
        let hosted = || self.get(topic, index);
        fetch_target_in(
            image,
            self.node_id(),
            topic,
            index,
            current_leader_epoch,
            follower,
            hosted,
        )
    }
}

/// The partition (found by `hosted`) if node `node_id` leads it by `image`; otherwise the
/// Kafka error a client must see: UNKNOWN_TOPIC_OR_PARTITION when it does not exist,
/// NOT_LEADER_OR_FOLLOWER when another broker leads it (or it has no leader right now, or it
/// is not hosted here yet).
///
/// # Errors
/// The Kafka error as above.
pub fn leader_partition_in(
    image: &MetadataImage,
    node_id: i32,
    topic: &str,
    index: i32,
    hosted: impl FnOnce() -> Option<Arc<Partition>>,
) -> Result<Arc<Partition>, ResponseError> {
    let t = image
        .topic(topic)
        .filter(|t| index >= 0 && (index as u32) < t.partitions)
        .ok_or(ResponseError::UnknownTopicOrPartition)?;
    let leads_here = t
        .partition_states
        .get(index as usize)
        .is_none_or(|s| s.replicas.is_empty() || s.leader == node_id);
    if !leads_here {
        return Err(ResponseError::NotLeaderOrFollower);
    }
    hosted().ok_or(ResponseError::NotLeaderOrFollower)
}

/// [`leader_partition_in`], then the KIP-320 check of `current_leader_epoch`
/// ([`check_leader_epoch`]) and, for a follower's fetch, that `follower` is one of the
/// partition's replicas.
///
/// # Errors
/// The Kafka error a client must see.
pub fn fetch_target_in(
    image: &MetadataImage,
    node_id: i32,
    topic: &str,
    index: i32,
    current_leader_epoch: i32,
    follower: Option<i32>,
    hosted: impl FnOnce() -> Option<Arc<Partition>>,
) -> Result<Arc<Partition>, ResponseError> {
    let part = leader_partition_in(image, node_id, topic, index, hosted)?;
    check_leader_epoch(image, topic, index, current_leader_epoch)?;
    if follower.is_some_and(|r| !part.replica_state().replicas.contains(&r)) {
        return Err(ResponseError::NotLeaderOrFollower);
    }
    Ok(part)
}

/// The partition's current leader epoch by `image` (0 for a lone node's partitions).
pub fn leader_epoch(image: &MetadataImage, topic: &str, index: i32) -> i32 {
    image
        .topic(topic)
        .and_then(|t| {
            t.partition_states
                .get(index as usize)
                .map(|s| s.leader_epoch)
        })
        .unwrap_or(0)
}

/// KIP-320 fencing: a client's `requested` leader epoch newer than ours is
/// UNKNOWN_LEADER_EPOCH (we are behind), older is FENCED_LEADER_EPOCH (it is); -1 skips.
///
/// # Errors
/// The Kafka error as above.
pub fn check_leader_epoch(
    image: &MetadataImage,
    topic: &str,
    index: i32,
    requested: i32,
) -> Result<(), ResponseError> {
    if requested < 0 {
        return Ok(());
    }
    match requested.cmp(&leader_epoch(image, topic, index)) {
        std::cmp::Ordering::Greater => Err(ResponseError::UnknownLeaderEpoch),
        std::cmp::Ordering::Less => Err(ResponseError::FencedLeaderEpoch),
        std::cmp::Ordering::Equal => Ok(()),
    }
}
