//! DeleteRecords: move a partition's log start offset forward, then answer once every
//! in-sync replica has moved its own (Kafka's `DelayedDeleteRecords`): the low watermark,
//! the smallest log start of the ISR, reached the requested offset. Followers take the
//! leader's log start from their fetch answers and report theirs in their next fetch. At the
//! request's timeout the answer is REQUEST_TIMED_OUT with the low watermark as it stands.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use kafka_protocol::ResponseError;

use super::errors::log_error_code;
use super::{blocking, RequestContext};
use crate::broker::Broker;
use crate::replica::Partition;

/// A partition whose leader moved its log start: (topic slot, partition slot, partition,
/// leader epoch, new log start) awaiting the ISR.
type Pending = (usize, usize, Arc<Partition>, i32, i64);

/// Answers DeleteRecords.
pub async fn delete_records(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let b = broker.clone();
    let auth = ctx.auth.clone();
    let timeout = Duration::from_millis(req.timeout_ms.max(0) as u64);
    let deadline = tokio::time::Instant::now() + timeout;
    let deleted = blocking(move || {
        let mut r = DeleteRecordsResponse::default();
        let mut pending: Vec<Pending> = Vec::new();
        for t in req.topics {
            let mut tr = DeleteRecordsTopicResult::default();
            tr.name = t.name.clone();
            // Kafka: DELETE on the topic.
            let allowed = auth.topic(rill_auth::acl::AclOperation::Delete, t.name.0.as_str());
            for p in t.partitions {
                let mut pr = DeleteRecordsPartitionResult::default();
                pr.partition_index = p.partition_index;
                pr.low_watermark = -1;
                if !allowed {
                    pr.error_code = kafka_protocol::ResponseError::TopicAuthorizationFailed.code();
                    tr.partitions.push(pr);
                    continue;
                }
                match b.leader_partition(t.name.0.as_str(), p.partition_index) {
                    Err(e) => pr.error_code = e.code(),
                    Ok(part) => {
                        let epoch = part.leader_epoch();
                        match part.delete_records(p.offset) {
                            Ok(start) => {
                                pr.low_watermark = start;
                                let slot = (r.topics.len(), tr.partitions.len());
                                pending.push((slot.0, slot.1, part, epoch, start));
                            }
                            Err(e) => pr.error_code = log_error_code(&e),
                        }
                    }
                }
                tr.partitions.push(pr);
            }
            r.topics.push(tr);
        }
        (r, pending)
    })
    .await;
    let Some((mut r, pending)) = deleted else {
        return DeleteRecordsResponse::default();
    };
    for (t, p, part, epoch, start) in pending {
        let Some(pr) = r.topics.get_mut(t).and_then(|t| t.partitions.get_mut(p)) else {
            continue;
        };
        match part.wait_low_watermark(start, epoch, deadline).await {
            Ok((low, true)) => pr.low_watermark = low,
            Ok((low, false)) => {
                pr.low_watermark = low;
                pr.error_code = if part.is_leader() && part.leader_epoch() == epoch {
                    ResponseError::RequestTimedOut.code()
                } else {
                    ResponseError::NotLeaderOrFollower.code()
                };
            }
            Err(e) => pr.error_code = log_error_code(&e),
        }
    }
    r
}
