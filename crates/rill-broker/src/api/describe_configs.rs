//! DescribeConfigs for topics (every Kafka topic config with its value, source, type,
//! synonyms and documentation, as Kafka's `ConfigHelper` answers), for this broker (its
//! static and dynamic configs; read-only unless Rill updates them dynamically) or the
//! cluster-wide dynamic defaults, and for groups (Kafka's group configs).

use std::collections::BTreeSet;
use std::sync::Arc;

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::ResponseError;
use rill_meta::MetadataImage;

use super::{str_bytes, RequestContext};
use crate::broker::Broker;
use crate::config::BROKER_DEFAULTS;
use crate::dynamic_config::{self, BROKER, GROUP};
use crate::topic_config::{def_for_broker_key, ConfigEntry, ConfigSource, TopicConfig};

/// Kafka's resource type code for topics.
pub const TOPIC: i8 = 2;
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

/// The dynamic values of broker key `syn` as synonyms, this node's first (Kafka's order).
fn dynamic_synonyms(
    broker: &Broker,
    image: &MetadataImage,
    syn: &str,
) -> Vec<DescribeConfigsSynonym> {
    let own = broker.config.node_id.to_string();
    let layers = [
        (own.as_str(), ConfigSource::DynamicBroker),
        ("", ConfigSource::DynamicDefaultBroker),
    ];
    layers
        .into_iter()
        .filter_map(|(name, source)| {
            let v = image.resource_configs(BROKER, name)?.get(syn)?;
            Some(synonym(syn, v, source))
        })
        .collect()
}

/// Every value broker key `k` has, most specific first: this node's dynamic config, the
/// cluster-wide dynamic default, the static config, the default.
fn broker_synonyms(broker: &Broker, image: &MetadataImage, k: &str) -> Vec<DescribeConfigsSynonym> {
    let mut out = dynamic_synonyms(broker, image, k);
    if let Some(v) = broker.config.explicit.get(k) {
        out.push(synonym(k, v, ConfigSource::StaticBroker));
    }
    if let Some((dk, dv)) = BROKER_DEFAULTS.iter().find(|(dk, _)| *dk == k) {
        out.push(synonym(dk, dv, ConfigSource::Default));
    } else if let Some(d) = dynamic_config::broker_key_def(k) {
        out.push(synonym(k, d.default, ConfigSource::Default));
    }
    out
}

/// A topic config's entry: the topic override (if any) then the broker key's dynamic, static
/// and default values are its synonyms, and its source is that of the first (Kafka's order).
fn topic_entry(
    broker: &Broker,
    image: &MetadataImage,
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
        synonyms.extend(dynamic_synonyms(broker, image, syn));
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
    match TopicConfig::resolve_stored(&topic.configs, &broker.config.with_dynamic(&image)) {
        Err(e) => {
            out.error_code = ResponseError::InvalidConfig.code();
            out.error_message = Some(str_bytes(e.to_string()));
        }
        Ok((tc, _)) => {
            for e in tc.entries.iter().filter(|e| wanted(res, e.def.name)) {
                let overridden = e.source == ConfigSource::Topic;
                out.configs
                    .push(topic_entry(broker, &image, e, overridden, wants));
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
    let image = broker.image();
    let entry = |k: &str, synonyms: Vec<DescribeConfigsSynonym>| {
        let mut c = DescribeConfigsResourceResult::default();
        c.name = str_bytes(k);
        let first = synonyms.first();
        c.value = first.and_then(|s| s.value.clone());
        c.config_source = first.map_or(ConfigSource::Default as i8, |s| s.source);
        c.read_only = !dynamic_config::is_dynamic_broker_key(k);
        let def = dynamic_config::broker_key_def(k);
        c.config_type = def.map_or(STRING_TYPE, |d| d.kind.type_code());
        c.documentation =
            def.filter(|_| wants.documentation)
                .map(|d| match def_for_broker_key(k) {
                    Some(t) => {
                        str_bytes(format!("Default of the topic config {}: {}", t.name, t.doc))
                    }
                    None => str_bytes(d.doc),
                });
        if wants.synonyms {
            c.synonyms = synonyms;
        }
        c
    };
    // An empty name asks for the cluster-wide dynamic defaults.
    if name.is_empty() {
        for (k, v) in image
            .resource_configs(BROKER, "")
            .into_iter()
            .flatten()
            .filter(|(k, _)| wanted(res, k))
        {
            out.configs.push(entry(
                k,
                vec![synonym(k, v, ConfigSource::DynamicDefaultBroker)],
            ));
        }
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
    // Every static key, every SASL key Rill keeps, and every dynamic key set.
    let mut keys: BTreeSet<&str> = broker.config.values.keys().map(String::as_str).collect();
    keys.extend(dynamic_config::SASL_KEYS.iter().map(|d| d.name));
    for layer in ["", name] {
        if let Some(configs) = image.resource_configs(BROKER, layer) {
            keys.extend(configs.keys().map(String::as_str));
        }
    }
    for k in keys.into_iter().filter(|k| wanted(res, k)) {
        let synonyms = broker_synonyms(broker, &image, k);
        let mut c = entry(k, synonyms);
        if c.value.is_none() {
            // Rill's own keys without a listed default.
            c.value = broker.config.value(k).map(str_bytes);
        }
        if crate::security::is_sensitive_key(k) {
            // Passwords, keys and JAAS configs are never shown, as Kafka hides PASSWORD
            // configs.
            c.is_sensitive = true;
            c.value = None;
            for s in &mut c.synonyms {
                s.value = None;
            }
        }
        out.configs.push(c);
    }
}

/// A group's configs: its own values, else the broker's defaults (Kafka's `GroupConfig`).
fn describe_group(
    broker: &Broker,
    res: &DescribeConfigsResource,
    wants: Wants,
    out: &mut DescribeConfigsResult,
) {
    let name = res.resource_name.as_str();
    if name.is_empty() {
        out.error_code = ResponseError::InvalidRequest.code();
        out.error_message = Some(str_bytes("Group name must not be empty"));
        return;
    }
    let image = broker.image();
    let overrides = image.resource_configs(GROUP, name);
    for def in dynamic_config::GROUP_KEYS
        .iter()
        .filter(|d| wanted(res, d.name))
    {
        let (value, source) = dynamic_config::group_value(&broker.config, def, overrides);
        let mut synonyms = Vec::new();
        if source == ConfigSource::Group {
            synonyms.push(synonym(def.name, &value, ConfigSource::Group));
        }
        match def.broker_synonym {
            Some(syn) => {
                if let Some(v) = broker.config.explicit.get(syn) {
                    synonyms.push(synonym(syn, v, ConfigSource::StaticBroker));
                }
                synonyms.push(synonym(syn, def.default, ConfigSource::Default));
            }
            None => synonyms.push(synonym(def.name, def.default, ConfigSource::Default)),
        }
        let mut c = DescribeConfigsResourceResult::default();
        c.name = str_bytes(def.name);
        c.value = Some(str_bytes(value));
        c.config_source = source as i8;
        c.read_only = false;
        c.is_sensitive = false;
        c.config_type = def.kind.type_code();
        c.documentation = wants.documentation.then(|| str_bytes(def.doc));
        if wants.synonyms {
            c.synonyms = synonyms;
        }
        out.configs.push(c);
    }
}

/// Answers DescribeConfigs.
pub fn describe_configs(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
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
        if let Some(refusal) =
            crate::authz::config_refusal(&ctx.auth, res.resource_type, &res.resource_name, false)
        {
            out.error_code = refusal.code();
            out.error_message = Some(str_bytes("Authorization failed."));
            r.results.push(out);
            continue;
        }
        match res.resource_type {
            TOPIC => describe_topic(broker, &res, wants, &mut out),
            BROKER => describe_broker(broker, &res, wants, &mut out),
            GROUP => describe_group(broker, &res, wants, &mut out),
            other => {
                out.error_code = ResponseError::InvalidRequest.code();
                out.error_message = Some(str_bytes(format!("Unsupported resource type: {other}")));
            }
        }
        r.results.push(out);
    }
    r
}
