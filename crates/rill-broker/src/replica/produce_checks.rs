//! The record-level produce rules of a topic (Kafka's `LogValidator`): keys on compacted
//! topics, the CreateTime bounds `message.timestamp.before.max.ms` / `after.max.ms`, and
//! `compression.type` (recompression on append).
//!
//! Records are decoded only where a rule needs them, so the usual produce stays zero-copy:
//! - keys: only on a topic whose `cleanup.policy` includes `compact`;
//! - timestamps (CreateTime only): with `before.max.ms` set below `Long.MAX` every record is
//!   read (its smallest timestamp is not in the header); otherwise only `after.max.ms` can fail,
//!   and the header's max timestamp (which Java and librdkafka producers write as the largest
//!   record timestamp) decides whether the records must be read to name the late ones;
//! - `compression.type` other than `producer`: a batch in another codec is rewritten in the
//!   topic's codec ([`rill_log::recompress`], a new CRC); `producer` keeps the client's bytes.
//!
//! A refusal carries Kafka's answer: INVALID_RECORD or INVALID_TIMESTAMP with per-record errors
//! (`record_errors`) and Kafka's partition-level message.

use std::borrow::Cow;

use kafka_protocol::ResponseError;
use rill_log::compression::DEFAULT_MAX_DECOMPRESSED_BYTES;
use rill_log::{BatchHeader, Codec, LogError, Records};

use crate::topic_config::{ProduceRules, StoredCompression};

/// One rejected record: its index in the batch and why (Kafka's `RecordError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// The record's index in the batch.
    pub batch_index: i32,
    /// Kafka's message for it.
    pub message: String,
}

/// Why a batch was refused: the partition's error code, message and record errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Kafka error code.
    pub code: i16,
    /// The partition-level message.
    pub message: String,
    /// The records at fault (empty for a batch-level error).
    pub record_errors: Vec<RecordError>,
}

impl Refusal {
    fn from_log(e: &LogError) -> Self {
        Refusal {
            code: crate::api::errors::log_error_code(e),
            message: e.to_string(),
            record_errors: Vec::new(),
        }
    }
}

/// Whether a record timestamp is outside `[now - before, now + after]` (Kafka's
/// `recordHasInvalidTimestamp`, without its overflow).
fn out_of_range(ts: i64, now_ms: i64, rules: &ProduceRules) -> bool {
    let diff = i128::from(now_ms) - i128::from(ts);
    diff > i128::from(rules.timestamp_before_max_ms)
        || -diff > i128::from(rules.timestamp_after_max_ms)
}

/// Which record-level checks this batch needs.
fn needs_records(h: &BatchHeader, rules: &ProduceRules, now_ms: i64) -> (bool, bool) {
    let keys = rules.compacted && !h.is_control();
    let create_time =
        !rules.log_append_time && !h.timestamp_type_is_log_append() && !h.is_control();
    let timestamps = create_time
        && (rules.timestamp_before_max_ms != i64::MAX
            || (rules.timestamp_after_max_ms != i64::MAX
                && out_of_range(
                    h.max_timestamp,
                    now_ms,
                    &ProduceRules {
                        timestamp_before_max_ms: i64::MAX,
                        ..*rules
                    },
                )));
    (keys, timestamps)
}

/// Checks keys and timestamps of a CRC-valid batch.
///
/// # Errors
/// [`Refusal`] with Kafka's code, message and record errors.
pub fn check_records(
    batch: &[u8],
    rules: &ProduceRules,
    now_ms: i64,
    topic: &str,
    partition: i32,
) -> Result<(), Refusal> {
    let h = BatchHeader::parse(batch).map_err(|e| Refusal::from_log(&e))?;
    let (keys, timestamps) = needs_records(&h, rules, now_ms);
    if !keys && !timestamps {
        return Ok(());
    }
    let mut scratch = Vec::new();
    let records = Records::decode(batch, &mut scratch, DEFAULT_MAX_DECOMPRESSED_BYTES)
        .map_err(|e| Refusal::from_log(&e))?;
    let mut errors = Vec::new();
    let mut bad_timestamp = false;
    for (index, r) in records.iter().enumerate() {
        let r = r.map_err(|e| Refusal::from_log(&e))?;
        let batch_index = index as i32;
        if keys && r.key.is_none() {
            errors.push(RecordError {
                batch_index,
                message: format!(
                    "Compacted topic cannot accept message without key in topic partition {topic}-{partition}"
                ),
            });
        } else if timestamps && r.timestamp != -1 && out_of_range(r.timestamp, now_ms, rules) {
            bad_timestamp = true;
            errors.push(RecordError {
                batch_index,
                message: format!(
                    "Timestamp {} of message with offset {} is out of range. The timestamp should be within [{}, {}]",
                    r.timestamp,
                    r.offset,
                    now_ms.wrapping_sub(rules.timestamp_before_max_ms),
                    now_ms.wrapping_add(rules.timestamp_after_max_ms),
                ),
            });
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    Err(if bad_timestamp {
        Refusal {
            code: ResponseError::InvalidTimestamp.code(),
            message: "One or more records have been rejected due to invalid timestamp".into(),
            record_errors: errors,
        }
    } else {
        let first: Vec<String> = errors
            .iter()
            .take(3)
            .map(|e| {
                format!(
                    "RecordError(batchIndex={}, message='{}')",
                    e.batch_index, e.message
                )
            })
            .collect();
        Refusal {
            code: ResponseError::InvalidRecord.code(),
            message: format!(
                "One or more records have been rejected due to {} record errors in total, and only \
                 showing the first three errors at most: [{}]",
                errors.len(),
                first.join(", ")
            ),
            record_errors: errors,
        }
    })
}

/// The codec and level a topic stores batches in, or `None` for `producer`.
pub fn target_codec(c: StoredCompression) -> Option<(Codec, Option<i32>)> {
    match c {
        StoredCompression::Producer => None,
        StoredCompression::Uncompressed => Some((Codec::None, None)),
        // -1 is the codec's own default level.
        StoredCompression::Gzip(level) => Some((Codec::Gzip, (level != -1).then_some(level))),
        StoredCompression::Snappy => Some((Codec::Snappy, None)),
        StoredCompression::Lz4(level) => Some((Codec::Lz4, Some(level))),
        StoredCompression::Zstd(level) => Some((Codec::Zstd, Some(level))),
    }
}

/// The batch in the topic's codec: borrowed as it came when no rewrite is needed (`producer`,
/// or already in that codec), else rewritten with a new CRC.
///
/// # Errors
/// [`Refusal`] for records that cannot be decoded or encoded.
pub fn recompress_for_topic<'a>(
    batch: &'a [u8],
    rules: &ProduceRules,
) -> Result<Cow<'a, [u8]>, Refusal> {
    let Some((codec, level)) = target_codec(rules.compression) else {
        return Ok(Cow::Borrowed(batch));
    };
    rill_log::recompress(batch, codec, level, DEFAULT_MAX_DECOMPRESSED_BYTES)
        .map_err(|e| Refusal::from_log(&e))
}
