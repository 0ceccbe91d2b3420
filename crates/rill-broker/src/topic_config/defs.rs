//! The table of Kafka 4.1's topic configs: name, type, validator, broker synonym, Kafka's
//! default, and what Rill does with each.
//!
//! The table follows Kafka's `LogConfig` definitions (types, ranges, defaults) and
//! `ServerTopicConfigSynonyms` (the broker key that provides a default). A config without a
//! broker synonym takes `default` below; one with a synonym takes the broker's value, whose own
//! default is in [`crate::config::BROKER_DEFAULTS`].

/// The value type and validator of a topic config (Kafka's `ConfigDef.Type` plus validator).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ConfigKind {
    /// A 64-bit integer (`LONG`) within the optional bounds (`Range.atLeast` / `between`).
    Long {
        /// Smallest legal value, if any.
        min: Option<i64>,
        /// Largest legal value, if any.
        max: Option<i64>,
    },
    /// A 32-bit integer (`INT`) within the optional bounds.
    Int {
        /// Smallest legal value, if any.
        min: Option<i64>,
        /// Largest legal value, if any.
        max: Option<i64>,
    },
    /// A 64-bit float (`DOUBLE`) within `[min, max]`.
    Double {
        /// Smallest legal value.
        min: f64,
        /// Largest legal value.
        max: f64,
    },
    /// `true` / `false`, any case (`BOOLEAN`).
    Bool,
    /// One of the listed strings, exactly (`STRING` with `ValidString.in`).
    Enum(&'static [&'static str]),
    /// A comma-separated list of the listed strings (`LIST` with `ValidList.in`).
    List(&'static [&'static str]),
    /// `compression.gzip.level`: 1..=9, or -1 for the codec's default (`INT`).
    GzipLevel,
    /// The throttled-replicas lists: `*` or `partition:broker` pairs (`LIST`).
    ReplicaList,
}

impl ConfigKind {
    /// Kafka's `ConfigType` code in DescribeConfigs v3+ (BOOLEAN 1, STRING 2, INT 3, SHORT 4,
    /// LONG 5, DOUBLE 6, LIST 7, CLASS 8, PASSWORD 9).
    pub fn type_code(self) -> i8 {
        match self {
            ConfigKind::Bool => 1,
            ConfigKind::Enum(_) => 2,
            ConfigKind::Int { .. } | ConfigKind::GzipLevel => 3,
            ConfigKind::Long { .. } => 5,
            ConfigKind::Double { .. } => 6,
            ConfigKind::List(_) | ConfigKind::ReplicaList => 7,
        }
    }

    /// Whether IncrementalAlterConfigs may APPEND to / SUBTRACT from it (type LIST).
    pub fn is_list(self) -> bool {
        self.type_code() == 7
    }
}

/// What Rill does with a topic config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Rill acts on it as Kafka does.
    Honoured,
    /// Accepted, validated and shown, but Rill has no such mechanism yet; README.md lists
    /// these with the reason.
    NoEffect,
}

/// One topic config.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigDef {
    /// The topic config name.
    pub name: &'static str,
    /// The broker config that provides its default, if Kafka has one.
    pub broker_synonym: Option<&'static str>,
    /// Its value type and validator.
    pub kind: ConfigKind,
    /// Kafka's default when there is no broker synonym (else the synonym's value is used).
    pub default: &'static str,
    /// Whether Rill acts on it.
    pub effect: Effect,
    /// Kafka marks it internal: accepted but not listed by DescribeConfigs unless set.
    pub internal: bool,
    /// One line of documentation (DescribeConfigs with `include_documentation`).
    pub doc: &'static str,
}

const fn def(
    name: &'static str,
    broker_synonym: Option<&'static str>,
    kind: ConfigKind,
    default: &'static str,
    effect: Effect,
    doc: &'static str,
) -> TopicConfigDef {
    TopicConfigDef {
        name,
        broker_synonym,
        kind,
        default,
        effect,
        internal: false,
        doc,
    }
}

const fn long(min: i64) -> ConfigKind {
    ConfigKind::Long {
        min: Some(min),
        max: None,
    }
}

const fn int(min: i64) -> ConfigKind {
    ConfigKind::Int {
        min: Some(min),
        max: None,
    }
}

const fn int_between(min: i64, max: i64) -> ConfigKind {
    ConfigKind::Int {
        min: Some(min),
        max: Some(max),
    }
}

/// `Long.MAX_VALUE` as Kafka prints it.
pub const LONG_MAX: &str = "9223372036854775807";

/// The compression codecs `compression.type` accepts (Kafka's `BrokerCompressionType`).
pub const COMPRESSION_TYPES: &[&str] =
    &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

use Effect::{Honoured, NoEffect};

/// Every topic config of Kafka 4.1, sorted by name, plus Kafka's internal
/// `internal.segment.bytes`.
pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    def("cleanup.policy", Some("log.cleanup.policy"), ConfigKind::List(&["compact", "delete"]), "delete", Honoured,
        "How old segments go: delete (by retention.ms / retention.bytes), compact (keep the latest record per key), or both."),
    def("compression.gzip.level", Some("compression.gzip.level"), ConfigKind::GzipLevel, "-1", Honoured,
        "Level used when compression.type is gzip: 1 to 9, or -1 for the codec's default."),
    def("compression.lz4.level", Some("compression.lz4.level"), int_between(1, 17), "9", Honoured,
        "Level used when compression.type is lz4."),
    def("compression.type", Some("compression.type"), ConfigKind::Enum(COMPRESSION_TYPES), "producer", Honoured,
        "Codec batches are stored in: producer keeps the producer's bytes; any other value recompresses batches in another codec on append."),
    def("compression.zstd.level", Some("compression.zstd.level"), int_between(-131_072, 22), "3", Honoured,
        "Level used when compression.type is zstd."),
    def("delete.retention.ms", Some("log.cleaner.delete.retention.ms"), long(0), "86400000", Honoured,
        "How long tombstones stay in a compacted topic after their segment was cleaned."),
    def("file.delete.delay.ms", Some("log.segment.delete.delay.ms"), long(0), "60000", NoEffect,
        "Delay before a deleted segment's files are removed from the file system."),
    def("flush.messages", Some("log.flush.interval.messages"), long(1), LONG_MAX, Honoured,
        "fsync after this many records; 1 (Rill's default) is group commit before every acknowledgement."),
    def("flush.ms", Some("log.flush.interval.ms"), long(0), LONG_MAX, Honoured,
        "fsync at least this often when flush.messages is above 1."),
    def("follower.replication.throttled.replicas", None, ConfigKind::ReplicaList, "", NoEffect,
        "Replicas whose replication is throttled on the follower side: * or partition:broker pairs."),
    def("index.interval.bytes", Some("log.index.interval.bytes"), int(0), "4096", Honoured,
        "Log bytes between two offset index entries."),
    def("leader.replication.throttled.replicas", None, ConfigKind::ReplicaList, "", NoEffect,
        "Replicas whose replication is throttled on the leader side: * or partition:broker pairs."),
    def("local.retention.bytes", Some("log.local.retention.bytes"), long(-2), "-2", NoEffect,
        "Local size limit when remote storage is on; -2 means retention.bytes."),
    def("local.retention.ms", Some("log.local.retention.ms"), long(-2), "-2", NoEffect,
        "Local time limit when remote storage is on; -2 means retention.ms."),
    def("max.compaction.lag.ms", Some("log.cleaner.max.compaction.lag.ms"), long(1), LONG_MAX, Honoured,
        "Longest a record may stay uncompacted in a compacted topic."),
    def("max.message.bytes", Some("message.max.bytes"), int(0), "1048588", Honoured,
        "Largest record batch accepted."),
    def("message.downconversion.enable", Some("log.message.downconversion.enable"), ConfigKind::Bool, "true", NoEffect,
        "Deprecated in Kafka 4: down-conversion for old fetch versions no longer exists."),
    def("message.timestamp.after.max.ms", Some("log.message.timestamp.after.max.ms"), long(0), "3600000", Honoured,
        "With CreateTime, records more than this far ahead of the broker's clock are refused."),
    def("message.timestamp.before.max.ms", Some("log.message.timestamp.before.max.ms"), long(0), LONG_MAX, Honoured,
        "With CreateTime, records more than this far behind the broker's clock are refused."),
    def("message.timestamp.type", Some("log.message.timestamp.type"), ConfigKind::Enum(&["CreateTime", "LogAppendTime"]), "CreateTime", Honoured,
        "Keep the producer's timestamps (CreateTime) or stamp the broker's append time (LogAppendTime)."),
    def("min.cleanable.dirty.ratio", Some("log.cleaner.min.cleanable.ratio"), ConfigKind::Double { min: 0.0, max: 1.0 }, "0.5", Honoured,
        "A compacted log is cleaned once its uncleaned share of bytes reaches this ratio."),
    def("min.compaction.lag.ms", Some("log.cleaner.min.compaction.lag.ms"), long(0), "0", Honoured,
        "Shortest time a record stays uncompacted in a compacted topic."),
    def("min.insync.replicas", Some("min.insync.replicas"), int(1), "1", Honoured,
        "Replicas that must have a record before an acks=all produce succeeds."),
    def("preallocate", Some("log.preallocate"), ConfigKind::Bool, "false", NoEffect,
        "Allocate a new segment file's full size at creation."),
    def("remote.log.copy.disable", None, ConfigKind::Bool, "false", NoEffect,
        "Stop copying segments to remote storage (tiered storage only)."),
    def("remote.log.delete.on.disable", None, ConfigKind::Bool, "false", NoEffect,
        "Delete remote data when remote storage is turned off (tiered storage only)."),
    def("remote.storage.enable", None, ConfigKind::Bool, "false", NoEffect,
        "Tiered storage for this topic; Rill has none, so only false is accepted, as Kafka does with tiered storage disabled."),
    def("retention.bytes", Some("log.retention.bytes"), ConfigKind::Long { min: None, max: None }, "-1", Honoured,
        "Delete old segments while the partition is larger than this; -1 for no limit."),
    def("retention.ms", Some("log.retention.ms"), long(-1), "604800000", Honoured,
        "Delete segments whose newest record is older than this; -1 keeps forever."),
    def("segment.bytes", Some("log.segment.bytes"), int(1_048_576), "1073741824", Honoured,
        "Roll to a new segment file at this size."),
    def("segment.index.bytes", Some("log.index.size.max.bytes"), int(4), "10485760", Honoured,
        "Largest offset index file per segment; a full index rolls the segment."),
    def("segment.jitter.ms", Some("log.roll.jitter.ms"), long(0), "0", Honoured,
        "Random time subtracted from segment.ms per segment so segments do not roll all at once."),
    def("segment.ms", Some("log.roll.ms"), long(1), "604800000", Honoured,
        "Roll to a new segment after this long even if not full."),
    def("unclean.leader.election.enable", Some("unclean.leader.election.enable"), ConfigKind::Bool, "false", Honoured,
        "Allow a replica outside the ISR to become leader (may lose records)."),
    TopicConfigDef {
        name: "internal.segment.bytes",
        broker_synonym: None,
        kind: ConfigKind::Int { min: Some(1), max: None },
        default: "",
        effect: Honoured,
        internal: true,
        doc: "Segment size for tests, below segment.bytes' minimum; overrides segment.bytes when set.",
    },
];

/// The definition of a topic config.
pub fn topic_config_def(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// The topic config whose default a broker key provides.
pub fn def_for_broker_key(key: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.broker_synonym == Some(key))
}

/// True when `key` is a broker key that provides a topic config's default.
pub fn is_broker_synonym(key: &str) -> bool {
    def_for_broker_key(key).is_some()
}
