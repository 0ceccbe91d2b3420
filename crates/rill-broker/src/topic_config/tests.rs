//! Topic config table, validation (Kafka's messages, table-driven) and resolution.

use super::*;

fn broker(pairs: &[(&str, &str)]) -> BrokerConfig {
    BrokerConfig::from_pairs(
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        |_| {},
    )
    .unwrap()
}

fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn msg(name: &str, value: &str) -> String {
    validate_topic_config(name, value)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_else(|| "ok".into())
}

#[test]
fn kafka_messages_for_bad_values() {
    // (name, value, Kafka 4.1's message)
    let cases: &[(&str, &str, &str)] = &[
        ("no.such.config", "1", "Unknown topic config name: no.such.config"),
        ("message.timestamp.difference.max.ms", "1000",
            "Unknown topic config name: message.timestamp.difference.max.ms"),
        ("message.format.version", "3.0", "Unknown topic config name: message.format.version"),
        ("retention.ms", "soon", "Invalid value soon for configuration retention.ms: Not a number of type LONG"),
        ("retention.ms", "-2", "Invalid value -2 for configuration retention.ms: Value must be at least -1"),
        ("segment.bytes", "14", "Invalid value 14 for configuration segment.bytes: Value must be at least 1048576"),
        ("segment.bytes", "4294967296", "Invalid value 4294967296 for configuration segment.bytes: Not a number of type INT"),
        ("segment.ms", "0", "Invalid value 0 for configuration segment.ms: Value must be at least 1"),
        ("segment.index.bytes", "3", "Invalid value 3 for configuration segment.index.bytes: Value must be at least 4"),
        ("min.insync.replicas", "0", "Invalid value 0 for configuration min.insync.replicas: Value must be at least 1"),
        ("max.compaction.lag.ms", "0", "Invalid value 0 for configuration max.compaction.lag.ms: Value must be at least 1"),
        ("min.compaction.lag.ms", "-1", "Invalid value -1 for configuration min.compaction.lag.ms: Value must be at least 0"),
        ("delete.retention.ms", "-1", "Invalid value -1 for configuration delete.retention.ms: Value must be at least 0"),
        ("local.retention.ms", "-3", "Invalid value -3 for configuration local.retention.ms: Value must be at least -2"),
        ("min.cleanable.dirty.ratio", "1.5", "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"),
        ("min.cleanable.dirty.ratio", "-1", "Invalid value -1.0 for configuration min.cleanable.dirty.ratio: Value must be at least 0"),
        ("min.cleanable.dirty.ratio", "half", "Invalid value half for configuration min.cleanable.dirty.ratio: Not a number of type DOUBLE"),
        ("cleanup.policy", "compact,forever", "Invalid value forever for configuration cleanup.policy: String must be one of: compact, delete"),
        ("compression.type", "brotli", "Invalid value brotli for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"),
        ("compression.type", "LZ4", "Invalid value LZ4 for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"),
        ("compression.gzip.level", "10", "Invalid value 10 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1"),
        ("compression.gzip.level", "0", "Invalid value 0 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1"),
        ("compression.lz4.level", "18", "Invalid value 18 for configuration compression.lz4.level: Value must be no more than 17"),
        ("compression.lz4.level", "0", "Invalid value 0 for configuration compression.lz4.level: Value must be at least 1"),
        ("compression.zstd.level", "23", "Invalid value 23 for configuration compression.zstd.level: Value must be no more than 22"),
        ("compression.zstd.level", "-131073", "Invalid value -131073 for configuration compression.zstd.level: Value must be at least -131072"),
        ("message.timestamp.type", "Now", "Invalid value Now for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime"),
        ("message.timestamp.after.max.ms", "-1", "Invalid value -1 for configuration message.timestamp.after.max.ms: Value must be at least 0"),
        ("preallocate", "yes", "Invalid value yes for configuration preallocate: Expected value to be either true or false"),
        ("leader.replication.throttled.replicas", "0:1,x", "Invalid value [0:1, x] for configuration leader.replication.throttled.replicas: leader.replication.throttled.replicas must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."),
    ];
    for (name, value, want) in cases {
        assert_eq!(&msg(name, value), want, "{name}={value}");
    }
}

#[test]
fn good_values_pass() {
    let cases: &[(&str, &str)] = &[
        ("cleanup.policy", "compact"),
        ("cleanup.policy", "compact,delete"),
        ("cleanup.policy", "delete, compact"),
        ("cleanup.policy", ""),
        ("compression.type", "lz4"),
        ("compression.type", "uncompressed"),
        ("compression.gzip.level", "-1"),
        ("compression.gzip.level", "9"),
        ("compression.zstd.level", "-5"),
        ("min.cleanable.dirty.ratio", "0"),
        ("min.cleanable.dirty.ratio", "0.01"),
        ("min.cleanable.dirty.ratio", "1"),
        ("retention.bytes", "-5"),
        ("segment.bytes", "1048576"),
        ("preallocate", "TRUE"),
        ("message.downconversion.enable", "false"),
        ("remote.storage.enable", "false"),
        ("local.retention.bytes", "-2"),
        ("leader.replication.throttled.replicas", "*"),
        ("follower.replication.throttled.replicas", "0:1, 1:2"),
        ("follower.replication.throttled.replicas", ""),
        ("unclean.leader.election.enable", "true"),
        ("internal.segment.bytes", "4096"),
        ("max.compaction.lag.ms", "9223372036854775807"),
    ];
    for (name, value) in cases {
        assert_eq!(msg(name, value), "ok", "{name}={value}");
    }
}

#[test]
fn checks_across_configs_and_null_values() {
    let b = broker(&[]);
    let e = TopicConfig::resolve(
        &overrides(&[
            ("min.compaction.lag.ms", "10"),
            ("max.compaction.lag.ms", "5"),
        ]),
        &b,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)"
    );
    let e = TopicConfig::resolve(&overrides(&[("remote.storage.enable", "true")]), &b).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."
    );
    let mut with_null = BTreeMap::new();
    with_null.insert("retention.ms".to_string(), None);
    with_null.insert("segment.ms".to_string(), None);
    let e = validate_overrides(&with_null, |_| None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Null value not supported for topic configs: retention.ms,segment.ms"
    );
}

#[test]
fn every_broker_synonym_has_kafkas_default() {
    for def in TOPIC_CONFIGS {
        let Some(syn) = def.broker_synonym else {
            continue;
        };
        let v = crate::config::BROKER_DEFAULTS
            .iter()
            .find(|(k, _)| *k == syn)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("{syn} is missing from BROKER_DEFAULTS"));
        // Rill's one deliberate difference: group commit (flush.messages=1) by default.
        if def.name != "flush.messages" {
            assert_eq!(v, def.default, "{} / {syn}", def.name);
        }
        validate::validate_value(def, v).unwrap();
    }
}

#[test]
fn every_no_effect_config_is_listed_in_the_readme() {
    let readme = include_str!("../../../../README.md");
    for def in TOPIC_CONFIGS
        .iter()
        .filter(|d| d.effect == Effect::NoEffect)
    {
        assert!(
            readme.contains(&format!("`{}`", def.name)),
            "README.md does not list `{}` as accepted without effect",
            def.name
        );
    }
}

#[test]
fn overrides_win_over_broker_values_over_defaults() {
    let b = broker(&[("log.retention.ms", "1000")]);
    let t = TopicConfig::resolve(&overrides(&[("segment.bytes", "2097152")]), &b).unwrap();
    assert_eq!(t.log.segment_bytes, 2_097_152);
    assert_eq!(t.log.retention_ms, Some(1000));
    assert_eq!(t.log.max_message_bytes, 1_048_588);
    assert!(matches!(t.log.flush, FlushPolicy::GroupCommit));
    let src = |n: &str| t.entries.iter().find(|e| e.def.name == n).unwrap().source;
    assert_eq!(src("segment.bytes"), ConfigSource::Topic);
    assert_eq!(src("retention.ms"), ConfigSource::StaticBroker);
    assert_eq!(src("max.message.bytes"), ConfigSource::Default);
    assert_eq!(src("remote.storage.enable"), ConfigSource::Default);
    assert_eq!(t.value("message.timestamp.after.max.ms"), Some("3600000"));
    // Internal configs are listed only when set.
    assert!(t.value("internal.segment.bytes").is_none());
    let names: Vec<_> = t.entries.iter().map(|e| e.def.name).collect();
    assert_eq!(names.len(), TOPIC_CONFIGS.len() - 1);
}

#[test]
fn a_bad_broker_default_names_the_broker_key() {
    let e = BrokerConfig::from_pairs(
        [(
            "log.cleaner.min.cleanable.ratio".to_string(),
            "2".to_string(),
        )],
        |_| {},
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Invalid value 2.0 for configuration log.cleaner.min.cleanable.ratio: Value must be no more than 1"
    );
}

#[test]
fn cleanup_policy_decides_retention_and_keys() {
    let b = broker(&[]);
    let t = TopicConfig::resolve(&overrides(&[("cleanup.policy", "compact")]), &b).unwrap();
    assert!(t.cleanup.compact && !t.cleanup.delete);
    assert!(t.produce.compacted);
    assert_eq!(t.log.cleanup_policy, rill_log::CleanupPolicy::COMPACT);
    let t = TopicConfig::resolve(
        &overrides(&[
            ("cleanup.policy", "compact,delete"),
            ("retention.bytes", "5000000"),
        ]),
        &b,
    )
    .unwrap();
    assert!(t.cleanup.compact && t.cleanup.delete);
    assert_eq!(
        t.log.cleanup_policy,
        rill_log::CleanupPolicy::COMPACT_DELETE
    );
    assert_eq!(t.log.retention_bytes, Some(5_000_000));
    let t = TopicConfig::resolve(&overrides(&[]), &b).unwrap();
    assert!(!t.produce.compacted);
    assert_eq!(t.log.retention_ms, Some(604_800_000));
}

#[test]
fn compression_and_timestamp_rules() {
    let b = broker(&[("compression.zstd.level", "7")]);
    let rules = |o: &[(&str, &str)]| TopicConfig::resolve(&overrides(o), &b).unwrap().produce;
    assert_eq!(rules(&[]).compression, StoredCompression::Producer);
    assert_eq!(
        rules(&[("compression.type", "zstd")]).compression,
        StoredCompression::Zstd(7)
    );
    assert_eq!(
        rules(&[("compression.type", "gzip")]).compression,
        StoredCompression::Gzip(-1)
    );
    assert_eq!(
        rules(&[("compression.type", "lz4"), ("compression.lz4.level", "3")]).compression,
        StoredCompression::Lz4(3)
    );
    assert_eq!(
        rules(&[("compression.type", "uncompressed")]).compression,
        StoredCompression::Uncompressed
    );
    let r = rules(&[]);
    assert_eq!(
        (r.timestamp_before_max_ms, r.timestamp_after_max_ms),
        (i64::MAX, 3_600_000)
    );
    assert!(!r.log_append_time);
    let r = rules(&[
        ("message.timestamp.type", "LogAppendTime"),
        ("message.timestamp.before.max.ms", "5"),
    ]);
    assert!(r.log_append_time);
    assert_eq!(r.timestamp_before_max_ms, 5);
}

#[test]
fn relaxed_flush_and_unlimited_retention() {
    let o = overrides(&[
        ("flush.messages", "10000"),
        ("flush.ms", "1000"),
        ("retention.ms", "-1"),
    ]);
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
fn internal_segment_bytes_overrides_segment_bytes() {
    let t = TopicConfig::resolve(
        &overrides(&[("internal.segment.bytes", "4096")]),
        &broker(&[]),
    )
    .unwrap();
    assert_eq!(t.log.segment_bytes, 4096);
    assert_eq!(t.value("internal.segment.bytes"), Some("4096"));
}

#[test]
fn segment_jitter_is_per_partition_and_below_its_bound() {
    let b = broker(&[]);
    let t = TopicConfig::resolve(
        &overrides(&[("segment.ms", "100000"), ("segment.jitter.ms", "5000")]),
        &b,
    )
    .unwrap();
    let ms: Vec<u64> = (0..8)
        .map(|i| t.log_for_partition("events", i).segment_ms.unwrap())
        .collect();
    assert!(ms.iter().all(|&m| m > 95_000 && m <= 100_000), "{ms:?}");
    assert!(
        ms.windows(2).any(|w| w[0] != w[1]),
        "partitions roll at different times"
    );
    assert_eq!(ms[3], t.log_for_partition("events", 3).segment_ms.unwrap());
    let none = TopicConfig::resolve(&overrides(&[("segment.ms", "100000")]), &b).unwrap();
    assert_eq!(
        none.log_for_partition("events", 3).segment_ms,
        Some(100_000)
    );
}

#[test]
fn a_compacted_topic_rolls_by_max_compaction_lag() {
    let b = broker(&[]);
    let o = [
        ("cleanup.policy", "compact"),
        ("max.compaction.lag.ms", "60000"),
    ];
    assert_eq!(
        TopicConfig::resolve(&overrides(&o), &b)
            .unwrap()
            .log
            .segment_ms,
        Some(60_000)
    );
    let o = [("max.compaction.lag.ms", "60000")];
    assert_eq!(
        TopicConfig::resolve(&overrides(&o), &b)
            .unwrap()
            .log
            .segment_ms,
        Some(604_800_000)
    );
}

#[test]
fn cleaner_settings_reach_the_log_config() {
    let o = [
        ("cleanup.policy", "compact"),
        ("min.cleanable.dirty.ratio", "0.25"),
        ("min.compaction.lag.ms", "1000"),
        ("max.compaction.lag.ms", "900000"),
        ("delete.retention.ms", "5000"),
    ];
    let t = TopicConfig::resolve(&overrides(&o), &broker(&[])).unwrap();
    assert_eq!(t.log.min_cleanable_dirty_ratio, 0.25);
    assert_eq!(t.log.min_compaction_lag_ms, 1000);
    assert_eq!(t.log.max_compaction_lag_ms, 900_000);
    assert_eq!(t.log.delete_retention_ms, 5000);
    let d = TopicConfig::resolve(&overrides(&[]), &broker(&[]))
        .unwrap()
        .log;
    let kafka = LogConfig::default();
    assert_eq!(d.cleanup_policy, kafka.cleanup_policy);
    assert_eq!(d.min_cleanable_dirty_ratio, kafka.min_cleanable_dirty_ratio);
    assert_eq!(d.max_compaction_lag_ms, kafka.max_compaction_lag_ms);
    assert_eq!(d.delete_retention_ms, kafka.delete_retention_ms);
}
