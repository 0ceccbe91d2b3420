//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3), earliest local (-4), or the
//! first offset whose timestamp is at or after a given time. With `isolation_level` 1
//! (read_committed, v2+) latest is the last stable offset and lookups by time find only
//! offsets below it, as Kafka's `fetchOffsetForTimestamp`; otherwise the high watermark
//! bounds both.

use std::collections::HashSet;
use std::sync::Arc;

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::ResponseError;

use super::errors::log_error_code;
use super::{blocking, RequestContext};
use crate::broker::Broker;
use crate::replica::{Isolation, Partition};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;

/// Answers ListOffsets.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let b = broker.clone();
    // leader_epoch exists from v4 on; older versions must leave it at its default.
    let with_epoch = ctx.version >= 4;
    let isolation = Isolation::from_level(req.isolation_level);
    // A partition named more than once gets INVALID_REQUEST in every copy (as Kafka).
    let mut seen = HashSet::new();
    let duplicates: HashSet<(String, i32)> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.to_string(), p.partition_index))
        })
        .filter(|key| !seen.insert(key.clone()))
        .collect();
    let auth = ctx.auth.clone();
    blocking(move || {
        let mut r = ListOffsetsResponse::default();
        for t in req.topics {
            let mut tr = ListOffsetsTopicResponse::default();
            tr.name = t.name.clone();
            for p in t.partitions {
                let mut pr = ListOffsetsPartitionResponse::default();
                pr.partition_index = p.partition_index;
                pr.timestamp = -1;
                pr.offset = -1;
                pr.leader_epoch = -1;
                let name = t.name.0.as_str();
                if duplicates.contains(&(name.to_string(), p.partition_index)) {
                    pr.error_code = ResponseError::InvalidRequest.code();
                    tr.partitions.push(pr);
                    continue;
                }
                // Kafka: DESCRIBE on the topic.
                if !auth.topic(rill_auth::acl::AclOperation::Describe, name) {
                    pr.error_code = ResponseError::TopicAuthorizationFailed.code();
                    tr.partitions.push(pr);
                    continue;
                }
                let target = b
                    .leader_partition(name, p.partition_index)
                    .and_then(|part| {
                        b.check_leader_epoch(name, p.partition_index, p.current_leader_epoch)?;
                        Ok(part)
                    });
                let epoch = if with_epoch {
                    b.leader_epoch(name, p.partition_index)
                } else {
                    -1
                };
                match target {
                    Err(e) => pr.error_code = e.code(),
                    Ok(part) => match lookup(&part, p.timestamp, isolation) {
                        Ok(Some((offset, ts))) => {
                            pr.offset = offset;
                            pr.timestamp = ts;
                            pr.leader_epoch = epoch;
                        }
                        Ok(None) => pr.leader_epoch = epoch,
                        Err(code) => pr.error_code = code,
                    },
                }
                tr.partitions.push(pr);
            }
            r.topics.push(tr);
        }
        r
    })
    .await
    .unwrap_or_default()
}

fn lookup(p: &Partition, timestamp: i64, isolation: Isolation) -> Result<Option<(i64, i64)>, i16> {
    let code = |e: rill_log::LogError| log_error_code(&e);
    match timestamp {
        LATEST => Ok(Some((p.fetchable_end(isolation), -1))),
        EARLIEST | EARLIEST_LOCAL => Ok(Some((p.log_start_offset().map_err(code)?, -1))),
        MAX_TIMESTAMP => p.max_timestamp_offset(isolation).map_err(code),
        ts if ts < 0 => Err(ResponseError::InvalidRequest.code()),
        ts => p.offset_for_timestamp(ts, isolation).map_err(code),
    }
}
