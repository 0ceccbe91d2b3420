//! DescribeConfigs for topics (every Kafka topic config with its value, source, type,
//! synonyms and documentation, as Kafka's `ConfigHelper` answers) and for this broker (its
//! static configs, all read-only).

use std::sync::Arc;

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, RequestContext};
use crate::broker::Broker;
use crate::config::BROKER_DEFAULTS;
use crate::topic_config::{def_for_broker_key, ConfigEntry, ConfigSource, TopicConfig};

/// Kafka's resource type code for topics.
pub const TOPIC: i8 = 2;
/// Kafka's resource type code for brokers.
pub const BROKER: i8 = 4;
/// Kafka's `ConfigType.STRING`, for broker keys whose type Rill does not track.
const STRING_TYPE: i8 = 2;

fn synonym(name: &str, value: &str, source: ConfigSource) -> DescribeConfigsSynonym {
    let mut s = DescribeConfigsSynonym::default();
    s.name = str_bytes(name);
    s.value = Some(str_bytes(value));
    s.source = source as i8;
    s
}

/// What a DescribeConfigs entry asks beyond name and value.
#[derive(Clone, Copy)]
struct Wants {
    /// `include_synonyms`.
    synonyms: bool,
    /// `include_documentation`.
    documentation: bool,
}

/// A topic config's entry: the topic override (if any) then the broker key's static value
/// and default are its synonyms, and its source is that of the first (Kafka's order).
fn topic_entry(
    broker: &Broker,
    e: &ConfigEntry,
    overridden: bool,
    wants: Wants,
) -> DescribeConfigsResourceResult {
    let value = crate::topic_config::validate::display_value(e.def, &e.value);
    let mut synonyms = Vec::new();
    if overridden {
        synonyms.push(synonym(e.def.name, &value, ConfigSource::Topic));
    }
    if let Some(syn) = e.def.broker_synonym {
        if let Some(v) = broker.config.explicit.get(syn) {
            synonyms.push(synonym(syn, v, ConfigSource::StaticBroker));
        }
        if let Some((k, v)) = BROKER_DEFAULTS.iter().find(|(k, _)| *k == syn) {
            synonyms.push(synonym(k, v, ConfigSource::Default));
        }
    }
    let mut c = DescribeConfigsResourceResult::default();
    c.name = str_bytes(e.def.name);
    c.value = Some(str_bytes(value));
    c.config_source = e.source as i8;
    c.read_only = false;
    c.is_sensitive = false;
    c.config_type = e.def.kind.type_code();
    // Null unless asked for (the message's default is an empty string).
    c.documentation = wants.documentation.then(|| str_bytes(e.def.doc));
    if wants.synonyms {
        c.synonyms = synonyms;
    }
    c
}

/// Whether `name` is asked for (no keys, or an empty list, means all).
fn wanted(res: &DescribeConfigsResource, name: &str) -> bool {
    match &res.configuration_keys {
        Some(keys) if !keys.is_empty() => keys.iter().any(|k| k.as_str() == name),
        _ => true,
    }
}

fn describe_topic(
    broker: &Broker,
    res: &DescribeConfigsResource,
    wants: Wants,
    out: &mut DescribeConfigsResult,
) {
    let image = broker.image();
    let Some(topic) = image.topic(res.resource_name.as_str()) else {
        out.error_code = ResponseError::UnknownTopicOrPartition.code();
        return;
    };
    match TopicConfig::resolve_stored(&topic.configs, &broker.config) {
        Err(e) => {
            out.error_code = ResponseError::InvalidConfig.code();
            out.error_message = Some(str_bytes(e.to_string()));
        }
        Ok((tc, _)) => {
            for e in tc.entries.iter().filter(|e| wanted(res, e.def.name)) {
                let overridden = e.source == ConfigSource::Topic;
                out.configs.push(topic_entry(broker, e, overridden, wants));
            }
        }
    }
}

fn describe_broker(
    broker: &Broker,
    res: &DescribeConfigsResource,
    wants: Wants,
    out: &mut DescribeConfigsResult,
) {
    let name = res.resource_name.as_str();
    // An empty name asks for the cluster-wide dynamic defaults, which Rill does not have.
    if name.is_empty() {
        return;
    }
    let Ok(id) = name.parse::<i32>() else {
        out.error_code = ResponseError::InvalidRequest.code();
        out.error_message = Some(str_bytes(format!(
            "Broker id must be an integer, but it is: {name}"
        )));
        return;
    };
    if id != broker.config.node_id {
        out.error_code = ResponseError::InvalidRequest.code();
        out.error_message = Some(str_bytes(format!(
            "Unexpected broker id, expected {} or empty string, but received {name}",
            broker.config.node_id
        )));
        return;
    }
    for (k, v) in broker.config.values.iter().filter(|(k, _)| wanted(res, k)) {
        let explicit = broker.config.explicit.contains_key(k);
        let source = if explicit {
            ConfigSource::StaticBroker
        } else {
            ConfigSource::Default
        };
        let mut c = DescribeConfigsResourceResult::default();
        c.name = str_bytes(k.as_str());
        c.value = Some(str_bytes(v.as_str()));
        c.config_source = source as i8;
        // Every broker config is static in Rill.
        c.read_only = true;
        c.config_type = def_for_broker_key(k).map_or(STRING_TYPE, |d| d.kind.type_code());
        if wants.synonyms {
            if explicit {
                c.synonyms.push(synonym(k, v, ConfigSource::StaticBroker));
            }
            if let Some((dk, dv)) = BROKER_DEFAULTS.iter().find(|(dk, _)| *dk == k.as_str()) {
                c.synonyms.push(synonym(dk, dv, ConfigSource::Default));
            }
        }
        c.documentation = def_for_broker_key(k)
            .filter(|_| wants.documentation)
            .map(|d| str_bytes(format!("Default of the topic config {}: {}", d.name, d.doc)));
        out.configs.push(c);
    }
}

/// Answers DescribeConfigs.
pub fn describe_configs(
    broker: &Arc<Broker>,
    _ctx: &RequestContext,
    req: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let wants = Wants {
        synonyms: req.include_synonyms,
        documentation: req.include_documentation,
    };
    let mut r = DescribeConfigsResponse::default();
    for res in req.resources {
        let mut out = DescribeConfigsResult::default();
        out.resource_type = res.resource_type;
        out.resource_name = res.resource_name.clone();
        match res.resource_type {
            TOPIC => describe_topic(broker, &res, wants, &mut out),
            BROKER => describe_broker(broker, &res, wants, &mut out),
            other => {
                out.error_code = ResponseError::InvalidRequest.code();
                out.error_message = Some(str_bytes(format!("Unsupported resource type: {other}")));
            }
        }
        r.results.push(out);
    }
    r
}
