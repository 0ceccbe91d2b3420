//! Produce: validate each partition's record batch, append it as the client sent it (offsets
//! patched in place), wait for durability (fsync group commit) and answer.
//!
//! acks=0 gets no response; acks=1 answers once the batch is durable on the leader under the
//! topic's flush policy; acks=all answers once every ISR member has it (the high watermark
//! passed it) and refuses with NOT_ENOUGH_REPLICAS when the ISR is smaller than
//! `min.insync.replicas` (NOT_ENOUGH_REPLICAS_AFTER_APPEND when it shrank while waiting).
//! A batch is never decoded record by record.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::ResponseError;
use rill_log::{AppendInfo, BatchHeader, LogError, ValidBatch};

use super::append_route::AppendNeeds;
use super::errors::log_error_code;
use super::{blocking, str_bytes, RequestContext};
use crate::broker::Broker;
use crate::clock::now_ms;
use crate::replica::{CommitError, Partition};

/// Where the magic byte sits in a record batch header.
const MAGIC_OFFSET: usize = 16;

/// One partition's part of the request, resolved.
struct Work {
    /// Index into the response topics.
    topic_idx: usize,
    /// The partition, or the error to answer.
    target: Result<Arc<Partition>, i16>,
    /// Partition index.
    index: i32,
    /// The batch bytes.
    records: Option<Bytes>,
}

/// A produce request whose batches are appended and whose durability is still awaited.
pub struct ProduceInFlight {
    /// The response skeleton (topics in request order).
    response: ProduceResponse,
    /// Per partition: (topic slot, partition, the appended batch or the error answer).
    appended: Vec<(usize, i32, Appended)>,
    /// The request's acks.
    acks: i16,
    /// When acks=all waits give up (the request's timeout).
    deadline: tokio::time::Instant,
}

/// One partition's append outcome: the partition, what was appended, and the leader epoch
/// it was appended in.
type Appended = Result<(Arc<Partition>, AppendInfo, i32), Refusal>;

/// Why a partition's batch was not appended: the Kafka error code and a message.
#[derive(Debug)]
pub struct Refusal {
    /// Kafka error code.
    code: i16,
    /// Human-readable reason.
    message: Option<String>,
}

fn refuse(code: i16, message: Option<String>) -> Refusal {
    Refusal { code, message }
}

/// Answers Produce; `None` for acks=0.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ProduceRequest,
) -> Option<ProduceResponse> {
    append(broker, ctx, req).await?.finish().await
}

/// Validates and appends every partition's batch, in request order. The connection awaits
/// this before it reads its next request, so one producer's batches keep their order; the
/// durability wait ([`ProduceInFlight::finish`]) may then overlap the next requests.
pub async fn append(
    broker: &Arc<Broker>,
    _ctx: &RequestContext,
    req: ProduceRequest,
) -> Option<ProduceInFlight> {
    let acks = req.acks;
    let deadline = tokio::time::Instant::now()
        + std::time::Duration::from_millis(req.timeout_ms.max(0) as u64);
    let image = broker.image();
    let mut response = ProduceResponse::default();
    let mut work = Vec::new();
    for topic in req.topic_data {
        let name = if topic.name.0.is_empty() {
            image.topic_by_id(&topic.topic_id).map(|t| t.name.clone())
        } else {
            Some(topic.name.0.to_string())
        };
        let unknown = if topic.name.0.is_empty() {
            ResponseError::UnknownTopicId
        } else {
            ResponseError::UnknownTopicOrPartition
        };
        let mut tr = TopicProduceResponse::default();
        // A copy: the request's buffer is freed (and its queued bytes released) at once.
        tr.name = TopicName(str_bytes(topic.name.0.as_str()));
        tr.topic_id = topic.topic_id;
        let topic_idx = response.responses.len();
        response.responses.push(tr);
        for p in topic.partition_data {
            let target = if !matches!(acks, -1..=1) {
                Err(ResponseError::InvalidRequiredAcks.code())
            } else if name
                .as_deref()
                .is_some_and(|n| n == crate::coordinator::OFFSETS_TOPIC)
            {
                Err(ResponseError::InvalidTopicException.code())
            } else if req.transactional_id.is_some() {
                Err(ResponseError::TransactionalIdAuthorizationFailed.code())
            } else {
                match name.as_deref() {
                    None => Err(unknown.code()),
                    Some(n) => broker.leader_partition(n, p.index).map_err(|e| e.code()),
                }
            };
            work.push(Work {
                topic_idx,
                target,
                index: p.index,
                records: p.records,
            });
        }
    }
    let mut needs = AppendNeeds {
        may_fsync: false,
        page_cache: false,
        bytes: 0,
    };
    for w in &work {
        needs.bytes += w.records.as_ref().map_or(0, Bytes::len);
        if let Ok(p) = &w.target {
            needs.may_fsync |= p.append_may_fsync();
            needs.page_cache |= !p.group_commit();
        }
    }
    // Append every partition first, then wait for all of them to be durable at once: the
    // fsyncs of different partitions run side by side instead of one after another.
    let append_all = move || {
        work.into_iter()
            .map(|w| (w.topic_idx, w.index, append_one(w.target, w.records, acks)))
            .collect::<Vec<_>>()
    };
    // Inline unless the appends might block for long (see `append_route`): a hop to the
    // blocking pool costs more than a page-cache write of a request.
    let appended = if broker.append_routing.inline(needs, Instant::now()) {
        append_all()
    } else {
        blocking(append_all).await?
    };
    Some(ProduceInFlight {
        response,
        appended,
        acks,
        deadline,
    })
}

impl ProduceInFlight {
    /// Waits until every appended batch is durable (concurrently across partitions) and
    /// builds the answer; `None` for acks=0.
    pub async fn finish(self) -> Option<ProduceResponse> {
        let ProduceInFlight {
            mut response,
            appended,
            acks,
            deadline,
        } = self;
        let mut results = Vec::with_capacity(appended.len());
        let mut ok = Vec::with_capacity(appended.len());
        for (slot, (topic_idx, index, outcome)) in appended.into_iter().enumerate() {
            match outcome {
                Ok((partition, info, epoch)) => {
                    ok.push((slot, partition, info, epoch));
                    results.push((topic_idx, index, PartitionProduceResponse::default()));
                }
                Err(r) => results.push((topic_idx, index, failed(r.code, r.message))),
            }
        }
        // Local durability of every batch in one blocking task: they are queued together, so
        // one group-commit round (its fsyncs side by side) covers them all.
        let waits: Vec<(Arc<Partition>, AppendInfo)> = ok
            .iter()
            .map(|(_, p, info, _)| (p.clone(), info.clone()))
            .collect();
        // Awaited, not waited for on the blocking pool: the log directory's helper threads run
        // the round's fsyncs, so many requests of a connection can wait at once for one round.
        let locals = durable_all(&waits).await;
        for (i, (slot, partition, info, epoch)) in ok.into_iter().enumerate() {
            let mut pr = match locals.get(i) {
                Some(pr) => pr.clone(),
                None => failed(ResponseError::UnknownServerError.code(), None),
            };
            // acks=all: the waits overlap (each only watches the high watermark), so awaiting
            // them one after another takes as long as the slowest.
            if acks == -1 && pr.error_code == 0 {
                let end = info.last_offset + 1;
                if let Err(e) = partition.wait_committed(end, epoch, deadline).await {
                    pr = failed(commit_error_code(e), Some(format!("{e:?}")));
                }
            }
            results[slot].2 = pr;
        }
        // Consumers parked on these partitions were woken when their high watermarks moved.
        for (topic_idx, index, pr) in results {
            let mut pr = pr;
            pr.index = index;
            response.responses[topic_idx].partition_responses.push(pr);
        }
        (acks != 0).then_some(response)
    }
}

/// The Kafka error for an acks=all wait that did not end in the ISR having the batch.
fn commit_error_code(e: CommitError) -> i16 {
    match e {
        CommitError::NotLeader => ResponseError::NotLeaderOrFollower.code(),
        CommitError::NotEnoughReplicasAfterAppend => {
            ResponseError::NotEnoughReplicasAfterAppend.code()
        }
        CommitError::TimedOut => ResponseError::RequestTimedOut.code(),
    }
}

fn failed(code: i16, message: Option<String>) -> PartitionProduceResponse {
    let mut r = PartitionProduceResponse::default();
    r.error_code = code;
    r.base_offset = -1;
    r.log_append_time_ms = -1;
    r.log_start_offset = -1;
    r.error_message = message.map(str_bytes);
    r
}

/// Appends one partition's batch; durability is awaited separately ([`durable`]). Blocking.
fn append_one(target: Result<Arc<Partition>, i16>, records: Option<Bytes>, acks: i16) -> Appended {
    let partition = match target {
        Ok(p) => p,
        Err(code) => return Err(refuse(code, None)),
    };
    // Java's ProduceRequest.validateRecords: v3+ carries exactly one magic-2 batch.
    let records = match records {
        Some(r) if r.len() > MAGIC_OFFSET && r[MAGIC_OFFSET] != 2 => {
            return Err(refuse(
                ResponseError::InvalidRecord.code(),
                Some(format!(
                    "produce requests v3+ must use record batch magic 2, got {}",
                    r[MAGIC_OFFSET]
                )),
            ))
        }
        Some(r) if !r.is_empty() => r,
        _ => {
            return Err(refuse(
                ResponseError::InvalidRecord.code(),
                Some("produce requests v3+ must carry exactly one record batch".into()),
            ))
        }
    };
    match BatchHeader::parse(&records) {
        Ok(h) if h.total_len() < records.len() => {
            return Err(refuse(
                ResponseError::InvalidRecord.code(),
                Some("produce requests must carry exactly one record batch per partition".into()),
            ))
        }
        Ok(h) if h.is_transactional() => {
            return Err(refuse(
                ResponseError::TransactionalIdAuthorizationFailed.code(),
                Some("transactions are not supported yet".into()),
            ))
        }
        _ => {}
    }
    let isr = partition.isr_len() as i64;
    if acks == -1 && isr < partition.min_insync_replicas() {
        return Err(refuse(
            ResponseError::NotEnoughReplicas.code(),
            Some(format!(
                "min.insync.replicas={} but the ISR has {isr} replica(s)",
                partition.min_insync_replicas()
            )),
        ));
    }
    let epoch = partition.leader_epoch();
    // Validation (CRC-32C over the whole batch) runs before the append lock is taken; the
    // append writes the client's bytes from the request buffer, not a copy.
    let valid = match ValidBatch::new(&records) {
        Ok(v) => v,
        Err(e) => return Err(refuse(log_error_code(&e), Some(e.to_string()))),
    };
    let info = match partition.append_valid(&valid, now_ms()) {
        Ok(info) => info,
        Err(e) => {
            tracing::debug!(topic = %partition.topic, partition = partition.index, error = %e, "produce refused");
            return Err(refuse(log_error_code(&e), Some(e.to_string())));
        }
    };
    crate::observe::topic::produced(&partition.topic, &info);
    Ok((partition, info, epoch))
}

/// Awaits until the appended batches are durable (one group-commit round for all) and builds
/// their answers, in order.
async fn durable_all(waits: &[(Arc<Partition>, AppendInfo)]) -> Vec<PartitionProduceResponse> {
    answers(Partition::wait_durable_all_async(&ends(waits)).await, waits)
}

/// Each appended batch's partition and the offset after it.
fn ends(waits: &[(Arc<Partition>, AppendInfo)]) -> Vec<(&Partition, i64)> {
    waits
        .iter()
        .map(|(p, info)| (p.as_ref(), info.last_offset + 1))
        .collect()
}

/// The produce answers for the durability results of `waits`, in order.
fn answers(
    results: Vec<Result<(), LogError>>,
    waits: &[(Arc<Partition>, AppendInfo)],
) -> Vec<PartitionProduceResponse> {
    results
        .into_iter()
        .zip(waits)
        .map(|(r, (partition, info))| match r {
            Err(e) => {
                tracing::error!(topic = %partition.topic, partition = partition.index, error = %e, "fsync failed");
                failed(ResponseError::KafkaStorageError.code(), Some(e.to_string()))
            }
            Ok(()) => {
                let mut r = PartitionProduceResponse::default();
                r.base_offset = info.base_offset;
                r.log_append_time_ms = info.log_append_time_ms;
                r.log_start_offset = info.log_start_offset;
                r
            }
        })
        .collect()
}
