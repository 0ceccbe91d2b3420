//! Produce: decode the request, call the partition service
//! ([`ReplicaManager::append_records`](crate::replica::ReplicaManager::append_records), which
//! holds every produce rule: guards, batch checks, min.insync.replicas, acks, durability) and
//! encode its answers.
//!
//! acks=0 gets no response; acks=1 answers once the batch is durable on the leader under the
//! topic's flush policy; acks=all once every ISR member has it.

use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use std::collections::HashMap;

use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::ResponseError;
use rill_meta::MetadataImage;

use super::{str_bytes, RequestContext};
use crate::replica::append::{AppendInput, AppendParams, AppendResult, PendingAppend};
use crate::replica::ReplicaManager;

/// A produce request whose batches are appended and whose durability is still awaited.
pub struct ProduceInFlight {
    /// The response skeleton (topics in request order, no partitions yet).
    response: ProduceResponse,
    /// Per partition, in request order: (topic slot, partition index).
    slots: Vec<(usize, i32)>,
    /// The service's pending appends.
    pending: PendingAppend,
}

/// Answers Produce; `None` for acks=0.
pub async fn handle(
    replicas: &ReplicaManager,
    image: &MetadataImage,
    ctx: &RequestContext,
    req: ProduceRequest,
) -> Option<ProduceResponse> {
    append(replicas, image, ctx, req).await?.finish().await
}

/// Decodes the request and appends every partition's batch, in request order. The connection
/// awaits this before it reads its next request, so one producer's batches keep their order;
/// the durability wait ([`ProduceInFlight::finish`]) may then overlap the next requests.
pub async fn append(
    replicas: &ReplicaManager,
    image: &MetadataImage,
    ctx: &RequestContext,
    req: ProduceRequest,
) -> Option<ProduceInFlight> {
    append_refusing(replicas, image, ctx, req, &HashMap::new()).await
}

/// [`append`], with partitions refused beforehand (topic, partition) -> error code: the
/// transactional batches the coordinator did not verify (KIP-890, `crate::txn::verify`).
pub async fn append_refusing(
    replicas: &ReplicaManager,
    image: &MetadataImage,
    ctx: &RequestContext,
    req: ProduceRequest,
    refused: &HashMap<(String, i32), i16>,
) -> Option<ProduceInFlight> {
    // Kafka: a transactional producer needs WRITE on its transactional id (every partition
    // refused otherwise), and each topic needs WRITE.
    let txn_refused = req.transactional_id.as_ref().is_some_and(|id| {
        !ctx.auth.allows(
            rill_auth::acl::AclOperation::Write,
            rill_auth::acl::ResourceType::TransactionalId,
            id,
        )
    });
    let params = AppendParams {
        acks: req.acks,
        timeout_ms: req.timeout_ms,
        transactional: req.transactional_id.is_some(),
    };
    let mut response = ProduceResponse::default();
    let mut slots = Vec::new();
    let mut inputs = Vec::new();
    for topic in req.topic_data {
        let by_id = topic.name.0.is_empty();
        let name = if by_id {
            image.topic_by_id(&topic.topic_id).map(|t| t.name.clone())
        } else {
            Some(topic.name.0.to_string())
        };
        let unknown = if by_id {
            ResponseError::UnknownTopicId
        } else {
            ResponseError::UnknownTopicOrPartition
        };
        let mut tr = TopicProduceResponse::default();
        // A copy: the request's buffer is freed (and its queued bytes released) at once.
        tr.name = TopicName(str_bytes(topic.name.0.as_str()));
        tr.topic_id = topic.topic_id;
        let topic_idx = response.responses.len();
        response.responses.push(tr);
        let authorized = !txn_refused
            && match &name {
                Some(n) => ctx.auth.topic(rill_auth::acl::AclOperation::Write, n),
                None => !ctx.auth.enabled(),
            };
        for p in topic.partition_data {
            slots.push((topic_idx, p.index));
            // No key is built (no name cloned) unless something was refused.
            let refusal = match &name {
                _ if txn_refused => Some(ResponseError::TransactionalIdAuthorizationFailed.code()),
                _ if !authorized => Some(ResponseError::TopicAuthorizationFailed.code()),
                Some(n) if !refused.is_empty() => refused.get(&(n.clone(), p.index)).copied(),
                _ => None,
            };
            inputs.push(AppendInput {
                topic: match refusal {
                    Some(code) => Err(code),
                    None => name.clone().ok_or(unknown.code()),
                },
                index: p.index,
                records: p.records,
            });
        }
    }
    let pending = replicas.append_records(image, params, inputs).await?;
    Some(ProduceInFlight {
        response,
        slots,
        pending,
    })
}

impl ProduceInFlight {
    /// Waits for the service's durability and acks=all waits and builds the answer; `None`
    /// for acks=0.
    pub async fn finish(self) -> Option<ProduceResponse> {
        let ProduceInFlight {
            mut response,
            slots,
            pending,
        } = self;
        let results = pending.complete().await?;
        for ((topic_idx, index), r) in slots.into_iter().zip(results) {
            let pr = encode_result(index, r);
            if let Some(t) = response.responses.get_mut(topic_idx) {
                t.partition_responses.push(pr);
            }
        }
        Some(response)
    }
}

/// One partition's answer on the wire.
fn encode_result(index: i32, r: AppendResult) -> PartitionProduceResponse {
    let mut pr = PartitionProduceResponse::default();
    pr.index = index;
    pr.error_code = r.error_code;
    pr.base_offset = r.base_offset;
    pr.log_append_time_ms = r.log_append_time_ms;
    pr.log_start_offset = r.log_start_offset;
    pr.error_message = r.error_message.map(str_bytes);
    pr.record_errors = r
        .record_errors
        .into_iter()
        .map(|e| {
            let mut b = BatchIndexAndErrorMessage::default();
            b.batch_index = e.batch_index;
            b.batch_index_error_message = Some(str_bytes(e.message));
            b
        })
        .collect();
    pr
}
