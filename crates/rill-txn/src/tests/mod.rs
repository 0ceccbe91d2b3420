//! State machine tests: the harness plays the shell (a durable log per `__transaction_state`
//! partition, a producer id allocator, a marker writer) and the submodules check the
//! answers Kafka's coordinator would give; `model` is the seeded property test.

mod admin;
mod end;
mod init;
mod lifecycle;
mod model;
mod ops;

use std::collections::VecDeque;

use bytes::Bytes;

use crate::config::TxnConfig;
use crate::coordinator::TxnCoordinator;
use crate::error::TxnError;
use crate::init::InitProducerIdRequest;
use crate::output::{Answer, MarkerBatch, Output, Reply};
use crate::records::{decode_value, encode_key, encode_value, StoredTxn, TxnRecord};
use crate::state::TxnState;
use crate::txn_ops::TxnProducer;
use crate::types::{ProducerIdAndEpoch, RequestId, TopicPartition, TxnResult};

/// The transactional id most tests use.
pub(super) const T: &str = "tx";
/// Partitions of `__transaction_state` in tests.
pub(super) const PARTITIONS: i32 = 4;
/// The coordinator epoch partitions are first loaded in.
pub(super) const EPOCH: i32 = 7;

pub(super) fn cfg() -> TxnConfig {
    TxnConfig {
        num_partitions: PARTITIONS,
        max_timeout_ms: 60_000,
        transactional_id_expiration_ms: 100_000,
        abort_timed_out_interval_ms: 1_000,
        remove_expired_interval_ms: 10_000,
        ..TxnConfig::default()
    }
}

pub(super) fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

/// One durable record of the harness's log.
#[derive(Debug, Clone)]
pub(super) struct LogRecord {
    pub(super) partition: i32,
    pub(super) key: Bytes,
    pub(super) value: Option<Bytes>,
}

/// The shell.
pub(super) struct Harness {
    pub(super) c: TxnCoordinator,
    pub(super) now: i64,
    pub(super) next_request: RequestId,
    pub(super) next_producer_id: i64,
    /// Durable records, in append order.
    pub(super) log: Vec<LogRecord>,
    /// Records handed over and not reported yet.
    pub(super) inflight: VecDeque<TxnRecord>,
    /// Marker batches not reported yet.
    pub(super) markers: Vec<MarkerBatch>,
    /// Every reply received.
    pub(super) replies: Vec<Reply>,
}

impl Harness {
    /// A coordinator owning every partition (loaded empty in [`EPOCH`]) at t=1000.
    pub(super) fn new() -> Self {
        Self::with(cfg())
    }

    pub(super) fn with(config: TxnConfig) -> Self {
        let mut h = Harness {
            c: TxnCoordinator::new(config),
            now: 1_000,
            next_request: 0,
            next_producer_id: 1000,
            log: Vec::new(),
            inflight: VecDeque::new(),
            markers: Vec::new(),
            replies: Vec::new(),
        };
        for p in 0..PARTITIONS {
            h.c.begin_load(p, EPOCH);
            let out = h.c.loaded_partition(p, EPOCH, h.now);
            h.absorb(out);
        }
        h
    }

    /// Takes in what a call returned.
    pub(super) fn absorb(&mut self, out: Output) {
        self.inflight.extend(out.records);
        self.replies.extend(out.replies);
        self.markers.extend(out.markers);
    }

    fn request_id(&mut self) -> RequestId {
        self.next_request += 1;
        self.next_request
    }

    /// The answer to `request`, if any came.
    pub(super) fn answer(&self, request: RequestId) -> Option<&Answer> {
        self.replies
            .iter()
            .find(|r| r.request == request)
            .map(|r| &r.answer)
    }

    /// The answer of an AddPartitions/AddOffsets/EndTxn request.
    pub(super) fn done(&self, request: RequestId) -> Result<(), TxnError> {
        match self.answer(request) {
            Some(Answer::Done(r)) => r.clone(),
            other => panic!("request {request}: expected a Done answer, got {other:?}"),
        }
    }

    /// The answer of an InitProducerId request.
    pub(super) fn pid(&self, request: RequestId) -> Result<ProducerIdAndEpoch, TxnError> {
        match self.answer(request) {
            Some(Answer::ProducerId(r)) => r.clone(),
            other => panic!("request {request}: expected a ProducerId answer, got {other:?}"),
        }
    }

    /// InitProducerId, unsettled: returns the request id.
    pub(super) fn init_req(
        &mut self,
        id: &str,
        timeout_ms: i32,
        expected: Option<ProducerIdAndEpoch>,
    ) -> RequestId {
        let r = self.request_id();
        let req = InitProducerIdRequest {
            transactional_id: id.into(),
            txn_timeout_ms: timeout_ms,
            expected,
        };
        let next = &mut self.next_producer_id;
        let mut alloc = || {
            let pid = *next;
            *next += 1;
            Ok(pid)
        };
        let out = self.c.init_producer_id(r, &req, &mut alloc, self.now);
        self.absorb(out);
        r
    }

    /// InitProducerId settled: the answer.
    pub(super) fn init(
        &mut self,
        id: &str,
        expected: Option<ProducerIdAndEpoch>,
    ) -> Result<ProducerIdAndEpoch, TxnError> {
        let r = self.init_req(id, 10_000, expected);
        self.settle();
        self.pid(r)
    }

    /// A producer of `id` initialized from scratch.
    pub(super) fn producer(&mut self, id: &str) -> TxnProducer {
        let p = self.init(id, None).expect("init");
        TxnProducer::new(id, p.producer_id, p.epoch)
    }

    /// AddPartitionsToTxn, unsettled.
    pub(super) fn add_req(&mut self, p: &TxnProducer, parts: &[TopicPartition]) -> RequestId {
        let r = self.request_id();
        let out = self.c.add_partitions(r, p, parts, self.now);
        self.absorb(out);
        r
    }

    /// AddPartitionsToTxn settled.
    pub(super) fn add(
        &mut self,
        p: &TxnProducer,
        parts: &[TopicPartition],
    ) -> Result<(), TxnError> {
        let r = self.add_req(p, parts);
        self.ack_all();
        self.done(r)
    }

    /// EndTxn, unsettled.
    pub(super) fn end_req(&mut self, p: &TxnProducer, commit: bool) -> RequestId {
        let r = self.request_id();
        let out = self
            .c
            .end_txn(r, p, TxnResult::from_commit(commit), self.now);
        self.absorb(out);
        r
    }

    /// EndTxn settled (markers written, Complete durable).
    pub(super) fn end(&mut self, p: &TxnProducer, commit: bool) -> Result<(), TxnError> {
        let r = self.end_req(p, commit);
        self.settle();
        self.done(r)
    }

    /// Reports the oldest in-flight record durable.
    pub(super) fn ack_one(&mut self) -> bool {
        let Some(rec) = self.inflight.pop_front() else {
            return false;
        };
        self.log.push(LogRecord {
            partition: rec.partition,
            key: rec.key,
            value: rec.value,
        });
        let out = self.c.on_append_complete(rec.write_id, self.now);
        self.absorb(out);
        true
    }

    /// Reports the oldest in-flight record failed with `error`.
    pub(super) fn fail_one(&mut self, error: TxnError) -> bool {
        let Some(rec) = self.inflight.pop_front() else {
            return false;
        };
        let out = self.c.on_append_failed(rec.write_id, error, self.now);
        self.absorb(out);
        true
    }

    /// Reports every in-flight record durable (and the ones that follow).
    pub(super) fn ack_all(&mut self) {
        while self.ack_one() {}
    }

    /// Reports every marker batch written.
    pub(super) fn write_markers(&mut self) {
        for b in std::mem::take(&mut self.markers) {
            let out = self.c.markers_written(
                &b.transactional_id,
                b.coordinator_epoch,
                &b.partitions,
                self.now,
            );
            self.absorb(out);
        }
    }

    /// Until nothing is in flight: records acked, markers written.
    pub(super) fn settle(&mut self) {
        while !self.inflight.is_empty() || !self.markers.is_empty() {
            self.ack_all();
            self.write_markers();
        }
    }

    /// Moves time on and ticks.
    pub(super) fn advance(&mut self, ms: i64) {
        self.now += ms;
        let out = self.c.tick(self.now);
        self.absorb(out);
    }

    /// The state of an id (`None` when unknown).
    pub(super) fn state(&self, id: &str) -> Option<TxnState> {
        self.c.get(id).map(|m| m.state)
    }

    /// The last durable value of `id` (`None`: none or a tombstone).
    pub(super) fn last_stored(&self, id: &str) -> Option<StoredTxn> {
        let key = encode_key(id);
        self.log
            .iter()
            .rev()
            .find(|r| r.key == key)
            .and_then(|r| r.value.as_ref())
            .map(|v| decode_value(v).expect("decodes"))
    }

    /// Loses every partition and loads it again from the log in `epoch`.
    pub(super) fn failover(&mut self, epoch: i32) {
        self.inflight.clear();
        self.markers.clear();
        for p in 0..PARTITIONS {
            let out = self.c.begin_load(p, epoch);
            self.absorb(out);
            for r in self.log.iter().filter(|r| r.partition == p) {
                self.c.replay(&r.key, r.value.as_deref()).expect("replays");
            }
            let out = self.c.loaded_partition(p, epoch, self.now);
            self.absorb(out);
        }
    }

    /// Appends a record to the log as if an earlier coordinator had written it (then a
    /// failover makes it the state).
    pub(super) fn seed(&mut self, id: &str, v: &StoredTxn) {
        self.log.push(LogRecord {
            partition: self.c.partition_for(id),
            key: encode_key(id),
            value: Some(encode_value(v, 1)),
        });
    }
}

/// A stored value with the given essentials and everything else neutral.
pub(super) fn stored(
    producer_id: i64,
    epoch: i16,
    state: TxnState,
    parts: &[TopicPartition],
) -> StoredTxn {
    StoredTxn {
        producer_id,
        previous_producer_id: crate::types::NO_PRODUCER_ID,
        next_producer_id: crate::types::NO_PRODUCER_ID,
        producer_epoch: epoch,
        txn_timeout_ms: 10_000,
        state,
        partitions: parts.iter().cloned().collect(),
        txn_last_update_timestamp_ms: 500,
        txn_start_timestamp_ms: if parts.is_empty() { -1 } else { 400 },
        client_transaction_version: 0,
    }
}

/// The error of an answer.
pub(super) fn err<T: std::fmt::Debug>(r: Result<T, TxnError>) -> TxnError {
    match r {
        Err(e) => e,
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}
