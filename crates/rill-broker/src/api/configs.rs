//! AlterConfigs and IncrementalAlterConfigs for topics, validated as Kafka's controller does
//! (the whole resulting set of overrides, with Kafka's messages). Broker configs are static in
//! Rill. DescribeConfigs is in [`super::describe_configs`].

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::describe_configs::{BROKER, TOPIC};
use super::{blocking, str_bytes, RequestContext};
use crate::admin::{self, AdminError};
use crate::broker::Broker;
use crate::topic_config::{topic_config_def, TopicConfig, TopicConfigError};

/// The result of altering one resource: (type, name, error).
type AlterResult = (i8, StrBytes, Option<AdminError>);

/// Runs `alter` on every resource of a request on a blocking thread, in order.
async fn alter_each<R: Send + 'static>(
    broker: &Arc<Broker>,
    resources: Vec<R>,
    alter: impl Fn(&Broker, R) -> AlterResult + Send + 'static,
) -> Vec<AlterResult> {
    let b = broker.clone();
    blocking(move || resources.into_iter().map(|r| alter(&b, r)).collect())
        .await
        .unwrap_or_default()
}

/// A refusal as a response's (error code, error message).
fn error_fields(e: Option<AdminError>) -> (i16, Option<StrBytes>) {
    e.map_or((0, None), |e| (e.code(), Some(str_bytes(e.to_string()))))
}

fn check_resource(
    broker: &Broker,
    resource_type: i8,
    name: &str,
) -> Result<BTreeMap<String, String>, AdminError> {
    match resource_type {
        TOPIC => broker
            .image()
            .topic(name)
            .map(|t| t.configs.clone())
            .ok_or_else(|| AdminError::UnknownTopic(name.to_string())),
        BROKER => Err(AdminError::InvalidRequest(
            "broker configs are static in Rill: change server.properties and restart".into(),
        )),
        other => Err(AdminError::InvalidRequest(format!(
            "unsupported resource type {other}"
        ))),
    }
}

/// Answers AlterConfigs: a topic's overrides become exactly the given set.
pub async fn alter_configs(
    broker: &Arc<Broker>,
    _ctx: &RequestContext,
    req: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let validate_only = req.validate_only;
    let results = alter_each(broker, req.resources, move |b, res| {
        let name = res.resource_name.to_string();
        let outcome = check_resource(b, res.resource_type, &name).and_then(|_| {
            let mut overrides = BTreeMap::new();
            let mut nulls = Vec::new();
            for c in res.configs {
                match c.value {
                    Some(v) => {
                        overrides.insert(c.name.to_string(), v.to_string());
                    }
                    None => nulls.push(c.name.to_string()),
                }
            }
            if !nulls.is_empty() {
                let e = TopicConfigError::NullValue {
                    names: nulls.join(","),
                };
                return Err(AdminError::InvalidConfig(e.to_string()));
            }
            admin::set_topic_configs(b, &name, overrides, validate_only)
        });
        (res.resource_type, res.resource_name, outcome.err())
    })
    .await;
    let mut r = AlterConfigsResponse::default();
    for (t, n, e) in results {
        let mut x =
            kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse::default(
            );
        x.resource_type = t;
        x.resource_name = n;
        (x.error_code, x.error_message) = error_fields(e);
        r.responses.push(x);
    }
    r
}

/// Applies one IncrementalAlterConfigs operation (0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT) to a
/// topic's overrides; the result is validated as a whole afterwards.
fn apply_op(
    overrides: &mut BTreeMap<String, String>,
    effective: &TopicConfig,
    name: &str,
    op: i8,
    value: Option<&str>,
) -> Result<(), AdminError> {
    let need = || {
        value.map(str::to_string).ok_or_else(|| {
            let e = TopicConfigError::NullValue {
                names: name.to_string(),
            };
            AdminError::InvalidConfig(e.to_string())
        })
    };
    match op {
        0 => {
            overrides.insert(name.to_string(), need()?);
        }
        1 => {
            overrides.remove(name);
        }
        2 | 3 => {
            if !topic_config_def(name).is_some_and(|d| d.kind.is_list()) {
                let verb = if op == 2 { "APPEND" } else { "SUBTRACT" };
                return Err(AdminError::InvalidConfig(format!(
                    "Can't {verb} to key {name} because its type is not LIST."
                )));
            }
            let mut list: Vec<String> = effective
                .value(name)
                .map(crate::topic_config::validate::list_items)
                .unwrap_or_default()
                .into_iter()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            for item in need()?.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if op == 2 && !list.iter().any(|x| x == item) {
                    list.push(item.to_string());
                } else if op == 3 {
                    list.retain(|x| x != item);
                }
            }
            overrides.insert(name.to_string(), list.join(","));
        }
        other => {
            return Err(AdminError::InvalidRequest(format!(
                "unknown config operation {other}"
            )))
        }
    }
    Ok(())
}

/// Answers IncrementalAlterConfigs.
pub async fn incremental_alter_configs(
    broker: &Arc<Broker>,
    _ctx: &RequestContext,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let validate_only = req.validate_only;
    let results = alter_each(broker, req.resources, move |b, res| {
        let name = res.resource_name.to_string();
        let outcome = check_resource(b, res.resource_type, &name).and_then(|mut overrides| {
            let (effective, _) = TopicConfig::resolve_stored(&overrides, &b.config)
                .map_err(|e| AdminError::InvalidConfig(e.to_string()))?;
            for c in &res.configs {
                apply_op(
                    &mut overrides,
                    &effective,
                    c.name.as_str(),
                    c.config_operation,
                    c.value.as_ref().map(|v| v.as_str()),
                )?;
            }
            admin::set_topic_configs(b, &name, overrides, validate_only)
        });
        (res.resource_type, res.resource_name, outcome.err())
    })
    .await;
    let mut r = IncrementalAlterConfigsResponse::default();
    for (t, n, e) in results {
        let mut x = kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse::default();
        x.resource_type = t;
        x.resource_name = n;
        (x.error_code, x.error_message) = error_fields(e);
        r.responses.push(x);
    }
    r
}
