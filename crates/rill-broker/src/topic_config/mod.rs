//! Topic-level configs: Kafka 4.1's names, types, validation and messages ([`defs`],
//! [`validate`]), defaults from the broker config, and what they become: the storage engine's
//! [`rill_log::LogConfig`] and the produce path's [`ProduceRules`].
//!
//! A topic stores only its overrides (in the metadata log); everything else falls back to the
//! broker's synonym (`retention.ms` -> `log.retention.ms`) and then Kafka's default.
//! [`TopicConfig::resolve`] is pure and cheap; it runs for every topic at every metadata change.

pub mod defs;
pub mod validate;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use rill_log::{CleanupPolicy, FlushPolicy, LogConfig, TimestampType};

use crate::config::BrokerConfig;

pub use defs::{
    def_for_broker_key, is_broker_synonym, topic_config_def, ConfigKind, Effect, TopicConfigDef,
    TOPIC_CONFIGS,
};
pub use validate::{validate_overrides, validate_topic_config, TopicConfigError};

/// Where an effective topic config value comes from (Kafka's `ConfigSource` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// A topic override (DYNAMIC_TOPIC_CONFIG = 1).
    Topic = 1,
    /// A dynamic config of this broker (DYNAMIC_BROKER_CONFIG = 2).
    DynamicBroker = 2,
    /// A dynamic cluster-wide broker default (DYNAMIC_DEFAULT_BROKER_CONFIG = 3).
    DynamicDefaultBroker = 3,
    /// The broker's config file or flags (STATIC_BROKER_CONFIG = 4).
    StaticBroker = 4,
    /// The built-in default (DEFAULT_CONFIG = 5).
    Default = 5,
    /// A group's dynamic config (GROUP_CONFIG = 8).
    Group = 8,
}

/// One effective topic config.
#[derive(Debug, Clone)]
pub struct ConfigEntry {
    /// Its definition.
    pub def: &'static TopicConfigDef,
    /// The effective value.
    pub value: String,
    /// Where the value comes from.
    pub source: ConfigSource,
}

/// The codec a topic stores batches in (`compression.type` with its level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoredCompression {
    /// `producer`: the producer's bytes are kept as they are.
    #[default]
    Producer,
    /// `uncompressed`.
    Uncompressed,
    /// `gzip` at `compression.gzip.level` (-1: the codec's default).
    Gzip(i32),
    /// `snappy`.
    Snappy,
    /// `lz4` at `compression.lz4.level`.
    Lz4(i32),
    /// `zstd` at `compression.zstd.level`.
    Zstd(i32),
}

/// What the produce path checks and changes per topic (Kafka's `LogValidator` inputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceRules {
    /// `compression.type`: batches in another codec are recompressed on append.
    pub compression: StoredCompression,
    /// `message.timestamp.before.max.ms` (CreateTime only).
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms` (CreateTime only).
    pub timestamp_after_max_ms: i64,
    /// `message.timestamp.type=LogAppendTime`: timestamps are the broker's, never checked.
    pub log_append_time: bool,
    /// `cleanup.policy` includes `compact`: every record needs a key.
    pub compacted: bool,
}

impl Default for ProduceRules {
    /// No check and no change: what a partition has before its topic's configs are applied.
    fn default() -> Self {
        ProduceRules {
            compression: StoredCompression::Producer,
            timestamp_before_max_ms: i64::MAX,
            timestamp_after_max_ms: i64::MAX,
            log_append_time: false,
            compacted: false,
        }
    }
}

/// A topic's effective configs.
#[derive(Debug, Clone)]
pub struct TopicConfig {
    /// Every topic config (internal ones only when set) with its value and source.
    pub entries: Vec<ConfigEntry>,
    /// What the storage engine needs.
    pub log: LogConfig,
    /// `min.insync.replicas`.
    pub min_insync_replicas: u32,
    /// What the produce path checks.
    pub produce: ProduceRules,
    /// `cleanup.policy`.
    pub cleanup: CleanupPolicy,
    /// `segment.jitter.ms` (see [`TopicConfig::log_for_partition`]).
    pub segment_jitter_ms: u64,
}

/// The effective value of one config for `overrides` on `broker`, and its source.
fn effective_value(
    def: &TopicConfigDef,
    overrides: &BTreeMap<String, String>,
    broker: &BrokerConfig,
) -> (String, ConfigSource) {
    if let Some(v) = overrides.get(def.name) {
        return (v.clone(), ConfigSource::Topic);
    }
    let Some(syn) = def.broker_synonym else {
        return (def.default.to_string(), ConfigSource::Default);
    };
    if let Some((v, source)) = broker.dynamic.get(syn) {
        (v.clone(), *source)
    } else if let Some(v) = broker.explicit.get(syn) {
        (v.clone(), ConfigSource::StaticBroker)
    } else {
        let v = broker.value(syn).unwrap_or(def.default);
        (v.to_string(), ConfigSource::Default)
    }
}

impl TopicConfig {
    /// Resolves a topic's overrides against the broker's defaults and validates the result.
    ///
    /// # Errors
    /// [`TopicConfigError`] when an override or a broker default is invalid.
    pub fn resolve(
        overrides: &BTreeMap<String, String>,
        broker: &BrokerConfig,
    ) -> Result<Self, TopicConfigError> {
        if let Some(name) = overrides.keys().find(|k| topic_config_def(k).is_none()) {
            return Err(TopicConfigError::Unknown { name: name.clone() });
        }
        let mut entries = Vec::with_capacity(TOPIC_CONFIGS.len());
        for def in TOPIC_CONFIGS {
            if def.internal && !overrides.contains_key(def.name) {
                continue;
            }
            let (value, source) = effective_value(def, overrides, broker);
            validate::validate_value(def, &value).map_err(|e| match (e, def.broker_synonym) {
                // A bad broker default is reported under the broker's key.
                (TopicConfigError::InvalidValue { value, reason, .. }, Some(syn))
                    if source != ConfigSource::Topic =>
                {
                    TopicConfigError::InvalidValue {
                        name: syn.to_string(),
                        value,
                        reason,
                    }
                }
                (e, _) => e,
            })?;
            entries.push(ConfigEntry { def, value, source });
        }
        let tc = Values { entries: &entries };
        validate::check_across(|k| tc.get(k).map(str::to_string))?;
        let cleanup = CleanupPolicy {
            delete: tc.has_item("cleanup.policy", "delete"),
            compact: tc.has_item("cleanup.policy", "compact"),
        };
        let log = tc.log_config(cleanup, broker.segment_recycle);
        let produce = tc.produce_rules(cleanup);
        Ok(TopicConfig {
            min_insync_replicas: tc.long("min.insync.replicas").max(1) as u32,
            segment_jitter_ms: tc.limit("segment.jitter.ms").unwrap_or(0),
            entries,
            log,
            produce,
            cleanup,
        })
    }

    /// The log config of one partition: `segment.ms` less this partition's share of
    /// `segment.jitter.ms`. Kafka draws a random jitter below `min(segment.jitter.ms,
    /// segment.ms)` per segment; Rill draws it once per partition from a hash of topic and
    /// index, which spreads time-based rolls of a topic's partitions the same way and keeps
    /// the roll time predictable.
    pub fn log_for_partition(&self, topic: &str, index: i32) -> LogConfig {
        let mut log = self.log.clone();
        if let (Some(ms), true) = (log.segment_ms, self.segment_jitter_ms > 0) {
            let bound = self.segment_jitter_ms.min(ms).max(1);
            // FNV-1a: stable across runs and versions, unlike std's hasher.
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in topic.bytes().chain(index.to_be_bytes()) {
                h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
            }
            log.segment_ms = Some(ms - h % bound);
        }
        log
    }

    /// Resolves the overrides stored in the metadata image: an override this version refuses
    /// (stored by an older Rill) is left out and returned, so the topic still opens.
    ///
    /// # Errors
    /// [`TopicConfigError`] when the broker's own defaults are invalid.
    pub fn resolve_stored(
        overrides: &BTreeMap<String, String>,
        broker: &BrokerConfig,
    ) -> Result<(Self, Vec<TopicConfigError>), TopicConfigError> {
        let mut kept = overrides.clone();
        let mut dropped = Vec::new();
        loop {
            match TopicConfig::resolve(&kept, broker) {
                Ok(tc) => return Ok((tc, dropped)),
                Err(e) => {
                    let culprit = match &e {
                        TopicConfigError::Unknown { name }
                        | TopicConfigError::InvalidValue { name, .. } => Some(name.clone()),
                        TopicConfigError::CompactionLagConflict { .. } => {
                            Some("min.compaction.lag.ms".to_string())
                        }
                        TopicConfigError::RemoteStorageDisabled => {
                            Some("remote.storage.enable".to_string())
                        }
                        TopicConfigError::NullValue { .. } => None,
                    };
                    match culprit.filter(|k| kept.remove(k).is_some()) {
                        Some(_) => dropped.push(e),
                        None => return Err(e),
                    }
                }
            }
        }
    }

    /// The effective value of a config.
    pub fn value(&self, name: &str) -> Option<&str> {
        Values {
            entries: &self.entries,
        }
        .get(name)
    }
}

/// Typed reads of validated entries.
struct Values<'a> {
    /// The validated entries.
    entries: &'a [ConfigEntry],
}

impl<'a> Values<'a> {
    fn get(&self, name: &str) -> Option<&'a str> {
        self.entries
            .iter()
            .find(|e| e.def.name == name)
            .map(|e| e.value.as_str())
    }

    /// A validated integer (0 if absent, which validation rules out for listed configs).
    fn long(&self, name: &str) -> i64 {
        self.get(name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_default()
    }

    /// A non-negative integer as `Some`, a negative one (Kafka's "no limit") as `None`.
    fn limit(&self, name: &str) -> Option<u64> {
        u64::try_from(self.long(name)).ok()
    }

    fn has_item(&self, name: &str, item: &str) -> bool {
        self.get(name)
            .is_some_and(|v| validate::list_items(v).contains(&item))
    }

    fn log_config(&self, cleanup: CleanupPolicy, recycle_segments: bool) -> LogConfig {
        let flush_messages = self.long("flush.messages");
        let flush_ms = self.long("flush.ms");
        let flush = if flush_messages <= 1 {
            FlushPolicy::GroupCommit
        } else {
            FlushPolicy::Interval {
                messages: (flush_messages < i64::MAX).then_some(flush_messages as u64),
                ms: (flush_ms < i64::MAX).then_some(flush_ms as u64),
            }
        };
        let segment_bytes = match self.get("internal.segment.bytes") {
            Some(_) => self.long("internal.segment.bytes"),
            None => self.long("segment.bytes"),
        };
        // Kafka's `LogConfig.maxSegmentMs`: a compacted log rolls by max.compaction.lag.ms
        // too, so its records reach a cleanable segment in time.
        let segment_ms = match (
            self.limit("segment.ms"),
            self.limit("max.compaction.lag.ms"),
        ) {
            (Some(ms), Some(lag)) if cleanup.compact => Some(ms.min(lag)),
            (ms, _) => ms,
        };
        LogConfig {
            segment_bytes: segment_bytes.max(1) as u64,
            segment_ms,
            // Without `delete` in cleanup.policy the log deletes nothing by time or size
            // (Kafka's `LogConfig.delete`; `rill_log` checks `cleanup_policy`).
            retention_ms: self.limit("retention.ms"),
            retention_bytes: self.limit("retention.bytes"),
            index_interval_bytes: self.long("index.interval.bytes").max(0) as u32,
            segment_index_bytes: self.long("segment.index.bytes").max(0) as u32,
            max_message_bytes: self.long("max.message.bytes").max(0) as u32,
            timestamp_type: if self.get("message.timestamp.type") == Some("LogAppendTime") {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
            flush,
            recycle_segments,
            cleanup_policy: cleanup,
            min_cleanable_dirty_ratio: self
                .get("min.cleanable.dirty.ratio")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0.5),
            min_compaction_lag_ms: self.limit("min.compaction.lag.ms").unwrap_or(0),
            max_compaction_lag_ms: self
                .limit("max.compaction.lag.ms")
                .unwrap_or(i64::MAX as u64),
            delete_retention_ms: self.limit("delete.retention.ms").unwrap_or(86_400_000),
        }
    }

    fn produce_rules(&self, cleanup: CleanupPolicy) -> ProduceRules {
        let level = |name: &str| self.long(name) as i32;
        let compression = match self.get("compression.type").map(str::trim) {
            Some("uncompressed") => StoredCompression::Uncompressed,
            Some("gzip") => StoredCompression::Gzip(level("compression.gzip.level")),
            Some("snappy") => StoredCompression::Snappy,
            Some("lz4") => StoredCompression::Lz4(level("compression.lz4.level")),
            Some("zstd") => StoredCompression::Zstd(level("compression.zstd.level")),
            _ => StoredCompression::Producer,
        };
        ProduceRules {
            compression,
            timestamp_before_max_ms: self.long("message.timestamp.before.max.ms"),
            timestamp_after_max_ms: self.long("message.timestamp.after.max.ms"),
            log_append_time: self.get("message.timestamp.type") == Some("LogAppendTime"),
            compacted: cleanup.compact,
        }
    }
}
