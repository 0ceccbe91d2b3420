//! Metadata: brokers, cluster id, controller, topics with partitions, leaders and replicas.
//! Auto-creates requested topics when `auto.create.topics.enable` and the client allow it.

use std::sync::Arc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::ResponseError;
use rill_auth::acl::{AclOperation, ResourceType};
use rill_meta::{validate_topic_name, TopicImage, INTERNAL_TOPIC_PREFIX};

use super::{
    blocking, str_bytes, RequestContext, CLUSTER_AUTHORIZED_OPERATIONS, OPERATIONS_NOT_REQUESTED,
    TOPIC_AUTHORIZED_OPERATIONS,
};
use crate::admin::{self, NewTopic};
use crate::broker::Broker;

/// Answers Metadata.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: MetadataRequest,
) -> MetadataResponse {
    let mut r = MetadataResponse::default();
    r.brokers = broker
        .live_brokers_on(&ctx.listener.name)
        .into_iter()
        .map(|(id, host, port, rack)| {
            let mut b = MetadataResponseBroker::default();
            b.node_id = BrokerId(id);
            b.host = str_bytes(host);
            b.port = i32::from(port);
            b.rack = rack.map(str_bytes);
            b
        })
        .collect();
    r.cluster_id = Some(str_bytes(broker.cluster_id.clone()));
    r.controller_id = BrokerId(broker.client_controller_id());
    if req.include_cluster_authorized_operations {
        r.cluster_authorized_operations = ctx.auth.operations(
            ResourceType::Cluster,
            crate::authz::CLUSTER_NAME,
            CLUSTER_AUTHORIZED_OPERATIONS,
        );
    }
    let want_ops = req.include_topic_authorized_operations;
    let ops = |name: &str| {
        if want_ops {
            ctx.auth
                .operations(ResourceType::Topic, name, TOPIC_AUTHORIZED_OPERATIONS)
        } else {
            OPERATIONS_NOT_REQUESTED
        }
    };
    let describable = |name: &str| ctx.auth.topic(AclOperation::Describe, name);
    let image = broker.image();
    // v0 has no null array: an empty topic list there means "all topics".
    let topics = match req.topics {
        Some(t) if t.is_empty() && ctx.version == 0 => None,
        other => other,
    };
    match topics {
        None => {
            r.topics = image
                .topics()
                .filter(|t| !t.name.starts_with(INTERNAL_TOPIC_PREFIX) && describable(&t.name))
                .map(|t| topic_response(broker, t, ops(&t.name)))
                .collect();
        }
        Some(requested) => {
            let auto_create = broker.config.auto_create_topics
                && (ctx.version < 4 || req.allow_auto_topic_creation);
            for t in requested {
                let resp = match t.name {
                    Some(name) => {
                        let name = name.0.as_str();
                        if !describable(name) {
                            refused_topic(Some(name), t.topic_id)
                        } else {
                            // Kafka: creating needs CREATE on the cluster or the topic.
                            let may_create = ctx.auth.cluster(AclOperation::Create)
                                || ctx.auth.topic(AclOperation::Create, name);
                            named_topic(broker, name, auto_create, may_create, ops(name)).await
                        }
                    }
                    None => match image.topic_by_id(&t.topic_id) {
                        Some(topic) if !describable(&topic.name) => refused_topic(None, t.topic_id),
                        Some(topic) => topic_response(broker, topic, ops(&topic.name)),
                        None => {
                            let mut e = MetadataResponseTopic::default();
                            e.topic_id = t.topic_id;
                            e.error_code = ResponseError::UnknownTopicId.code();
                            e
                        }
                    },
                };
                r.topics.push(resp);
            }
        }
    }
    r
}

/// TOPIC_AUTHORIZATION_FAILED for a topic the principal may not describe.
fn refused_topic(name: Option<&str>, id: rill_meta::Uuid) -> MetadataResponseTopic {
    let mut e = MetadataResponseTopic::default();
    e.name = name.map(|n| TopicName(str_bytes(n)));
    e.topic_id = id;
    e.error_code = ResponseError::TopicAuthorizationFailed.code();
    e
}

async fn named_topic(
    broker: &Arc<Broker>,
    name: &str,
    auto_create: bool,
    may_create: bool,
    ops: i32,
) -> MetadataResponseTopic {
    if let Some(topic) = broker.image().topic(name) {
        return topic_response(broker, topic, ops);
    }
    let error = |code: ResponseError| {
        let mut e = MetadataResponseTopic::default();
        e.name = Some(TopicName(str_bytes(name)));
        e.error_code = code.code();
        e
    };
    if validate_topic_name(name).is_err() {
        return error(ResponseError::InvalidTopicException);
    }
    if !auto_create || name.starts_with(INTERNAL_TOPIC_PREFIX) {
        return error(ResponseError::UnknownTopicOrPartition);
    }
    if !may_create {
        return error(ResponseError::TopicAuthorizationFailed);
    }
    let b = broker.clone();
    let new = NewTopic {
        name: name.to_string(),
        num_partitions: -1,
        replication_factor: -1,
        assignments: Vec::new(),
        configs: Default::default(),
    };
    match blocking(move || admin::create_topic(&b, new, false)).await {
        Some(Ok(topic)) => topic_response(broker, &topic, ops),
        // Created concurrently by another request: answer with what exists.
        Some(Err(admin::AdminError::TopicExists(_))) => match broker.image().topic(name) {
            Some(topic) => topic_response(broker, topic, ops),
            None => error(ResponseError::LeaderNotAvailable),
        },
        Some(Err(e)) => {
            tracing::warn!(topic = name, error = %e, "auto-create failed");
            error(ResponseError::LeaderNotAvailable)
        }
        None => error(ResponseError::LeaderNotAvailable),
    }
}

fn topic_response(broker: &Broker, topic: &TopicImage, ops: i32) -> MetadataResponseTopic {
    let node = BrokerId(broker.config.node_id);
    let mut t = MetadataResponseTopic::default();
    t.name = Some(TopicName(str_bytes(topic.name.clone())));
    t.topic_id = topic.topic_id;
    t.is_internal = topic.name.starts_with(INTERNAL_TOPIC_PREFIX);
    t.topic_authorized_operations = ops;
    t.partitions = (0..topic.partitions as i32)
        .map(|i| {
            let mut p = MetadataResponsePartition::default();
            p.partition_index = i;
            match topic.partition_states.get(i as usize) {
                Some(state) if !state.replicas.is_empty() => {
                    p.leader_id = BrokerId(state.leader);
                    p.leader_epoch = state.leader_epoch;
                    p.replica_nodes = state.replicas.iter().map(|b| BrokerId(*b)).collect();
                    p.isr_nodes = state.isr.iter().map(|b| BrokerId(*b)).collect();
                    if state.leader < 0 {
                        p.error_code = ResponseError::LeaderNotAvailable.code();
                    }
                }
                // A single node's topic from before replica assignment: this node has it all.
                _ => {
                    p.leader_id = node;
                    p.leader_epoch = 0;
                    p.replica_nodes = vec![node];
                    p.isr_nodes = vec![node];
                }
            }
            p
        })
        .collect();
    t
}
