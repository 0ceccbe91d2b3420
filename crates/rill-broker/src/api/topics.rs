//! CreateTopics, DeleteTopics, CreatePartitions: decode, call [`crate::admin`], encode.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, TopicName,
};
use kafka_protocol::ResponseError;
use rill_auth::acl::AclOperation;
use rill_meta::Uuid;

use super::{blocking, str_bytes, RequestContext};
use crate::admin::{self, AdminError, NewTopic};
use crate::broker::Broker;
use crate::topic_config::TopicConfig;

/// Kafka's message for THROTTLING_QUOTA_EXCEEDED.
const THROTTLED: &str = "The throttling quota has been exceeded.";

/// A request's controller mutations under `controller_mutation_rate` (KIP-599).
struct Mutations {
    /// The request's quota, when a mutation quota applies and the request is not
    /// validate-only.
    quota: Option<Arc<crate::quota::RequestQuota>>,
    /// Strict (the version knows THROTTLING_QUOTA_EXCEEDED): refuse while in debt.
    strict: bool,
}

impl Mutations {
    /// The mutations of the request of `ctx`; strict from `strict_from` on.
    fn of(ctx: &RequestContext, strict_from: i16, validate_only: bool) -> Self {
        Mutations {
            quota: ctx.quota.clone().filter(|q| {
                !validate_only && q.has(crate::quota::entity::QuotaKind::ControllerMutation)
            }),
            strict: ctx.version >= strict_from,
        }
    }

    /// Whether the next mutation is refused (strict and in debt).
    fn refused(&self, b: &Broker) -> bool {
        match &self.quota {
            Some(q) if self.strict => {
                b.quotas
                    .refuse_while_in_debt(q, crate::quota::entity::QuotaKind::ControllerMutation)
                    > 0
            }
            _ => false,
        }
    }

    /// Counts `partitions` created or deleted (the throttle time it earns is noted in the
    /// request's quota).
    fn take(&self, b: &Broker, partitions: u32) {
        if let Some(q) = &self.quota {
            b.quotas.record(
                q,
                crate::quota::entity::QuotaKind::ControllerMutation,
                f64::from(partitions),
            );
        }
    }
}

/// Answers CreateTopics.
pub async fn create_topics(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let b = broker.clone();
    // The topic's resolved configs are part of the response from v5 on.
    let with_configs = ctx.version >= 5;
    // Kafka: CREATE on the cluster, or on each topic.
    let auth = ctx.auth.clone();
    let cluster_create = auth.cluster(AclOperation::Create);
    let mutations = Mutations::of(ctx, 6, req.validate_only);
    let response = blocking(move || {
        let mut r = CreateTopicsResponse::default();
        let mut seen = HashSet::new();
        let dups: HashSet<String> = req
            .topics
            .iter()
            .map(|t| t.name.0.to_string())
            .filter(|n| !seen.insert(n.clone()))
            .collect();
        for t in req.topics {
            let name = t.name.0.to_string();
            let mut tr = CreatableTopicResult::default();
            tr.name = t.name.clone();
            tr.num_partitions = -1;
            tr.replication_factor = -1;
            if dups.contains(&name) {
                tr.error_code = ResponseError::InvalidRequest.code();
                tr.error_message = Some(str_bytes(format!(
                    "topic '{name}' appears more than once in the request"
                )));
                r.topics.push(tr);
                continue;
            }
            if !cluster_create && !auth.topic(AclOperation::Create, &name) {
                tr.error_code = ResponseError::TopicAuthorizationFailed.code();
                tr.error_message = Some(str_bytes("Authorization failed."));
                r.topics.push(tr);
                continue;
            }
            if mutations.refused(&b) {
                tr.error_code = ResponseError::ThrottlingQuotaExceeded.code();
                tr.error_message = Some(str_bytes(THROTTLED));
                r.topics.push(tr);
                continue;
            }
            let mut configs = BTreeMap::new();
            let mut null_config = None;
            for c in t.configs {
                match c.value {
                    Some(v) => {
                        configs.insert(c.name.to_string(), v.to_string());
                    }
                    None => null_config = Some(c.name.to_string()),
                }
            }
            let result = match null_config {
                Some(k) => Err(AdminError::InvalidConfig(
                    crate::topic_config::TopicConfigError::NullValue { names: k }.to_string(),
                )),
                None => admin::create_topic(
                    &b,
                    NewTopic {
                        name,
                        num_partitions: t.num_partitions,
                        replication_factor: t.replication_factor,
                        assignments: t
                            .assignments
                            .into_iter()
                            .map(|a| {
                                (
                                    a.partition_index,
                                    a.broker_ids.into_iter().map(|id| id.0).collect(),
                                )
                            })
                            .collect(),
                        configs,
                    },
                    req.validate_only,
                ),
            };
            match result {
                Ok(topic) => {
                    mutations.take(&b, topic.partitions);
                    tr.topic_id = topic.topic_id;
                    tr.num_partitions = topic.partitions as i32;
                    tr.replication_factor = topic.replication_factor as i16;
                    if let (true, Ok(tc)) = (
                        with_configs,
                        TopicConfig::resolve(&topic.configs, &b.config.with_dynamic(&b.image())),
                    ) {
                        tr.configs = Some(
                            tc.entries
                                .iter()
                                .map(|e| {
                                    let mut c = CreatableTopicConfigs::default();
                                    c.name = str_bytes(e.def.name);
                                    c.value = Some(str_bytes(
                                        crate::topic_config::validate::display_value(
                                            e.def, &e.value,
                                        ),
                                    ));
                                    c.config_source = e.source as i8;
                                    c
                                })
                                .collect(),
                        );
                    }
                }
                Err(e) => {
                    tr.error_code = e.code();
                    tr.error_message = Some(str_bytes(e.to_string()));
                }
            }
            r.topics.push(tr);
        }
        r
    })
    .await
    .unwrap_or_default();
    response
}

/// Answers DeleteTopics (by name, or by id from v6).
pub async fn delete_topics(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let b = broker.clone();
    // Kafka: DELETE on each topic.
    let auth = ctx.auth.clone();
    let mutations = Mutations::of(ctx, 5, false);
    let response = blocking(move || {
        let mut r = DeleteTopicsResponse::default();
        let mut targets: Vec<(Option<String>, Uuid)> = req
            .topic_names
            .iter()
            .map(|n| (Some(n.0.to_string()), Uuid::nil()))
            .collect();
        targets.extend(
            req.topics
                .iter()
                .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id)),
        );
        for (name, id) in targets {
            let mut tr = DeletableTopicResult::default();
            let known = name
                .clone()
                .or_else(|| b.image().topic_by_id(&id).map(|t| t.name.clone()));
            if auth.enabled()
                && !known
                    .as_deref()
                    .is_some_and(|n| auth.topic(AclOperation::Delete, n))
            {
                tr.name = name.map(|n| TopicName(str_bytes(n)));
                tr.topic_id = id;
                tr.error_code = ResponseError::TopicAuthorizationFailed.code();
                tr.error_message = Some(str_bytes("Authorization failed."));
                r.responses.push(tr);
                continue;
            }
            if mutations.refused(&b) {
                tr.name = name.map(|n| TopicName(str_bytes(n)));
                tr.topic_id = id;
                tr.error_code = ResponseError::ThrottlingQuotaExceeded.code();
                tr.error_message = Some(str_bytes(THROTTLED));
                r.responses.push(tr);
                continue;
            }
            let partitions = known
                .as_deref()
                .and_then(|n| b.image().topic(n).map(|t| t.partitions))
                .unwrap_or(0);
            let result = match &name {
                Some(n) => admin::delete_topic(&b, n).map(|id| (n.clone(), id)),
                None => admin::delete_topic_by_id(&b, id).map(|n| (n, id)),
            };
            match result {
                Ok((n, id)) => {
                    mutations.take(&b, partitions);
                    tr.name = Some(TopicName(str_bytes(n)));
                    tr.topic_id = id;
                }
                Err(e) => {
                    tr.name = name.map(|n| TopicName(str_bytes(n)));
                    tr.topic_id = id;
                    tr.error_code = e.code();
                    tr.error_message = Some(str_bytes(e.to_string()));
                }
            }
            r.responses.push(tr);
        }
        r
    })
    .await
    .unwrap_or_default();
    response
}

/// Answers CreatePartitions.
pub async fn create_partitions(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let b = broker.clone();
    let auth = ctx.auth.clone();
    let mutations = Mutations::of(ctx, 3, req.validate_only);
    let response = blocking(move || {
        let mut r = CreatePartitionsResponse::default();
        for t in req.topics {
            let mut tr = CreatePartitionsTopicResult::default();
            tr.name = t.name.clone();
            // Kafka: ALTER on the topic.
            if !auth.topic(AclOperation::Alter, t.name.0.as_str()) {
                tr.error_code = ResponseError::TopicAuthorizationFailed.code();
                tr.error_message = Some(str_bytes("Authorization failed."));
                r.results.push(tr);
                continue;
            }
            if mutations.refused(&b) {
                tr.error_code = ResponseError::ThrottlingQuotaExceeded.code();
                tr.error_message = Some(str_bytes(THROTTLED));
                r.results.push(tr);
                continue;
            }
            let before = b
                .image()
                .topic(t.name.0.as_str())
                .map(|x| x.partitions)
                .unwrap_or(0);
            let assignments = t.assignments.map(|a| {
                a.into_iter()
                    .map(|x| x.broker_ids.into_iter().map(|id| id.0).collect())
                    .collect()
            });
            if let Err(e) = admin::create_partitions(
                &b,
                t.name.0.as_str(),
                t.count,
                assignments,
                req.validate_only,
            ) {
                tr.error_code = e.code();
                tr.error_message = Some(str_bytes(e.to_string()));
            } else {
                mutations.take(&b, (t.count.max(0) as u32).saturating_sub(before));
            }
            r.results.push(tr);
        }
        r
    })
    .await
    .unwrap_or_default();
    response
}
