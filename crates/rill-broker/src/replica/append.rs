//! The partition service's write side (Kafka's `ReplicaManager.appendRecords`): the produce
//! rules, in one place for the Produce handler and the replication simulation.
//!
//! [`ReplicaManager::append_records`] checks each partition (acks value, internal topic,
//! transactions, leadership by the metadata image, one magic-2 batch, `min.insync.replicas`
//! for acks=all), validates the batch (CRC-32C, counts: `rill_log::ValidBatch`) and appends it
//! as the client sent it (offsets patched in place), in request order. [`PendingAppend::complete`]
//! then waits for durability (one group-commit round for all partitions) and, for acks=all,
//! in the purgatory of each partition until its high watermark passes the batch
//! ([`super::Partition::wait_committed`]): NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank
//! below the minimum meanwhile, NOT_LEADER_OR_FOLLOWER when leadership moved, REQUEST_TIMED_OUT
//! at the request's timeout. A batch is decoded record by record only where the topic's
//! rules need it ([`super::produce_checks`]: keys on compacted topics, timestamp bounds,
//! recompression to the topic's `compression.type`).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use rill_log::{AppendInfo, BatchHeader, LogError, ValidBatch};
use rill_meta::MetadataImage;

use super::append_route::AppendNeeds;
pub use super::produce_checks::RecordError;
use super::produce_checks::{self, Refusal};
use super::{CommitError, Partition, ReplicaManager};
use crate::api::errors::log_error_code;
use crate::clock::now_ms;

/// Where the magic byte sits in a record batch header.
const MAGIC_OFFSET: usize = 16;

/// What a produce request asks of all its partitions.
#[derive(Debug, Clone, Copy)]
pub struct AppendParams {
    /// The request's acks (-1, 0 or 1; anything else is refused per partition).
    pub acks: i16,
    /// How long acks=all waits for the ISR, ms.
    pub timeout_ms: i32,
    /// The request names a transactional id (its transactional batches were verified with
    /// the coordinator before, `crate::txn::verify`).
    pub transactional: bool,
}

/// One partition's batch of a produce request.
#[derive(Debug, Clone)]
pub struct AppendInput {
    /// The topic's name, or the error for a topic the handler could not name (an unknown
    /// topic id).
    pub topic: Result<String, i16>,
    /// Partition index.
    pub index: i32,
    /// The batch bytes as received.
    pub records: Option<Bytes>,
}

/// One partition's produce answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendResult {
    /// Kafka error code (0: appended).
    pub error_code: i16,
    /// Why it was refused.
    pub error_message: Option<String>,
    /// First offset of the batch (-1 when refused).
    pub base_offset: i64,
    /// LogAppendTime, or -1 under CreateTime.
    pub log_append_time_ms: i64,
    /// The log start offset after the append (-1 when refused).
    pub log_start_offset: i64,
    /// The records that made a batch fail (Kafka's `record_errors`, produce v8+).
    pub record_errors: Vec<RecordError>,
}

impl AppendResult {
    /// A refusal with `code`.
    pub fn failed(code: i16, message: Option<String>) -> Self {
        AppendResult {
            error_code: code,
            error_message: message,
            base_offset: -1,
            log_append_time_ms: -1,
            log_start_offset: -1,
            record_errors: Vec::new(),
        }
    }

    /// A refusal by the topic's record rules, with its record errors.
    fn refused(r: Refusal) -> Self {
        AppendResult {
            record_errors: r.record_errors,
            ..AppendResult::failed(r.code, Some(r.message))
        }
    }

    fn appended(info: &AppendInfo) -> Self {
        AppendResult {
            error_code: 0,
            error_message: None,
            base_offset: info.base_offset,
            log_append_time_ms: info.log_append_time_ms,
            log_start_offset: info.log_start_offset,
            record_errors: Vec::new(),
        }
    }
}

/// One partition's append: the partition, what was appended, the leader epoch it was
/// appended in; or the refusal.
pub type Appended = Result<(Arc<Partition>, AppendInfo, i32), AppendResult>;

/// A partition to append to, or the error code to answer.
type Target = Result<Arc<Partition>, i16>;

/// A produce whose batches are appended and whose durability is still awaited.
#[derive(Debug)]
pub struct PendingAppend {
    /// Per input partition, in order: the append or the refusal.
    appended: Vec<Appended>,
    /// The request's acks.
    acks: i16,
    /// When acks=all waits give up.
    deadline: tokio::time::Instant,
}

impl ReplicaManager {
    /// Checks, validates and appends every partition's batch, in request order (see the module
    /// doc). The caller awaits this before it reads the connection's next request, so one
    /// producer's batches keep their order; [`PendingAppend::complete`] may then overlap the
    /// next requests. `None` when the blocking task running the appends failed.
    pub async fn append_records(
        &self,
        image: &MetadataImage,
        params: AppendParams,
        inputs: Vec<AppendInput>,
    ) -> Option<PendingAppend> {
        let deadline = tokio::time::Instant::now()
            + std::time::Duration::from_millis(params.timeout_ms.max(0) as u64);
        let work: Vec<(Target, Option<Bytes>)> = inputs
            .into_iter()
            .map(|i| (self.append_target(image, params, &i), i.records))
            .collect();
        let mut needs = AppendNeeds {
            may_fsync: false,
            page_cache: false,
            bytes: 0,
        };
        for (target, records) in &work {
            needs.bytes += records.as_ref().map_or(0, Bytes::len);
            if let Ok(p) = target {
                needs.may_fsync |= p.append_may_fsync();
                needs.page_cache |= !p.group_commit();
            }
        }
        let acks = params.acks;
        // Append every partition first, then wait for all of them to be durable at once: the
        // fsyncs of different partitions run side by side instead of one after another.
        let append_all = move || {
            work.into_iter()
                .map(|(target, records)| append_one(target, records, acks, now_ms()))
                .collect::<Vec<_>>()
        };
        // Inline unless the appends might block for long (see `append_route`): a hop to the
        // blocking pool costs more than a page-cache write of a request.
        let appended = if self.append_routing().inline(needs, Instant::now()) {
            append_all()
        } else {
            crate::api::blocking(append_all).await?
        };
        Some(PendingAppend {
            appended,
            acks,
            deadline,
        })
    }

    /// The guards before a partition's batch is looked at: acks, internal topic,
    /// transactions, leadership.
    fn append_target(
        &self,
        image: &MetadataImage,
        params: AppendParams,
        input: &AppendInput,
    ) -> Target {
        if !matches!(params.acks, -1..=1) {
            return Err(ResponseError::InvalidRequiredAcks.code());
        }
        let name = input.topic.as_deref().map_err(|code| *code)?;
        if name == crate::coordinator::OFFSETS_TOPIC {
            Err(ResponseError::InvalidTopicException.code())
        } else {
            self.leader_partition(image, name, input.index)
                .map_err(|e| e.code())
        }
    }
}

impl PendingAppend {
    /// The appends' outcomes, in input order (what [`PendingAppend::complete`] waits on).
    pub fn appended(&self) -> &[Appended] {
        &self.appended
    }

    /// Waits until every appended batch is durable (one group-commit round for all) and, for
    /// acks=all, committed; one answer per input partition, in order. `None` for acks=0.
    pub async fn complete(self) -> Option<Vec<AppendResult>> {
        let PendingAppend {
            appended,
            acks,
            deadline,
        } = self;
        let mut results: Vec<AppendResult> = Vec::with_capacity(appended.len());
        let mut ok = Vec::with_capacity(appended.len());
        for (slot, outcome) in appended.into_iter().enumerate() {
            match outcome {
                Ok((partition, info, epoch)) => {
                    ok.push((slot, partition, info, epoch));
                    results.push(AppendResult::failed(0, None));
                }
                Err(refusal) => results.push(refusal),
            }
        }
        let waits: Vec<(&Partition, i64)> = ok
            .iter()
            .map(|(_, p, info, _)| (p.as_ref(), info.last_offset + 1))
            .collect();
        // Awaited, not waited for on the blocking pool: the log directory's helper threads run
        // the round's fsyncs, so many requests of a connection can wait at once for one round.
        let locals = Partition::wait_durable_all_async(&waits).await;
        for (i, (slot, partition, info, epoch)) in ok.iter().enumerate() {
            let mut r = match locals.get(i) {
                Some(Ok(())) => AppendResult::appended(info),
                Some(Err(e)) => storage_failed(partition, e),
                None => AppendResult::failed(ResponseError::UnknownServerError.code(), None),
            };
            // acks=all: the waits overlap (each only watches its partition's high watermark),
            // so awaiting them one after another takes as long as the slowest.
            if acks == -1 && r.error_code == 0 {
                let end = info.last_offset + 1;
                if let Err(e) = partition.wait_committed(end, *epoch, deadline).await {
                    r = AppendResult::failed(commit_error_code(e), Some(format!("{e:?}")));
                }
            }
            results[*slot] = r;
        }
        (acks != 0).then_some(results)
    }
}

/// A failed fsync's answer (the append must not be acknowledged).
fn storage_failed(partition: &Partition, e: &LogError) -> AppendResult {
    tracing::error!(topic = %partition.topic, partition = partition.index, error = %e, "fsync failed");
    AppendResult::failed(ResponseError::KafkaStorageError.code(), Some(e.to_string()))
}

/// The Kafka error for an acks=all wait that did not end in the ISR having the batch.
pub fn commit_error_code(e: CommitError) -> i16 {
    match e {
        CommitError::NotLeader => ResponseError::NotLeaderOrFollower.code(),
        CommitError::NotEnoughReplicasAfterAppend => {
            ResponseError::NotEnoughReplicasAfterAppend.code()
        }
        CommitError::TimedOut => ResponseError::RequestTimedOut.code(),
    }
}

fn refuse(code: i16, message: impl Into<String>) -> AppendResult {
    AppendResult::failed(code, Some(message.into()))
}

/// Checks and appends one partition's batch (durability is awaited separately): one magic-2
/// batch, no transactional batch, `min.insync.replicas` for acks=all, a valid batch. Used by
/// the replication simulation as the leader's append. Blocking.
pub fn append_one(target: Target, records: Option<Bytes>, acks: i16, now_ms: i64) -> Appended {
    let partition = target.map_err(|code| AppendResult::failed(code, None))?;
    let invalid = ResponseError::InvalidRecord.code();
    // Java's ProduceRequest.validateRecords: v3+ carries exactly one magic-2 batch.
    let records = match records {
        Some(r) if r.len() > MAGIC_OFFSET && r[MAGIC_OFFSET] != 2 => {
            let magic = r[MAGIC_OFFSET];
            return Err(refuse(
                invalid,
                format!("produce requests v3+ must use record batch magic 2, got {magic}"),
            ));
        }
        Some(r) if !r.is_empty() => r,
        _ => {
            let why = "produce requests v3+ must carry exactly one record batch";
            return Err(refuse(invalid, why));
        }
    };
    match BatchHeader::parse(&records) {
        Ok(h) if h.total_len() < records.len() => {
            let why = "produce requests must carry exactly one record batch per partition";
            return Err(refuse(invalid, why));
        }
        _ => {}
    }
    let isr = partition.isr_len() as i64;
    let min_isr = partition.min_insync_replicas();
    if acks == -1 && isr < min_isr {
        let code = ResponseError::NotEnoughReplicas.code();
        let why = format!("min.insync.replicas={min_isr} but the ISR has {isr} replica(s)");
        return Err(refuse(code, why));
    }
    let epoch = partition.leader_epoch();
    // Validation (CRC-32C over the whole batch) runs before the append lock is taken; the
    // append writes the client's bytes from the request buffer, not a copy, unless the
    // topic's compression.type rewrites the batch.
    let valid = ValidBatch::new(&records).map_err(|e| refuse(log_error_code(&e), e.to_string()))?;
    let rules = partition.produce_rules();
    produce_checks::check_records(&records, &rules, now_ms, &partition.topic, partition.index)
        .map_err(AppendResult::refused)?;
    let stored =
        produce_checks::recompress_for_topic(&records, &rules).map_err(AppendResult::refused)?;
    let rewritten;
    let valid = match &stored {
        Cow::Borrowed(_) => valid,
        Cow::Owned(bytes) => {
            rewritten =
                ValidBatch::new(bytes).map_err(|e| refuse(log_error_code(&e), e.to_string()))?;
            rewritten
        }
    };
    let info = partition.append_valid(&valid, now_ms).map_err(|e| {
        tracing::debug!(topic = %partition.topic, partition = partition.index, error = %e, "produce refused");
        refuse(log_error_code(&e), e.to_string())
    })?;
    crate::observe::topic::produced(&partition.topic, &info);
    Ok((partition, info, epoch))
}
