//! Seeded model test: random sequences of InitProducerId (fresh, KIP-360 current, stale),
//! AddPartitions, EndTxn, verification, appends that complete or fail, markers written in
//! pieces, time passing (timeouts, expiry, retries) and coordinator failovers (the
//! partitions reloaded from the records durable so far, with a random prefix of the
//! in-flight records made durable first). After every step it checks:
//!
//! - every request gets exactly one answer (and none is left unanswered once settled);
//! - epochs never go backwards for a producer id, in the log and in InitProducerId
//!   answers, and a producer id replaced for a transactional id never comes back;
//! - a success only ever goes to the producer of the latest durable record (so a fenced
//!   producer never gets one), InitProducerId's only once its record is durable;
//! - every Prepare record is followed by exactly one Complete record of the same result and
//!   producer, and nothing ends in a Prepare once settled;
//! - markers are emitted only for the durable Prepare record they complete;
//! - replaying the durable records rebuilds exactly the coordinator's durable metadata.
//!
//! The seed is fixed so the run is reproducible; change `SEED` to explore.

use std::collections::{BTreeSet, HashMap};

use proptest::prelude::*;
use proptest::test_runner::RngSeed;

use super::*;
use crate::records::decode_key;

const SEED: u64 = 0x7e57_c0de_2024;
const IDS: [&str; 3] = ["t0", "t1", "t2"];
const TOPICS: [(&str, i32); 4] = [("a", 0), ("a", 1), ("b", 0), ("c", 5)];

#[derive(Debug, Clone)]
enum Expected {
    None,
    Current,
    Stale(usize),
    Foreign,
}

#[derive(Debug, Clone)]
enum Op {
    Init {
        id: usize,
        timeout_ms: i32,
        expected: Expected,
    },
    Add {
        id: usize,
        stale: Option<usize>,
        parts: u8,
    },
    End {
        id: usize,
        stale: Option<usize>,
        commit: bool,
    },
    Verify {
        id: usize,
        parts: u8,
    },
    Ack,
    Fail(u8),
    Markers {
        batch: usize,
        all: bool,
    },
    Advance(i64),
    Failover {
        keep: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0..IDS.len();
    let expected = prop_oneof![
        3 => Just(Expected::None),
        3 => Just(Expected::Current),
        1 => (0usize..8).prop_map(Expected::Stale),
        1 => Just(Expected::Foreign),
    ];
    prop_oneof![
        3 => (id.clone(), 500i32..4_000, expected)
            .prop_map(|(id, timeout_ms, expected)| Op::Init { id, timeout_ms, expected }),
        6 => (id.clone(), proptest::option::weighted(0.1, 0usize..8), 1u8..16)
            .prop_map(|(id, stale, parts)| Op::Add { id, stale, parts }),
        3 => (id.clone(), proptest::option::weighted(0.1, 0usize..8), any::<bool>())
            .prop_map(|(id, stale, commit)| Op::End { id, stale, commit }),
        1 => (id, 1u8..16).prop_map(|(id, parts)| Op::Verify { id, parts }),
        16 => Just(Op::Ack),
        2 => (0u8..3).prop_map(Op::Fail),
        6 => (0usize..4, any::<bool>()).prop_map(|(batch, all)| Op::Markers { batch, all }),
        2 => (0i64..1_500).prop_map(Op::Advance),
        1 => (0usize..4).prop_map(|keep| Op::Failover { keep }),
    ]
}

/// What a parked request was.
#[derive(Debug, Clone)]
enum Asked {
    Init(usize),
    Add(usize, TxnProducer, Vec<TopicPartition>),
    End(usize, TxnProducer, TxnResult),
}

/// The shell, the clients, and the checks.
struct Model {
    c: TxnCoordinator,
    version: i16,
    now: i64,
    epoch: i32,
    next_request: RequestId,
    next_producer_id: i64,
    log: Vec<LogRecord>,
    inflight: VecDeque<TxnRecord>,
    markers: Vec<MarkerBatch>,
    parked: HashMap<RequestId, Asked>,
    /// Per id: the producer its client uses now, and older ones (zombies).
    current: [Option<ProducerIdAndEpoch>; 3],
    stale: Vec<(usize, ProducerIdAndEpoch)>,
    /// Highest epoch durable for each producer id.
    max_epoch: HashMap<i64, i16>,
    /// Highest epoch answered to InitProducerId for each producer id.
    max_answered: HashMap<i64, i16>,
    /// Producer ids a transactional id moved away from.
    retired: BTreeSet<(usize, i64)>,
}

fn parts_of(mask: u8) -> Vec<TopicPartition> {
    TOPICS
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, (t, p))| tp(t, *p))
        .collect()
}

fn id_index(id: &str) -> usize {
    IDS.iter().position(|i| *i == id).expect("known id")
}

impl Model {
    fn new(version: i16) -> Self {
        let config = TxnConfig {
            num_partitions: 2,
            max_timeout_ms: 5_000,
            transactional_id_expiration_ms: 20_000,
            abort_timed_out_interval_ms: 500,
            remove_expired_interval_ms: 5_000,
            log_value_version: version,
            append_retry_backoff_ms: 100,
        };
        let mut m = Model {
            c: TxnCoordinator::new(config),
            version,
            now: 1_000,
            epoch: 0,
            next_request: 0,
            next_producer_id: 100,
            log: Vec::new(),
            inflight: VecDeque::new(),
            markers: Vec::new(),
            parked: HashMap::new(),
            current: [None, None, None],
            stale: Vec::new(),
            max_epoch: HashMap::new(),
            max_answered: HashMap::new(),
            retired: BTreeSet::new(),
        };
        // "t2" starts three bumps short of an exhausted epoch, as an older coordinator
        // left it, so rotations happen.
        let mut seed = stored(50, i16::MAX - 4, TxnState::CompleteCommit, &[]);
        seed.txn_last_update_timestamp_ms = 1_000;
        seed.txn_start_timestamp_ms = 900;
        m.max_epoch.insert(50, seed.producer_epoch);
        m.log.push(LogRecord {
            partition: m.c.partition_for(IDS[2]),
            key: encode_key(IDS[2]),
            value: Some(encode_value(&seed, version)),
        });
        m.failover(0);
        m
    }

    /// The last durable value of `id`: `None` for none or a tombstone.
    fn durable(&self, id: &str) -> Option<StoredTxn> {
        let key = encode_key(id);
        self.log
            .iter()
            .rev()
            .find(|r| r.key == key)
            .and_then(|r| r.value.as_ref())
            .map(|v| decode_value(v).expect("our records decode"))
    }

    /// A record becomes durable: the log checks.
    fn append(&mut self, r: LogRecord) {
        let id = decode_key(&r.key).expect("key");
        assert_eq!(r.partition, self.c.partition_for(&id));
        let prev = self.durable(&id);
        if let Some(v) = r.value.as_deref() {
            let v = decode_value(v).expect("value");
            let idx = id_index(&id);
            let max = self
                .max_epoch
                .entry(v.producer_id)
                .or_insert(v.producer_epoch);
            assert!(
                v.producer_epoch >= *max,
                "{id}: epoch of {} went back from {max} to {}",
                v.producer_id,
                v.producer_epoch
            );
            *max = v.producer_epoch;
            assert!(
                !self.retired.contains(&(idx, v.producer_id)),
                "{id}: retired producer id {} is back",
                v.producer_id
            );
            if let Some(p) = &prev {
                if p.producer_id != v.producer_id {
                    self.retired.insert((idx, p.producer_id));
                }
            }
            match (prev.as_ref().map(|p| p.state), v.state) {
                (Some(TxnState::PrepareCommit), s) => {
                    assert_eq!(s, TxnState::CompleteCommit, "{id}: PrepareCommit then {s}")
                }
                (Some(TxnState::PrepareAbort), s) => {
                    assert_eq!(s, TxnState::CompleteAbort, "{id}: PrepareAbort then {s}")
                }
                (p, TxnState::CompleteCommit) => {
                    panic!("{id}: CompleteCommit after {p:?}")
                }
                (p, TxnState::CompleteAbort) => panic!("{id}: CompleteAbort after {p:?}"),
                _ => {}
            }
            if let Some(p) = &prev {
                if matches!(p.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
                    assert_eq!(
                        (p.producer_id, p.producer_epoch),
                        (v.producer_id, v.producer_epoch),
                        "{id}: Complete by another producer"
                    );
                }
            }
            assert_ne!(v.state, TxnState::Dead, "Dead is never written");
            assert_ne!(v.state, TxnState::PrepareEpochFence, "never written");
        } else if let Some(p) = &prev {
            assert!(
                p.state.is_expiration_allowed(),
                "{id}: tombstone in state {}",
                p.state
            );
            self.retired.insert((id_index(&id), p.producer_id));
        }
        self.log.push(r);
    }

    /// Takes in a call's output, checking replies and markers.
    fn absorb(&mut self, out: Output) {
        self.inflight.extend(out.records);
        for b in out.markers {
            let v = self
                .durable(&b.transactional_id)
                .expect("markers of an id with a durable record");
            let want = match b.result {
                TxnResult::Commit => TxnState::PrepareCommit,
                TxnResult::Abort => TxnState::PrepareAbort,
            };
            assert_eq!(v.state, want, "markers without a durable Prepare: {b:?}");
            assert_eq!(
                (v.producer_id, v.producer_epoch),
                (b.producer_id, b.producer_epoch)
            );
            assert_eq!(b.coordinator_epoch, self.epoch);
            assert_eq!(
                b.partitions.iter().cloned().collect::<BTreeSet<_>>(),
                v.partitions,
                "markers for the Prepare's partitions"
            );
            self.markers.push(b);
        }
        for r in out.replies {
            let asked = self
                .parked
                .remove(&r.request)
                .unwrap_or_else(|| panic!("answer to {} not parked (or twice): {r:?}", r.request));
            self.check_answer(&asked, &r.answer);
        }
    }

    fn check_answer(&mut self, asked: &Asked, answer: &Answer) {
        match (asked, answer) {
            (Asked::Init(idx), Answer::ProducerId(Ok(pe))) => {
                let v = self.durable(IDS[*idx]).expect("answered after durable");
                assert_eq!(v.state, TxnState::Empty);
                assert_eq!(
                    (v.producer_id, v.producer_epoch),
                    (pe.producer_id, pe.epoch)
                );
                let max = self.max_answered.entry(pe.producer_id).or_insert(pe.epoch);
                assert!(pe.epoch >= *max, "answered epoch went back");
                *max = pe.epoch;
                if let Some(old) = self.current[*idx].replace(*pe) {
                    if old != *pe {
                        self.stale.push((*idx, old));
                    }
                }
            }
            (Asked::Add(idx, p, parts), Answer::Done(Ok(()))) => {
                let v = self
                    .durable(IDS[*idx])
                    .expect("success needs a durable record");
                assert_eq!(
                    (v.producer_id, v.producer_epoch),
                    (p.producer_id, p.producer_epoch),
                    "success to a fenced producer"
                );
                assert_eq!(v.state, TxnState::Ongoing);
                assert!(parts.iter().all(|tp| v.partitions.contains(tp)));
            }
            (Asked::End(idx, p, result), Answer::Done(Ok(()))) => {
                let v = self
                    .durable(IDS[*idx])
                    .expect("success needs a durable record");
                assert_eq!(
                    (v.producer_id, v.producer_epoch),
                    (p.producer_id, p.producer_epoch),
                    "success to a fenced producer"
                );
                let ok = match result {
                    TxnResult::Commit => [TxnState::PrepareCommit, TxnState::CompleteCommit],
                    TxnResult::Abort => [TxnState::PrepareAbort, TxnState::CompleteAbort],
                };
                assert!(ok.contains(&v.state), "{result:?} answered in {}", v.state);
            }
            (Asked::Init(_), Answer::ProducerId(Err(_))) => {}
            (Asked::Add(idx, p, _) | Asked::End(idx, p, _), Answer::Done(Err(e))) => {
                // A client told it is fenced (or unknown) starts over with InitProducerId.
                let fenced = matches!(
                    e,
                    TxnError::ProducerFenced { .. } | TxnError::InvalidProducerIdMapping { .. }
                );
                let pe = ProducerIdAndEpoch::new(p.producer_id, p.producer_epoch);
                if fenced && self.current[*idx] == Some(pe) {
                    self.current[*idx] = None;
                    self.stale.push((*idx, pe));
                }
            }
            (a, b) => panic!("answer {b:?} does not fit {a:?}"),
        }
    }

    fn request(&mut self, asked: Asked) -> RequestId {
        self.next_request += 1;
        self.parked.insert(self.next_request, asked);
        self.next_request
    }

    fn producer(&self, id: usize, stale: Option<usize>) -> TxnProducer {
        let pe = match stale {
            Some(i) => {
                let zombies: Vec<_> = self.stale.iter().filter(|(x, _)| *x == id).collect();
                if zombies.is_empty() {
                    ProducerIdAndEpoch::new(7, 0)
                } else {
                    zombies[i % zombies.len()].1
                }
            }
            None => self.current[id].unwrap_or(ProducerIdAndEpoch::new(7, 0)),
        };
        TxnProducer::new(IDS[id], pe.producer_id, pe.epoch)
    }

    fn ack(&mut self) -> bool {
        let Some(rec) = self.inflight.pop_front() else {
            return false;
        };
        self.append(LogRecord {
            partition: rec.partition,
            key: rec.key,
            value: rec.value,
        });
        let out = self.c.on_append_complete(rec.write_id, self.now);
        self.absorb(out);
        true
    }

    fn failover(&mut self, keep: usize) {
        let kept: Vec<TxnRecord> = self.inflight.drain(..).take(keep).collect();
        for rec in kept {
            self.append(LogRecord {
                partition: rec.partition,
                key: rec.key,
                value: rec.value,
            });
        }
        self.epoch += 1;
        for p in 0..self.c.config().num_partitions {
            let out = self.c.begin_load(p, self.epoch);
            self.absorb(out);
            for r in self.log.iter().filter(|r| r.partition == p) {
                self.c.replay(&r.key, r.value.as_deref()).expect("replays");
            }
            let out = self.c.loaded_partition(p, self.epoch, self.now);
            self.absorb(out);
        }
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Init {
                id,
                timeout_ms,
                expected,
            } => {
                let expected = match expected {
                    Expected::None => None,
                    Expected::Current => self.current[*id],
                    Expected::Stale(i) => Some(self.producer(*id, Some(*i)))
                        .map(|p| ProducerIdAndEpoch::new(p.producer_id, p.producer_epoch)),
                    Expected::Foreign => Some(ProducerIdAndEpoch::new(3, 3)),
                };
                let r = self.request(Asked::Init(*id));
                let req = InitProducerIdRequest {
                    transactional_id: IDS[*id].into(),
                    txn_timeout_ms: *timeout_ms,
                    expected,
                };
                let next = &mut self.next_producer_id;
                let mut alloc = || {
                    *next += 1;
                    Ok(*next)
                };
                let out = self.c.init_producer_id(r, &req, &mut alloc, self.now);
                self.absorb(out);
            }
            Op::Add { id, stale, .. } | Op::End { id, stale, .. }
                if stale.is_none() && self.current[*id].is_none() =>
            {
                // A client without a producer initializes first.
                self.apply(&Op::Init {
                    id: *id,
                    timeout_ms: 3_000,
                    expected: Expected::None,
                });
            }
            Op::Add { id, stale, parts } => {
                let p = self.producer(*id, *stale);
                let parts = parts_of(*parts);
                let r = self.request(Asked::Add(*id, p.clone(), parts.clone()));
                let out = self.c.add_partitions(r, &p, &parts, self.now);
                self.absorb(out);
            }
            Op::End { id, stale, commit } => {
                let p = self.producer(*id, *stale);
                let result = TxnResult::from_commit(*commit);
                let r = self.request(Asked::End(*id, p.clone(), result));
                let out = self.c.end_txn(r, &p, result, self.now);
                self.absorb(out);
            }
            Op::Verify { id, parts } => {
                let p = self.producer(*id, None);
                if let Ok(res) = self.c.verify_partitions(&p, &parts_of(*parts)) {
                    let v = self.durable(IDS[*id]).expect("verified against a record");
                    for (tp, r) in res {
                        if r.is_ok() {
                            assert_eq!(v.state, TxnState::Ongoing);
                            assert_eq!(
                                (v.producer_id, v.producer_epoch),
                                (p.producer_id, p.producer_epoch)
                            );
                            assert!(v.partitions.contains(&tp));
                        }
                    }
                }
            }
            Op::Ack => {
                self.ack();
            }
            Op::Fail(kind) => {
                if let Some(rec) = self.inflight.pop_front() {
                    let error = match kind {
                        0 => TxnError::CoordinatorNotAvailable,
                        1 => TxnError::NotCoordinator {
                            partition: rec.partition,
                        },
                        _ => TxnError::UnknownServerError("disk".into()),
                    };
                    let out = self.c.on_append_failed(rec.write_id, error, self.now);
                    self.absorb(out);
                }
            }
            Op::Markers { batch, all } => {
                if !self.markers.is_empty() {
                    let i = batch % self.markers.len();
                    let b = &mut self.markers[i];
                    let done: Vec<TopicPartition> = if *all || b.partitions.len() <= 1 {
                        std::mem::take(&mut b.partitions)
                    } else {
                        vec![b.partitions.remove(0)]
                    };
                    let (id, ce) = (b.transactional_id.clone(), b.coordinator_epoch);
                    if b.partitions.is_empty() {
                        self.markers.remove(i);
                    }
                    let out = self.c.markers_written(&id, ce, &done, self.now);
                    self.absorb(out);
                }
            }
            Op::Advance(ms) => {
                self.now += ms;
                let out = self.c.tick(self.now);
                self.absorb(out);
            }
            Op::Failover { keep } => self.failover(*keep),
        }
    }

    /// The coordinator's durable view equals the log's, and a replay of the log
    /// rebuilds it.
    fn check_durable_view(&self) {
        let mut fresh = TxnCoordinator::new(self.c.config().clone());
        for p in 0..self.c.config().num_partitions {
            fresh.begin_load(p, 1);
            for r in self.log.iter().filter(|r| r.partition == p) {
                fresh.replay(&r.key, r.value.as_deref()).expect("replays");
            }
            let _ = fresh.loaded_partition(p, 1, self.now);
        }
        for id in IDS {
            let replayed = fresh.get(id).map(|m| m.stored());
            assert_eq!(
                replayed,
                self.durable(id),
                "{id}: replay differs from the log"
            );
            let mine = self
                .c
                .get(id)
                .filter(|m| m.producer_epoch >= 0)
                .map(|m| m.stored());
            let mut replayed = replayed;
            if self.version == 0 {
                // v0 does not store the previous producer id.
                if let (Some(r), Some(m)) = (replayed.as_mut(), mine.as_ref()) {
                    r.previous_producer_id = m.previous_producer_id;
                }
            }
            assert_eq!(mine, replayed, "{id}: memory differs from the replayed log");
            // The admin views agree with the metadata.
            let described = self.c.describe_transaction(id).ok().map(|d| d.state);
            assert_eq!(described, self.c.get(id).map(|m| m.state));
        }
        let listed = self
            .c
            .list_transactions(&crate::admin::ListTransactionsFilter::all(), self.now)
            .expect("nothing loads between steps");
        assert_eq!(
            listed.transactions.len(),
            IDS.iter().filter(|id| self.c.get(id).is_some()).count()
        );
    }

    /// Drives everything to its end: records acked, markers written, retries ticked.
    fn settle(&mut self) {
        for _ in 0..1_000 {
            if self.ack() {
                continue;
            }
            if let Some(b) = self.markers.pop() {
                let out = self.c.markers_written(
                    &b.transactional_id,
                    b.coordinator_epoch,
                    &b.partitions,
                    self.now,
                );
                self.absorb(out);
                continue;
            }
            let stuck = IDS
                .iter()
                .any(|id| self.c.get(id).is_some_and(|m| m.is_pending()));
            if !stuck {
                return;
            }
            let next = self.c.next_deadline().expect("a stuck id has a deadline");
            self.now = self.now.max(next);
            let out = self.c.tick(self.now);
            self.absorb(out);
        }
        panic!("did not settle");
    }

    fn check_settled(&self) {
        assert!(self.parked.is_empty(), "unanswered: {:?}", self.parked);
        assert_eq!(self.c.writes_in_flight(), 0);
        for id in IDS {
            if let Some(v) = self.durable(id) {
                assert!(
                    !matches!(v.state, TxnState::PrepareCommit | TxnState::PrepareAbort),
                    "{id} left in {}",
                    v.state
                );
            }
        }
    }
}

fn run(version: i16, ops: &[Op]) {
    let mut m = Model::new(version);
    m.check_durable_view();
    for op in ops {
        m.apply(op);
        m.check_durable_view();
    }
    m.settle();
    m.check_settled();
    m.check_durable_view();
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1_000,
        rng_seed: RngSeed::Fixed(SEED),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn coordinator_matches_the_model(
        version in 0i16..2,
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        run(version, &ops);
    }
}

/// A fixed long run through every kind of step, so coverage does not hang on the seed.
#[test]
fn scripted_run_through_every_step() {
    let mut ops = Vec::new();
    for round in 0..40usize {
        let id = round % 3;
        ops.push(Op::Init {
            id,
            timeout_ms: 1_000,
            expected: if round % 2 == 0 {
                Expected::Current
            } else {
                Expected::None
            },
        });
        ops.push(Op::Ack);
        ops.push(Op::Add {
            id,
            stale: None,
            parts: u8::try_from(round % 15 + 1).expect("mask"),
        });
        ops.push(if round % 5 == 0 { Op::Fail(0) } else { Op::Ack });
        ops.push(Op::Verify { id, parts: 3 });
        ops.push(Op::End {
            id,
            stale: (round % 7 == 0).then_some(0),
            commit: round % 3 != 0,
        });
        ops.push(Op::Ack);
        ops.push(Op::Markers {
            batch: round,
            all: round % 2 == 0,
        });
        if round % 4 == 0 {
            ops.push(Op::Advance(1_500));
        }
        if round % 9 == 0 {
            ops.push(Op::Failover { keep: round % 3 });
        }
    }
    run(1, &ops);
    run(0, &ops);
}
