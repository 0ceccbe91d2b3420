//! Transactions in one partition log: ongoing transactions in the producer state, markers,
//! the first unstable offset, the aborted-transaction index, and what a read_committed reader
//! sees, across rolls, reopen after a crash (no flush) or a clean close, truncation and
//! compaction.
//!
//! The seeded model test appends, for several producers, transactional batches (each
//! transaction ends with a commit or abort marker, or stays open), non-transactional
//! batches, rolls, reopens and truncations, and checks after every step: the log's first
//! unstable offset is the first offset of the oldest open transaction of the model; a
//! read_committed reader (every batch below the first unstable offset, skipping each
//! producer's records inside the aborted transactions the log reports for the range, as
//! librdkafka and the Java client do) sees exactly the records of committed transactions and
//! non-transactional batches, in offset order.
//! Checked to fail (within the first 5 seeds) with: the abort index entry not written, and
//! index entries past a cut kept when the log opens or is truncated.
//! A failure prints the seed; rerun with `RILL_TXN_SEED=<seed> RILL_TXN_CASES=1`.
#![allow(clippy::unwrap_used)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rill_log::batch::BatchHeader;
use rill_log::cleaner::NoThrottle;
use rill_log::{
    BatchBuilder, BatchTemplate, Cleaner, CleanerConfig, CleanupPolicy, Codec, CommitOutcome,
    Headers, LogConfig, LogError, MarkerSpec, NewRecord, PartitionLog, Records, TxnOutcome,
};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

fn config(compact: bool) -> LogConfig {
    LogConfig {
        segment_bytes: 2_000,
        segment_ms: None,
        retention_ms: None,
        index_interval_bytes: 200,
        cleanup_policy: if compact {
            CleanupPolicy::COMPACT
        } else {
            LogConfig::default().cleanup_policy
        },
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    }
}

/// A batch of `values` (keyed `k<value % keys>`) from producer `pid`.
fn batch(pid: i64, epoch: i16, seq: i32, txn: bool, values: &[u32], keys: u32) -> Vec<u8> {
    let template = BatchTemplate {
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        transactional: txn,
        ..BatchTemplate::plain(0)
    };
    let mut b = BatchBuilder::new(template, Codec::None, None, Vec::new());
    let keys_v: Vec<Vec<u8>> = values
        .iter()
        .map(|v| format!("k{}", v % keys).into_bytes())
        .collect();
    let vals_v: Vec<Vec<u8>> = values.iter().map(|v| v.to_be_bytes().to_vec()).collect();
    for (i, _) in values.iter().enumerate() {
        b.push(&NewRecord {
            offset: i as i64,
            timestamp: 1_000,
            key: Some(&keys_v[i]),
            value: Some(&vals_v[i]),
            headers: Headers::default(),
        })
        .unwrap();
    }
    b.finish().unwrap()
}

fn marker(pid: i64, epoch: i16, outcome: TxnOutcome) -> MarkerSpec {
    MarkerSpec {
        producer_id: pid,
        producer_epoch: epoch,
        coordinator_epoch: 0,
        outcome,
        timestamp_ms: 1_000,
    }
}

/// (offset, key, value) of every record a read_committed reader gets, and every batch header.
fn read_committed(log: &PartitionLog) -> Vec<(i64, Vec<u8>, u32)> {
    let lso = log
        .first_unstable_offset()
        .unwrap_or(i64::MAX)
        .min(log.log_end_offset());
    let start = log.log_start_offset();
    let mut buf = Vec::new();
    log.read_into(start, u64::MAX / 2, lso, true, &mut buf)
        .unwrap();
    let aborted = log.aborted_transactions(start, lso).unwrap();
    let mut out = Vec::new();
    let mut pos = 0;
    // Producers inside an aborted transaction: pid -> its marker offset.
    let mut skipping: HashMap<i64, i64> = HashMap::new();
    while pos < buf.len() {
        let h = BatchHeader::parse(&buf[pos..]).unwrap();
        let bytes = &buf[pos..pos + h.total_len()];
        pos += h.total_len();
        if h.base_offset >= lso {
            break;
        }
        for a in &aborted {
            if a.first_offset <= h.last_offset() && a.last_offset >= h.base_offset {
                skipping.insert(a.producer_id, a.last_offset);
            }
        }
        if h.is_control() {
            if skipping.get(&h.producer_id) == Some(&h.base_offset) {
                skipping.remove(&h.producer_id);
            }
            continue;
        }
        if h.is_transactional() && skipping.contains_key(&h.producer_id) {
            continue;
        }
        let mut scratch = Vec::new();
        for r in Records::decode(bytes, &mut scratch, 1 << 20)
            .unwrap()
            .iter()
        {
            let r = r.unwrap();
            let v = u32::from_be_bytes(r.value.unwrap().try_into().unwrap());
            out.push((r.offset, r.key.unwrap().to_vec(), v));
        }
    }
    out
}

#[derive(Default)]
struct Producer {
    epoch: i16,
    seq: i32,
    /// Open transaction: its first offset and its records (offset, value).
    open: Option<(i64, Vec<(i64, u32)>)>,
}

/// A transaction a marker ended: producer, first offset, marker offset, records.
type Ended = (i64, i64, i64, Vec<(i64, u32)>);

struct Model {
    /// Records a read_committed reader must see: offset -> value (committed or plain).
    visible: BTreeMap<i64, u32>,
    /// Transactions ended by a marker (a truncation below the marker opens them again).
    ended: Vec<Ended>,
    producers: HashMap<i64, Producer>,
    next_value: u32,
}

impl Model {
    fn first_unstable(&self) -> Option<i64> {
        self.producers
            .values()
            .filter_map(|p| p.open.as_ref().map(|(f, _)| *f))
            .min()
    }

    /// Forgets what lies at or above `offset` (a truncation): a transaction whose marker
    /// goes is open again with the records it keeps.
    fn truncate(&mut self, offset: i64) {
        self.visible.retain(|o, _| *o < offset);
        for p in self.producers.values_mut() {
            if let Some((first, recs)) = &mut p.open {
                if *first >= offset {
                    p.open = None;
                } else {
                    recs.retain(|(o, _)| *o < offset);
                }
            }
        }
        let (gone, kept): (Vec<Ended>, Vec<Ended>) = std::mem::take(&mut self.ended)
            .into_iter()
            .partition(|e| e.2 >= offset);
        self.ended = kept;
        for (pid, first, _, mut recs) in gone {
            if first < offset {
                recs.retain(|(o, _)| *o < offset);
                for (o, _) in &recs {
                    self.visible.remove(o);
                }
                self.producers.entry(pid).or_default().open = Some((first, recs));
            }
        }
    }
}

fn check(log: &PartitionLog, m: &Model, seed: u64, step: usize) {
    assert_eq!(
        log.first_unstable_offset(),
        m.first_unstable(),
        "seed {seed} step {step}: first unstable offset"
    );
    let got: Vec<(i64, u32)> = read_committed(log)
        .into_iter()
        .map(|(o, _, v)| (o, v))
        .collect();
    let bound = m.first_unstable().unwrap_or(i64::MAX);
    let want: Vec<(i64, u32)> = m.visible.range(..bound).map(|(o, v)| (*o, *v)).collect();
    assert_eq!(got, want, "seed {seed} step {step}: read_committed");
}

fn run_case(seed: u64, dir: &Path) {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut log, _) = PartitionLog::open(dir, config(false)).unwrap();
    let mut m = Model {
        visible: BTreeMap::new(),
        ended: Vec::new(),
        producers: HashMap::new(),
        next_value: 0,
    };
    for step in 0..120 {
        let pid = rng.random_range(1..=3i64);
        let action = rng.random_range(0..100);
        if std::env::var("RILL_TXN_TRACE").is_ok() {
            eprintln!(
                "step {step}: pid {pid} action {action} end {}",
                log.log_end_offset()
            );
        }
        match action {
            0..=44 => {
                // Transactional batch (starts a transaction if none is open).
                let p = m.producers.entry(pid).or_default();
                let n = rng.random_range(1..4);
                let values: Vec<u32> = (0..n).map(|i| m.next_value + i).collect();
                m.next_value += n;
                let mut b = batch(pid, p.epoch, p.seq, true, &values, 1000);
                let info = log.append(&mut b, 0, 1_000).unwrap();
                p.seq += n as i32;
                let recs = (0..n as i64).map(|i| (info.base_offset + i, values[i as usize]));
                match &mut p.open {
                    Some((_, r)) => r.extend(recs),
                    None => p.open = Some((info.base_offset, recs.collect())),
                }
            }
            45..=59 => {
                // Non-transactional batch: refused inside a transaction.
                let p = m.producers.entry(pid).or_default();
                let v = m.next_value;
                let mut b = batch(pid, p.epoch, p.seq, false, &[v], 1000);
                match log.append(&mut b, 0, 1_000) {
                    Ok(info) => {
                        assert!(p.open.is_none(), "seed {seed}: plain batch inside a txn");
                        m.next_value += 1;
                        p.seq += 1;
                        m.visible.insert(info.base_offset, v);
                    }
                    Err(LogError::InvalidTxnState { .. }) => assert!(p.open.is_some()),
                    Err(e) => panic!("seed {seed}: {e}"),
                }
            }
            60..=79 => {
                // A marker ends the transaction (sometimes with a bumped epoch, as a fence).
                let p = m.producers.entry(pid).or_default();
                let outcome = if rng.random_bool(0.5) {
                    TxnOutcome::Commit
                } else {
                    TxnOutcome::Abort
                };
                if rng.random_bool(0.2) {
                    p.epoch += 1;
                    p.seq = 0;
                }
                let at = log
                    .append_marker(&marker(pid, p.epoch, outcome), 0, 1_000)
                    .unwrap()
                    .base_offset;
                if let Some((first, recs)) = p.open.take() {
                    if outcome == TxnOutcome::Commit {
                        m.visible.extend(recs.iter().copied());
                    }
                    m.ended.push((pid, first, at, recs));
                }
            }
            80..=85 => log.roll(1_000).unwrap(),
            86..=91 => {
                // Reopen: after a crash (nothing flushed) or a clean close.
                if rng.random_bool(0.5) {
                    log.close().unwrap();
                }
                drop(log);
                log = PartitionLog::open(dir, config(false)).unwrap().0;
            }
            92..=95 => {
                // Follower-style truncation to a random offset above the log start.
                let end = log.log_end_offset();
                if end > 0 {
                    let to = rng.random_range(0..=end);
                    log.truncate_to(to).unwrap();
                    let cut = log.log_end_offset();
                    m.truncate(cut);
                    // Sequences restart from what is left: the model keeps the producer's
                    // epoch and lets the next batch start a new epoch at sequence 0.
                    for p in m.producers.values_mut() {
                        p.epoch += 1;
                        p.seq = 0;
                    }
                }
            }
            _ => {
                // A stale marker (older epoch) is refused and changes nothing.
                let current = log.producer_state().producer(pid).map(|e| e.epoch);
                if let Some(epoch) = current.filter(|e| *e > 0) {
                    let err = log
                        .append_marker(&marker(pid, epoch - 1, TxnOutcome::Abort), 0, 1_000)
                        .unwrap_err();
                    assert!(
                        matches!(err, LogError::InvalidProducerEpoch { .. }),
                        "{err}"
                    );
                }
            }
        }
        check(&log, &m, seed, step);
    }
}

#[test]
fn seeded_transactions_model() {
    let cases: u64 = std::env::var("RILL_TXN_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let first: u64 = std::env::var("RILL_TXN_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    for seed in first..first + cases {
        let dir = tempfile::tempdir().unwrap();
        run_case(seed, dir.path());
    }
}

#[test]
fn markers_are_checked_and_clients_cannot_write_them() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), config(false)).unwrap();
    let mut b = batch(7, 2, 0, true, &[1], 10);
    log.append(&mut b, 0, 1_000).unwrap();
    // Coordinator epoch 5 ends it; a later marker from coordinator epoch 4 is fenced.
    let mut spec = marker(7, 2, TxnOutcome::Commit);
    spec.coordinator_epoch = 5;
    log.append_marker(&spec, 0, 1_000).unwrap();
    spec.coordinator_epoch = 4;
    assert!(matches!(
        log.append_marker(&spec, 0, 1_000),
        Err(LogError::TransactionCoordinatorFenced {
            current: 5,
            got: 4,
            ..
        })
    ));
    // A client's control batch is refused.
    let mut m = rill_log::build_marker(&marker(8, 0, TxnOutcome::Abort)).unwrap();
    assert!(matches!(
        log.append(&mut m, 0, 1_000),
        Err(LogError::InvalidBatch { .. })
    ));
    // An abort leaves an index entry that survives a reopen; the transaction does not.
    let mut b = batch(7, 2, 1, true, &[2, 3], 10);
    let first = log.append(&mut b, 0, 1_000).unwrap().base_offset;
    assert_eq!(log.first_unstable_offset(), Some(first));
    log.roll(1_000).unwrap();
    assert_eq!(log.first_unstable_offset(), Some(first), "roll keeps it");
    drop(log);
    let (mut log, _) = PartitionLog::open(dir.path(), config(false)).unwrap();
    assert_eq!(
        log.first_unstable_offset(),
        Some(first),
        "snapshot at the roll keeps the open transaction"
    );
    let mut spec = marker(7, 2, TxnOutcome::Abort);
    spec.coordinator_epoch = 5;
    let at = log.append_marker(&spec, 0, 1_000).unwrap().base_offset;
    assert_eq!(log.first_unstable_offset(), None);
    let aborted = log.aborted_transactions(0, log.log_end_offset()).unwrap();
    assert_eq!(aborted.len(), 1);
    assert_eq!(
        (
            aborted[0].producer_id,
            aborted[0].first_offset,
            aborted[0].last_offset
        ),
        (7, first, at)
    );
    // Not asked for: a range wholly before the transaction.
    assert!(log.aborted_transactions(0, first).unwrap().is_empty());
    drop(log);
    let (log, _) = PartitionLog::open(dir.path(), config(false)).unwrap();
    assert_eq!(log.aborted_transactions(0, i64::MAX).unwrap(), aborted);
}

#[test]
fn compaction_drops_aborted_data_keeps_markers_and_waits_for_open_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), config(true)).unwrap();
    // Key k0: committed 100 (plain), then aborted 200 (transactional), then open txn 300.
    let mut b = batch(1, 0, 0, false, &[100], 1_000_000);
    log.append(&mut b, 0, 1_000).unwrap();
    let mut b = batch(2, 0, 0, true, &[200], 100);
    log.append(&mut b, 0, 1_000).unwrap();
    log.append_marker(&marker(2, 0, TxnOutcome::Abort), 0, 1_000)
        .unwrap();
    // Filler so several segments exist.
    for i in 0..30u32 {
        let mut b = batch(1, 0, 1 + i as i32, false, &[1_000 + i], 1_000_000);
        log.append(&mut b, 0, 1_000).unwrap();
    }
    let mut b = batch(3, 0, 0, true, &[300], 100);
    let open_at = log.append(&mut b, 0, 1_000).unwrap().base_offset;
    for i in 0..30u32 {
        let mut b = batch(1, 0, 31 + i as i32, false, &[2_000 + i], 1_000_000);
        log.append(&mut b, 0, 1_000).unwrap();
    }
    log.roll(1_000).unwrap();
    let mut cleaner = Cleaner::new(CleanerConfig {
        dedupe_buffer_bytes: 1 << 20,
        ..CleanerConfig::default()
    });
    let plan = log.plan_clean(2_000, i64::MAX).unwrap().unwrap();
    assert!(
        plan.info.first_uncleanable_offset <= open_at,
        "the cleaner stops below the open transaction"
    );
    let cleaned = cleaner.clean(plan, &mut NoThrottle).unwrap();
    match log.commit_clean(cleaned).unwrap() {
        CommitOutcome::Swapped { obsolete, .. } => {
            obsolete.delete(std::time::Duration::ZERO).unwrap()
        }
        CommitOutcome::Abandoned { reason } => panic!("{reason}"),
    }
    // The committed value of k0 is kept; the aborted one is gone, its marker and index
    // entry stay.
    let mut buf = Vec::new();
    log.read_into(0, u64::MAX / 2, i64::MAX, true, &mut buf)
        .unwrap();
    let (mut values, mut markers, mut pos) = (Vec::new(), 0, 0);
    while pos < buf.len() {
        let h = BatchHeader::parse(&buf[pos..]).unwrap();
        let bytes = &buf[pos..pos + h.total_len()];
        pos += h.total_len();
        if h.is_control() {
            markers += 1;
            continue;
        }
        let mut scratch = Vec::new();
        for r in Records::decode(bytes, &mut scratch, 1 << 20)
            .unwrap()
            .iter()
        {
            let r = r.unwrap();
            values.push(u32::from_be_bytes(r.value.unwrap().try_into().unwrap()));
        }
    }
    assert!(values.contains(&100), "committed value kept: {values:?}");
    assert!(!values.contains(&200), "aborted value removed: {values:?}");
    assert!(values.contains(&300), "open transaction untouched");
    assert_eq!(markers, 1);
    assert_eq!(log.aborted_transactions(0, i64::MAX).unwrap().len(), 1);
    // And after a reopen.
    drop(log);
    let (log, _) = PartitionLog::open(dir.path(), config(true)).unwrap();
    assert_eq!(log.first_unstable_offset(), Some(open_at));
    assert_eq!(log.aborted_transactions(0, i64::MAX).unwrap().len(), 1);
}

/// The aborted-transaction lookups of a read_committed fetch read only the `.txnindex` files
/// of segments that have entries (a log without aborts touches no file), across rolls, a
/// reopen and truncation; a read reports the end of its last batch, the upper bound of the
/// range whose aborted transactions the fetch must return.
#[test]
fn aborted_lookups_read_only_indexes_with_entries_and_reads_report_their_end() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), config(false)).unwrap();
    let mut seq = 0;
    let mut plain = |log: &mut PartitionLog, n: usize| {
        for _ in 0..n {
            let mut b = batch(1, 0, seq, false, &[seq as u32, 0, 0], 10);
            seq += 3;
            log.append(&mut b, 0, 1_000).unwrap();
        }
    };
    plain(&mut log, 60);
    assert!(log.segment_count() > 2, "several segments");
    assert!(!log.has_aborted_transactions(0));
    assert!(log.aborted_transactions(0, i64::MAX).unwrap().is_empty());
    // An aborted transaction in the middle, then more segments.
    let first = log
        .append(&mut batch(2, 0, 0, true, &[7], 10), 0, 1_000)
        .unwrap()
        .base_offset;
    let at = log
        .append_marker(&marker(2, 0, TxnOutcome::Abort), 0, 1_000)
        .unwrap()
        .base_offset;
    plain(&mut log, 60);
    let end = log.log_end_offset();
    assert!(log.has_aborted_transactions(0));
    assert!(
        !log.has_aborted_transactions(end - 1),
        "segments after the abort have no index"
    );
    let want = log.aborted_transactions(0, end).unwrap();
    assert_eq!(want.len(), 1);
    assert_eq!((want[0].first_offset, want[0].last_offset), (first, at));
    // A read's end: the offset after its last batch, bounded like a read_committed read.
    let read = log.read(0, u64::MAX / 2, first, true).unwrap();
    assert_eq!(read.next_offset, Some(first), "stops below the bound");
    assert!(log
        .aborted_transactions(0, read.next_offset.unwrap())
        .unwrap()
        .is_empty());
    let read = log.read(first, u64::MAX / 2, i64::MAX, true).unwrap();
    assert_eq!(read.next_offset, Some(end));
    let read = log.read(first, 1, i64::MAX, true).unwrap();
    assert_eq!(read.next_offset, Some(first + 1), "one batch");
    assert_eq!(log.aborted_transactions(first, first + 1).unwrap(), want);
    // Reopened: the flags come from the files.
    drop(log);
    let (mut log, _) = PartitionLog::open(dir.path(), config(false)).unwrap();
    assert!(log.has_aborted_transactions(0));
    assert!(!log.has_aborted_transactions(end - 1));
    assert_eq!(log.aborted_transactions(0, end).unwrap(), want);
    // Cut below the marker: the entry goes with it.
    log.truncate_to(at).unwrap();
    assert!(log.aborted_transactions(0, i64::MAX).unwrap().is_empty());
    assert_eq!(log.first_unstable_offset(), Some(first));
}

/// Cleans `log` once at `now_ms`; whether a pass ran.
fn clean_at(log: &mut PartitionLog, cleaner: &mut Cleaner, now_ms: i64) -> bool {
    let Some(plan) = log.plan_clean(now_ms, i64::MAX).unwrap() else {
        return false;
    };
    let cleaned = cleaner.clean(plan, &mut NoThrottle).unwrap();
    match log.commit_clean(cleaned).unwrap() {
        CommitOutcome::Swapped { obsolete, .. } => {
            obsolete.delete(std::time::Duration::ZERO).unwrap()
        }
        CommitOutcome::Abandoned { reason } => panic!("{reason}"),
    }
    true
}

/// (producer id, offset, delete horizon) of every marker in the log.
fn markers_in(log: &PartitionLog) -> Vec<(i64, i64, Option<i64>)> {
    let mut buf = Vec::new();
    log.read_into(0, u64::MAX / 2, i64::MAX, true, &mut buf)
        .unwrap();
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let h = BatchHeader::parse(&buf[pos..]).unwrap();
        if h.is_control() {
            out.push((
                h.producer_id,
                h.base_offset,
                (h.attributes & 0x40 != 0).then_some(h.base_timestamp),
            ));
        }
        pos += h.total_len();
    }
    out
}

/// Kafka's rule for markers in a compacted log: a marker stays while any data batch of its
/// transaction is in the log; the pass after the last one went gives it a delete horizon
/// (`delete.retention.ms`), and the first pass past the horizon removes it, with the
/// aborted-transaction index entry of an abort marker. A marker whose transaction keeps data
/// stays. What read_committed shows never changes, before or after a reopen.
#[test]
fn markers_go_once_their_transactions_have_no_data_and_the_horizon_passed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(true);
    cfg.delete_retention_ms = 100;
    let (mut log, _) = PartitionLog::open(dir.path(), cfg.clone()).unwrap();
    // Producer 2: an aborted transaction on k0. Producer 4: a committed transaction on k1
    // that a later plain record supersedes, then a committed one on k2 that stays.
    let mut b = batch(2, 0, 0, true, &[200], 100);
    log.append(&mut b, 0, 1_000).unwrap();
    let abort_at = log
        .append_marker(&marker(2, 0, TxnOutcome::Abort), 0, 1_000)
        .unwrap()
        .base_offset;
    let mut b = batch(4, 0, 0, true, &[401], 100);
    log.append(&mut b, 0, 1_000).unwrap();
    let commit_at = log
        .append_marker(&marker(4, 0, TxnOutcome::Commit), 0, 1_000)
        .unwrap()
        .base_offset;
    let mut b = batch(4, 0, 1, true, &[402], 100);
    log.append(&mut b, 0, 1_000).unwrap();
    let kept_at = log
        .append_marker(&marker(4, 0, TxnOutcome::Commit), 0, 1_000)
        .unwrap()
        .base_offset;
    // Producer 2's later transaction keeps its data (and is its last batch, so the
    // aborted batch is not kept empty for the producer's sequence).
    let mut b = batch(2, 0, 1, true, &[202], 1_000_000);
    log.append(&mut b, 0, 1_000).unwrap();
    let kept2_at = log
        .append_marker(&marker(2, 0, TxnOutcome::Commit), 0, 1_000)
        .unwrap()
        .base_offset;
    let mut seq = 0;
    let mut filler = |log: &mut PartitionLog, first: u32| {
        for i in 0..20u32 {
            // k1 again (supersedes 401), then keys of their own.
            let v = if i == 0 { 101 } else { first + i };
            let mut b = batch(1, 0, seq, false, &[v], if i == 0 { 100 } else { 1_000_000 });
            seq += 1;
            log.append(&mut b, 0, 1_000).unwrap();
        }
        log.roll(1_000).unwrap();
    };
    filler(&mut log, 10_000);
    let mut cleaner = Cleaner::new(CleanerConfig {
        dedupe_buffer_bytes: 1 << 20,
        ..CleanerConfig::default()
    });
    let all = vec![
        (2, abort_at, None),
        (4, commit_at, None),
        (4, kept_at, None),
        (2, kept2_at, None),
    ];

    // Pass 1: the aborted and superseded data go; their markers were met with data: stay.
    assert!(clean_at(&mut log, &mut cleaner, 2_000));
    assert_eq!(markers_in(&log), all);
    let committed = |log: &PartitionLog| {
        read_committed(log)
            .into_iter()
            .filter(|(_, _, v)| (200..1_000).contains(v))
            .map(|(_, _, v)| v)
            .collect::<Vec<_>>()
    };
    assert_eq!(committed(&log), vec![402, 202]);
    assert_eq!(log.aborted_transactions(0, i64::MAX).unwrap().len(), 1);

    // Pass 2: no data left for the first two: a delete horizon, not yet removed.
    filler(&mut log, 20_000);
    assert!(clean_at(&mut log, &mut cleaner, 3_000));
    assert_eq!(
        markers_in(&log),
        vec![
            (2, abort_at, Some(3_100)),
            (4, commit_at, Some(3_100)),
            (4, kept_at, None),
            (2, kept2_at, None),
        ]
    );
    // Pass 3, before the horizon: unchanged.
    filler(&mut log, 30_000);
    assert!(clean_at(&mut log, &mut cleaner, 3_099));
    assert_eq!(markers_in(&log).len(), 4);
    // Pass 4, at the horizon: removed, with the abort's index entry.
    filler(&mut log, 40_000);
    assert!(clean_at(&mut log, &mut cleaner, 3_100));
    assert_eq!(
        markers_in(&log),
        vec![(4, kept_at, None), (2, kept2_at, None)]
    );
    assert!(log.aborted_transactions(0, i64::MAX).unwrap().is_empty());
    assert_eq!(committed(&log), vec![402, 202]);
    assert_eq!(log.first_unstable_offset(), None);
    let before = read_committed(&log);
    drop(log);
    let (log, _) = PartitionLog::open(dir.path(), cfg).unwrap();
    assert_eq!(log.first_unstable_offset(), None);
    assert_eq!(read_committed(&log), before);
    assert_eq!(
        markers_in(&log),
        vec![(4, kept_at, None), (2, kept2_at, None)]
    );
}
