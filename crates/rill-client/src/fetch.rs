//! Reading: ListOffsets (earliest, latest, by timestamp) and Fetch, each sent to the
//! partition's leader; requests to several leaders go out pipelined before any is awaited.

use std::collections::BTreeMap;

use bytes::Bytes;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::error::{ClientError, Result};
use crate::records::{decode_batches, next_offset_after, ConsumedRecord};
use crate::Client;

/// ListOffsets timestamp meaning "the log start offset".
pub const EARLIEST: i64 = -2;
/// ListOffsets timestamp meaning "the log end offset" (high watermark).
pub const LATEST: i64 = -1;

/// Fetch limits.
#[derive(Debug, Clone, Copy)]
pub struct FetchOptions {
    /// How long the broker may wait for `min_bytes`.
    pub max_wait_ms: i32,
    /// Bytes the broker waits for.
    pub min_bytes: i32,
    /// Bytes per response.
    pub max_bytes: i32,
    /// Bytes per partition.
    pub partition_max_bytes: i32,
    /// 0: read_uncommitted (everything up to the high watermark); 1: read_committed (up to
    /// the last stable offset, aborted transactions left out).
    pub isolation_level: i8,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            max_wait_ms: 500,
            min_bytes: 1,
            max_bytes: 52_428_800,
            partition_max_bytes: 1_048_576,
            isolation_level: 0,
        }
    }
}

/// One partition of a fetch answer.
#[derive(Debug, Clone)]
pub struct FetchedPartition {
    /// Partition index.
    pub partition: i32,
    /// Kafka error code (0: fine).
    pub error_code: i16,
    /// High watermark.
    pub high_watermark: i64,
    /// Last stable offset (-1: not sent): where a read_committed reader ends.
    pub last_stable_offset: i64,
    /// Log start offset (-1: not sent).
    pub log_start_offset: i64,
    /// Records at or above the fetch offset.
    pub records: Vec<ConsumedRecord>,
    /// The offset after the last whole batch returned, if any.
    pub next_offset: Option<i64>,
}

/// One partition of a fetch answer with its records still as the broker sent them (whole
/// batches plus perhaps a partial one at the end), for callers that decode elsewhere.
#[derive(Debug, Clone)]
pub struct RawFetchedPartition {
    /// Partition index.
    pub partition: i32,
    /// Kafka error code (0: fine).
    pub error_code: i16,
    /// High watermark.
    pub high_watermark: i64,
    /// Last stable offset (-1: not sent): where a read_committed reader ends.
    pub last_stable_offset: i64,
    /// Log start offset (-1: not sent).
    pub log_start_offset: i64,
    /// The offset this partition was fetched from.
    pub fetch_offset: i64,
    /// The record batches (empty on an error or when there is nothing new).
    pub records: Bytes,
    /// The offset after the last whole batch in `records`, read from the batch headers.
    pub next_offset: Option<i64>,
    /// read_committed: the aborted transactions of the range, `(producer id, first offset)`.
    pub aborted: Vec<(i64, i64)>,
}

fn topic_name(t: &str) -> TopicName {
    TopicName(StrBytes::from_string(t.to_string()))
}

/// Groups partitions by their leader.
async fn by_leader<T: Copy>(
    client: &Client,
    topic: &str,
    items: &[(i32, T)],
) -> Result<BTreeMap<i32, Vec<(i32, T)>>> {
    let mut out: BTreeMap<i32, Vec<(i32, T)>> = BTreeMap::new();
    for &(p, v) in items {
        let leader = client.leader(topic, p, false).await?;
        out.entry(leader).or_default().push((p, v));
    }
    Ok(out)
}

impl Client {
    /// Offsets for `(partition, timestamp)` pairs: [`EARLIEST`], [`LATEST`] or a time in ms
    /// (the first offset with a timestamp at or after it; -1 when there is none). Retries on
    /// leader moves.
    ///
    /// # Errors
    /// Unknown topic/partition, connection errors, non-retriable Kafka errors.
    pub async fn list_offsets(
        &self,
        topic: &str,
        specs: &[(i32, i64)],
    ) -> Result<BTreeMap<i32, i64>> {
        self.list_offsets_isolated(topic, specs, 0).await
    }

    /// [`Client::list_offsets`] with an isolation level: under read_committed (1) [`LATEST`]
    /// is the last stable offset.
    ///
    /// # Errors
    /// As [`Client::list_offsets`].
    pub async fn list_offsets_isolated(
        &self,
        topic: &str,
        specs: &[(i32, i64)],
        isolation_level: i8,
    ) -> Result<BTreeMap<i32, i64>> {
        self.retry(|n| async move {
            self.list_offsets_once(topic, specs, n > 0, isolation_level)
                .await
        })
        .await
    }

    /// [`Client::list_offsets`] with `isolation_level` read_committed: [`LATEST`] is the last
    /// stable offset (no open transaction below it) and times find only offsets below it.
    ///
    /// # Errors
    /// As [`Client::list_offsets`].
    pub async fn list_offsets_committed(
        &self,
        topic: &str,
        specs: &[(i32, i64)],
    ) -> Result<BTreeMap<i32, i64>> {
        self.list_offsets_isolated(topic, specs, 1).await
    }

    async fn list_offsets_once(
        &self,
        topic: &str,
        specs: &[(i32, i64)],
        refresh: bool,
        isolation_level: i8,
    ) -> Result<BTreeMap<i32, i64>> {
        if refresh {
            self.topic(topic, true).await?;
        }
        let groups = by_leader(self, topic, specs).await?;
        let mut waits = Vec::new();
        for (leader, parts) in groups {
            let conn = self.connection_to(leader).await?;
            let version = conn.version(ApiKey::ListOffsets)?;
            let mut req = ListOffsetsRequest::default();
            req.replica_id = BrokerId(-1);
            if version >= 2 {
                req.isolation_level = isolation_level;
            }
            let mut t = ListOffsetsTopic::default();
            t.name = topic_name(topic);
            t.partitions = parts
                .iter()
                .map(|&(p, ts)| {
                    let mut lp = ListOffsetsPartition::default();
                    lp.partition_index = p;
                    lp.timestamp = ts;
                    lp
                })
                .collect();
            req.topics = vec![t];
            waits.push((version, conn.send(&req, version).await?));
        }
        let mut out = BTreeMap::new();
        for (version, w) in waits {
            let resp: ListOffsetsResponse = w.decode(version).await?;
            for t in resp.topics {
                for p in t.partitions {
                    ClientError::check(
                        p.error_code,
                        || format!("list offsets of {topic}-{}", p.partition_index),
                        None,
                    )?;
                    let offset = if version == 0 { -1 } else { p.offset };
                    out.insert(p.partition_index, offset);
                }
            }
        }
        Ok(out)
    }

    /// Fetches from `(partition, offset)` positions of one topic. Partition errors come back
    /// in [`FetchedPartition::error_code`] for the caller to act on (refresh on leader moves,
    /// reset on OFFSET_OUT_OF_RANGE).
    ///
    /// # Errors
    /// Unknown topic/partition, connection errors.
    pub async fn fetch(
        &self,
        topic: &str,
        positions: &[(i32, i64)],
        opts: FetchOptions,
    ) -> Result<Vec<FetchedPartition>> {
        let mut out = Vec::new();
        for p in self.fetch_raw(topic, positions, opts).await? {
            let (records, next_offset) = if p.error_code == 0 && !p.records.is_empty() {
                if opts.isolation_level == 1 {
                    crate::records::decode_batches_committed(p.records, p.fetch_offset, &p.aborted)?
                } else {
                    decode_batches(p.records, p.fetch_offset)?
                }
            } else {
                (Vec::new(), None)
            };
            out.push(FetchedPartition {
                partition: p.partition,
                error_code: p.error_code,
                high_watermark: p.high_watermark,
                last_stable_offset: p.last_stable_offset,
                log_start_offset: p.log_start_offset,
                records,
                next_offset,
            });
        }
        Ok(out)
    }

    /// Like [`Client::fetch`] but leaves the records undecoded: only the batch headers are
    /// read (for [`RawFetchedPartition::next_offset`]), so the caller can ask for the next
    /// range before it decodes this one.
    ///
    /// # Errors
    /// Unknown topic/partition, connection errors.
    pub async fn fetch_raw(
        &self,
        topic: &str,
        positions: &[(i32, i64)],
        opts: FetchOptions,
    ) -> Result<Vec<RawFetchedPartition>> {
        let groups = by_leader(self, topic, positions).await?;
        let mut waits = Vec::new();
        for (leader, parts) in groups {
            let conn = self.connection_to(leader).await?;
            let version = conn.version(ApiKey::Fetch)?;
            let mut req = FetchRequest::default();
            req.replica_id = BrokerId(-1);
            req.max_wait_ms = opts.max_wait_ms;
            req.min_bytes = opts.min_bytes;
            req.max_bytes = opts.max_bytes;
            req.isolation_level = opts.isolation_level;
            if version >= 7 {
                req.session_epoch = -1;
            }
            let mut t = FetchTopic::default();
            t.topic = topic_name(topic);
            t.partitions = parts
                .iter()
                .map(|&(p, offset)| {
                    let mut fp = FetchPartition::default();
                    fp.partition = p;
                    fp.fetch_offset = offset;
                    fp.partition_max_bytes = opts.partition_max_bytes;
                    fp
                })
                .collect();
            req.topics = vec![t];
            let starts: BTreeMap<i32, i64> = parts.into_iter().collect();
            waits.push((version, starts, conn.send(&req, version).await?));
        }
        let mut out = Vec::new();
        for (version, starts, w) in waits {
            let resp: FetchResponse = w.decode(version).await?;
            ClientError::check(resp.error_code, || format!("fetch from {topic}"), None)?;
            for t in resp.responses {
                for p in t.partitions {
                    let from = starts.get(&p.partition_index).copied().unwrap_or(0);
                    let records = match p.records {
                        Some(bytes) if p.error_code == 0 => bytes,
                        _ => Bytes::new(),
                    };
                    let aborted = p
                        .aborted_transactions
                        .iter()
                        .flatten()
                        .map(|a| (a.producer_id.0, a.first_offset))
                        .collect();
                    out.push(RawFetchedPartition {
                        aborted,
                        partition: p.partition_index,
                        error_code: p.error_code,
                        high_watermark: p.high_watermark,
                        last_stable_offset: p.last_stable_offset,
                        log_start_offset: p.log_start_offset,
                        fetch_offset: from,
                        next_offset: next_offset_after(&records),
                        records,
                    });
                }
            }
        }
        Ok(out)
    }
}
