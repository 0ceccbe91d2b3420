//! Per-partition log configuration with Kafka's names and defaults.
//!
//! Plain data, `Clone + Send + Sync`; the log reads it on every operation, so
//! [`crate::PartitionLog::set_config`] takes effect at the next append.

/// `message.timestamp.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// Keep the producer's timestamps.
    #[default]
    CreateTime,
    /// Overwrite the batch timestamps with the broker's append time.
    LogAppendTime,
}

/// When appended bytes are fsynced.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum FlushPolicy {
    /// Default: every append is made durable by a shared fsync (group commit).
    #[default]
    GroupCommit,
    /// Kafka's flush.messages / flush.ms: fsync when either threshold is crossed (None = never).
    Interval {
        /// fsync after this many messages (records) since the last fsync.
        messages: Option<u64>,
        /// fsync when this many milliseconds passed since the last fsync (checked at append).
        ms: Option<u64>,
    },
}

impl FlushPolicy {
    /// Whether an append may fsync on its own: the interval policy with a message count or a
    /// time set. Group commit fsyncs in rounds outside the append, and Kafka's page-cache
    /// default (both thresholds never) not at all.
    pub fn append_may_fsync(&self) -> bool {
        matches!(self, FlushPolicy::Interval { messages, ms } if messages.is_some() || ms.is_some())
    }
}

/// Topic-level settings that govern one partition log.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// `segment.bytes`: roll when the active segment would exceed this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when the active segment's first batch is older than this.
    pub segment_ms: Option<u64>,
    /// `retention.ms`: delete segments whose newest timestamp is older; None = unlimited.
    pub retention_ms: Option<u64>,
    /// `retention.bytes`: delete oldest segments while the log is larger; None = unlimited.
    pub retention_bytes: Option<u64>,
    /// `index.interval.bytes`: bytes between two sparse index entries.
    pub index_interval_bytes: u32,
    /// `segment.index.bytes`: maximum index file size; a full index rolls the segment.
    pub segment_index_bytes: u32,
    /// `max.message.bytes`: largest batch accepted.
    pub max_message_bytes: u32,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// Durability policy.
    pub flush: FlushPolicy,
    /// Rolls write over a segment file retention retired instead of a new file (see
    /// `recycle`). Not a Kafka setting.
    pub recycle_segments: bool,
    /// `cleanup.policy`: delete (retention), compact (the log cleaner), or both.
    pub cleanup_policy: CleanupPolicy,
    /// `min.cleanable.dirty.ratio`: clean once dirty bytes / total bytes reach this.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: a record stays uncompacted at least this long.
    pub min_compaction_lag_ms: u64,
    /// `max.compaction.lag.ms`: a record older than this makes its log due for cleaning
    /// whatever the dirty ratio.
    pub max_compaction_lag_ms: u64,
    /// `delete.retention.ms`: how long tombstones stay after the cleaner first saw them
    /// (the KIP-534 delete horizon written into their batch).
    pub delete_retention_ms: u64,
}

/// `cleanup.policy`: `delete`, `compact` or `compact,delete`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CleanupPolicy {
    /// Time and size retention (`retention.ms`, `retention.bytes`) delete old segments.
    pub delete: bool,
    /// The log cleaner keeps the latest record of each key.
    pub compact: bool,
}

impl Default for CleanupPolicy {
    /// Kafka's default, `delete`.
    fn default() -> Self {
        CleanupPolicy {
            delete: true,
            compact: false,
        }
    }
}

impl CleanupPolicy {
    /// `compact` alone: no time or size retention.
    pub const COMPACT: CleanupPolicy = CleanupPolicy {
        delete: false,
        compact: true,
    };
    /// `compact,delete`: both.
    pub const COMPACT_DELETE: CleanupPolicy = CleanupPolicy {
        delete: true,
        compact: true,
    };
}

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: Some(7 * DAY_MS),
            retention_ms: Some(7 * DAY_MS),
            retention_bytes: None,
            index_interval_bytes: 4096,
            segment_index_bytes: 10 * 1024 * 1024,
            max_message_bytes: 1_048_588,
            timestamp_type: TimestampType::CreateTime,
            flush: FlushPolicy::GroupCommit,
            recycle_segments: true,
            cleanup_policy: CleanupPolicy::default(),
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX as u64,
            delete_retention_ms: DAY_MS,
        }
    }
}

impl LogConfig {
    /// The segment size limit actually used: positions are 32-bit in the index files.
    pub(crate) fn effective_segment_bytes(&self) -> u64 {
        self.segment_bytes.clamp(1, i32::MAX as u64)
    }
}
