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
    _ctx: &RequestContext,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let b = broker.clone();
    let answer = blocking(move || {
        let mut response = OffsetForLeaderEpochResponse::default();
        for topic in req.topics {
            let mut tr = OffsetForLeaderTopicResult::default();
            tr.topic = topic.topic.clone();
            for p in topic.partitions {
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
