//! The partition service's read side (Kafka's `ReplicaManager.fetchMessages` with its
//! `DelayedFetch`): whole record batches up to the isolation bound, with `min_bytes` /
//! `max_wait_ms` long polling and `max_bytes` / `partition_max_bytes` limits (the first batch
//! of the first non-empty partition is returned even when larger, as KIP-74 says).
//!
//! A consumer reads below the high watermark, so it never sees a record that is not
//! committed; a read_committed consumer (`isolation_level` 1) reads below the last stable
//! offset and gets the aborted transactions of what it read (KIP-98). A follower's fetch (a
//! replica id >= 0) reads up to the log end, first tells each partition how far the follower
//! has got (which may raise the high watermark, grow the ISR and complete that partition's
//! waiting produces), and waits on appends rather than on the high watermark. A fetch that cannot be answered yet waits in the purgatory of its own
//! partitions ([`super::purgatory::FetchWatch`]): it is read again when one of them signals
//! (a read_committed one also when the last stable offset moves without the high
//! watermark: a marker ends a transaction whose data is committed), and answered once it
//! has `min_bytes`, on an error, or at its max wait.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;
use rill_log::{AbortedTxn, FileSlice, LogError};
use rill_meta::MetadataImage;
use tokio::time::Instant;

use super::purgatory::FetchWatch;
use super::{FetchSlices, Isolation, Partition, ReplicaManager};
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
    /// What a consumer may read (followers read up to the log end whatever it says).
    pub isolation: Isolation,
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
    /// A follower's log start offset (Fetch v5+), -1 from consumers.
    pub log_start_offset: i64,
}

/// One partition's fetch answer: its fields and its record data as file ranges.
#[derive(Debug, Default)]
pub struct FetchedPartition {
    /// Kafka error code.
    pub error_code: i16,
    /// High watermark when read (-1 on a refused partition).
    pub high_watermark: i64,
    /// Last stable offset when read (-1 on a refused partition).
    pub last_stable_offset: i64,
    /// Log start offset when read (-1 on a refused partition).
    pub log_start_offset: i64,
    /// Whole record batches, as ranges of segment files.
    pub slices: Vec<FileSlice>,
    /// Sum of the slice lengths.
    pub len: u64,
    /// Records in those batches.
    pub records: u64,
    /// The aborted transactions overlapping what was read: `Some` (maybe empty) for a
    /// read_committed consumer's partition read without error, `None` otherwise (Kafka sends
    /// null then).
    pub aborted_transactions: Option<Vec<AbortedTxn>>,
}

/// One partition to read, resolved.
#[derive(Debug)]
pub struct Want {
    /// The partition, or the error to answer.
    pub target: Result<Arc<Partition>, i16>,
    /// Where to read from.
    pub fetch_offset: i64,
    /// Per-partition byte limit.
    pub partition_max_bytes: u64,
    /// A follower's log start offset, -1 when unknown (consumers).
    pub log_start_offset: i64,
}

/// What one read of every wanted partition gave: the answers, their total bytes, whether one
/// is an error.
type ReadAll = (Vec<FetchedPartition>, u64, bool);

/// A fetch being answered (Kafka's `DelayedFetch`): its partitions resolved once, its limits,
/// and the rule that says when it is answered. Synchronous and clock-free: the async
/// [`ReplicaManager::fetch_records`] drives it with the purgatory and the wall clock, the
/// replication simulation with its own clock and events.
#[derive(Debug, Clone)]
pub struct FetchOperation {
    /// The partitions in request order.
    wants: Arc<Vec<Want>>,
    /// The fetching follower's broker id; `None` for a consumer.
    follower: Option<i32>,
    /// Bytes the response may carry.
    max_bytes: u64,
    /// Bytes to wait for.
    min_bytes: u64,
    /// What a consumer may read; always [`Isolation::ReadUncommitted`] for a follower.
    isolation: Isolation,
}

impl FetchOperation {
    /// A fetch of `wants` (targets already checked by the service's guards) with the
    /// response limit `max_bytes` (already capped by `fetch.max.bytes`).
    pub fn new(wants: Vec<Want>, follower: Option<i32>, min_bytes: i32, max_bytes: u64) -> Self {
        FetchOperation {
            wants: Arc::new(wants),
            follower,
            max_bytes,
            min_bytes: min_bytes.max(0) as u64,
            isolation: Isolation::ReadUncommitted,
        }
    }

    /// The same fetch for a consumer reading with `isolation` (a follower's fetch ignores it,
    /// as Kafka's does: replicas read up to the log end).
    pub fn with_isolation(mut self, isolation: Isolation) -> Self {
        if self.follower.is_none() {
            self.isolation = isolation;
        }
        self
    }

    /// Leader: the follower fetched from each wanted partition's offset at `now_ms`. A high
    /// watermark this moves wakes the waiting fetches and produces of its own partition.
    /// Blocking (takes the partitions' locks). Nothing for a consumer's fetch.
    pub fn record_follower_progress(&self, now_ms: i64) {
        let Some(replica) = self.follower else {
            return;
        };
        let fetches = self.wants.iter().filter_map(|w| {
            w.target
                .as_deref()
                .ok()
                .map(|p| (p, w.fetch_offset, w.log_start_offset))
        });
        Partition::record_follower_fetches(fetches, replica, now_ms);
    }

    /// Registers with the purgatory of every partition it reads; register before a read, so
    /// an event after the read is seen.
    pub fn watch(&self) -> FetchWatch<'_> {
        FetchWatch::register(
            self.wants.iter().filter_map(|w| w.target.as_deref().ok()),
            self.follower.is_some(),
        )
    }

    /// Reads every partition (blocking: may touch files) and answers if the fetch is
    /// complete now: it has `min_bytes`, a partition is in error, or `expired` (its wait is
    /// over). `None`: not yet, wait for an event on one of its partitions.
    pub fn try_complete(&self, expired: bool) -> Option<Vec<FetchedPartition>> {
        let for_follower = self.follower.is_some();
        let isolation = self.isolation;
        let read = read_all(
            &self.wants,
            isolation,
            self.max_bytes,
            |part, w, bound, budget, first| {
                // Followers get at least one batch from every partition.
                let min_one = for_follower || first;
                Some(read_bound(part, bound, for_follower).and_then(|bound| {
                    part.read_slices(w.fetch_offset, bound, budget, min_one, isolation)
                }))
            },
        );
        self.complete(read, expired)
    }

    /// As [`FetchOperation::try_complete`] but touching no file and taking no contended
    /// lock: `None` also when any partition has something to read (then call
    /// `try_complete` off the async worker). For consumers only; an idle consumer's fetch
    /// is settled here.
    fn try_complete_without_io(&self, expired: bool) -> Option<Option<Vec<FetchedPartition>>> {
        if self.follower.is_some() {
            return None;
        }
        let read = read_all(
            &self.wants,
            self.isolation,
            self.max_bytes,
            |part, w, bound, _, _| part.read_nothing_now(w.fetch_offset, bound),
        )?;
        Some(self.complete(Some(read), expired))
    }

    /// The completion rule applied to one read of every partition.
    fn complete(&self, read: Option<ReadAll>, expired: bool) -> Option<Vec<FetchedPartition>> {
        let (parts, total, any_error) = read?;
        if !is_complete(total, self.min_bytes, any_error, expired) {
            return None;
        }
        for (w, part) in self.wants.iter().zip(&parts) {
            if let Ok(p) = &w.target {
                let follower = self.follower.is_some();
                crate::observe::topic::fetched(&p.topic, part.len, part.records, follower);
            }
        }
        Some(parts)
    }
}

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
        let wants = inputs
            .iter()
            .map(|i| Want {
                target: i.topic.as_deref().map_err(|c| *c).and_then(|name| {
                    self.fetch_target(image, name, i.index, i.current_leader_epoch, follower)
                        .map_err(|e| e.code())
                }),
                fetch_offset: i.fetch_offset,
                partition_max_bytes: i.partition_max_bytes.max(0) as u64,
                log_start_offset: i.log_start_offset,
            })
            .collect();
        // Kafka's fetch.max.bytes caps what one response carries, whatever the request asks.
        let max_bytes = (params.max_bytes.max(0) as u64).min(self.fetch_max_bytes());
        let op = FetchOperation::new(wants, follower, params.min_bytes, max_bytes)
            .with_isolation(params.isolation);
        let deadline = Instant::now() + Duration::from_millis(params.max_wait_ms.max(0) as u64);
        if follower.is_some() {
            let o = op.clone();
            let now = crate::clock::now_ms();
            blocking(move || o.record_follower_progress(now)).await;
        }
        loop {
            let watch = op.watch();
            let expired = Instant::now() >= deadline;
            let answer = match op.try_complete_without_io(expired) {
                Some(answer) => answer,
                None => {
                    let o = op.clone();
                    blocking(move || o.try_complete(expired)).await?
                }
            };
            if answer.is_some() {
                return answer;
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

/// Where a fetch of `part` may read up to (exclusive), given the consumer's bound read just
/// before (the high watermark, or the last stable offset for read_committed): consumers read
/// below it; followers up to the log end (they replicate what is not committed yet).
///
/// # Errors
/// A poisoned log lock.
fn read_bound(part: &Partition, consumer_bound: i64, for_follower: bool) -> Result<i64, LogError> {
    if for_follower {
        part.log_end_offset()
    } else {
        Ok(consumer_bound)
    }
}

/// Reads every wanted partition within the limits (file ranges, nothing copied) with `read`
/// (given the partition, the want, the consumer's read bound for `isolation` read just
/// before, the byte budget and whether nothing was read before it). `None` as soon as
/// `read` gives `None`.
fn read_all(
    wants: &[Want],
    isolation: Isolation,
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
                let (high_watermark, last_stable_offset) = part.fetch_bounds();
                fp.high_watermark = high_watermark;
                fp.last_stable_offset = last_stable_offset;
                let bound = match isolation {
                    Isolation::ReadUncommitted => high_watermark,
                    Isolation::ReadCommitted => last_stable_offset,
                };
                match read(part, w, bound, budget, total == 0)? {
                    Ok(read) => {
                        fp.log_start_offset = read.log_start_offset;
                        total += read.len;
                        fp.slices = read.slices;
                        fp.len = read.len;
                        fp.records = read.records;
                        fp.aborted_transactions =
                            (isolation == Isolation::ReadCommitted).then_some(read.aborted);
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
