//! Fetch: decode the request, call the partition service
//! ([`ReplicaManager::fetch_records`](crate::replica::ReplicaManager::fetch_records): the
//! isolation bound, follower progress, long polling in the purgatory of the fetched
//! partitions) and build the response, whose record data stays file ranges (see
//! [`super::fetch_wire`]). Every partition carries its real last stable offset; the aborted
//! transactions are a list (maybe empty) for read_committed and null for read_uncommitted
//! and for partitions in error, as Kafka sends them.
//!
//! Fetch sessions (KIP-227): Rill answers with session id 0, i.e. no session was created,
//! so clients keep sending full fetch requests, a behaviour every client supports.

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, ProducerId, TopicName};
use kafka_protocol::ResponseError;
use rill_meta::MetadataImage;

use super::fetch_wire::FileRecords;
use super::{str_bytes, RequestContext};
use crate::replica::fetch_records::{unknown_topic, FetchInput, FetchParams, FetchedPartition};
use crate::replica::{Isolation, ReplicaManager};

/// A Fetch answer: the response with every partition's fields, and the record data of the
/// partitions that have some, as file ranges (see [`super::fetch_wire`]).
#[derive(Debug, Default)]
pub struct FetchAnswer {
    /// The response; `records` fields of partitions in `files` are placeholders.
    pub response: FetchResponse,
    /// Record data as file ranges, by (topic index, partition index within the topic).
    pub files: FileRecords,
}

/// The record bytes an answer sends (what `consumer_byte_rate` counts).
pub fn response_record_bytes(answer: &FetchAnswer) -> u64 {
    let in_files: u64 = answer.files.values().flatten().map(|s| s.len).sum();
    let in_memory: u64 = answer
        .response
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .filter_map(|p| p.records.as_ref())
        .map(|r| r.len() as u64)
        .sum();
    in_files + in_memory
}

/// The answer to a fetch throttled by a quota: no data (Kafka's `getThrottledResponse`; the
/// caller sets the throttle time); the consumer fetches the same offsets again after it.
pub fn throttled_answer() -> FetchAnswer {
    FetchAnswer {
        response: FetchResponse::default(),
        files: FileRecords::new(),
    }
}

/// Answers Fetch, waiting up to `max_wait_ms` for `min_bytes`.
pub async fn handle(
    replicas: &ReplicaManager,
    image: &MetadataImage,
    ctx: &RequestContext,
    req: FetchRequest,
) -> FetchAnswer {
    let mut response = FetchResponse::default();
    if req.session_id > 0 {
        response.error_code = ResponseError::FetchSessionIdNotFound.code();
        return FetchAnswer {
            response,
            files: FileRecords::new(),
        };
    }
    // v15+ carry the replica id in ReplicaState; older versions in replica_id.
    let replica_id = req.replica_id.0.max(req.replica_state.replica_id.0);
    let params = FetchParams {
        follower: (replica_id >= 0).then_some(replica_id),
        max_wait_ms: req.max_wait_ms,
        min_bytes: req.min_bytes,
        max_bytes: req.max_bytes,
        isolation: Isolation::from_level(req.isolation_level),
    };
    // Kafka: a follower needs CLUSTER_ACTION on the cluster; a consumer READ on each topic.
    if params.follower.is_some()
        && !ctx
            .auth
            .cluster(rill_auth::acl::AclOperation::ClusterAction)
    {
        response.error_code = ResponseError::ClusterAuthorizationFailed.code();
        return FetchAnswer {
            response,
            files: FileRecords::new(),
        };
    }
    let check = (params.follower.is_none() && ctx.auth.enabled()).then_some(&ctx.auth);
    let (slots, inputs) = decode_partitions(image, &req, &mut response, check);
    let Some(parts) = replicas.fetch_records(image, params, &inputs).await else {
        response.error_code = ResponseError::UnknownServerError.code();
        return FetchAnswer {
            response,
            files: FileRecords::new(),
        };
    };
    let mut files = FileRecords::new();
    for ((topic_idx, index), part) in slots.into_iter().zip(parts) {
        let Some(topic) = response.responses.get_mut(topic_idx) else {
            continue;
        };
        let (pd, slices) = encode_partition(index, part);
        if !slices.is_empty() {
            files.insert((topic_idx, topic.partitions.len()), slices);
        }
        topic.partitions.push(pd);
    }
    FetchAnswer { response, files }
}

/// The service's inputs for every partition of `req`, in order, with each one's (topic slot
/// in `response`, partition index); pushes one topic response per request topic.
fn decode_partitions(
    image: &MetadataImage,
    req: &FetchRequest,
    response: &mut FetchResponse,
    auth: Option<&crate::authz::RequestAuth>,
) -> (Vec<(usize, i32)>, Vec<FetchInput>) {
    let n: usize = req.topics.iter().map(|t| t.partitions.len()).sum();
    let mut slots = Vec::with_capacity(n);
    let mut inputs = Vec::with_capacity(n);
    response.responses.reserve(req.topics.len());
    for topic in &req.topics {
        let by_id = topic.topic.0.is_empty();
        let name = if by_id {
            image.topic_by_id(&topic.topic_id).map(|t| t.name.clone())
        } else {
            Some(topic.topic.0.to_string())
        };
        let readable = match (auth, &name) {
            (None, _) => true,
            (Some(a), Some(n)) => a.topic(rill_auth::acl::AclOperation::Read, n),
            (Some(_), None) => false,
        };
        let mut tr = FetchableTopicResponse::default();
        tr.topic = TopicName(str_bytes(topic.topic.0.as_str()));
        tr.topic_id = topic.topic_id;
        let topic_idx = response.responses.len();
        response.responses.push(tr);
        for p in &topic.partitions {
            slots.push((topic_idx, p.partition));
            inputs.push(FetchInput {
                topic: if readable {
                    name.clone().ok_or(unknown_topic(by_id))
                } else {
                    Err(ResponseError::TopicAuthorizationFailed.code())
                },
                index: p.partition,
                fetch_offset: p.fetch_offset,
                partition_max_bytes: p.partition_max_bytes,
                current_leader_epoch: p.current_leader_epoch,
                log_start_offset: p.log_start_offset,
            });
        }
    }
    (slots, inputs)
}

/// One partition's fields on the wire, and its file ranges.
fn encode_partition(
    index: i32,
    part: FetchedPartition,
) -> (PartitionData, Vec<rill_log::FileSlice>) {
    let mut pd = PartitionData::default();
    pd.partition_index = index;
    pd.error_code = part.error_code;
    pd.high_watermark = part.high_watermark;
    pd.last_stable_offset = part.last_stable_offset;
    pd.log_start_offset = part.log_start_offset;
    pd.preferred_read_replica = BrokerId(-1);
    pd.aborted_transactions = part.aborted_transactions.map(|list| {
        list.iter()
            .map(|a| {
                let mut t = AbortedTransaction::default();
                t.producer_id = ProducerId(a.producer_id);
                t.first_offset = a.first_offset;
                t
            })
            .collect()
    });
    pd.records = Some(Bytes::new());
    (pd, part.slices)
}
