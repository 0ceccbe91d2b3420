//! The message browser: `GET /api/v1/topics/{name}/messages?partition=P&from=F&limit=N`
//! with `from` = `latest` (the last N records, default), `earliest`, `offset` (with
//! `offset=O`) or `timestamp` (with `timestamp=MS`: from the first record at or after it).
//!
//! A partition led here is read through the broker's own read path ([`Partition::read`],
//! up to the high watermark, as a consumer's Fetch); one led elsewhere is fetched from its
//! leader over the Kafka protocol. Keys, values and header values are sent as base64 (the
//! console shows them as text, JSON or hex); values longer than [`MAX_VALUE_BYTES`] are cut.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use rill_client::fetch::{FetchOptions, EARLIEST, LATEST};
use rill_client::records::{decode_batches, ConsumedRecord};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiResult};
use super::state::AppState;
use crate::replica::{Isolation, Partition};

/// Most records one request returns.
pub const MAX_LIMIT: usize = 500;
/// Bytes of a key or value sent before it is cut.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Bytes read per step.
const READ_BYTES: u64 = 1024 * 1024;
/// Bytes read at most per request.
const MAX_READ_BYTES: u64 = 16 * 1024 * 1024;

/// Query of the message browser.
#[derive(Debug, Deserialize)]
pub struct MessagesQuery {
    /// Partition (default 0).
    #[serde(default)]
    pub partition: i32,
    /// `latest` (default), `earliest`, `offset` or `timestamp`.
    #[serde(default)]
    pub from: Option<String>,
    /// Start offset for `from=offset`.
    pub offset: Option<i64>,
    /// Start time (ms) for `from=timestamp`.
    pub timestamp: Option<i64>,
    /// Records to return (default 20, at most [`MAX_LIMIT`]).
    pub limit: Option<usize>,
}

/// One header.
#[derive(Debug, Serialize)]
pub struct HeaderRow {
    /// Header key.
    pub key: String,
    /// Value, base64 (null for a null value).
    pub value: Option<String>,
}

/// One record.
#[derive(Debug, Serialize)]
pub struct MessageRow {
    /// Offset.
    pub offset: i64,
    /// Timestamp, ms since the epoch.
    pub timestamp: i64,
    /// `CreateTime` or `LogAppendTime`.
    pub timestamp_type: &'static str,
    /// Key, base64 (null for a null key).
    pub key: Option<String>,
    /// Key size in bytes.
    pub key_size: Option<usize>,
    /// Value, base64 (null for a null value), cut at [`MAX_VALUE_BYTES`].
    pub value: Option<String>,
    /// Value size in bytes.
    pub value_size: Option<usize>,
    /// Whether the key or value was cut.
    pub truncated: bool,
    /// Headers in order.
    pub headers: Vec<HeaderRow>,
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct Messages {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// First offset of the log.
    pub log_start_offset: i64,
    /// High watermark (end for consumers).
    pub high_watermark: i64,
    /// Where reading started.
    pub start_offset: i64,
    /// Offset after the last record returned (where to continue).
    pub next_offset: i64,
    /// `local` (this node leads the partition) or `leader` (fetched from it).
    pub read_from: &'static str,
    /// Records, oldest first.
    pub messages: Vec<MessageRow>,
}

/// Where to start reading.
#[derive(Debug, Clone, Copy)]
enum Start {
    Latest,
    Earliest,
    Offset(i64),
    Timestamp(i64),
}

fn parse_start(q: &MessagesQuery) -> ApiResult<Start> {
    match q.from.as_deref().unwrap_or("latest") {
        "latest" => Ok(Start::Latest),
        "earliest" => Ok(Start::Earliest),
        "offset" => q
            .offset
            .map(Start::Offset)
            .ok_or_else(|| ApiError::bad_request("from=offset needs offset=N")),
        "timestamp" => q
            .timestamp
            .map(Start::Timestamp)
            .ok_or_else(|| ApiError::bad_request("from=timestamp needs timestamp=MS")),
        other => Err(ApiError::bad_request(format!(
            "from must be latest, earliest, offset or timestamp, not '{other}'"
        ))),
    }
}

/// Resolves `start` to an offset in `[log_start, hw]`; `at_time` finds a timestamp's offset.
fn start_offset(
    start: Start,
    limit: usize,
    log_start: i64,
    hw: i64,
    at_time: impl FnOnce(i64) -> ApiResult<Option<i64>>,
) -> ApiResult<i64> {
    let o = match start {
        Start::Latest => hw - limit as i64,
        Start::Earliest => log_start,
        Start::Offset(o) => o,
        Start::Timestamp(ts) => at_time(ts)?.unwrap_or(hw),
    };
    Ok(o.clamp(log_start, hw.max(log_start)))
}

/// `GET /api/v1/topics/{name}/messages`.
pub async fn browse(
    State(state): State<Arc<AppState>>,
    axum::Extension(caller): axum::Extension<super::auth::Caller>,
    Path(topic): Path<String>,
    Query(q): Query<MessagesQuery>,
) -> ApiResult<Json<Messages>> {
    let broker = state.broker()?;
    // Fetch: READ on the topic.
    super::access::authorize(
        &caller,
        &broker,
        super::access::AdminCall::ReadMessages(&topic),
    )?;
    let start = parse_start(&q)?;
    let limit = q.limit.unwrap_or(20).clamp(1, MAX_LIMIT);
    match broker.leader_partition(&topic, q.partition) {
        Ok(p) => {
            let t = topic.clone();
            let partition = q.partition;
            tokio::task::spawn_blocking(move || read_local(&p, t, partition, start, limit))
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?
        }
        Err(kafka_protocol::ResponseError::NotLeaderOrFollower) => {
            let client = state.client().await?;
            read_remote(&client, topic, q.partition, start, limit).await
        }
        Err(e) => Err(ApiError::kafka(
            e.code(),
            format!("unknown topic or partition {topic}-{}", q.partition),
        )),
    }
    .map(Json)
}

fn read_local(
    p: &Partition,
    topic: String,
    partition: i32,
    start: Start,
    limit: usize,
) -> ApiResult<Messages> {
    let stats = p.log_stats()?;
    let (log_start, hw) = (stats.log_start_offset, stats.high_watermark);
    let first = start_offset(start, limit, log_start, hw, |ts| {
        Ok(p.offset_for_timestamp(ts, Isolation::ReadUncommitted)?
            .map(|(o, _)| o))
    })?;
    let mut records = Vec::new();
    let mut offset = first;
    let mut read_bytes = 0u64;
    while records.len() < limit && offset < hw && read_bytes < MAX_READ_BYTES {
        let read = p.read(offset, READ_BYTES, true)?;
        if read.records.is_empty() {
            break;
        }
        read_bytes += read.records.len() as u64;
        let (batch, next) = decode(Bytes::from(read.records), offset)?;
        records.extend(batch.into_iter().filter(|r| r.offset >= first));
        match next {
            Some(n) if n > offset => offset = n,
            _ => break,
        }
    }
    records.truncate(limit);
    Ok(answer(
        topic, partition, log_start, hw, first, records, "local",
    ))
}

async fn read_remote(
    client: &rill_client::Client,
    topic: String,
    partition: i32,
    start: Start,
    limit: usize,
) -> ApiResult<Messages> {
    let one = |ts| [(partition, ts)];
    let log_start = *client
        .list_offsets(&topic, &one(EARLIEST))
        .await?
        .get(&partition)
        .unwrap_or(&0);
    let hw = *client
        .list_offsets(&topic, &one(LATEST))
        .await?
        .get(&partition)
        .unwrap_or(&0);
    let at_time = match start {
        Start::Timestamp(ts) => client
            .list_offsets(&topic, &one(ts))
            .await?
            .get(&partition)
            .copied()
            .filter(|o| *o >= 0),
        _ => None,
    };
    let first = start_offset(start, limit, log_start, hw, |_| Ok(at_time))?;
    let opts = FetchOptions {
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: READ_BYTES as i32,
        partition_max_bytes: READ_BYTES as i32,
        isolation_level: 0,
    };
    let mut records = Vec::new();
    let mut offset = first;
    let mut steps = 0;
    while records.len() < limit && offset < hw && steps < MAX_READ_BYTES / READ_BYTES {
        steps += 1;
        let fetched = client.fetch(&topic, &[(partition, offset)], opts).await?;
        let Some(f) = fetched.into_iter().find(|f| f.partition == partition) else {
            break;
        };
        if f.error_code != 0 {
            return Err(ApiError::kafka(
                f.error_code,
                format!("fetch of {topic}-{partition} at {offset} failed"),
            ));
        }
        records.extend(f.records.into_iter().filter(|r| r.offset >= first));
        match f.next_offset {
            Some(n) if n > offset => offset = n,
            _ => break,
        }
    }
    records.truncate(limit);
    Ok(answer(
        topic, partition, log_start, hw, first, records, "leader",
    ))
}

fn decode(bytes: Bytes, from: i64) -> ApiResult<(Vec<ConsumedRecord>, Option<i64>)> {
    decode_batches(bytes, from)
        .map_err(|e| ApiError::internal(format!("cannot decode records: {e}")))
}

fn answer(
    topic: String,
    partition: i32,
    log_start_offset: i64,
    high_watermark: i64,
    start_offset: i64,
    records: Vec<ConsumedRecord>,
    read_from: &'static str,
) -> Messages {
    let next_offset = records.last().map_or(start_offset, |r| r.offset + 1);
    Messages {
        topic,
        partition,
        log_start_offset,
        high_watermark,
        start_offset,
        next_offset,
        read_from,
        messages: records.into_iter().map(row).collect(),
    }
}

fn row(r: ConsumedRecord) -> MessageRow {
    let cut = |b: &Option<Bytes>| {
        b.as_ref()
            .map(|b| B64.encode(&b[..b.len().min(MAX_VALUE_BYTES)]))
    };
    MessageRow {
        offset: r.offset,
        timestamp: r.timestamp_ms,
        timestamp_type: if r.log_append_time {
            "LogAppendTime"
        } else {
            "CreateTime"
        },
        key: cut(&r.key),
        key_size: r.key.as_ref().map(|b| b.len()),
        value: cut(&r.value),
        value_size: r.value.as_ref().map(|b| b.len()),
        truncated: r.key.as_ref().is_some_and(|b| b.len() > MAX_VALUE_BYTES)
            || r.value.as_ref().is_some_and(|b| b.len() > MAX_VALUE_BYTES),
        headers: r
            .headers
            .into_iter()
            .map(|(key, v)| HeaderRow {
                key,
                value: v.map(|v| B64.encode(&v)),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_offsets_are_clamped_to_the_log() {
        let none = |_| Ok(None);
        assert_eq!(start_offset(Start::Latest, 20, 0, 100, none).unwrap(), 80);
        assert_eq!(start_offset(Start::Latest, 20, 90, 100, none).unwrap(), 90);
        assert_eq!(start_offset(Start::Earliest, 20, 5, 100, none).unwrap(), 5);
        assert_eq!(
            start_offset(Start::Offset(500), 20, 5, 100, none).unwrap(),
            100
        );
        assert_eq!(
            start_offset(Start::Offset(-3), 20, 5, 100, none).unwrap(),
            5
        );
        assert_eq!(
            start_offset(Start::Timestamp(7), 20, 0, 100, |_| Ok(Some(42))).unwrap(),
            42
        );
        assert_eq!(
            start_offset(Start::Timestamp(7), 20, 0, 100, none).unwrap(),
            100
        );
    }
}
