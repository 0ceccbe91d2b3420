//! DescribeConfigs, AlterConfigs, IncrementalAlterConfigs for topics (and describing the
//! broker's static configs).

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::{blocking, str_bytes, RequestContext};
use crate::admin::{self, AdminError};
use crate::broker::Broker;
use crate::topic_config::{topic_config_def, ConfigKind, ConfigSource, TopicConfig};

/// Kafka's resource type code for topics.
const TOPIC: i8 = 2;
/// Kafka's resource type code for brokers.
const BROKER: i8 = 4;

fn entry(name: &str, value: &str, source: i8, read_only: bool) -> DescribeConfigsResourceResult {
    let mut c = DescribeConfigsResourceResult::default();
    c.name = str_bytes(name);
    c.value = Some(str_bytes(value));
    c.config_source = source;
    c.read_only = read_only;
    c
}

fn synonym(name: &str, value: &str, source: i8) -> DescribeConfigsSynonym {
    let mut s = DescribeConfigsSynonym::default();
    s.name = str_bytes(name);
    s.value = Some(str_bytes(value));
    s.source = source;
    s
}

/// Answers DescribeConfigs.
pub fn describe_configs(
    broker: &Arc<Broker>,
    _ctx: &RequestContext,
    req: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let mut r = DescribeConfigsResponse::default();
    for res in req.resources {
        let mut out = DescribeConfigsResult::default();
        out.resource_type = res.resource_type;
        out.resource_name = res.resource_name.clone();
        let wanted = |name: &str| {
            res.configuration_keys
                .as_ref()
                .is_none_or(|keys| keys.iter().any(|k| k.as_str() == name))
        };
        match res.resource_type {
            TOPIC => match broker.image().topic(res.resource_name.as_str()) {
                None => {
                    out.error_code = ResponseError::UnknownTopicOrPartition.code();
                    out.error_message = Some(str_bytes(format!(
                        "unknown topic '{}'",
                        res.resource_name.as_str()
                    )));
                }
                Some(topic) => match TopicConfig::resolve(&topic.configs, &broker.config) {
                    Err(e) => {
                        out.error_code = ResponseError::InvalidConfig.code();
                        out.error_message = Some(str_bytes(e.to_string()));
                    }
                    Ok(tc) => {
                        for (def, value, source) in
                            tc.entries.iter().filter(|(d, _, _)| wanted(d.name))
                        {
                            let mut c = entry(def.name, value, *source as i8, false);
                            c.config_type = def.kind.type_code();
                            if req.include_documentation {
                                c.documentation = Some(str_bytes(def.doc));
                            }
                            if req.include_synonyms {
                                if let Some(v) = topic.configs.get(def.name) {
                                    c.synonyms.push(synonym(
                                        def.name,
                                        v,
                                        ConfigSource::Topic as i8,
                                    ));
                                }
                                if let Some(v) = broker.config.explicit.get(def.broker_synonym) {
                                    c.synonyms.push(synonym(
                                        def.broker_synonym,
                                        v,
                                        ConfigSource::StaticBroker as i8,
                                    ));
                                }
                                let default = crate::config::BROKER_DEFAULTS
                                    .iter()
                                    .find(|(k, _)| *k == def.broker_synonym);
                                if let Some((k, v)) = default {
                                    c.synonyms.push(synonym(k, v, ConfigSource::Default as i8));
                                }
                            }
                            out.configs.push(c);
                        }
                    }
                },
            },
            BROKER => {
                let name = res.resource_name.as_str();
                if !name.is_empty() && name != broker.config.node_id.to_string() {
                    out.error_code = ResponseError::InvalidRequest.code();
                    out.error_message = Some(str_bytes(format!("unknown broker '{name}'")));
                } else {
                    for (k, v) in broker.config.values.iter().filter(|(k, _)| wanted(k)) {
                        let source = if broker.config.explicit.contains_key(k) {
                            ConfigSource::StaticBroker
                        } else {
                            ConfigSource::Default
                        };
                        let mut c = entry(k, v, source as i8, true);
                        c.config_type = topic_config_def(k).map_or(2, |d| d.kind.type_code());
                        out.configs.push(c);
                    }
                }
            }
            other => {
                out.error_code = ResponseError::InvalidRequest.code();
                out.error_message = Some(str_bytes(format!("unsupported resource type {other}")));
            }
        }
        r.results.push(out);
    }
    r
}

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
            for c in res.configs {
                let v = c.value.ok_or_else(|| {
                    AdminError::InvalidConfig(format!("null value for '{}'", c.name.as_str()))
                })?;
                overrides.insert(c.name.to_string(), v.to_string());
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

/// Applies one IncrementalAlterConfigs operation to a topic's overrides.
fn apply_op(
    overrides: &mut BTreeMap<String, String>,
    effective: &TopicConfig,
    name: &str,
    op: i8,
    value: Option<&str>,
) -> Result<(), AdminError> {
    let def = topic_config_def(name)
        .ok_or_else(|| AdminError::InvalidConfig(format!("unknown topic config name '{name}'")))?;
    let need = || {
        value
            .map(str::to_string)
            .ok_or_else(|| AdminError::InvalidConfig(format!("null value for '{name}'")))
    };
    let current_list = || -> Vec<String> {
        effective
            .entries
            .iter()
            .find(|(d, _, _)| d.name == name)
            .map(|(_, v, _)| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    match op {
        0 => {
            overrides.insert(name.to_string(), need()?);
        }
        1 => {
            overrides.remove(name);
        }
        2 | 3 => {
            if !matches!(def.kind, ConfigKind::List(_)) {
                return Err(AdminError::InvalidConfig(format!(
                    "'{name}' is not a list config; APPEND and SUBTRACT need one"
                )));
            }
            let mut list = current_list();
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
            let effective = TopicConfig::resolve(&overrides, &b.config)
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
