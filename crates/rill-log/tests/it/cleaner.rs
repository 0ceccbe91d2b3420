//! Seeded model test of the log cleaner, through the storage seam's power-loss double.
//!
//! Contract checked: after any sequence of keyed appends (tombstones, keyless records,
//! batches in every codec, idempotent producers with sequences, duplicate retries), rolls,
//! cleaning passes with a tiny offset map (so a pass stops early and the log is cleaned over
//! several passes), appends and DeleteRecords between a pass's plan and its commit (the log
//! moving under the cleaner), crashes at every step of the swap, failed fsyncs and power
//! cuts (unsynced data dropped, the last write torn), a read of the whole log from its start
//! gives: offsets strictly increasing; below the cleaner checkpoint exactly the latest record
//! of each key below it (keyless records gone; a tombstone may be gone only once its delete
//! horizon, `delete.retention.ms` after the pass that first cleaned it, has passed); at and
//! above it every record appended; every record equal to the one appended at its offset.
//! Also: the indexes are consistent (`verify_indexes`), a read from any kept offset starts
//! at the batch holding it, and each idempotent producer's last sequence survives (its last
//! batch retried is a duplicate; its next sequence is accepted).
//!
//! Every append is flushed at once, so the model knows exactly what is durable; what a
//! crash or power cut may lose is the cleaner's own unsynced work. Some reopens also lose
//! the producer snapshots (state rebuilt from the kept batches) or the recovery point
//! (every segment scanned, cleaned ones with their gaps).
//! Checked to fail (each within the first 15 seeds) with: superseded records kept, the
//! latest record removed, tombstones expiring before their horizon, the producer's last
//! batch not kept (`RETAIN_EMPTY`), recovery always rolling a swap back, recovery rolling
//! forward without removing the replaced segments or without renaming `.swap` files, and
//! recovery rejecting gaps in cleaned segments.
//! A failure prints the seed; rerun with `RILL_CLEANER_SEED=<seed> RILL_CLEANER_CASES=1`.
#![allow(clippy::unwrap_used)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rill_log::batch::BatchHeader;
use rill_log::cleaner::NoThrottle;
use rill_log::storage_sim::{Mount, PowerCut, SimulatedPowerLoss};
use rill_log::{
    BatchBuilder, BatchTemplate, Cleaner, CleanerConfig, CleanupPolicy, Codec, CommitOutcome,
    Headers, LogConfig, LogError, NewRecord, PartitionLog, Records,
};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

const RETENTION_MS: u64 = 5_000;
const CODECS: [Codec; 5] = [
    Codec::None,
    Codec::Gzip,
    Codec::Snappy,
    Codec::Lz4,
    Codec::Zstd,
];

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 3_000,
        segment_ms: None,
        retention_ms: None,
        index_interval_bytes: 200,
        cleanup_policy: CleanupPolicy::COMPACT,
        min_cleanable_dirty_ratio: 0.0,
        delete_retention_ms: RETENTION_MS,
        ..LogConfig::default()
    }
}

/// One appended record.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rec {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
}

/// An idempotent producer.
#[derive(Clone, Debug)]
struct Producer {
    next_seq: i32,
    /// Its last batch as sent, and the offsets it got.
    last: Option<(Vec<u8>, i64)>,
}

struct Case {
    rng: StdRng,
    seed: u64,
    sim: Mount,
    dir: PathBuf,
    log: Option<PartitionLog>,
    cleaner: Cleaner,
    now_ms: i64,
    /// Every record appended (and not below the log start), by offset.
    records: BTreeMap<i64, Rec>,
    /// Offset -> time of the first committed pass that reached its batch (a tombstone's
    /// delete horizon is set per batch, when the batch is first rewritten).
    first_cleaned: HashMap<i64, i64>,
    /// Offset -> base offset of the batch it was appended in.
    batch_base: HashMap<i64, i64>,
    producers: HashMap<i64, Producer>,
    counter: u64,
    trace: Vec<String>,
    stats: Stats,
}

#[derive(Default, Debug)]
struct Stats {
    passes: u64,
    swapped: u64,
    abandoned: u64,
    crashes: u64,
    failed_syncs: u64,
    multi_pass: u64,
    removed: u64,
    tombstones_expired: u64,
    /// Passes that wrote fewer segments than they replaced (groups).
    grouped: u64,
    /// Reopens without producer snapshots (state rebuilt from the batches).
    snapshots_lost: u64,
}

impl Case {
    fn fail(&self, what: &str) -> ! {
        panic!(
            "cleaner model test failed (seed {:#x}): {what}\nsteps:\n{}",
            self.seed,
            self.trace.join("\n")
        );
    }

    fn log(&mut self) -> &mut PartitionLog {
        self.log.as_mut().unwrap()
    }

    fn open(&mut self) {
        let (log, _report) = PartitionLog::open(&self.dir, config())
            .unwrap_or_else(|e| self.fail(&format!("open: {e}")));
        self.log = Some(log);
    }

    /// Drops the log (a crash), maybe cuts power, reopens and checks.
    fn crash(&mut self, why: &str) {
        self.stats.crashes += 1;
        self.log = None;
        let cut = match self.rng.random_range(0..3) {
            0 => None,
            1 => Some(PowerCut::DropUnsynced),
            _ => Some(PowerCut::TearLastWrite {
                seed: self.rng.random(),
            }),
        };
        self.trace.push(format!("crash ({why}), power cut {cut:?}"));
        if let Some(c) = cut {
            self.sim.cut_power(c).unwrap();
        }
        if self.rng.random_bool(0.3) {
            // Producer state must then come from the batches the cleaner kept.
            self.trace.push("producer snapshots lost".into());
            self.stats.snapshots_lost += 1;
            for e in std::fs::read_dir(&self.dir).unwrap() {
                let p = e.unwrap().path();
                if p.extension().is_some_and(|x| x == "snapshot") {
                    std::fs::remove_file(p).unwrap();
                }
            }
        }
        if self.rng.random_bool(0.3) {
            // Recovery then scans every segment, cleaned ones (with gaps) included.
            self.trace.push("recovery point lost".into());
            let _ = std::fs::remove_file(self.dir.join("recovery-point"));
        }
        self.open();
        self.check();
    }

    fn append(&mut self) {
        let n = self.rng.random_range(1..6);
        let codec = CODECS[self.rng.random_range(0..CODECS.len())];
        let pid = if self.rng.random_bool(0.4) {
            self.rng.random_range(1..3i64)
        } else {
            -1
        };
        let mut t = BatchTemplate::plain(0);
        if pid >= 0 {
            let p = self.producers.entry(pid).or_insert(Producer {
                next_seq: 0,
                last: None,
            });
            t.producer_id = pid;
            t.producer_epoch = 0;
            t.base_sequence = p.next_seq;
        }
        let mut recs = Vec::new();
        for _ in 0..n {
            self.counter += 1;
            let key =
                (!self.rng.random_bool(0.05)).then(|| vec![b'k', self.rng.random_range(0..40u8)]);
            let value =
                (!self.rng.random_bool(0.15)).then(|| format!("v{}", self.counter).into_bytes());
            recs.push(Rec { key, value });
        }
        let mut b = BatchBuilder::new(t, codec, None, Vec::new());
        for (i, r) in recs.iter().enumerate() {
            let nr = NewRecord {
                offset: i as i64,
                timestamp: self.now_ms,
                key: r.key.as_deref(),
                value: r.value.as_deref(),
                headers: Headers::default(),
            };
            b.push(&nr).unwrap();
        }
        let sent = b.finish().unwrap();
        let mut bytes = sent.clone();
        let now = self.now_ms;
        let info = self
            .log()
            .append(&mut bytes, 0, now)
            .unwrap_or_else(|e| panic!("append: {e}"));
        self.log().flush().unwrap();
        self.trace.push(format!(
            "append {n} records ({codec:?}, pid {pid}) at {}",
            info.base_offset
        ));
        for (i, r) in recs.into_iter().enumerate() {
            self.records.insert(info.base_offset + i as i64, r);
            self.batch_base
                .insert(info.base_offset + i as i64, info.base_offset);
        }
        if pid >= 0 {
            let p = self.producers.get_mut(&pid).unwrap();
            p.next_seq += n;
            p.last = Some((sent, info.base_offset));
        }
    }

    /// A pass: plan, maybe let the log move, clean, maybe crash or fail an fsync, commit.
    fn clean(&mut self) {
        let now = self.now_ms;
        let plan = match self.log().plan_clean(now, i64::MAX) {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(e) => self.fail(&format!("plan: {e}")),
        };
        self.stats.passes += 1;
        let mut interleaved = false;
        match self.rng.random_range(0..10) {
            0 | 1 => {
                self.trace.push("appends and a roll during the pass".into());
                self.append();
                self.log().roll(now).unwrap();
                self.append();
                interleaved = true;
            }
            2 => {
                let (start, end) = (self.log().log_start_offset(), self.log().log_end_offset());
                let to = self.rng.random_range(start..=start + (end - start) / 3);
                self.trace
                    .push(format!("DeleteRecords before {to} during the pass"));
                self.log().delete_records_before(to).unwrap();
                self.records = self.records.split_off(&to);
                interleaved = true;
            }
            _ => {}
        }
        let fail_sync = !interleaved && self.rng.random_bool(0.1);
        if fail_sync && self.rng.random_bool(0.5) {
            self.trace.push("fsync fails during the clean".into());
            self.sim.fail_next_sync();
            self.stats.failed_syncs += 1;
        }
        let mut cleaned = match self.cleaner.clean(plan, &mut NoThrottle) {
            Ok(c) => c,
            Err(e) => {
                if !fail_sync {
                    self.fail(&format!("clean: {e}"));
                }
                return self.crash("clean failed");
            }
        };
        let end = cleaned.end_offset;
        let crash =
            (!fail_sync && self.rng.random_bool(0.3)).then(|| self.rng.random_range(0..7u32));
        if let Some(k) = crash {
            cleaned.crash_after(k);
        }
        if fail_sync && !self.sim.sync_failure_pending() {
            self.trace.push("fsync fails during the commit".into());
            self.sim.fail_next_sync();
            self.stats.failed_syncs += 1;
        }
        self.trace.push(format!(
            "clean: first dirty {}, end {end}, {} segments, crash after {crash:?}",
            cleaned.stats.first_dirty_offset,
            cleaned.segments.len()
        ));
        if end < cleaned.plan().info.first_uncleanable_offset {
            self.stats.multi_pass += 1;
        }
        if cleaned.stats.segments_written < cleaned.stats.segments_cleaned {
            self.stats.grouped += 1;
        }
        match self.log().commit_clean(cleaned) {
            Ok(CommitOutcome::Swapped { stats, obsolete }) => {
                self.stats.swapped += 1;
                self.stats.removed += stats.records_removed;
                self.stats.tombstones_expired += stats.tombstones_removed;
                self.swapped(end, now);
                obsolete.delete(std::time::Duration::ZERO).unwrap();
                self.check();
            }
            Ok(CommitOutcome::Abandoned { reason }) => {
                self.stats.abandoned += 1;
                self.trace.push(format!("abandoned: {reason}"));
                self.check();
            }
            Err(LogError::SimulatedCrash { point }) => {
                // The manifest is the commit point: step 3.
                if crash.is_some_and(|k| k >= 3) {
                    self.swapped(end, now);
                }
                self.crash(point);
            }
            Err(e) if fail_sync => {
                self.trace.push(format!("commit failed: {e}"));
                self.crash("commit failed");
            }
            Err(e) => self.fail(&format!("commit: {e}")),
        }
    }

    fn swapped(&mut self, end: i64, now: i64) {
        for (&o, &base) in &self.batch_base {
            if base < end {
                self.first_cleaned.entry(o).or_insert(now);
            }
        }
    }

    /// Reads every batch from the log start.
    fn read_all(&mut self) -> Vec<(BatchHeader, Vec<(i64, Rec)>)> {
        let log = self.log.as_ref().unwrap();
        let (mut at, end) = (log.log_start_offset(), log.log_end_offset());
        let mut out = Vec::new();
        while at < end {
            let r = log.read(at, 1 << 20, i64::MAX, true).unwrap();
            if r.slices.is_empty() {
                break;
            }
            let mut bytes = Vec::new();
            for s in &r.slices {
                let mut b = vec![0u8; s.len as usize];
                std::os::unix::fs::FileExt::read_exact_at(&*s.file, &mut b, s.position).unwrap();
                bytes.extend_from_slice(&b);
            }
            let mut pos = 0;
            while pos < bytes.len() {
                let h = BatchHeader::parse(&bytes[pos..]).unwrap();
                let batch = &bytes[pos..pos + h.total_len()];
                let mut scratch = Vec::new();
                let recs = Records::decode(batch, &mut scratch, 1 << 24).unwrap();
                let list = recs
                    .iter()
                    .map(|r| {
                        let r = r.unwrap();
                        (
                            r.offset,
                            Rec {
                                key: r.key.map(<[u8]>::to_vec),
                                value: r.value.map(<[u8]>::to_vec),
                            },
                        )
                    })
                    .collect();
                out.push((h, list));
                at = h.last_offset() + 1;
                pos += h.total_len();
            }
        }
        out
    }

    fn check(&mut self) {
        if let Err(e) = self.log.as_ref().unwrap().verify_indexes() {
            self.fail(&format!("indexes: {e}"));
        }
        let now = self.now_ms;
        let (start, cp) = {
            let log = self.log.as_ref().unwrap();
            (
                log.log_start_offset(),
                log.cleanable_info(now, i64::MAX)
                    .unwrap()
                    .first_dirty_offset,
            )
        };
        self.records = self.records.split_off(&start);
        let batches = self.read_all();
        let mut present = BTreeMap::new();
        let mut last = i64::MIN;
        for (h, recs) in &batches {
            if h.base_offset <= last {
                self.fail(&format!(
                    "batch at {} does not follow offset {last}",
                    h.base_offset
                ));
            }
            for (o, r) in recs {
                if *o <= last || *o < h.base_offset || *o > h.last_offset() {
                    self.fail(&format!(
                        "record offset {o} out of order in batch {}..={}",
                        h.base_offset,
                        h.last_offset()
                    ));
                }
                last = *o;
                if *o >= start {
                    present.insert(*o, r.clone());
                }
            }
            last = last.max(h.last_offset());
        }
        let mut latest: HashMap<&[u8], i64> = HashMap::new();
        for (o, r) in self.records.range(..cp) {
            if let Some(k) = &r.key {
                latest.insert(k, *o);
            }
        }
        for (o, r) in &self.records {
            let got = present.get(o);
            if got.is_some_and(|g| g != r) {
                self.fail(&format!("offset {o}: read {got:?}, appended {r:?}"));
            }
            let expected = *o >= cp
                || r.key
                    .as_ref()
                    .is_some_and(|k| latest.get(&k[..]) == Some(o));
            let may_be_gone = *o < cp
                && r.value.is_none()
                && self
                    .first_cleaned
                    .get(o)
                    .is_some_and(|t| now >= t + RETENTION_MS as i64);
            if expected && got.is_none() && !may_be_gone {
                self.fail(&format!(
                    "offset {o} ({r:?}) is missing; cleaner point {cp}"
                ));
            }
            if !expected && got.is_some() {
                self.fail(&format!(
                    "offset {o} ({r:?}) should have been cleaned; cleaner point {cp}"
                ));
            }
        }
        if let Some((o, _)) = present.iter().find(|(o, _)| !self.records.contains_key(o)) {
            self.fail(&format!("offset {o} was never appended"));
        }
        // Reads from kept offsets start at the batch holding them.
        let offsets: Vec<i64> = present.keys().copied().collect();
        for _ in 0..offsets.len().min(5) {
            let o = offsets[self.rng.random_range(0..offsets.len())];
            let r = self
                .log
                .as_ref()
                .unwrap()
                .read(o, 1, i64::MAX, true)
                .unwrap();
            let s = &r.slices[0];
            let mut head = [0u8; 61];
            std::os::unix::fs::FileExt::read_exact_at(&*s.file, &mut head, s.position).unwrap();
            let h = BatchHeader::parse(&head).unwrap();
            if h.base_offset > o || h.last_offset() < o {
                self.fail(&format!(
                    "read at {o} starts at batch {}..={}",
                    h.base_offset,
                    h.last_offset()
                ));
            }
        }
        self.check_producers();
    }

    /// Each producer's last batch is still known (a retry is a duplicate at its offsets).
    fn check_producers(&mut self) {
        let start = self.log.as_ref().unwrap().log_start_offset();
        let now = self.now_ms;
        let producers: Vec<(i64, Producer)> = self
            .producers
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        for (pid, p) in producers {
            let Some((sent, base)) = p.last else { continue };
            if base < start {
                continue;
            }
            let entry = self
                .log
                .as_ref()
                .unwrap()
                .producer_state()
                .producer(pid)
                .cloned();
            let last_seq = entry.and_then(|e| e.batches.back().map(|b| b.last_seq));
            if last_seq != Some(p.next_seq - 1) {
                self.fail(&format!(
                    "producer {pid}: last sequence {last_seq:?}, want {}",
                    p.next_seq - 1
                ));
            }
            let mut retry = sent.clone();
            let info = self.log().append(&mut retry, 0, now).unwrap();
            if !info.duplicate || info.base_offset != base {
                self.fail(&format!(
                    "producer {pid}: retry of its last batch was not a duplicate: {info:?}"
                ));
            }
        }
    }

    fn step(&mut self) {
        match self.rng.random_range(0..100) {
            0..=54 => self.append(),
            55..=62 => {
                let now = self.now_ms;
                self.trace.push("roll".into());
                self.log().roll(now).unwrap();
            }
            63..=84 => self.clean(),
            85..=89 => {
                self.trace.push("reopen".into());
                self.log().close().unwrap();
                self.log = None;
                self.open();
                self.check();
            }
            90..=92 => self.crash("between operations"),
            _ => {
                let d = self.rng.random_range(100..4_000);
                self.now_ms += d;
                self.trace.push(format!("time +{d} ms"));
            }
        }
    }
}

fn run_case(seed: u64, root: &Path, totals: &mut Stats) {
    let case_dir = tempfile::tempdir_in(root).unwrap();
    let dir = case_dir.path().join("compacted-0");
    std::fs::create_dir(&dir).unwrap();
    let sim = SimulatedPowerLoss::mount(case_dir.path()).unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    // A map of 16-64 slots: passes stop early and the log is cleaned over several.
    let slots = rng.random_range(16..64usize);
    let cleaner = Cleaner::new(CleanerConfig {
        dedupe_buffer_bytes: slots * rill_log::cleaner::offset_map::SLOT_BYTES,
        ..CleanerConfig::default()
    });
    let mut case = Case {
        rng,
        seed,
        sim,
        dir,
        log: None,
        cleaner,
        now_ms: 1_700_000_000_000,
        records: BTreeMap::new(),
        first_cleaned: HashMap::new(),
        batch_base: HashMap::new(),
        producers: HashMap::new(),
        counter: 0,
        trace: Vec::new(),
        stats: Stats::default(),
    };
    case.open();
    let steps = case.rng.random_range(40..160);
    for _ in 0..steps {
        case.step();
    }
    case.crash("end of case");
    let s = &case.stats;
    totals.passes += s.passes;
    totals.swapped += s.swapped;
    totals.abandoned += s.abandoned;
    totals.crashes += s.crashes;
    totals.failed_syncs += s.failed_syncs;
    totals.multi_pass += s.multi_pass;
    totals.removed += s.removed;
    totals.tombstones_expired += s.tombstones_expired;
    totals.grouped += s.grouped;
    totals.snapshots_lost += s.snapshots_lost;
}

#[test]
fn cleaner_keeps_exactly_the_latest_record_per_key_through_crashes() {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let first = env("RILL_CLEANER_SEED").unwrap_or(0xc1ea_0000);
    let cases = env("RILL_CLEANER_CASES").unwrap_or(if cfg!(debug_assertions) { 30 } else { 150 });
    let shm = Path::new("/dev/shm");
    let root = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let started = std::time::Instant::now();
    let mut totals = Stats::default();
    for seed in first..first + cases {
        run_case(seed, root.path(), &mut totals);
    }
    eprintln!(
        "cleaner model: {cases} cases from seed {first:#x} in {:?}: {totals:?}",
        started.elapsed()
    );
    if cases >= 100 {
        assert!(
            totals.swapped > 0
                && totals.abandoned > 0
                && totals.crashes > 0
                && totals.failed_syncs > 0
        );
        assert!(totals.multi_pass > 0 && totals.removed > 0 && totals.tombstones_expired > 0);
        assert!(totals.grouped > 0 && totals.snapshots_lost > 0);
    }
}
