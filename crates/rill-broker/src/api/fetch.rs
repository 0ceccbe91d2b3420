//! Fetch: whole record batches up to the high watermark, with `min_bytes`/`max_wait_ms` long
//! polling and `max_bytes`/`partition_max_bytes` limits (the first batch of the first
//! non-empty partition is returned even when larger, as KIP-74 says).
//!
//! A fetch from a follower (replica id >= 0) reads up to the log end instead of the high
//! watermark, tells the leader how far the follower has got (which may raise the high
//! watermark and grow the ISR), and parks on appends rather than on the high watermark.
//!
//! Fetch sessions (KIP-227): Rill answers with session id 0, i.e. no session was created,
//! so clients keep sending full fetch requests, a behaviour every client supports.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::ResponseError;
use rill_log::{FileSlice, LogError};
use tokio::time::Instant;

use super::errors::log_error_code;
use super::fetch_wire::FileRecords;
use super::{blocking, str_bytes, RequestContext};
use crate::broker::Broker;
use crate::replica::purgatory::FetchWatch;
use crate::replica::{FetchSlices, Partition};

/// One partition to read, resolved.
struct Want {
    /// Topic index in the response.
    topic_idx: usize,
    /// Partition index.
    index: i32,
    /// The partition, or the error to answer.
    target: Result<Arc<Partition>, i16>,
    /// Where to read from.
    fetch_offset: i64,
    /// Per-partition byte limit.
    partition_max_bytes: u64,
}

/// A Fetch answer: the response with every partition's fields, and the record data of the
/// partitions that have some, as file ranges (see [`super::fetch_wire`]).
#[derive(Debug, Default)]
pub struct FetchAnswer {
    /// The response; `records` fields of partitions in `files` are placeholders.
    pub response: FetchResponse,
    /// Record data as file ranges, by (topic index, partition index within the topic).
    pub files: FileRecords,
}

/// Answers Fetch, waiting up to `max_wait_ms` for `min_bytes`.
pub async fn handle(broker: &Arc<Broker>, _ctx: &RequestContext, req: FetchRequest) -> FetchAnswer {
    let mut response = FetchResponse::default();
    if req.session_id > 0 {
        response.error_code = ResponseError::FetchSessionIdNotFound.code();
        return FetchAnswer {
            response,
            files: FileRecords::new(),
        };
    }
    // v15+ carry the replica id in ReplicaState; older versions in replica_id.
    let replica_id = req.replica_id.0.max(req.replica_state.replica_id.0);
    let follower = (replica_id >= 0).then_some(replica_id);
    let image = broker.image();
    let mut wants = Vec::new();
    for topic in &req.topics {
        let by_id = topic.topic.0.is_empty();
        let name = if by_id {
            image.topic_by_id(&topic.topic_id).map(|t| t.name.clone())
        } else {
            Some(topic.topic.0.to_string())
        };
        let unknown = if by_id {
            ResponseError::UnknownTopicId
        } else {
            ResponseError::UnknownTopicOrPartition
        };
        let mut tr = FetchableTopicResponse::default();
        tr.topic = TopicName(str_bytes(topic.topic.0.as_str()));
        tr.topic_id = topic.topic_id;
        let topic_idx = response.responses.len();
        response.responses.push(tr);
        for p in &topic.partitions {
            let target = match name.as_deref() {
                None => Err(unknown.code()),
                Some(n) => broker
                    .leader_partition(n, p.partition)
                    .and_then(|part| {
                        broker.check_leader_epoch(n, p.partition, p.current_leader_epoch)?;
                        if follower.is_some_and(|r| !part.replica_state().replicas.contains(&r)) {
                            return Err(ResponseError::NotLeaderOrFollower);
                        }
                        Ok(part)
                    })
                    .map_err(|e| e.code()),
            };
            wants.push(Want {
                topic_idx,
                index: p.partition,
                target,
                fetch_offset: p.fetch_offset,
                partition_max_bytes: p.partition_max_bytes.max(0) as u64,
            });
        }
    }
    let wants = Arc::new(wants);
    // Kafka's fetch.max.bytes caps what one response carries, whatever the request asks.
    let max_bytes = (req.max_bytes.max(0) as u64).min(broker.config.fetch_max_bytes);
    let min_bytes = req.min_bytes.max(0) as u64;
    let read_committed = req.isolation_level == 1;
    let deadline = Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    if let Some(replica) = follower {
        let w = wants.clone();
        let now = crate::clock::now_ms();
        // A high watermark this moves wakes the parked fetches and produces of its partition.
        blocking(move || {
            let fetches = w
                .iter()
                .filter_map(|w| w.target.as_ref().ok().map(|p| (p.as_ref(), w.fetch_offset)));
            Partition::record_follower_fetches(fetches, replica, now)
        })
        .await;
    }
    loop {
        // Registered before the read: an event on one of these partitions after it is seen.
        let watch = FetchWatch::register(
            wants
                .iter()
                .filter_map(|w| w.target.as_ref().ok().map(AsRef::as_ref)),
            follower.is_some(),
        );
        let Some((parts, total, any_error)) =
            read_wanted(&wants, max_bytes, read_committed, follower.is_some()).await
        else {
            response.error_code = ResponseError::UnknownServerError.code();
            return FetchAnswer {
                response,
                files: FileRecords::new(),
            };
        };
        if total >= min_bytes.max(1) || any_error || Instant::now() >= deadline {
            let mut files = FileRecords::new();
            // `parts` has one answer per want, in order.
            for (w, (topic_idx, pd, slices)) in wants.iter().zip(parts) {
                if let Ok(p) = &w.target {
                    crate::observe::topic::fetched(
                        &p.topic,
                        slices.len,
                        slices.records,
                        follower.is_some(),
                    );
                }
                let partitions = &mut response.responses[topic_idx].partitions;
                if !slices.slices.is_empty() {
                    files.insert((topic_idx, partitions.len()), slices.slices);
                }
                partitions.push(pd);
            }
            return FetchAnswer { response, files };
        }
        let _parked = crate::observe::gauges::parked(crate::observe::gauges::Purgatory::Fetch);
        watch.wait(deadline).await;
    }
}

/// Reads every wanted partition: on the async worker when none has anything to read (an idle
/// consumer's fetch touches no file), else on the blocking pool. `None` when the blocking
/// task failed.
async fn read_wanted(
    wants: &Arc<Vec<Want>>,
    max_bytes: u64,
    read_committed: bool,
    for_follower: bool,
) -> Option<(Vec<PartitionAnswer>, u64, bool)> {
    if !for_follower {
        let now = read_all(wants, max_bytes, read_committed, |part, w, hw, _, _| {
            part.read_nothing_now(w.fetch_offset, hw)
        });
        if now.is_some() {
            return now;
        }
    }
    let w = wants.clone();
    blocking(move || {
        read_all(
            &w,
            max_bytes,
            read_committed,
            |part, w, hw, budget, first| {
                // Followers get at least one batch from every partition, as before.
                let min_one = for_follower || first;
                Some(
                    read_bound(part, hw, for_follower)
                        .and_then(|bound| part.read_slices(w.fetch_offset, bound, budget, min_one)),
                )
            },
        )
    })
    .await
    .flatten()
}

/// Where a fetch of `part` may read up to (exclusive), given its high watermark read just
/// before: consumers read below the high watermark, so they never see a record that is not
/// committed; followers read up to the log end (they replicate what is not committed yet).
///
/// # Errors
/// A poisoned log lock.
fn read_bound(part: &Partition, high_watermark: i64, for_follower: bool) -> Result<i64, LogError> {
    if for_follower {
        part.log_end_offset()
    } else {
        Ok(high_watermark)
    }
}

/// One partition's answer: its response fields and its record data as file ranges.
type PartitionAnswer = (usize, PartitionData, SentSlices);

/// The file ranges of one partition's answer, with what the metrics count of them.
#[derive(Debug, Default)]
struct SentSlices {
    /// The ranges.
    slices: Vec<FileSlice>,
    /// Their total length.
    len: u64,
    /// Records in them.
    records: u64,
}

/// Reads every wanted partition within the limits (file ranges, nothing copied) with `read`
/// (given the partition, the want, the high watermark read just before, the byte budget and
/// whether one batch is due even over it). `None` as soon as `read` gives `None`.
fn read_all(
    wants: &[Want],
    max_bytes: u64,
    read_committed: bool,
    read: impl Fn(&Partition, &Want, i64, u64, bool) -> Option<Result<FetchSlices, LogError>>,
) -> Option<(Vec<PartitionAnswer>, u64, bool)> {
    let mut total: u64 = 0;
    let mut any_error = false;
    let mut out = Vec::with_capacity(wants.len());
    for w in wants {
        let mut pd = PartitionData::default();
        pd.partition_index = w.index;
        pd.high_watermark = -1;
        pd.last_stable_offset = -1;
        pd.log_start_offset = -1;
        pd.preferred_read_replica = BrokerId(-1);
        pd.aborted_transactions = read_committed.then(Vec::new);
        pd.records = Some(Bytes::new());
        let mut slices = SentSlices::default();
        match &w.target {
            Err(code) => {
                pd.error_code = *code;
                any_error = true;
            }
            Ok(part) => {
                let budget = w.partition_max_bytes.min(max_bytes.saturating_sub(total));
                let high_watermark = part.high_watermark();
                match read(part, w, high_watermark, budget, total == 0)? {
                    Ok(read) => {
                        pd.high_watermark = high_watermark;
                        pd.last_stable_offset = high_watermark;
                        pd.log_start_offset = read.log_start_offset;
                        total += read.len;
                        slices = SentSlices {
                            slices: read.slices,
                            len: read.len,
                            records: read.records,
                        };
                    }
                    Err(e) => {
                        pd.error_code = log_error_code(&e);
                        pd.high_watermark = high_watermark;
                        pd.last_stable_offset = pd.high_watermark;
                        pd.log_start_offset = part.log_start_offset().unwrap_or(-1);
                        any_error = true;
                    }
                }
            }
        }
        out.push((w.topic_idx, pd, slices));
    }
    Some((out, total, any_error))
}
