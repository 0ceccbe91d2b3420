//! Dynamic configs of brokers and groups (Kafka's KIP-226 broker configs and KIP-848 group
//! configs), set with AlterConfigs / IncrementalAlterConfigs and kept in the metadata log as
//! [`MetadataRecord::ResourceConfigChanged`]. Topic configs are in [`crate::topic_config`].
//!
//! Brokers: Rill updates dynamically
//! - the broker keys that provide topic defaults (`log.retention.ms`, `log.cleanup.policy`,
//!   `compression.type`, ... Kafka's `DynamicLogConfig`), for one broker or cluster-wide (an
//!   empty resource name); they take effect at once for every topic without an override, as in
//!   Kafka, and are validated as the topic config they default;
//! - the numeric SASL login settings of Kafka's per-broker listener configs
//!   (`sasl.kerberos.min.time.before.relogin`, ...), per broker only. Rill has no SASL
//!   listener yet, so they are kept and described but govern nothing, as on a Kafka broker
//!   without a SASL listener.
//!
//! Every other key is refused with Kafka's "Cannot update these configs dynamically" (Kafka
//! also updates thread pools, TLS stores, quotas and more, which Rill cannot change while
//! running). Errors are INVALID_REQUEST with Kafka's messages, as Kafka's broker-side
//! preprocessing answers.
//!
//! Groups: Kafka 4.x's `GroupConfig` keys (`consumer.session.timeout.ms`, ...), validated with
//! Kafka's rules and messages (INVALID_CONFIG). They govern consumer-protocol (KIP-848) and
//! share groups only; Rill serves classic groups, which they do not govern in Kafka either, so
//! they are kept and described.

use std::collections::BTreeMap;

use rill_meta::{MetadataImage, MetadataRecord};

use crate::admin::AdminError;
use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::topic_config::defs::{ConfigKind, Effect, TopicConfigDef};
use crate::topic_config::validate::validate_value;
use crate::topic_config::{def_for_broker_key, ConfigSource, TopicConfig};

/// Kafka's resource type code for brokers.
pub const BROKER: i8 = 4;
/// Kafka's resource type code for groups.
pub const GROUP: i8 = 32;

const fn key(
    name: &'static str,
    broker_synonym: Option<&'static str>,
    kind: ConfigKind,
    default: &'static str,
    doc: &'static str,
) -> TopicConfigDef {
    TopicConfigDef {
        name,
        broker_synonym,
        kind,
        default,
        effect: Effect::NoEffect,
        internal: false,
        doc,
    }
}

const ANY_DOUBLE: ConfigKind = ConfigKind::Double {
    min: f64::NEG_INFINITY,
    max: f64::INFINITY,
};

/// The per-broker SASL listener settings Rill keeps (Kafka's types, ranges and defaults).
pub static SASL_KEYS: &[TopicConfigDef] = &[
    key(
        "sasl.kerberos.min.time.before.relogin",
        None,
        ConfigKind::Long {
            min: None,
            max: None,
        },
        "60000",
        "Login thread sleep time between refresh attempts.",
    ),
    key(
        "sasl.kerberos.ticket.renew.window.factor",
        None,
        ANY_DOUBLE,
        "0.8",
        "Login thread will sleep until the specified window factor of time from last refresh \
         to ticket's expiry has been reached, at which time it will try to renew the ticket.",
    ),
    key(
        "sasl.kerberos.ticket.renew.jitter",
        None,
        ANY_DOUBLE,
        "0.05",
        "Percentage of random jitter added to the renewal time.",
    ),
    key(
        "sasl.login.refresh.window.factor",
        None,
        ConfigKind::Double { min: 0.5, max: 1.0 },
        "0.8",
        "Login refresh thread will sleep until the specified window factor relative to the \
         credential's lifetime has been reached, at which time it will try to refresh the \
         credential.",
    ),
    key(
        "sasl.login.refresh.window.jitter",
        None,
        ConfigKind::Double {
            min: 0.0,
            max: 0.25,
        },
        "0.05",
        "The maximum amount of random jitter relative to the credential's lifetime that is \
         added to the login refresh thread's sleep time.",
    ),
    key(
        "sasl.login.refresh.min.period.seconds",
        None,
        ConfigKind::Int {
            min: Some(0),
            max: Some(900),
        },
        "60",
        "The desired minimum time for the login refresh thread to wait before refreshing a \
         credential, in seconds.",
    ),
    key(
        "sasl.login.refresh.buffer.seconds",
        None,
        ConfigKind::Int {
            min: Some(0),
            max: Some(3600),
        },
        "300",
        "The amount of buffer time before credential expiration to maintain when refreshing a \
         credential, in seconds.",
    ),
];

/// Kafka 4.x's group configs; `broker_synonym` is the broker key that provides the default.
pub static GROUP_KEYS: &[TopicConfigDef] = &[
    key(
        "consumer.session.timeout.ms",
        Some("group.consumer.session.timeout.ms"),
        ConfigKind::Int {
            min: Some(1),
            max: None,
        },
        "45000",
        "The timeout to detect client failures when using the consumer group protocol.",
    ),
    key(
        "consumer.heartbeat.interval.ms",
        Some("group.consumer.heartbeat.interval.ms"),
        ConfigKind::Int {
            min: Some(1),
            max: None,
        },
        "5000",
        "The heartbeat interval given to the members of a consumer group.",
    ),
    key(
        "share.session.timeout.ms",
        Some("group.share.session.timeout.ms"),
        ConfigKind::Int {
            min: Some(1),
            max: None,
        },
        "45000",
        "The timeout to detect client failures when using the share group protocol.",
    ),
    key(
        "share.heartbeat.interval.ms",
        Some("group.share.heartbeat.interval.ms"),
        ConfigKind::Int {
            min: Some(1),
            max: None,
        },
        "5000",
        "The heartbeat interval given to the members of a share group.",
    ),
    key(
        "share.record.lock.duration.ms",
        Some("group.share.record.lock.duration.ms"),
        ConfigKind::Int {
            min: Some(1000),
            max: None,
        },
        "30000",
        "The record acquisition lock duration in milliseconds for share groups.",
    ),
    key(
        "share.auto.offset.reset",
        None,
        ConfigKind::Enum(&["latest", "earliest"]),
        "latest",
        "The strategy to initialize the share-partition start offset.",
    ),
];

/// Kafka's bounds of the group configs (broker keys and their defaults).
const GROUP_BOUNDS: &[(&str, &str)] = &[
    ("group.consumer.min.session.timeout.ms", "45000"),
    ("group.consumer.max.session.timeout.ms", "60000"),
    ("group.consumer.min.heartbeat.interval.ms", "5000"),
    ("group.consumer.max.heartbeat.interval.ms", "15000"),
    ("group.share.min.session.timeout.ms", "45000"),
    ("group.share.max.session.timeout.ms", "60000"),
    ("group.share.min.heartbeat.interval.ms", "5000"),
    ("group.share.max.heartbeat.interval.ms", "15000"),
    ("group.share.min.record.lock.duration.ms", "15000"),
    ("group.share.max.record.lock.duration.ms", "60000"),
];

/// What a dynamic broker key is to Rill.
#[derive(Clone, Copy)]
enum BrokerKey {
    /// The broker synonym of a topic config: cluster-wide or per broker, applied to topics.
    TopicDefault(&'static TopicConfigDef),
    /// A SASL listener setting: per broker only, kept.
    Listener(&'static TopicConfigDef),
}

fn broker_key(name: &str) -> Option<BrokerKey> {
    if let Some(def) = def_for_broker_key(name) {
        return Some(BrokerKey::TopicDefault(def));
    }
    SASL_KEYS
        .iter()
        .find(|d| d.name == name)
        .map(BrokerKey::Listener)
}

/// The definition of a dynamic broker key, named as the broker key (for messages and types).
pub fn broker_key_def(name: &str) -> Option<TopicConfigDef> {
    match broker_key(name)? {
        BrokerKey::TopicDefault(d) => Some(TopicConfigDef {
            name: d.broker_synonym.unwrap_or(d.name),
            broker_synonym: None,
            ..*d
        }),
        BrokerKey::Listener(d) => Some(*d),
    }
}

/// Whether Rill updates broker key `name` dynamically (DescribeConfigs' `read_only` is the
/// opposite).
pub fn is_dynamic_broker_key(name: &str) -> bool {
    broker_key(name).is_some()
}

/// The group config of that name.
pub fn group_key(name: &str) -> Option<&'static TopicConfigDef> {
    GROUP_KEYS.iter().find(|d| d.name == name)
}

/// The dynamic broker configs of `image` that provide topic defaults on node `node_id`: the
/// node's own over the cluster-wide ones.
pub fn topic_defaults(
    image: &MetadataImage,
    node_id: i32,
) -> BTreeMap<String, (String, ConfigSource)> {
    let mut out = BTreeMap::new();
    let layers = [
        ("".to_string(), ConfigSource::DynamicDefaultBroker),
        (node_id.to_string(), ConfigSource::DynamicBroker),
    ];
    for (name, source) in layers {
        for (k, v) in image.resource_configs(BROKER, &name).into_iter().flatten() {
            if def_for_broker_key(k).is_some() {
                out.insert(k.clone(), (v.clone(), source));
            }
        }
    }
    out
}

/// Names as Java prints a `Set<String>`: `[a, b]`.
fn java_set<'a>(names: impl IntoIterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.into_iter().map(String::as_str).collect();
    format!("[{}]", names.join(", "))
}

/// Checks a broker resource's name: empty (the cluster default) or this node's id, with
/// Kafka's messages.
pub fn check_broker_name(config: &BrokerConfig, name: &str) -> Result<(), AdminError> {
    if name.is_empty() {
        return Ok(());
    }
    let id: i32 = name.parse().map_err(|_| {
        AdminError::InvalidRequest(format!("Node id must be an integer, but it is: {name}"))
    })?;
    if id != config.node_id {
        return Err(AdminError::InvalidRequest(format!(
            "Unexpected broker id, expected {}, but received {name}",
            config.node_id
        )));
    }
    Ok(())
}

/// Validates the whole set of dynamic configs a broker resource would have, as Kafka's
/// `DynamicBrokerConfig.validateConfigs`: only dynamic keys, values of their type and range,
/// and per-broker keys only on a broker (not the cluster default).
pub fn validate_broker_configs(
    per_broker: bool,
    configs: &BTreeMap<String, String>,
) -> Result<(), AdminError> {
    let fixed: Vec<&String> = configs.keys().filter(|k| broker_key(k).is_none()).collect();
    if !fixed.is_empty() {
        return Err(AdminError::InvalidRequest(format!(
            "Cannot update these configs dynamically: {}",
            java_set(fixed)
        )));
    }
    for (k, v) in configs {
        if let Some(def) = broker_key_def(k) {
            validate_value(&def, v).map_err(|e| AdminError::InvalidRequest(e.to_string()))?;
        }
    }
    if !per_broker {
        let per_broker_only: Vec<&String> = configs
            .keys()
            .filter(|k| matches!(broker_key(k), Some(BrokerKey::Listener(_))))
            .collect();
        if !per_broker_only.is_empty() {
            return Err(AdminError::InvalidRequest(format!(
                "Cannot update these configs at default cluster level, broker id must be \
                 specified: {}",
                java_set(per_broker_only)
            )));
        }
    }
    Ok(())
}

/// The records that turn a resource's configs from `old` into `new`.
fn changes(
    resource_type: i8,
    name: &str,
    old: Option<&BTreeMap<String, String>>,
    new: &BTreeMap<String, String>,
) -> Vec<MetadataRecord> {
    let empty = BTreeMap::new();
    let old = old.unwrap_or(&empty);
    let record = |key: &String, value: Option<&String>| MetadataRecord::ResourceConfigChanged {
        resource_type,
        resource_name: name.to_string(),
        key: key.clone(),
        value: value.cloned(),
    };
    let mut out: Vec<MetadataRecord> = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .map(|k| record(k, None))
        .collect();
    out.extend(
        new.iter()
            .filter(|(k, v)| old.get(*k) != Some(*v))
            .map(|(k, v)| record(k, Some(v))),
    );
    out
}

/// Makes `configs` the whole set of dynamic configs of broker resource `name` (this node's
/// id, or "" for the cluster default), after checking that every topic's config still
/// resolves against the new defaults. Blocking.
pub fn set_broker_configs(
    broker: &Broker,
    name: &str,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), AdminError> {
    check_broker_name(&broker.config, name)?;
    validate_broker_configs(!name.is_empty(), &configs)?;
    let image = broker.image();
    let records = changes(BROKER, name, image.resource_configs(BROKER, name), &configs);
    let mut next = (*image).clone();
    for r in &records {
        next.apply(r)
            .map_err(|e| AdminError::InvalidRequest(e.to_string()))?;
    }
    let defaults = broker.config.with_dynamic(&next);
    TopicConfig::resolve(&BTreeMap::new(), &defaults)
        .map_err(|e| AdminError::InvalidRequest(e.to_string()))?;
    for t in next.topics() {
        TopicConfig::resolve_stored(&t.configs, &defaults).map_err(|e| {
            AdminError::InvalidRequest(format!("{e} (the config of topic {})", t.name))
        })?;
    }
    if !validate_only && !records.is_empty() {
        broker.commit(records)?;
        tracing::info!(resource = %name, "dynamic broker configs changed");
    }
    Ok(())
}

/// The value a group config has for a group with `overrides`: its override, else the broker
/// key that provides its default, else Kafka's default; with its source.
pub fn group_value(
    config: &BrokerConfig,
    def: &TopicConfigDef,
    overrides: Option<&BTreeMap<String, String>>,
) -> (String, ConfigSource) {
    if let Some(v) = overrides.and_then(|o| o.get(def.name)) {
        return (v.clone(), ConfigSource::Group);
    }
    match def.broker_synonym.and_then(|s| config.explicit.get(s)) {
        Some(v) => (v.clone(), ConfigSource::StaticBroker),
        None => (def.default.to_string(), ConfigSource::Default),
    }
}

/// Validates a group's whole set of configs as Kafka's `GroupConfig.validate`: known names,
/// values of their type, within the broker's bounds, sessions longer than heartbeats.
pub fn validate_group_configs(
    config: &BrokerConfig,
    configs: &BTreeMap<String, String>,
) -> Result<(), AdminError> {
    if let Some(k) = configs.keys().find(|k| group_key(k).is_none()) {
        return Err(AdminError::InvalidConfig(format!(
            "Unknown group config name: {k}"
        )));
    }
    let mut values = BTreeMap::new();
    for def in GROUP_KEYS {
        let (v, _) = group_value(config, def, Some(configs));
        validate_value(def, &v).map_err(|e| AdminError::InvalidConfig(e.to_string()))?;
        values.insert(def.name, v);
    }
    let int = |k: &str| -> i64 {
        values
            .get(k)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let bound = |k: &str| -> i64 {
        config
            .explicit
            .get(k)
            .map(String::as_str)
            .or_else(|| GROUP_BOUNDS.iter().find(|(b, _)| *b == k).map(|(_, v)| *v))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let checks: &[(&str, &str, &str)] = &[
        (
            "consumer.heartbeat.interval.ms",
            "group.consumer.min.heartbeat.interval.ms",
            "group.consumer.max.heartbeat.interval.ms",
        ),
        (
            "consumer.session.timeout.ms",
            "group.consumer.min.session.timeout.ms",
            "group.consumer.max.session.timeout.ms",
        ),
        (
            "share.heartbeat.interval.ms",
            "group.share.min.heartbeat.interval.ms",
            "group.share.max.heartbeat.interval.ms",
        ),
        (
            "share.session.timeout.ms",
            "group.share.min.session.timeout.ms",
            "group.share.max.session.timeout.ms",
        ),
        (
            "share.record.lock.duration.ms",
            "group.share.min.record.lock.duration.ms",
            "group.share.max.record.lock.duration.ms",
        ),
    ];
    for (k, min, max) in checks {
        if int(k) < bound(min) {
            return Err(AdminError::InvalidConfig(format!(
                "{k} must be greater than or equal to {min}"
            )));
        }
        if int(k) > bound(max) {
            return Err(AdminError::InvalidConfig(format!(
                "{k} must be less than or equal to {max}"
            )));
        }
    }
    for kind in ["consumer", "share"] {
        let session = format!("{kind}.session.timeout.ms");
        let heartbeat = format!("{kind}.heartbeat.interval.ms");
        if int(&session) <= int(&heartbeat) {
            return Err(AdminError::InvalidConfig(format!(
                "{session} must be greater than {heartbeat}"
            )));
        }
    }
    Ok(())
}

/// Makes `configs` the whole set of dynamic configs of group `name`. Blocking.
pub fn set_group_configs(
    broker: &Broker,
    name: &str,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), AdminError> {
    if name.is_empty() {
        return Err(AdminError::InvalidRequest(
            "Group name must not be empty".into(),
        ));
    }
    validate_group_configs(&broker.config, &configs)?;
    let image = broker.image();
    let records = changes(GROUP, name, image.resource_configs(GROUP, name), &configs);
    if !validate_only && !records.is_empty() {
        broker.commit(records)?;
        tracing::info!(group = %name, "group configs changed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn broker_config() -> BrokerConfig {
        BrokerConfig::from_pairs([("log.dirs".to_string(), "/tmp/x".to_string())], |_| {}).unwrap()
    }

    fn message(r: Result<(), AdminError>) -> (i16, String) {
        let e = r.unwrap_err();
        (e.code(), e.to_string())
    }

    #[test]
    fn broker_keys_are_checked_as_kafka_does() {
        assert!(validate_broker_configs(
            true,
            &set(&[
                ("sasl.kerberos.min.time.before.relogin", "58000"),
                ("log.cleanup.policy", "delete,compact"),
                ("log.retention.ms", "1000"),
            ])
        )
        .is_ok());
        assert_eq!(
            message(validate_broker_configs(
                true,
                &set(&[("node.id", "3"), ("background.threads", "9")])
            )),
            (
                42,
                "Cannot update these configs dynamically: [background.threads, node.id]".into()
            )
        );
        assert_eq!(
            message(validate_broker_configs(
                false,
                &set(&[("sasl.kerberos.min.time.before.relogin", "58000")])
            )),
            (
                42,
                "Cannot update these configs at default cluster level, broker id must be \
                 specified: [sasl.kerberos.min.time.before.relogin]"
                    .into()
            )
        );
        assert_eq!(
            message(validate_broker_configs(
                false,
                &set(&[("log.retention.ms", "soon")])
            )),
            (
                42,
                "Invalid value soon for configuration log.retention.ms: Not a number of type LONG"
                    .into()
            )
        );
        assert_eq!(
            message(validate_broker_configs(
                true,
                &set(&[("log.cleanup.policy", "shred")])
            ))
            .1,
            "Invalid value shred for configuration log.cleanup.policy: String must be one of: \
             compact, delete"
        );
    }

    #[test]
    fn broker_names_are_this_node_or_empty() {
        let c = broker_config();
        assert!(check_broker_name(&c, "").is_ok());
        assert!(check_broker_name(&c, &c.node_id.to_string()).is_ok());
        assert_eq!(
            message(check_broker_name(&c, "x")),
            (42, "Node id must be an integer, but it is: x".into())
        );
        assert_eq!(
            message(check_broker_name(&c, "77")),
            (
                42,
                "Unexpected broker id, expected 1, but received 77".into()
            )
        );
    }

    #[test]
    fn dynamic_topic_defaults_layer_over_static_ones() {
        let c = broker_config();
        let mut image = MetadataImage::new();
        let rec = |name: &str, k: &str, v: &str| MetadataRecord::ResourceConfigChanged {
            resource_type: BROKER,
            resource_name: name.into(),
            key: k.into(),
            value: Some(v.into()),
        };
        for r in [
            rec("", "log.retention.ms", "1000"),
            rec("", "log.cleanup.policy", "compact"),
            rec("1", "log.retention.ms", "2000"),
            rec("1", "sasl.kerberos.min.time.before.relogin", "58000"),
            rec("2", "log.segment.bytes", "2000000"),
        ] {
            image.apply(&r).unwrap();
        }
        let d = c.with_dynamic(&image);
        let tc = TopicConfig::resolve(&BTreeMap::new(), &d).unwrap();
        let entry = |n: &str| tc.entries.iter().find(|e| e.def.name == n).unwrap().clone();
        assert_eq!(entry("retention.ms").value, "2000");
        assert_eq!(entry("retention.ms").source, ConfigSource::DynamicBroker);
        assert_eq!(entry("cleanup.policy").value, "compact");
        assert_eq!(
            entry("cleanup.policy").source,
            ConfigSource::DynamicDefaultBroker
        );
        // Another node's own configs are not this node's.
        assert_eq!(entry("segment.bytes").source, ConfigSource::Default);
        // A topic override still wins.
        let o = set(&[("retention.ms", "5")]);
        let tc = TopicConfig::resolve(&o, &d).unwrap();
        assert_eq!(tc.value("retention.ms"), Some("5"));
        assert!(matches!(
            c.with_dynamic(&MetadataImage::new()),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn group_configs_are_checked_as_kafka_does() {
        let c = broker_config();
        assert!(
            validate_group_configs(&c, &set(&[("consumer.session.timeout.ms", "50000")])).is_ok()
        );
        assert!(validate_group_configs(&c, &BTreeMap::new()).is_ok());
        assert_eq!(
            message(validate_group_configs(
                &c,
                &set(&[("session.timeout.ms", "1")])
            )),
            (40, "Unknown group config name: session.timeout.ms".into())
        );
        assert_eq!(
            message(validate_group_configs(
                &c,
                &set(&[("consumer.session.timeout.ms", "70000")])
            ))
            .1,
            "consumer.session.timeout.ms must be less than or equal to \
             group.consumer.max.session.timeout.ms"
        );
        assert_eq!(
            message(validate_group_configs(
                &c,
                &set(&[("consumer.heartbeat.interval.ms", "1000")])
            ))
            .1,
            "consumer.heartbeat.interval.ms must be greater than or equal to \
             group.consumer.min.heartbeat.interval.ms"
        );
        assert_eq!(
            message(validate_group_configs(
                &c,
                &set(&[("share.auto.offset.reset", "none")])
            ))
            .1,
            "Invalid value none for configuration share.auto.offset.reset: String must be one \
             of: latest, earliest"
        );
        assert_eq!(
            message(validate_group_configs(
                &c,
                &set(&[("consumer.session.timeout.ms", "x")])
            ))
            .1,
            "Invalid value x for configuration consumer.session.timeout.ms: Not a number of \
             type INT"
        );
    }
}
