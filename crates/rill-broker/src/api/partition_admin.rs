//! Partition leadership and placement admin: ElectLeaders (preferred and unclean elections)
//! and AlterPartitionReassignments / ListPartitionReassignments (KIP-455). Decisions come
//! from `rill_meta::control`; changes are committed through the metadata log from any
//! broker (forwarded to the active controller).

use std::sync::Arc;

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ElectLeadersRequest, ElectLeadersResponse, ListPartitionReassignmentsRequest,
    ListPartitionReassignmentsResponse, TopicName,
};
use kafka_protocol::ResponseError;
use rill_meta::control::{
    cancel_reassignment, elect_preferred, elect_unclean, start_reassignment, ElectionRefusal,
};
use rill_meta::{MetaError, MetadataImage, MetadataRecord};

use super::{blocking, str_bytes, RequestContext};
use crate::admin::AdminError;
use crate::broker::Broker;

/// A partition's answer: Kafka error code and message.
type Outcome = (i16, Option<String>);

fn ok() -> Outcome {
    (0, None)
}

/// Commits `records` (if any) and turns the result into a partition's answer.
fn commit(broker: &Broker, records: Vec<MetadataRecord>) -> Outcome {
    if records.is_empty() {
        return ok();
    }
    match broker.commit(records) {
        Ok(()) => ok(),
        Err(e) => {
            let e = AdminError::from(e);
            (e.code(), Some(e.to_string()))
        }
    }
}

fn meta_error(e: &MetaError) -> Outcome {
    let code = match e {
        MetaError::UnknownTopic { .. } | MetaError::UnknownPartition { .. } => {
            ResponseError::UnknownTopicOrPartition
        }
        MetaError::NoReassignmentInProgress { .. } => ResponseError::NoReassignmentInProgress,
        MetaError::InvalidReplicaAssignment(_) => ResponseError::InvalidReplicaAssignment,
        _ => ResponseError::InvalidRequest,
    };
    (code.code(), Some(e.to_string()))
}

/// The (topic, partitions) an admin request names, or every partition when `None`.
fn named_or_all(
    image: &MetadataImage,
    named: Option<Vec<(String, Vec<i32>)>>,
) -> Vec<(String, Vec<i32>)> {
    named.unwrap_or_else(|| {
        image
            .topics()
            .map(|t| (t.name.clone(), (0..t.partitions as i32).collect()))
            .collect()
    })
}

/// ElectLeaders: election type 0 = preferred, 1 = unclean.
pub async fn elect_leaders(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ElectLeadersRequest,
) -> ElectLeadersResponse {
    // Kafka: ALTER on the cluster.
    if !ctx.auth.cluster(rill_auth::acl::AclOperation::Alter) {
        let mut refused = ElectLeadersResponse::default();
        refused.error_code = kafka_protocol::ResponseError::ClusterAuthorizationFailed.code();
        return refused;
    }
    let b = broker.clone();
    let all = req.topic_partitions.is_none();
    let named = req.topic_partitions.map(|ts| {
        ts.into_iter()
            .map(|t| (t.topic.0.to_string(), t.partitions))
            .collect()
    });
    let election_type = req.election_type;
    let results = blocking(move || {
        let image = b.image();
        let mut out = Vec::new();
        for (topic, partitions) in named_or_all(&image, named) {
            let mut r = ReplicaElectionResult::default();
            r.topic = TopicName(str_bytes(topic.clone()));
            for index in partitions {
                let (code, message) = elect_one(&b, &image, &topic, index, election_type);
                // Asked for everything: partitions that need nothing are not reported.
                if all && code == ResponseError::ElectionNotNeeded.code() {
                    continue;
                }
                let mut pr = PartitionResult::default();
                pr.partition_id = index;
                pr.error_code = code;
                pr.error_message = message.map(str_bytes);
                r.partition_result.push(pr);
            }
            if !r.partition_result.is_empty() || !all {
                out.push(r);
            }
        }
        out
    })
    .await;
    let mut resp = ElectLeadersResponse::default();
    match results {
        Some(r) => resp.replica_election_results = r,
        None => resp.error_code = ResponseError::UnknownServerError.code(),
    }
    resp
}

fn elect_one(
    broker: &Broker,
    image: &MetadataImage,
    topic: &str,
    index: i32,
    election_type: i8,
) -> Outcome {
    let Some(t) = image.topic(topic) else {
        return (ResponseError::UnknownTopicOrPartition.code(), None);
    };
    let Some(p) = usize::try_from(index)
        .ok()
        .and_then(|i| t.partition_states.get(i))
    else {
        return (ResponseError::UnknownTopicOrPartition.code(), None);
    };
    let decided = match election_type {
        0 => elect_preferred(image, t.topic_id, index as u32, p),
        1 => elect_unclean(image, t.topic_id, index as u32, p),
        other => {
            return (
                ResponseError::InvalidRequest.code(),
                Some(format!("unknown election type {other}")),
            )
        }
    };
    match decided {
        Ok(record) => {
            tracing::info!(
                topic,
                partition = index,
                election_type,
                "leader election requested"
            );
            commit(broker, vec![record])
        }
        Err(ElectionRefusal::NotNeeded) => (ResponseError::ElectionNotNeeded.code(), None),
        Err(ElectionRefusal::PreferredNotAvailable) => (
            ResponseError::PreferredLeaderNotAvailable.code(),
            Some("the preferred replica is not in the ISR or not live".into()),
        ),
        Err(ElectionRefusal::EligibleNotAvailable) => (
            ResponseError::EligibleLeadersNotAvailable.code(),
            Some("no live replica can lead".into()),
        ),
    }
}

/// AlterPartitionReassignments: start (or replace) a move to new replicas, or cancel one
/// (`replicas` null).
pub async fn alter_reassignments(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    // Kafka: ALTER on the cluster.
    if !ctx.auth.cluster(rill_auth::acl::AclOperation::Alter) {
        let mut refused = AlterPartitionReassignmentsResponse::default();
        refused.error_code = kafka_protocol::ResponseError::ClusterAuthorizationFailed.code();
        return refused;
    }
    let b = broker.clone();
    let allow_rf_change = ctx.version < 1 || req.allow_replication_factor_change;
    let topics = req.topics;
    let answered = blocking(move || {
        let mut out = Vec::new();
        for t in topics {
            let mut tr = ReassignableTopicResponse::default();
            tr.name = t.name.clone();
            for p in t.partitions {
                let (code, message) = reassign_one(
                    &b,
                    &t.name.0,
                    p.partition_index,
                    p.replicas,
                    allow_rf_change,
                );
                let mut pr = ReassignablePartitionResponse::default();
                pr.partition_index = p.partition_index;
                pr.error_code = code;
                pr.error_message = message.map(str_bytes);
                tr.partitions.push(pr);
            }
            out.push(tr);
        }
        out
    })
    .await;
    let mut resp = AlterPartitionReassignmentsResponse::default();
    resp.allow_replication_factor_change = allow_rf_change;
    match answered {
        Some(r) => resp.responses = r,
        None => resp.error_code = ResponseError::UnknownServerError.code(),
    }
    resp
}

fn reassign_one(
    broker: &Broker,
    topic: &str,
    index: i32,
    replicas: Option<Vec<BrokerId>>,
    allow_rf_change: bool,
) -> Outcome {
    let image = broker.image();
    let Some(t) = image.topic(topic) else {
        return (ResponseError::UnknownTopicOrPartition.code(), None);
    };
    let Ok(partition) = u32::try_from(index) else {
        return (ResponseError::UnknownTopicOrPartition.code(), None);
    };
    let decided = match replicas {
        None => cancel_reassignment(&image, t.topic_id, partition),
        Some(target) => {
            let target: Vec<i32> = target.into_iter().map(|b| b.0).collect();
            if !allow_rf_change && target.len() != usize::from(t.replication_factor) {
                return (
                    ResponseError::InvalidReplicationFactor.code(),
                    Some(format!(
                        "{} replicas asked for a topic of replication factor {}",
                        target.len(),
                        t.replication_factor
                    )),
                );
            }
            start_reassignment(&image, t.topic_id, partition, &target)
        }
    };
    match decided {
        Ok(records) => {
            tracing::info!(topic, partition = index, "partition reassignment requested");
            commit(broker, records)
        }
        Err(e) => meta_error(&e),
    }
}

/// ListPartitionReassignments: the running reassignments (of the named partitions).
pub fn list_reassignments(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    // Kafka: DESCRIBE on the cluster.
    if !ctx.auth.cluster(rill_auth::acl::AclOperation::Describe) {
        let mut refused = ListPartitionReassignmentsResponse::default();
        refused.error_code = kafka_protocol::ResponseError::ClusterAuthorizationFailed.code();
        return refused;
    }
    let image = broker.image();
    let named = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes))
            .collect()
    });
    let mut resp = ListPartitionReassignmentsResponse::default();
    for (topic, partitions) in named_or_all(&image, named) {
        let Some(t) = image.topic(&topic) else {
            continue;
        };
        let mut tr = OngoingTopicReassignment::default();
        tr.name = TopicName(str_bytes(topic.clone()));
        for index in partitions {
            let Some(p) = usize::try_from(index)
                .ok()
                .and_then(|i| t.partition_states.get(i))
            else {
                continue;
            };
            if p.adding_replicas.is_empty() && p.removing_replicas.is_empty() {
                continue;
            }
            let ids = |v: &[i32]| v.iter().map(|b| BrokerId(*b)).collect();
            let mut op = OngoingPartitionReassignment::default();
            op.partition_index = index;
            op.replicas = ids(&p.replicas);
            op.adding_replicas = ids(&p.adding_replicas);
            op.removing_replicas = ids(&p.removing_replicas);
            tr.partitions.push(op);
        }
        if !tr.partitions.is_empty() {
            resp.topics.push(tr);
        }
    }
    resp
}
