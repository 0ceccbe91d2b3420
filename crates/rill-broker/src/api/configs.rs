//! AlterConfigs and IncrementalAlterConfigs for topics, validated as Kafka's controller does
//! (the whole resulting set of overrides, with Kafka's messages), and for brokers and groups
//! ([`crate::dynamic_config`]). DescribeConfigs is in [`super::describe_configs`].

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::describe_configs::TOPIC;
use super::{blocking, str_bytes, RequestContext};
use crate::admin::{self, AdminError};
use crate::broker::Broker;
use crate::dynamic_config::{self, BROKER, GROUP};
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

/// A resource's current dynamic configs (a topic's overrides), or why it cannot be altered.
fn current_configs(
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
        BROKER | GROUP => {
            if resource_type == BROKER {
                dynamic_config::check_broker_name(&broker.config, name)?;
            }
            Ok(broker
                .image()
                .resource_configs(resource_type, name)
                .cloned()
                .unwrap_or_default())
        }
        other => Err(AdminError::InvalidRequest(format!(
            "Unknown resource type {other}"
        ))),
    }
}

/// Makes `configs` the whole set of a resource's dynamic configs (validated first).
fn set_configs(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), AdminError> {
    match resource_type {
        TOPIC => admin::set_topic_configs(broker, name, configs, validate_only),
        BROKER => dynamic_config::set_broker_configs(broker, name, configs, validate_only),
        _ => dynamic_config::set_group_configs(broker, name, configs, validate_only),
    }
}

/// Answers AlterConfigs: a topic's overrides become exactly the given set.
pub async fn alter_configs(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let auth = ctx.auth.clone();
    let validate_only = req.validate_only;
    let results = alter_each(broker, req.resources, move |b, res| {
        let name = res.resource_name.to_string();
        let rtype = res.resource_type;
        if let Some(refusal) = crate::authz::config_refusal(&auth, rtype, &name, true) {
            return (
                res.resource_type,
                res.resource_name,
                Some(AdminError::Unauthorized(refusal)),
            );
        }
        let outcome = current_configs(b, rtype, &name).and_then(|_| {
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
            if !nulls.is_empty() && rtype == TOPIC {
                let e = TopicConfigError::NullValue {
                    names: nulls.join(","),
                };
                return Err(AdminError::InvalidConfig(e.to_string()));
            }
            if !nulls.is_empty() {
                return Err(AdminError::InvalidRequest(format!(
                    "Null value not supported for : {}",
                    nulls.join(", ")
                )));
            }
            set_configs(b, rtype, &name, overrides, validate_only)
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

/// How IncrementalAlterConfigs may change one key of a resource.
struct KeyRules {
    /// Its type is LIST (APPEND and SUBTRACT allowed).
    is_list: bool,
    /// Its current effective value (what APPEND and SUBTRACT start from when the resource
    /// has no value of its own).
    current: Option<String>,
    /// The refusal of APPEND / SUBTRACT on a key that is not a list.
    not_a_list: fn(verb: &str, name: &str) -> AdminError,
}

/// The controller's refusal (topics, groups).
fn not_a_list_config(verb: &str, name: &str) -> AdminError {
    AdminError::InvalidConfig(format!(
        "Can't {verb} to key {name} because its type is not LIST."
    ))
}

/// The broker-side preprocessing's refusal (brokers).
fn not_a_list_request(verb: &str, name: &str) -> AdminError {
    let what = if verb == "APPEND" {
        "append"
    } else {
        "subtract"
    };
    AdminError::InvalidRequest(format!(
        "Config value {what} is not allowed for config key: {name}"
    ))
}

/// Applies one IncrementalAlterConfigs operation (0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT) to a
/// resource's configs; the result is validated as a whole afterwards.
fn apply_op(
    overrides: &mut BTreeMap<String, String>,
    name: &str,
    op: i8,
    value: Option<&str>,
    rules: KeyRules,
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
            if !rules.is_list {
                let verb = if op == 2 { "APPEND" } else { "SUBTRACT" };
                return Err((rules.not_a_list)(verb, name));
            }
            let start = overrides.get(name).cloned().or(rules.current);
            let mut list: Vec<String> = start
                .as_deref()
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

/// What IncrementalAlterConfigs may do with key `name` of a resource of type `rtype`.
fn key_rules(
    broker: &Broker,
    rtype: i8,
    name: &str,
    effective_topic: Option<&TopicConfig>,
) -> KeyRules {
    match rtype {
        TOPIC => KeyRules {
            is_list: topic_config_def(name).is_some_and(|d| d.kind.is_list()),
            current: effective_topic
                .and_then(|t| t.value(name))
                .map(str::to_string),
            not_a_list: not_a_list_config,
        },
        BROKER => {
            let def = dynamic_config::broker_key_def(name);
            KeyRules {
                is_list: def.is_some_and(|d| d.kind.is_list()),
                current: broker
                    .config
                    .value(name)
                    .map(str::to_string)
                    .or_else(|| def.map(|d| d.default.to_string())),
                not_a_list: not_a_list_request,
            }
        }
        _ => KeyRules {
            is_list: false,
            current: None,
            not_a_list: not_a_list_config,
        },
    }
}

/// Answers IncrementalAlterConfigs.
pub async fn incremental_alter_configs(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let auth = ctx.auth.clone();
    let validate_only = req.validate_only;
    let results = alter_each(broker, req.resources, move |b, res| {
        let name = res.resource_name.to_string();
        let rtype = res.resource_type;
        if let Some(refusal) = crate::authz::config_refusal(&auth, rtype, &name, true) {
            return (
                res.resource_type,
                res.resource_name,
                Some(AdminError::Unauthorized(refusal)),
            );
        }
        let outcome = current_configs(b, rtype, &name).and_then(|mut overrides| {
            let effective = if rtype == TOPIC {
                let defaults = b.config.with_dynamic(&b.image()).into_owned();
                let (tc, _) = TopicConfig::resolve_stored(&overrides, &defaults)
                    .map_err(|e| AdminError::InvalidConfig(e.to_string()))?;
                Some(tc)
            } else {
                None
            };
            for c in &res.configs {
                let key = c.name.as_str();
                apply_op(
                    &mut overrides,
                    key,
                    c.config_operation,
                    c.value.as_ref().map(|v| v.as_str()),
                    key_rules(b, rtype, key, effective.as_ref()),
                )?;
            }
            set_configs(b, rtype, &name, overrides, validate_only)
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
