//! Power-loss property test through the storage seam's test double
//! ([`rill_log::storage_sim::SimulatedPowerLoss`]).
//!
//! Each case (a seeded random sequence) runs appends of small and large batches,
//! group-commit durability waits (the broker's acks path) or, in page-cache mode (the interval
//! flush policy, 40% of the cases), the deferred roll fsyncs, rolls, follower truncation,
//! DeleteRecords, size retention with recycling of segment files (segments over
//! `MIN_SPARE_BYTES`), clean and unclean reopens (recovery), with the clock moving between
//! steps. At random steps it cuts power (drops everything not synced, or tears the last
//! write), crashes without a power cut, or arms a failing fsync (`EIO`: the log must claim
//! nothing more; the power is cut before it is opened again, see `Case::reopen_and_check`).
//! After each reopen through recovery it checks:
//! - every batch the log reported durable (a `wait_durable` that returned `Ok`, a `close`
//!   that returned `Ok`, its `durable_offset` while no fsync had failed, or the state a
//!   reopen reported) at or above the log start offset the log reported before the cut is
//!   read back byte-identical at its offset;
//! - every batch read back is byte-identical to one appended at that offset and not
//!   removed since by a truncation that returned `Ok` (nothing else appears);
//! - offsets are contiguous from the log start to the log end. Except in page-cache mode:
//!   there a roll leaves the closed segment and the new segment's directory entry unsynced
//!   until the deferred roll fsync, and a directory fsync in between (a checkpoint's) can
//!   make the new, empty segment durable while the unsynced batches before it are lost. The
//!   log then has a gap without records (as Kafka's recovery leaves; reads skip it, as they
//!   skip a compacted leader's gaps); the durable-batch check still holds across it.
//!
//! A failure prints the case's seed and its steps; rerun one case with
//! `RILL_POWER_SEED=<seed> RILL_POWER_CASES=1`. `RILL_POWER_CASES` sets how many cases run
//! (default 300, 100 in an unoptimised build). `scripts/power-loss-mutations.sh` shows the
//! test failing when the log reports durability before its fsync.
#![allow(clippy::unwrap_used)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rill_log::storage_sim::{Mount, PowerCut, SimulatedPowerLoss};
use rill_log::testutil::{build_batch, BatchSpec};
use rill_log::{FlushPolicy, LogConfig, PartitionLog};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Segments just over `MIN_SPARE_BYTES` (1 MiB) so that retired ones are kept as spares.
fn config(retention_bytes: Option<u64>, flush: &FlushPolicy) -> LogConfig {
    LogConfig {
        flush: flush.clone(),
        segment_bytes: 1_200_000,
        segment_ms: Some(90_000),
        retention_ms: None,
        retention_bytes,
        index_interval_bytes: 1024,
        recycle_segments: true,
        ..LogConfig::default()
    }
}

/// What the test knows about the log.
#[derive(Default)]
struct Model {
    /// Batches the log holds as far as the test knows: (base, last, bytes), in order.
    batches: Vec<(i64, i64, Vec<u8>)>,
    /// Offsets below this were reported durable.
    durable_end: i64,
    /// Every batch that may be in the log at its base offset: appended (or attempted) and
    /// not removed since by a truncation that returned `Ok`.
    history: HashMap<i64, Vec<Vec<u8>>>,
}

impl Model {
    /// Forget batches at and above `offset` (a truncation); `certain` when it returned `Ok`,
    /// so they must never come back.
    fn truncate(&mut self, offset: i64, certain: bool) {
        self.batches.retain(|(_, last, _)| *last < offset);
        self.durable_end = self.durable_end.min(offset);
        if certain {
            let below = |base: &i64, v: &mut Vec<Vec<u8>>| {
                v.retain(|b| *base + i64::from(last_delta(b)) < offset);
                !v.is_empty()
            };
            self.history.retain(|base, v| below(base, v));
        }
    }
}

fn last_delta(batch: &[u8]) -> i32 {
    i32::from_be_bytes(batch[23..27].try_into().unwrap())
}

/// The bytes the log writes for `batch` appended at `base` by a leader in `epoch`.
fn patched(batch: &[u8], base: i64, epoch: i32) -> Vec<u8> {
    let mut b = batch.to_vec();
    rill_log::set_base_offset(&mut b, base);
    rill_log::set_partition_leader_epoch(&mut b, epoch);
    b
}

/// One case's state.
struct Case {
    rng: StdRng,
    seed: u64,
    /// The mount (its root holds the partition directory).
    sim: Mount,
    dir: PathBuf,
    log: Option<PartitionLog>,
    model: Model,
    now_ms: i64,
    retention: Option<u64>,
    /// Steps so far, printed on failure.
    trace: Vec<String>,
    /// Deleted files held back (a crash between the checkpoint and the deletes).
    held: Vec<rill_log::RemovedFiles>,
    stats: Stats,
    /// Failed fsyncs as of the last power cut.
    failed_at_cut: u64,
    /// Group commit, or page-cache mode (rolls fsync later, through `RollSyncs`).
    flush: FlushPolicy,
    /// Chance of a fault per step: low in half the cases, so that logs grow long enough
    /// for retention to retire segments a later roll recycles.
    fault_rate: f64,
}

/// Totals over all cases, to show the faults were reached.
#[derive(Default, Debug)]
struct Stats {
    appends: u64,
    durable_waits_ok: u64,
    cuts: u64,
    torn: u64,
    failed_syncs: u64,
    op_errors: u64,
    recycled: u64,
    truncations: u64,
    retentions: u64,
    durable_checked: u64,
}

const EPOCH: i32 = 3;

impl Case {
    fn log(&mut self) -> &mut PartitionLog {
        self.log.as_mut().unwrap()
    }

    fn fail(&self, what: &str) -> ! {
        panic!(
            "power-loss case seed {} failed: {what}\nsteps:\n  {}",
            self.seed,
            self.trace.join("\n  ")
        );
    }

    /// Opens the log; an fsync failing during recovery is followed by a power cut and
    /// another open, as for any failed fsync.
    fn open(&mut self) {
        let log = match PartitionLog::open(&self.dir, config(self.retention, &self.flush)) {
            Ok((log, _report)) => log,
            Err(e) if e.is_sync_failure() => {
                self.op_error("open", &e);
                self.sim.cut_power(PowerCut::DropUnsynced).unwrap();
                self.failed_at_cut = self.sim.stats().failed_syncs;
                match PartitionLog::open(&self.dir, config(self.retention, &self.flush)) {
                    Ok((log, _report)) => log,
                    Err(e) => self.fail(&format!("open after a power cut failed: {e}")),
                }
            }
            Err(e) => self.fail(&format!("open failed: {e}")),
        };
        self.log = Some(log);
    }

    /// Drops the log (as a crash does), then reopens and checks it.
    ///
    /// After a failed fsync the power is cut before the log is opened again: the pages that
    /// fsync failed to write stay in the page cache, clean, so a restarted process reads them
    /// and its own fsyncs succeed without writing them (Linux reports the error once, to the
    /// descriptors open at the time). No log can tell; a host that saw an fsync fail has to
    /// be treated as having lost its unsynced data.
    fn reopen_and_check(&mut self, mut cut: Option<PowerCut>) {
        let failed = self.sim.stats().failed_syncs;
        if cut.is_none() && failed > self.failed_at_cut {
            self.trace
                .push("  (an fsync failed: power cut first)".into());
            cut = Some(PowerCut::DropUnsynced);
        }
        if cut.is_some() {
            self.failed_at_cut = failed;
        }
        self.note_durable();
        let start_before = self.log.as_ref().map_or(0, |l| l.log_start_offset());
        if let Some(log) = self.log.take() {
            self.stats.recycled += log.recycled_count();
        }
        self.held.clear();
        if let Some(how) = cut {
            self.sim.cut_power(how).unwrap();
        }
        self.open();
        self.check(start_before);
    }

    /// The checks of the module docs; then the model becomes what was read back.
    fn check(&mut self, start_before: i64) {
        let log = self.log.as_ref().unwrap();
        let (start, end) = (log.log_start_offset(), log.log_end_offset());
        // See the module docs: page-cache mode may leave gaps without durable batches.
        let gaps = self.flush != FlushPolicy::GroupCommit;
        let mut read = Vec::new();
        let mut at = start;
        while at < end {
            let r = match log.read(at, 1 << 20, end, true) {
                Ok(r) => r,
                Err(e) => self.fail(&format!("read at {at} failed: {e}")),
            };
            let bytes = rill_log::testutil::slice_bytes(&r.slices);
            if bytes.is_empty() && gaps {
                break;
            }
            if bytes.is_empty() {
                self.fail(&format!(
                    "read at {at} returned nothing below log end {end}"
                ));
            }
            let batches = match rill_log::split_batches(&bytes) {
                Ok(v) => v,
                Err(e) => self.fail(&format!("read at {at} returned broken batches: {e}")),
            };
            for (range, _) in batches {
                let b = &bytes[range];
                let h = match rill_log::validate_batch(b) {
                    Ok(h) => h,
                    Err(e) => self.fail(&format!("batch read back at {at} is damaged: {e}")),
                };
                let (base, last) = (h.base_offset, h.last_offset());
                let contiguous = if read.is_empty() {
                    (base <= start || gaps) && start <= last
                } else {
                    base == at || (gaps && base > at)
                };
                if !contiguous {
                    self.fail(&format!(
                        "batch {base}..={last} read at {at}: not contiguous"
                    ));
                }
                if !self
                    .model
                    .history
                    .get(&base)
                    .is_some_and(|v| v.iter().any(|x| x == b))
                {
                    self.fail(&format!("batch {base}..={last} was never appended there"));
                }
                at = last + 1;
                read.push((base, last, b.to_vec()));
            }
        }
        for (base, last, bytes) in &self.model.batches {
            if *last >= self.model.durable_end || *base < start_before {
                continue;
            }
            self.stats.durable_checked += 1;
            if !read.iter().any(|(b, _, x)| b == base && x == bytes) {
                self.fail(&format!(
                    "batch {base}..={last} was reported durable (below {}) but is not read back \
                     intact (log {start}..{end}, log start before {start_before})",
                    self.model.durable_end
                ));
            }
        }
        self.model.batches = read;
        // What the log reports now: a reopened log counts its recovered data as durable.
        self.model.durable_end = 0;
        self.wait_durable();
    }

    /// Takes the log at its word: offsets below its durable offset are durable, unless an
    /// fsync failed (then its waits fail and it claims nothing more).
    fn note_durable(&mut self) {
        let Some(log) = self.log.as_ref() else { return };
        let d = log.durability();
        if d.durable_now(i64::MIN).is_some_and(|r| r.is_ok()) {
            self.model.durable_end = self.model.durable_end.max(d.durable_offset());
        }
    }

    /// Group commit: a durability wait for the log end (the broker's acks path). Page-cache
    /// mode: the broker's deferred roll fsyncs (`RollSyncs`, run without the log's lock),
    /// after which the log counts the rolled segments durable.
    fn wait_durable(&mut self) {
        if self.flush != FlushPolicy::GroupCommit {
            let Some(syncs) = self.log().pending_roll_syncs() else {
                return self.note_durable();
            };
            self.trace.push(format!("roll syncs below {}", syncs.end()));
            let res = syncs
                .sync()
                .and_then(|()| self.log().roll_syncs_done(&syncs));
            if let Err(e) = res {
                self.op_error("roll syncs", &e);
            }
            self.note_durable();
            return;
        }
        let log = self.log.as_ref().unwrap();
        let end = log.log_end_offset();
        let res = log.durability().wait_durable(end);
        match res {
            Ok(()) => {
                self.stats.durable_waits_ok += 1;
                self.model.durable_end = self.model.durable_end.max(end);
                self.trace.push(format!("  durable below {end}"));
            }
            Err(e) => self.op_error("wait_durable", &e),
        }
    }

    fn op_error(&mut self, op: &str, e: &rill_log::LogError) {
        self.stats.op_errors += 1;
        self.trace.push(format!("  {op} failed: {e}"));
    }

    fn append(&mut self, big: bool) {
        let (records, body) = if big {
            (
                self.rng.random_range(1..4),
                self.rng.random_range(120_000..320_000),
            )
        } else {
            (self.rng.random_range(1..6), self.rng.random_range(60..3000))
        };
        let spec = BatchSpec {
            records,
            record_bytes: body,
            base_timestamp: self.now_ms,
            max_timestamp: self.now_ms,
            fill: self.rng.random(),
            ..BatchSpec::default()
        };
        let mut batch = build_batch(&spec);
        let base = self.log().log_end_offset();
        let expected = patched(&batch, base, EPOCH);
        self.model
            .history
            .entry(base)
            .or_default()
            .push(expected.clone());
        let now = self.now_ms;
        match self.log().append(&mut batch, EPOCH, now) {
            Ok(info) => {
                assert_eq!((info.base_offset, &batch), (base, &expected));
                self.stats.appends += 1;
                self.model.batches.push((base, info.last_offset, expected));
                self.trace
                    .push(format!("append {base}..={} ({body} B)", info.last_offset));
            }
            Err(e) => self.op_error("append", &e),
        }
    }

    /// A random offset in `[log start, log end]`, mostly near the end (as a follower's
    /// truncation after a leader change).
    fn some_offset(&mut self) -> i64 {
        let log = self.log.as_ref().unwrap();
        let (s, e) = (log.log_start_offset(), log.log_end_offset());
        if self.rng.random_bool(0.7) {
            (e - self.rng.random_range(0..20)).max(s)
        } else {
            self.rng.random_range(s..=e)
        }
    }

    /// One step: a fault (power cut, crash, failing fsync) with the case's fault rate,
    /// otherwise ordinary work.
    fn step(&mut self) {
        self.now_ms += self.rng.random_range(0..2_000);
        if self.rng.random_bool(self.fault_rate) {
            self.fault_step();
        } else {
            self.work_step();
            self.note_durable();
        }
    }

    fn work_step(&mut self) {
        let now = self.now_ms;
        match self.rng.random_range(0..86) {
            0..=31 => self.append(false),
            32..=53 => self.append(true),
            54..=67 => self.wait_durable(),
            68..=69 => {
                self.trace.push("roll".into());
                if let Err(e) = self.log().roll(now) {
                    self.op_error("roll", &e);
                }
            }
            70..=73 => {
                let at = self.some_offset();
                self.trace.push(format!("truncate_to {at}"));
                self.stats.truncations += 1;
                let res = self.log().truncate_to(at);
                // A batch straddling `at` goes whole: the log may now end below it.
                let end = self.log().log_end_offset().min(at);
                self.model.truncate(end, res.is_ok());
                if let Err(e) = res {
                    self.op_error("truncate_to", &e);
                }
            }
            74..=76 => {
                let at = self.some_offset();
                self.trace.push(format!("delete_records_before {at}"));
                if let Err(e) = self.log().delete_records_before(at) {
                    self.op_error("delete_records_before", &e);
                }
            }
            _ => self.retention(),
        }
    }

    fn fault_step(&mut self) {
        match self.rng.random_range(0..16) {
            0..=2 => {
                self.trace.push("close and reopen".into());
                match self.log().close() {
                    Ok(()) => {
                        let end = self.log().log_end_offset();
                        self.model.durable_end = self.model.durable_end.max(end);
                    }
                    Err(e) => self.op_error("close", &e),
                }
                self.reopen_and_check(None);
            }
            3..=6 => {
                self.trace.push("crash (no power cut) and reopen".into());
                self.reopen_and_check(None);
            }
            7..=8 => {
                self.trace.push("arm a failing fsync".into());
                self.sim.fail_next_sync();
            }
            9..=12 => {
                self.trace.push("power cut: drop unsynced".into());
                self.reopen_and_check(Some(PowerCut::DropUnsynced));
            }
            _ => {
                let seed = self.rng.random();
                self.trace
                    .push(format!("power cut: tear the last write ({seed})"));
                self.reopen_and_check(Some(PowerCut::TearLastWrite { seed }));
            }
        }
    }

    fn retention(&mut self) {
        let limit = self.rng.random_range(100_000..2_500_000u64);
        self.retention = Some(limit);
        let now = self.now_ms;
        let delete_now = self.rng.random_bool(0.7);
        self.trace
            .push(format!("retention {limit} B (delete files: {delete_now})"));
        self.stats.retentions += 1;
        let cfg = config(Some(limit), &self.flush);
        self.log().set_config(cfg);
        let removed = match self.log().enforce_retention_deferred(now) {
            Ok((_, removed)) => removed,
            Err(e) => return self.op_error("retention", &e),
        };
        let files = match removed.write_log_start() {
            Ok(f) => f,
            Err(e) => return self.op_error("retention checkpoint", &e),
        };
        if delete_now {
            if let Err(e) = files.delete_paced(std::time::Duration::ZERO) {
                self.op_error("retention delete", &e);
            }
        } else {
            self.held.push(files);
        }
    }
}

fn run_case(seed: u64, root: &Path, totals: &mut Stats) {
    let case_dir = tempfile::tempdir_in(root).unwrap();
    let dir = case_dir.path().join("topic-0");
    std::fs::create_dir(&dir).unwrap();
    let sim = SimulatedPowerLoss::mount(case_dir.path()).unwrap();
    let mut case = Case {
        rng: StdRng::seed_from_u64(seed),
        seed,
        sim,
        dir,
        log: None,
        model: Model::default(),
        now_ms: 1_700_000_000_000,
        retention: None,
        trace: Vec::new(),
        held: Vec::new(),
        stats: Stats::default(),
        failed_at_cut: 0,
        fault_rate: 0.0,
        flush: FlushPolicy::GroupCommit,
    };
    if case.rng.random_bool(0.4) {
        let messages = case
            .rng
            .random_bool(0.5)
            .then(|| case.rng.random_range(1..40));
        case.flush = FlushPolicy::Interval { messages, ms: None };
    }
    case.fault_rate = if case.rng.random_bool(0.5) {
        0.03
    } else {
        0.15
    };
    case.open();
    let steps = case.rng.random_range(20..120);
    for _ in 0..steps {
        case.step();
    }
    // Every case ends with a power cut.
    case.trace.push("final power cut".into());
    case.reopen_and_check(Some(PowerCut::DropUnsynced));
    let sim = case.sim.stats();
    let s = &case.stats;
    totals.appends += s.appends;
    totals.durable_waits_ok += s.durable_waits_ok;
    totals.cuts += sim.cuts;
    totals.torn += sim.torn;
    totals.failed_syncs += sim.failed_syncs;
    totals.op_errors += s.op_errors;
    totals.recycled += s.recycled;
    totals.truncations += s.truncations;
    totals.retentions += s.retentions;
    totals.durable_checked += s.durable_checked;
}

#[test]
fn power_loss_keeps_every_durable_record_and_invents_none() {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let first = env("RILL_POWER_SEED").unwrap_or(0x5eed_0000);
    // Unoptimised builds (plain `cargo test`) run a third as many: ~50 s for 300 there.
    let cases = env("RILL_POWER_CASES").unwrap_or(if cfg!(debug_assertions) { 100 } else { 300 });
    // tmpfs when there is one: the double keeps its own durable image, so no real fsync runs.
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
        "power loss: {cases} cases from seed {first:#x} in {:?}: {totals:?}",
        started.elapsed()
    );
    if cases >= 100 {
        // The faults and paths the test is about were all reached.
        assert!(totals.torn > 0 && totals.failed_syncs > 0 && totals.recycled > 0);
        assert!(totals.durable_checked > 0 && totals.op_errors > 0);
    }
}

/// Page-cache mode: a crash leaves rolled segments unsynced; the reopened log reports all it
/// recovered durable, so recovery must have fsynced every segment it scanned, not only the
/// active one.
#[test]
fn recovery_fsyncs_every_segment_it_scanned_before_reporting_it_durable() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("topic-0");
    std::fs::create_dir(&dir).unwrap();
    let sim = SimulatedPowerLoss::mount(root.path()).unwrap();
    let flush = FlushPolicy::Interval {
        messages: None,
        ms: None,
    };
    let mut written = Vec::new();
    {
        let (mut log, _) = PartitionLog::open(&dir, config(None, &flush)).unwrap();
        for i in 0..12u8 {
            let mut b = build_batch(&BatchSpec {
                records: 2,
                record_bytes: 250_000,
                fill: i,
                ..BatchSpec::default()
            });
            log.append(&mut b, EPOCH, 1_000).unwrap();
            written.push(b);
        }
        assert!(log.segment_count() >= 3 && log.has_pending_roll_syncs());
    } // crash: nothing was fsynced
    let (log, _) = PartitionLog::open(&dir, config(None, &flush)).unwrap();
    let end = log.log_end_offset();
    assert_eq!((end, log.durability().durable_offset()), (24, 24));
    drop(log);
    sim.cut_power(PowerCut::DropUnsynced).unwrap();
    let (log, _) = PartitionLog::open(&dir, config(None, &flush)).unwrap();
    assert_eq!(
        log.log_end_offset(),
        24,
        "offsets reported durable were lost"
    );
    let r = log.read(0, 64 << 20, 24, true).unwrap();
    assert_eq!(rill_log::testutil::slice_bytes(&r.slices), written.concat());
}
