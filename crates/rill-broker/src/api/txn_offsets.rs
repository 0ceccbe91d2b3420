//! TxnOffsetCommit (key 28, v0-v4): a transactional producer's offsets for a group
//! (`sendOffsetsToTransaction`), pending in the group coordinator until the transaction's
//! marker reaches the group's `__consumer_offsets` partition (`rill_group::txn_offsets`).
//!
//! As Kafka's `KafkaApis.handleTxnOffsetCommitRequest`: partitions of unknown topics, or
//! beyond a topic's partition count, get UNKNOWN_TOPIC_OR_PARTITION and the rest goes to the
//! coordinator (nothing to commit: no coordinator call); a failed write answers every
//! partition sent to the coordinator with the mapped write error; v0-v1 clients get
//! COORDINATOR_NOT_AVAILABLE for COORDINATOR_LOAD_IN_PROGRESS (KAFKA-7296).
//!
//! KIP-890 part 1 (`transaction.partition.verification.enable`, as Kafka 3.6+): when the
//! group's offsets partition has no open transaction of the producer yet, the transaction
//! coordinator is asked (AddPartitionsToTxn VerifyOnly, `crate::txn::verify`) whether
//! AddOffsetsToTxn added that partition to the producer's transaction, after the group is
//! known to be coordinated here and before anything is written; a refusal answers every
//! partition (`errors::txn_offset_verify_code`: INVALID_TXN_STATE, TRANSACTION_ABORTABLE from
//! v4, the only difference of v4; INVALID_PRODUCER_EPOCH). Like the produce path there is no
//! verification guard: a marker between the answer and the append is not noticed. v5
//! (KIP-890 part 2) is not served.

use std::sync::Arc;

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use kafka_protocol::ResponseError;
use rill_group::{MemberRef, OffsetToCommit, TxnOffsetCommit};
use rill_txn::{TopicPartition, TxnProducer};

use super::errors::{coordinator_write_error_code, group_error_code, txn_offset_verify_code};
use super::{blocking, RequestContext};
use crate::broker::Broker;
use crate::coordinator::OFFSETS_TOPIC;

/// TxnOffsetCommit.
pub async fn txn_offset_commit(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let image = broker.image();
    // (topic index, partition, Ok(index into `offsets`) or a code)
    let mut slots: Vec<(usize, i32, Result<usize, i16>)> = Vec::new();
    let mut offsets = Vec::new();
    let mut resp = TxnOffsetCommitResponse::default();
    // Kafka: WRITE on the transactional id, READ on the group, READ on each topic.
    use rill_auth::acl::{AclOperation, ResourceType};
    let refusal = if !ctx.auth.allows(
        AclOperation::Write,
        ResourceType::TransactionalId,
        req.transactional_id.0.as_str(),
    ) {
        Some(ResponseError::TransactionalIdAuthorizationFailed.code())
    } else if !ctx.auth.group(AclOperation::Read, req.group_id.0.as_str()) {
        Some(ResponseError::GroupAuthorizationFailed.code())
    } else {
        None
    };
    for (ti, t) in req.topics.iter().enumerate() {
        let name = t.name.0.to_string();
        let partitions = image.topic(&name).map(|t| t.partitions);
        let topic_ok = ctx.auth.topic(AclOperation::Read, &name);
        let mut rt = TxnOffsetCommitResponseTopic::default();
        rt.name = t.name.clone();
        resp.topics.push(rt);
        for p in &t.partitions {
            let exists = partitions
                .is_some_and(|n| p.partition_index >= 0 && (p.partition_index as u32) < n);
            let slot = if let Some(code) = refusal {
                Err(code)
            } else if !topic_ok {
                Err(ResponseError::TopicAuthorizationFailed.code())
            } else if exists {
                offsets.push(OffsetToCommit {
                    topic: name.clone(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                });
                Ok(offsets.len() - 1)
            } else {
                Err(ResponseError::UnknownTopicOrPartition.code())
            };
            slots.push((ti, p.partition_index, slot));
        }
    }
    let codes: Vec<i16> = if offsets.is_empty() {
        Vec::new()
    } else {
        let commit = TxnOffsetCommit {
            transactional_id: req.transactional_id.0.to_string(),
            group_id: req.group_id.0.to_string(),
            producer_id: req.producer_id.0,
            producer_epoch: req.producer_epoch,
            generation_id: req.generation_id,
            member: MemberRef {
                member_id: req.member_id.to_string(),
                group_instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
            },
            offsets,
        };
        let n = commit.offsets.len();
        match verify(broker, &commit, ctx.version).await {
            0 => {
                let b = broker.clone();
                let result =
                    blocking(move || b.groups.commit_txn_offsets(&b.replicas, &commit)).await;
                match result {
                    Some(Ok(per)) => per
                        .iter()
                        .map(|r| r.as_ref().err().map_or(0, group_error_code))
                        .collect(),
                    Some(Err(e)) => vec![coordinator_write_error_code(&e); n],
                    None => vec![ResponseError::CoordinatorNotAvailable.code(); n],
                }
            }
            refused => vec![refused; n],
        }
    };
    for (ti, partition_index, slot) in slots {
        let mut code = match slot {
            Ok(i) => codes
                .get(i)
                .copied()
                .unwrap_or(ResponseError::CoordinatorNotAvailable.code()),
            Err(code) => code,
        };
        if ctx.version < 2 && code == ResponseError::CoordinatorLoadInProgress.code() {
            code = ResponseError::CoordinatorNotAvailable.code();
        }
        let mut rp = TxnOffsetCommitResponsePartition::default();
        rp.partition_index = partition_index;
        rp.error_code = code;
        resp.topics[ti].partitions.push(rp);
    }
    resp
}

/// KIP-890 part 1 for the group's offsets partition (see the module doc): 0 to go on, else
/// the code every partition gets. A group not coordinated here gets its group error first,
/// as Kafka's coordinator lookup precedes the verification.
async fn verify(broker: &Arc<Broker>, commit: &TxnOffsetCommit, version: i16) -> i16 {
    if !broker.txns.verification_enabled() || commit.producer_id < 0 {
        return 0;
    }
    if let Err(e) = broker.groups.read(|c| c.check_group(&commit.group_id)) {
        return group_error_code(&e);
    }
    let index = broker.groups.read(|c| c.partition_for(&commit.group_id));
    let open = broker
        .replicas
        .get(OFFSETS_TOPIC, index)
        .and_then(|p| p.has_open_txn(commit.producer_id).ok())
        .unwrap_or(false);
    if open {
        return 0;
    }
    let producer = TxnProducer::new(
        commit.transactional_id.clone(),
        commit.producer_id,
        commit.producer_epoch,
    );
    let tps = [TopicPartition::new(OFFSETS_TOPIC.to_string(), index)];
    let answers =
        crate::txn::verify::verify(broker.as_ref(), broker.txns.peers(), &producer, &tps).await;
    answers
        .first()
        .map_or(ResponseError::UnknownServerError.code(), |(_, code)| {
            txn_offset_verify_code(*code, version)
        })
}
