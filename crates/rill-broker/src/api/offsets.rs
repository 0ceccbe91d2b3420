//! Committed offsets: OffsetCommit (acknowledged only once durable in `__consumer_offsets`),
//! OffsetFetch (one group up to v7, batched groups v8+, topic ids v10; `require_stable` v7+:
//! UNSTABLE_OFFSET_COMMIT for a partition with a transaction's offset pending, KIP-447),
//! OffsetDelete.

use std::sync::Arc;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use kafka_protocol::ResponseError;
use rill_auth::acl::AclOperation;
use rill_group::{CommittedOffset, FetchedOffset, GroupError, MemberRef, OffsetToCommit};
use rill_meta::{MetadataImage, Uuid};

use super::errors::group_error_code;
use super::{blocking, str_bytes, RequestContext};
use crate::broker::Broker;

/// Whether `topic`/`partition` exists.
fn partition_exists(image: &MetadataImage, topic: &str, partition: i32) -> bool {
    image
        .topic(topic)
        .is_some_and(|t| partition >= 0 && (partition as u32) < t.partitions)
}

/// Resolves a topic named by name, or by id when the name is empty (v10).
fn topic_name(image: &MetadataImage, name: &TopicName, id: Uuid) -> String {
    if name.0.is_empty() && !id.is_nil() {
        return image
            .topic_by_id(&id)
            .map(|t| t.name.clone())
            .unwrap_or_default();
    }
    name.0.to_string()
}

/// OffsetCommit.
pub async fn offset_commit(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let image = broker.image();
    // Kafka: READ on the group, and READ on each topic.
    let group_ok = ctx.auth.group(AclOperation::Read, req.group_id.0.as_str());
    // (topic index, partition, Ok(index into `to_commit`) or a code)
    let mut slots: Vec<(usize, i32, Result<usize, i16>)> = Vec::new();
    let mut to_commit = Vec::new();
    let mut resp = OffsetCommitResponse::default();
    for (ti, t) in req.topics.iter().enumerate() {
        let name = topic_name(&image, &t.name, t.topic_id);
        let mut rt = OffsetCommitResponseTopic::default();
        rt.name = t.name.clone();
        rt.topic_id = t.topic_id;
        resp.topics.push(rt);
        let topic_ok = ctx.auth.topic(AclOperation::Read, &name);
        for p in &t.partitions {
            let slot = if !group_ok {
                Err(ResponseError::GroupAuthorizationFailed.code())
            } else if !topic_ok {
                Err(ResponseError::TopicAuthorizationFailed.code())
            } else if partition_exists(&image, &name, p.partition_index) {
                to_commit.push(OffsetToCommit {
                    topic: name.clone(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                });
                Ok(to_commit.len() - 1)
            } else if t.name.0.is_empty() {
                Err(ResponseError::UnknownTopicId.code())
            } else {
                Err(ResponseError::UnknownTopicOrPartition.code())
            };
            slots.push((ti, p.partition_index, slot));
        }
    }
    let group = req.group_id.0.to_string();
    let member = MemberRef {
        member_id: req.member_id.to_string(),
        group_instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
    };
    let generation = req.generation_id_or_member_epoch;
    let b = broker.clone();
    let results = if to_commit.is_empty() {
        Some(Ok(Vec::new()))
    } else {
        blocking(move || {
            b.groups.run(&b.replicas, |c, now| {
                c.commit_offsets(&group, generation, &member, &to_commit, now)
            })
        })
        .await
    };
    let codes: Vec<i16> = match results {
        Some(Ok(v)) => v
            .iter()
            .map(|r| r.as_ref().err().map_or(0, group_error_code))
            .collect(),
        // Not durable: the client must retry; nothing was acknowledged.
        _ => Vec::new(),
    };
    for (ti, partition_index, slot) in slots {
        let mut rp = OffsetCommitResponsePartition::default();
        rp.partition_index = partition_index;
        rp.error_code = match slot {
            Ok(i) => codes
                .get(i)
                .copied()
                .unwrap_or(ResponseError::CoordinatorNotAvailable.code()),
            Err(code) => code,
        };
        resp.topics[ti].partitions.push(rp);
    }
    resp
}

/// One group's committed offsets for OffsetFetch (`require_stable`: KIP-447).
fn fetch_group(
    broker: &Broker,
    image: &MetadataImage,
    group: &str,
    wanted: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> Result<Vec<FetchedOffset>, GroupError> {
    let found = broker.groups.read(|c| {
        if require_stable {
            c.fetch_offsets_stable(group, wanted.as_deref())
        } else {
            c.fetch_offsets(group, wanted.as_deref())
                .map(|v| v.into_iter().map(|(t, p, c)| (t, p, Ok(c))).collect())
        }
    })?;
    // Offsets of deleted topics are not returned when all are asked for (as Kafka).
    Ok(found
        .into_iter()
        .filter(|(t, _, _)| wanted.is_some() || image.topic(t).is_some())
        .collect())
}

/// A partition's (offset, leader epoch, metadata, error code): an error answers offset -1,
/// epoch -1 and empty metadata, as Kafka does.
fn answer(found: Result<CommittedOffset, GroupError>) -> (i64, i32, String, i16) {
    match found {
        Ok(c) => (c.offset, c.leader_epoch, c.metadata, 0),
        Err(e) => (-1, -1, String::new(), group_error_code(&e)),
    }
}

/// OffsetFetch.
pub fn offset_fetch(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let image = broker.image();
    let mut resp = OffsetFetchResponse::default();
    if ctx.version < 8 {
        let wanted = req.topics.as_ref().map(|ts| {
            ts.iter()
                .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
                .collect::<Vec<_>>()
        });
        if !ctx
            .auth
            .group(AclOperation::Describe, req.group_id.0.as_str())
        {
            resp.error_code = ResponseError::GroupAuthorizationFailed.code();
            return resp;
        }
        let all = wanted.is_none();
        match fetch_group(broker, &image, &req.group_id.0, wanted, req.require_stable) {
            Err(e) => {
                resp.error_code = if ctx.version >= 2 {
                    group_error_code(&e)
                } else {
                    0
                }
            }
            Ok(found) => {
                for (topic, partition, c) in found {
                    let Some((offset, leader_epoch, metadata, error_code)) =
                        authorized_answer(ctx, &topic, all, c)
                    else {
                        continue;
                    };
                    let mut p = OffsetFetchResponsePartition::default();
                    p.partition_index = partition;
                    p.committed_offset = offset;
                    p.committed_leader_epoch = if ctx.version >= 5 { leader_epoch } else { -1 };
                    p.metadata = Some(str_bytes(metadata));
                    p.error_code = error_code;
                    match resp.topics.iter_mut().find(|t| t.name.0.as_str() == topic) {
                        Some(t) => t.partitions.push(p),
                        None => {
                            let mut t = OffsetFetchResponseTopic::default();
                            t.name = TopicName(str_bytes(topic));
                            t.partitions.push(p);
                            resp.topics.push(t);
                        }
                    }
                }
            }
        }
        return resp;
    }
    for g in &req.groups {
        // v10 names topics by id; an id no topic has gets UNKNOWN_TOPIC_ID (as Kafka).
        let mut unknown_ids = Vec::new();
        let wanted = g.topics.as_ref().map(|ts| {
            ts.iter()
                .filter_map(|t| {
                    let name = topic_name(&image, &t.name, t.topic_id);
                    if name.is_empty() && ctx.version >= 10 {
                        unknown_ids.push((t.topic_id, t.partition_indexes.clone()));
                        return None;
                    }
                    Some((name, t.partition_indexes.clone()))
                })
                .collect::<Vec<_>>()
        });
        let mut rg = OffsetFetchResponseGroup::default();
        rg.group_id = g.group_id.clone();
        if !ctx
            .auth
            .group(AclOperation::Describe, g.group_id.0.as_str())
        {
            rg.error_code = ResponseError::GroupAuthorizationFailed.code();
            resp.groups.push(rg);
            continue;
        }
        let all = wanted.is_none();
        match fetch_group(broker, &image, &g.group_id.0, wanted, req.require_stable) {
            Err(e) => rg.error_code = group_error_code(&e),
            Ok(found) => {
                for (topic_id, partitions) in unknown_ids {
                    let mut t = OffsetFetchResponseTopics::default();
                    t.topic_id = topic_id;
                    t.partitions = partitions
                        .into_iter()
                        .map(|p| {
                            let mut rp = OffsetFetchResponsePartitions::default();
                            rp.partition_index = p;
                            rp.committed_offset = -1;
                            rp.committed_leader_epoch = -1;
                            rp.error_code = ResponseError::UnknownTopicId.code();
                            rp
                        })
                        .collect();
                    rg.topics.push(t);
                }
                for (topic, partition, c) in found {
                    let Some((offset, leader_epoch, metadata, error_code)) =
                        authorized_answer(ctx, &topic, all, c)
                    else {
                        continue;
                    };
                    let mut p = OffsetFetchResponsePartitions::default();
                    p.partition_index = partition;
                    p.committed_offset = offset;
                    p.committed_leader_epoch = leader_epoch;
                    p.metadata = Some(str_bytes(metadata));
                    p.error_code = error_code;
                    match rg.topics.iter_mut().find(|t| t.name.0.as_str() == topic) {
                        Some(t) => t.partitions.push(p),
                        None => {
                            let mut t = OffsetFetchResponseTopics::default();
                            if ctx.version >= 10 {
                                t.topic_id =
                                    image.topic(&topic).map(|t| t.topic_id).unwrap_or_default();
                            }
                            t.name = TopicName(str_bytes(topic));
                            t.partitions.push(p);
                            rg.topics.push(t);
                        }
                    }
                }
            }
        }
        resp.groups.push(rg);
    }
    resp
}

/// A partition's answer when the principal may DESCRIBE its topic; otherwise nothing when
/// every topic was asked for (Kafka leaves such topics out) or TOPIC_AUTHORIZATION_FAILED.
fn authorized_answer(
    ctx: &RequestContext,
    topic: &str,
    all: bool,
    found: Result<CommittedOffset, GroupError>,
) -> Option<(i64, i32, String, i16)> {
    if ctx.auth.topic(AclOperation::Describe, topic) {
        return Some(answer(found));
    }
    (!all).then(|| {
        (
            -1,
            -1,
            String::new(),
            ResponseError::TopicAuthorizationFailed.code(),
        )
    })
}

/// OffsetDelete.
pub async fn offset_delete(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let image = broker.image();
    let mut resp = OffsetDeleteResponse::default();
    // Kafka: DELETE on the group; READ on each topic (the others are refused, not deleted).
    if !ctx
        .auth
        .group(AclOperation::Delete, req.group_id.0.as_str())
    {
        resp.error_code = ResponseError::GroupAuthorizationFailed.code();
        return resp;
    }
    let mut wanted = Vec::new();
    for t in &req.topics {
        let readable = ctx.auth.topic(AclOperation::Read, t.name.0.as_str());
        for p in &t.partitions {
            wanted.push((t.name.0.to_string(), p.partition_index, readable));
        }
    }
    let group = req.group_id.0.to_string();
    let b = broker.clone();
    let w: Vec<(String, i32)> = wanted
        .iter()
        .filter(|(_, _, readable)| *readable)
        .map(|(t, p, _)| (t.clone(), *p))
        .collect();
    let result = blocking(move || {
        b.groups
            .run(&b.replicas, |c, _now| match c.delete_offsets(&group, &w) {
                Ok((per, out)) => (Ok(per), out),
                Err(e) => (Err(e), Default::default()),
            })
    })
    .await;
    let per = match result {
        Some(Ok(Ok(per))) => per,
        Some(Ok(Err(e))) => {
            resp.error_code = group_error_code(&e);
            return resp;
        }
        _ => {
            resp.error_code = ResponseError::CoordinatorNotAvailable.code();
            return resp;
        }
    };
    let mut per = per.into_iter();
    for (topic, partition, readable) in wanted {
        let mut rp = OffsetDeleteResponsePartition::default();
        rp.partition_index = partition;
        rp.error_code = if !readable {
            ResponseError::TopicAuthorizationFailed.code()
        } else {
            let r = per.next();
            if !partition_exists(&image, &topic, partition) {
                ResponseError::UnknownTopicOrPartition.code()
            } else {
                r.and_then(|r| r.err()).as_ref().map_or(0, group_error_code)
            }
        };
        match resp.topics.iter_mut().find(|t| t.name.0.as_str() == topic) {
            Some(t) => t.partitions.push(rp),
            None => {
                let mut t = OffsetDeleteResponseTopic::default();
                t.name = TopicName(str_bytes(topic));
                t.partitions.push(rp);
                resp.topics.push(t);
            }
        }
    }
    resp
}
