//! OffsetForLeaderEpoch (KIP-101, KIP-320): the end offset of a leader epoch in the leader's
//! log. Followers use it to find where their log diverges from a new leader's; consumers use
//! it to check their position after a leader change.

use std::sync::Arc;

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use kafka_protocol::ResponseError;

use super::errors::log_error_code;
use super::{blocking, RequestContext};
use crate::broker::Broker;

/// Answers OffsetForLeaderEpoch from the leader's epoch cache.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let b = broker.clone();
    // Kafka: a follower (replica id >= 0) needs CLUSTER_ACTION, a client DESCRIBE on the topic.
    let auth = ctx.auth.clone();
    let follower = req.replica_id.0 >= 0;
    let cluster_ok = !follower || auth.cluster(rill_auth::acl::AclOperation::ClusterAction);
    let answer = blocking(move || {
        let mut response = OffsetForLeaderEpochResponse::default();
        for topic in req.topics {
            let mut tr = OffsetForLeaderTopicResult::default();
            tr.topic = topic.topic.clone();
            let allowed = if follower {
                cluster_ok
            } else {
                auth.topic(rill_auth::acl::AclOperation::Describe, topic.topic.0.as_str())
            };
            for p in topic.partitions {
                if !allowed {
                    let mut e = kafka_protocol::messages::offset_for_leader_epoch_response::EpochEndOffset::default();
                    e.partition = p.partition;
                    e.leader_epoch = -1;
                    e.end_offset = -1;
                    e.error_code = if follower {
                        kafka_protocol::ResponseError::ClusterAuthorizationFailed.code()
                    } else {
                        kafka_protocol::ResponseError::TopicAuthorizationFailed.code()
                    };
                    tr.partitions.push(e);
                    continue;
                }
                tr.partitions.push(end_offset(&b, &topic.topic.0, &p));
            }
            response.topics.push(tr);
        }
        response
    })
    .await;
    answer.unwrap_or_default()
}

fn end_offset(
    broker: &Broker,
    topic: &str,
    p: &kafka_protocol::messages::offset_for_leader_epoch_request::OffsetForLeaderPartition,
) -> EpochEndOffset {
    let mut r = EpochEndOffset::default();
    r.partition = p.partition;
    r.leader_epoch = -1;
    r.end_offset = -1;
    let part = broker
        .leader_partition(topic, p.partition)
        .and_then(|part| {
            broker.check_leader_epoch(topic, p.partition, p.current_leader_epoch)?;
            Ok(part)
        });
    match part {
        Err(e) => r.error_code = e.code(),
        Ok(part) => match part.end_offset_for_epoch(p.leader_epoch) {
            Ok((epoch, end)) => {
                r.leader_epoch = epoch;
                r.end_offset = end;
            }
            Err(e) => r.error_code = log_error_code(&e),
        },
    }
    if r.error_code == ResponseError::UnknownTopicOrPartition.code() {
        tracing::debug!(
            topic,
            partition = p.partition,
            "OffsetForLeaderEpoch for an unknown partition"
        );
    }
    r
}
