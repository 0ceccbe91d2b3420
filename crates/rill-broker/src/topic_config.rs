//! Topic-level configs: Kafka's names, types, validation, defaults from the broker config, and
//! the mapping onto the storage engine's [`rill_log::LogConfig`].
//!
//! A topic stores only its overrides (in the metadata log); everything else falls back to the
//! broker's synonym (`retention.ms` -> `log.retention.ms`) and then Kafka's default.

use std::collections::BTreeMap;

use rill_log::{FlushPolicy, LogConfig, TimestampType};

use crate::config::{parse_int, BrokerConfig, ConfigError};

/// The value type of a config, as DescribeConfigs v3+ reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigKind {
    /// A 64-bit integer at least `min`.
    Long {
        /// Smallest legal value.
        min: i64,
    },
    /// A 32-bit integer at least `min`.
    Int {
        /// Smallest legal value.
        min: i64,
    },
    /// `true` / `false`.
    Bool,
    /// One of the listed strings.
    Enum(&'static [&'static str]),
    /// A comma-separated list of the listed strings.
    List(&'static [&'static str]),
}

impl ConfigKind {
    /// Kafka's `ConfigType` code for DescribeConfigs v3+.
    pub fn type_code(self) -> i8 {
        match self {
            ConfigKind::Bool => 1,
            ConfigKind::Enum(_) => 2,
            ConfigKind::Int { .. } => 3,
            ConfigKind::Long { .. } => 5,
            ConfigKind::List(_) => 7,
        }
    }
}

/// One topic config Rill knows.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigDef {
    /// The topic config name.
    pub name: &'static str,
    /// The broker config that provides its default.
    pub broker_synonym: &'static str,
    /// Its value type and range.
    pub kind: ConfigKind,
    /// One line of documentation.
    pub doc: &'static str,
}

/// Every topic config Rill accepts.
pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    TopicConfigDef { name: "cleanup.policy", broker_synonym: "log.cleanup.policy", kind: ConfigKind::List(&["delete", "compact"]), doc: "Retention policy for old segments: delete (compact is not supported yet)." },
    TopicConfigDef { name: "compression.type", broker_synonym: "compression.type", kind: ConfigKind::Enum(&["producer"]), doc: "Batches are kept as the producer compressed them." },
    TopicConfigDef { name: "retention.ms", broker_synonym: "log.retention.ms", kind: ConfigKind::Long { min: -1 }, doc: "Delete segments whose newest record is older than this; -1 keeps forever." },
    TopicConfigDef { name: "retention.bytes", broker_synonym: "log.retention.bytes", kind: ConfigKind::Long { min: -1 }, doc: "Delete old segments while the partition is larger than this; -1 for no limit." },
    TopicConfigDef { name: "segment.bytes", broker_synonym: "log.segment.bytes", kind: ConfigKind::Int { min: 14 }, doc: "Roll to a new segment file at this size." },
    TopicConfigDef { name: "segment.ms", broker_synonym: "log.roll.ms", kind: ConfigKind::Long { min: 1 }, doc: "Roll to a new segment after this long even if not full." },
    TopicConfigDef { name: "segment.index.bytes", broker_synonym: "log.index.size.max.bytes", kind: ConfigKind::Int { min: 4 }, doc: "Largest offset index file per segment." },
    TopicConfigDef { name: "index.interval.bytes", broker_synonym: "log.index.interval.bytes", kind: ConfigKind::Int { min: 0 }, doc: "Bytes between two offset index entries." },
    TopicConfigDef { name: "max.message.bytes", broker_synonym: "message.max.bytes", kind: ConfigKind::Int { min: 0 }, doc: "Largest record batch accepted." },
    TopicConfigDef { name: "message.timestamp.type", broker_synonym: "log.message.timestamp.type", kind: ConfigKind::Enum(&["CreateTime", "LogAppendTime"]), doc: "Keep the producer's timestamps or stamp the broker's append time." },
    TopicConfigDef { name: "min.insync.replicas", broker_synonym: "min.insync.replicas", kind: ConfigKind::Int { min: 1 }, doc: "Replicas that must have a record before an acks=all produce succeeds." },
    TopicConfigDef { name: "flush.messages", broker_synonym: "log.flush.interval.messages", kind: ConfigKind::Long { min: 1 }, doc: "fsync after this many records; 1 (Rill's default) is group commit before every acknowledgement." },
    TopicConfigDef { name: "flush.ms", broker_synonym: "log.flush.interval.ms", kind: ConfigKind::Long { min: 0 }, doc: "fsync at least this often when flush.messages is above 1." },
    TopicConfigDef { name: "unclean.leader.election.enable", broker_synonym: "unclean.leader.election.enable", kind: ConfigKind::Bool, doc: "Allow a replica outside the ISR to become leader (may lose records)." },
];

/// True when `key` is a broker key that provides a topic config's default.
pub fn is_broker_synonym(key: &str) -> bool {
    TOPIC_CONFIGS.iter().any(|d| d.broker_synonym == key)
}

/// The definition of a topic config.
pub fn topic_config_def(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Validates one topic config value.
///
/// # Errors
/// [`ConfigError::InvalidValue`] for an unknown name, a bad value, or a feature Rill does not
/// have yet (`cleanup.policy=compact`, recompression).
pub fn validate_topic_config(name: &str, value: &str) -> Result<(), ConfigError> {
    let def =
        topic_config_def(name).ok_or_else(|| invalid(name, value, "unknown topic config name"))?;
    match def.kind {
        ConfigKind::Long { min } => {
            parse_int(name, value, min, i64::MAX)?;
        }
        ConfigKind::Int { min } => {
            parse_int(name, value, min, i64::from(i32::MAX))?;
        }
        ConfigKind::Bool => {
            crate::config::parse_bool(name, value)?;
        }
        ConfigKind::Enum(allowed) => {
            if !allowed.contains(&value) {
                return Err(invalid(
                    name,
                    value,
                    format!("supported values: {}", allowed.join(", ")),
                ));
            }
        }
        ConfigKind::List(allowed) => {
            for item in value.split(',').map(str::trim) {
                if !allowed.contains(&item) {
                    return Err(invalid(
                        name,
                        value,
                        format!("values must be among: {}", allowed.join(", ")),
                    ));
                }
            }
            if value.split(',').any(|v| v.trim() == "compact") {
                return Err(invalid(
                    name,
                    value,
                    "log compaction is not supported yet; use delete",
                ));
            }
        }
    }
    Ok(())
}

/// Where an effective topic config value comes from (Kafka's `ConfigSource` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// A topic override (DYNAMIC_TOPIC_CONFIG = 1).
    Topic = 1,
    /// The broker's config file or flags (STATIC_BROKER_CONFIG = 4).
    StaticBroker = 4,
    /// The built-in default (DEFAULT_CONFIG = 5).
    Default = 5,
}

/// A topic's effective configs.
#[derive(Debug, Clone)]
pub struct TopicConfig {
    /// Every known topic config with its effective value and source.
    pub entries: Vec<(&'static TopicConfigDef, String, ConfigSource)>,
    /// What the storage engine needs.
    pub log: LogConfig,
    /// `min.insync.replicas`.
    pub min_insync_replicas: u32,
}

impl TopicConfig {
    /// Resolves a topic's overrides against the broker's defaults.
    ///
    /// # Errors
    /// [`ConfigError`] when an override or a broker default is invalid.
    pub fn resolve(
        overrides: &BTreeMap<String, String>,
        broker: &BrokerConfig,
    ) -> Result<Self, ConfigError> {
        let mut entries = Vec::with_capacity(TOPIC_CONFIGS.len());
        for def in TOPIC_CONFIGS {
            let (value, source) = if let Some(v) = overrides.get(def.name) {
                (v.clone(), ConfigSource::Topic)
            } else if let Some(v) = broker.explicit.get(def.broker_synonym) {
                (v.clone(), ConfigSource::StaticBroker)
            } else {
                (
                    broker
                        .value(def.broker_synonym)
                        .unwrap_or_default()
                        .to_string(),
                    ConfigSource::Default,
                )
            };
            entries.push((def, value, source));
        }
        let get = |name: &str| {
            entries
                .iter()
                .find(|(d, _, _)| d.name == name)
                .map(|(_, v, _)| v.as_str())
                .unwrap_or_default()
        };
        for (def, value, _) in &entries {
            validate_topic_config(def.name, value)?;
        }
        let long = |name: &str| parse_int(name, get(name), -1, i64::MAX);
        let opt = |n: i64| (n >= 0).then_some(n as u64);
        let flush_messages = long("flush.messages")?;
        let flush_ms = long("flush.ms")?;
        let flush = if flush_messages <= 1 {
            FlushPolicy::GroupCommit
        } else {
            FlushPolicy::Interval {
                messages: (flush_messages < i64::MAX).then_some(flush_messages as u64),
                ms: (flush_ms < i64::MAX).then_some(flush_ms as u64),
            }
        };
        let log = LogConfig {
            segment_bytes: long("segment.bytes")? as u64,
            segment_ms: opt(long("segment.ms")?),
            retention_ms: opt(long("retention.ms")?),
            retention_bytes: opt(long("retention.bytes")?),
            index_interval_bytes: long("index.interval.bytes")? as u32,
            segment_index_bytes: long("segment.index.bytes")? as u32,
            max_message_bytes: long("max.message.bytes")? as u32,
            timestamp_type: if get("message.timestamp.type") == "LogAppendTime" {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
            flush,
            recycle_segments: broker.segment_recycle,
            // Compaction settings are mapped by the topic-config work of the compaction issue.
            ..LogConfig::default()
        };
        Ok(TopicConfig {
            min_insync_replicas: long("min.insync.replicas")? as u32,
            entries,
            log,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(pairs: &[(&str, &str)]) -> BrokerConfig {
        BrokerConfig::from_pairs(
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
            |_| {},
        )
        .unwrap()
    }

    #[test]
    fn overrides_win_over_broker_values_over_defaults() {
        let b = broker(&[("log.retention.ms", "1000")]);
        let mut o = BTreeMap::new();
        o.insert("segment.bytes".to_string(), "4096".to_string());
        let t = TopicConfig::resolve(&o, &b).unwrap();
        assert_eq!(t.log.segment_bytes, 4096);
        assert_eq!(t.log.retention_ms, Some(1000));
        assert_eq!(t.log.max_message_bytes, 1_048_588);
        assert!(matches!(t.log.flush, FlushPolicy::GroupCommit));
        let src = |n: &str| t.entries.iter().find(|(d, _, _)| d.name == n).unwrap().2;
        assert_eq!(src("segment.bytes"), ConfigSource::Topic);
        assert_eq!(src("retention.ms"), ConfigSource::StaticBroker);
        assert_eq!(src("max.message.bytes"), ConfigSource::Default);
    }

    #[test]
    fn relaxed_flush_and_unlimited_retention() {
        let mut o = BTreeMap::new();
        o.insert("flush.messages".to_string(), "10000".to_string());
        o.insert("flush.ms".to_string(), "1000".to_string());
        o.insert("retention.ms".to_string(), "-1".to_string());
        let t = TopicConfig::resolve(&o, &broker(&[])).unwrap();
        assert!(matches!(
            t.log.flush,
            FlushPolicy::Interval {
                messages: Some(10000),
                ms: Some(1000)
            }
        ));
        assert_eq!(t.log.retention_ms, None);
    }

    #[test]
    fn bad_topic_configs_are_rejected() {
        for (k, v) in [
            ("retention.ms", "soon"),
            ("segment.bytes", "1"),
            ("cleanup.policy", "compact"),
            ("message.timestamp.type", "Now"),
            ("no.such.config", "1"),
            ("compression.type", "lz4"),
        ] {
            assert!(validate_topic_config(k, v).is_err(), "{k}={v}");
        }
        assert!(validate_topic_config("cleanup.policy", "delete").is_ok());
    }
}
