//! The partition service's read side (Kafka's `ReplicaManager.fetchMessages` with its
//! `DelayedFetch`): whole record batches up to the isolation bound, with `min_bytes` /
//! `max_wait_ms` long polling and `max_bytes` / `partition_max_bytes` limits (the first batch
//! of the first non-empty partition is returned even when larger, as KIP-74 says).
//!
//! A consumer reads below the high watermark, so it never sees a record that is not
//! committed. A follower's fetch (a replica id >= 0) reads up to the log end, first tells each
//! partition how far the follower has got (which may raise the high watermark, grow the ISR
//! and complete that partition's waiting produces), and waits on appends rather than on the
//! high watermark. A fetch that cannot be answered yet waits in the purgatory of its own
//! partitions ([`super::purgatory::FetchWatch`]): it is read again when one of them signals,
//! and answered once it has `min_bytes`, on an error, or at its max wait.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;
use rill_log::{FileSlice, LogError};
use rill_meta::MetadataImage;
use tokio::time::Instant;

use super::purgatory::FetchWatch;
use super::{FetchSlices, Partition, ReplicaManager};
use crate::api::blocking;
use crate::api::errors::log_error_code;

/// What a fetch request asks of all its partitions.
#[derive(Debug, Clone, Copy)]
pub struct FetchParams {
    /// The fetching follower's broker id; `None` for a consumer.
    pub follower: Option<i32>,
    /// How long to wait for `min_bytes`, ms.
    pub max_wait_ms: i32,
    /// Bytes to wait for (at least one batch in any case).
    pub min_bytes: i32,
    /// Bytes one response may carry (capped by `fetch.max.bytes`).
    pub max_bytes: i32,
}

/// One partition a fetch reads.
#[derive(Debug, Clone)]
pub struct FetchInput {
    /// The topic's name, or the error for a topic the handler could not name.
    pub topic: Result<String, i16>,
    /// Partition index.
    pub index: i32,
    /// Where to read from.
    pub fetch_offset: i64,
    /// Bytes this partition may contribute.
    pub partition_max_bytes: i32,
    /// The client's leader epoch (KIP-320), -1 for none.
    pub current_leader_epoch: i32,
}

/// One partition's fetch answer: its fields and its record data as file ranges.
#[derive(Debug, Default)]
pub struct FetchedPartition {
    /// Kafka error code.
    pub error_code: i16,
    /// High watermark when read (-1 on a refused partition).
    pub high_watermark: i64,
    /// Last stable offset (the high watermark: no transactions yet).
    pub last_stable_offset: i64,
    /// Log start offset when read (-1 on a refused partition).
    pub log_start_offset: i64,
    /// Whole record batches, as ranges of segment files.
    pub slices: Vec<FileSlice>,
    /// Sum of the slice lengths.
    pub len: u64,
    /// Records in those batches.
    pub records: u64,
}

/// One partition to read, resolved.
struct Want {
    /// The partition, or the error to answer.
    target: Result<Arc<Partition>, i16>,
    /// Where to read from.
    fetch_offset: i64,
    /// Per-partition byte limit.
    partition_max_bytes: u64,
}

/// What one read of every wanted partition gave: the answers, their total bytes, whether one
/// is an error.
type ReadAll = (Vec<FetchedPartition>, u64, bool);

impl ReplicaManager {
    /// Answers a fetch: one [`FetchedPartition`] per input, in order (see the module doc).
    /// `None` when a blocking read task failed.
    pub async fn fetch_records(
        &self,
        image: &MetadataImage,
        params: FetchParams,
        inputs: &[FetchInput],
    ) -> Option<Vec<FetchedPartition>> {
        let follower = params.follower;
        let wants: Arc<Vec<Want>> = Arc::new(
            inputs
                .iter()
                .map(|i| Want {
                    target: i.topic.as_deref().map_err(|c| *c).and_then(|name| {
                        self.fetch_target(image, name, i.index, i.current_leader_epoch, follower)
                            .map_err(|e| e.code())
                    }),
                    fetch_offset: i.fetch_offset,
                    partition_max_bytes: i.partition_max_bytes.max(0) as u64,
                })
                .collect(),
        );
        // Kafka's fetch.max.bytes caps what one response carries, whatever the request asks.
        let max_bytes = (params.max_bytes.max(0) as u64).min(self.fetch_max_bytes());
        let min_bytes = params.min_bytes.max(0) as u64;
        let deadline = Instant::now() + Duration::from_millis(params.max_wait_ms.max(0) as u64);
        if let Some(replica) = follower {
            record_follower_progress(&wants, replica).await;
        }
        loop {
            // Registered before the read: an event on one of these partitions after it is seen.
            let watch = FetchWatch::register(
                wants.iter().filter_map(|w| w.target.as_deref().ok()),
                follower.is_some(),
            );
            let (parts, total, any_error) =
                read_wanted(&wants, max_bytes, follower.is_some()).await?;
            if is_complete(total, min_bytes, any_error, Instant::now() >= deadline) {
                for (w, part) in wants.iter().zip(&parts) {
                    if let Ok(p) = &w.target {
                        let follower = follower.is_some();
                        crate::observe::topic::fetched(&p.topic, part.len, part.records, follower);
                    }
                }
                return Some(parts);
            }
            let _parked = crate::observe::gauges::parked(crate::observe::gauges::Purgatory::Fetch);
            watch.wait(deadline).await;
        }
    }
}

/// Whether a fetch that read `total` bytes is answered now: it has `min_bytes` (at least one
/// byte in any case), a partition is in error, or its wait is over.
pub fn is_complete(total: u64, min_bytes: u64, any_error: bool, expired: bool) -> bool {
    total >= min_bytes.max(1) || any_error || expired
}

/// Leader: a follower fetched from each wanted partition's offset. A high watermark this
/// moves wakes the waiting fetches and produces of its own partition.
async fn record_follower_progress(wants: &Arc<Vec<Want>>, replica: i32) {
    let w = wants.clone();
    let now = crate::clock::now_ms();
    blocking(move || {
        let fetches = w
            .iter()
            .filter_map(|w| w.target.as_deref().ok().map(|p| (p, w.fetch_offset)));
        Partition::record_follower_fetches(fetches, replica, now)
    })
    .await;
}

/// Reads every wanted partition: on the async worker when none has anything to read (an idle
/// consumer's fetch touches no file), else on the blocking pool. `None` when the blocking
/// task failed.
async fn read_wanted(
    wants: &Arc<Vec<Want>>,
    max_bytes: u64,
    for_follower: bool,
) -> Option<ReadAll> {
    if !for_follower {
        let now = read_all(wants, max_bytes, |part, w, hw, _, _| {
            part.read_nothing_now(w.fetch_offset, hw)
        });
        if now.is_some() {
            return now;
        }
    }
    let w = wants.clone();
    blocking(move || {
        read_all(&w, max_bytes, |part, w, hw, budget, first| {
            // Followers get at least one batch from every partition.
            let min_one = for_follower || first;
            Some(
                read_bound(part, hw, for_follower)
                    .and_then(|bound| part.read_slices(w.fetch_offset, bound, budget, min_one)),
            )
        })
    })
    .await
    .flatten()
}

/// Where a fetch of `part` may read up to (exclusive), given its high watermark read just
/// before: consumers read below the high watermark; followers up to the log end (they
/// replicate what is not committed yet).
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

/// Reads every wanted partition within the limits (file ranges, nothing copied) with `read`
/// (given the partition, the want, the high watermark read just before, the byte budget and
/// whether nothing was read before it). `None` as soon as `read` gives `None`.
fn read_all(
    wants: &[Want],
    max_bytes: u64,
    read: impl Fn(&Partition, &Want, i64, u64, bool) -> Option<Result<FetchSlices, LogError>>,
) -> Option<ReadAll> {
    let mut total: u64 = 0;
    let mut any_error = false;
    let mut out = Vec::with_capacity(wants.len());
    for w in wants {
        let mut fp = FetchedPartition {
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
            ..FetchedPartition::default()
        };
        match &w.target {
            Err(code) => {
                fp.error_code = *code;
                any_error = true;
            }
            Ok(part) => {
                let budget = w.partition_max_bytes.min(max_bytes.saturating_sub(total));
                let high_watermark = part.high_watermark();
                fp.high_watermark = high_watermark;
                fp.last_stable_offset = high_watermark;
                match read(part, w, high_watermark, budget, total == 0)? {
                    Ok(read) => {
                        fp.log_start_offset = read.log_start_offset;
                        total += read.len;
                        fp.slices = read.slices;
                        fp.len = read.len;
                        fp.records = read.records;
                    }
                    Err(e) => {
                        fp.error_code = log_error_code(&e);
                        fp.log_start_offset = part.log_start_offset().unwrap_or(-1);
                        any_error = true;
                    }
                }
            }
        }
        out.push(fp);
    }
    Some((out, total, any_error))
}

/// The error a fetch of an unknown topic gets: by id or by name.
pub fn unknown_topic(by_id: bool) -> i16 {
    if by_id {
        ResponseError::UnknownTopicId.code()
    } else {
        ResponseError::UnknownTopicOrPartition.code()
    }
}
