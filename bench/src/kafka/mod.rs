//! `rill-bench kafka`: Rill through real Kafka clients, beside the machine's limits measured in
//! the same run (issue 9). Order: TCP loopback limit; a group-commit broker (produce with
//! librdkafka at acks=1/all on 1 and 12 partitions, unlimited then at half the peak rate, and
//! the same with `rill perf` when the binary has it; its fsyncs counted with `perf stat`); a
//! relaxed-fsync broker (Kafka's page-cache mode: acks=all on 12 partitions, then a topic
//! filled and read back by one consumer, the whole phase between two more loopback runs); three nodes with replication factor 3 (section 3,
//! `cluster`); the disk limit with the group-commit broker's fsync pattern; the loopback-into-
//! disk ceiling with the same pattern; the table.
//!
//! With `--bootstrap` the same client load runs against an already running broker instead
//! (no relaxed broker, no RSS, disk limit with a fixed fsync pattern). All traffic is to
//! 127.0.0.1 or the given address; every measurement is bounded in records and in time.

mod acls;
mod broker_proc;
mod cleaner_load;
mod cluster;
mod consume;
mod idle;
mod limits;
mod produce;
mod report;
mod rill_perf;
mod secure;
mod stats;
mod txn;

use anyhow::{Context, Result};
use broker_proc::{BrokerProc, FsyncCounter};
use produce::CreateError;
use report::{Against, ProduceRow, Results, Rss, LINGER_MS, SINGLE};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use acls::{run as acls_main, AclsArgs};
pub use cleaner_load::{run as cleaner_load_main, CleanerLoadArgs};
pub use idle::{run as idle_main, IdleArgs};
pub use limits::{disk_sink_main, sink_main};
pub use secure::{run as secure_main, SecureArgs};
pub use txn::{run as txn_main, TxnArgs};

/// Options of the Kafka benchmark.
#[derive(clap::Args)]
pub struct KafkaArgs {
    /// Run the client load against this already running Kafka-compatible broker instead of
    /// starting Rill.
    #[arg(long, value_name = "HOST:PORT")]
    bootstrap: Option<String>,
    /// MiB to consume with one consumer (default 4096; 256 with --quick).
    #[arg(long)]
    size_mb: Option<u64>,
    /// A ~30 s smoke run: short measurements, 256 MiB consume.
    #[arg(long)]
    quick: bool,
    /// Fill the page cache before measuring (see `limits::fill_page_cache`), so writes recycle
    /// page-cache pages as on a machine that has run for a while instead of landing in memory
    /// a VM may never have given the guest before (or has taken back); topped up before each
    /// later phase. Needs disk: the fill is kept beside the broker data (up to ~45 GiB in a full
    /// run) until the end.
    #[arg(long)]
    fill_page_cache: bool,
    /// The `rill` binary (default: `rill` beside this executable).
    #[arg(long)]
    rill_bin: Option<PathBuf>,
    /// Directory for broker data and the disk limit file (default: the system temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Durations and volumes of one run.
pub(crate) struct Plan {
    /// Each unlimited and each half-rate produce measurement.
    produce: Duration,
    /// Loopback and disk limit measurements.
    limit_secs: f64,
    /// MiB for the consume measurement.
    consume_mib: u64,
}

/// The fsync pattern used for the disk limit when the broker's is unknown (no perf, --bootstrap).
const FALLBACK_SYNC_BYTES: u64 = 256 << 10;

/// Files fsynced per group-commit round in the run whose fsyncs are counted (its partitions).
const ROUND_FILES: usize = 12;

/// Where the volume-matched disk-limit files stay while the group-commit broker runs.
fn volume_limit_dir(scratch: &Path) -> PathBuf {
    scratch.join("volume-limit")
}

/// What the counted group-commit run wrote and how often the broker fsynced.
#[derive(Debug, Clone, Copy)]
struct Synced {
    /// Record-value bytes per broker fsync.
    per_fsync: u64,
    /// Record-value bytes the run wrote.
    bytes: u64,
}

/// Runs the benchmark and prints the table.
pub fn run(args: &KafkaArgs) -> Result<()> {
    let plan = Plan {
        produce: Duration::from_secs_f64(if args.quick { 1.5 } else { 5.0 }),
        limit_secs: if args.quick { 1.0 } else { 3.0 },
        consume_mib: args.size_mb.unwrap_or(if args.quick { 256 } else { 4096 }),
    };
    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let scratch = tempfile::Builder::new()
        .prefix("rill-bench-")
        .tempdir_in(&base)?;
    let mut res = Results::default();
    res.notes.push(format!(
        "rill-bench kafka: {} cores; the load generator (librdkafka) and the broker share them. \
         Data dir {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        base.display()
    ));
    let mut fill = if !args.fill_page_cache {
        res.notes.push(
            "page cache not filled first (see --fill-page-cache): on a VM, writes into memory \
             the guest has not touched lately pay a host fault per page, for the broker and \
             the disk limit alike (which is why that limit is measured with the broker's volume)"
                .into(),
        );
        None
    } else {
        progress("filling the page cache");
        let fill = limits::fill_page_cache(&base)?;
        res.notes.push(match &fill {
            Some(f) => format!(
                "page cache filled first with a {:.1} GiB file ({:.0} s, kept until the end): every \
                 write of the run recycles page-cache pages, as on a machine that has run for a \
                 while, instead of paying the VM's first touch of guest memory",
                f.bytes as f64 / (1u64 << 30) as f64,
                f.secs
            ),
            None => "page cache not filled: under 1 GiB of memory or disk to spare".into(),
        });
        fill
    };
    progress("TCP loopback limit");
    res.loopback = Some(with_steal(|| limits::loopback(plan.limit_secs))?);
    let rill = rill_bin(args)?;
    let perf_ok = args.bootstrap.is_none() && rill_perf::available(&rill);
    let sync_bytes = match &args.bootstrap {
        Some(b) => {
            res.notes.push(format!(
                "broker: {b} (already running, given by --bootstrap)"
            ));
            let _ = group_commit_suite(&mut res, &plan, b, None, None, scratch.path())?;
            consume_suite(&mut res, &plan, b, None)?;
            res.skipped.push(
                "relaxed fsync: not run with --bootstrap (the broker's own flush settings apply)"
                    .into(),
            );
            res.cluster.skipped = Some("not run with --bootstrap".into());
            None
        }
        None => {
            res.notes.push(format!(
                "broker: {} serve, started by the bench",
                rill.display()
            ));
            let perf = perf_ok.then_some(rill.as_path());
            let sync = rill_group_commit(&mut res, &plan, &rill, &base, perf, scratch.path())?;
            top_up(&mut res, fill.as_mut(), "the relaxed broker")?;
            rill_relaxed(&mut res, &plan, &rill, &base, perf)?;
            top_up(&mut res, fill.as_mut(), "the 3-node cluster")?;
            cluster::run(&mut res, &plan, &rill, &base)?;
            sync.map(|s| s.per_fsync)
        }
    };
    if !perf_ok && args.bootstrap.is_none() {
        res.skipped
            .push("rill perf: not run (`rill perf produce --help` does not work)".into());
    }
    top_up(&mut res, fill.as_mut(), "the disk limit's short run")?;
    progress("disk limit (short run)");
    let short = match sync_bytes {
        // The broker fsyncs the 12 partitions' files together in each group-commit round.
        Some(per_fsync) => {
            let mut d = with_steal(|| {
                limits::disk_rounds(
                    scratch.path(),
                    ROUND_FILES,
                    per_fsync * ROUND_FILES as u64,
                    plan.limit_secs,
                )
            })?;
            d.note += " (the broker's pattern, at the end of the run, into freed page cache)";
            d
        }
        None => {
            let sync = FALLBACK_SYNC_BYTES;
            let mut d =
                with_steal(|| limits::disk(scratch.path(), sync as usize, sync, plan.limit_secs))?;
            d.note += " (fixed pattern: the broker's fsyncs were not counted)";
            d
        }
    };
    if res.disk.is_none() {
        res.disk = Some(short);
    } else {
        res.disk_short = Some(short);
    }
    progress("loopback into disk (a ceiling)");
    let round = sync_bytes.map_or(FALLBACK_SYNC_BYTES * ROUND_FILES as u64, |per_fsync| {
        per_fsync * ROUND_FILES as u64
    });
    res.pipe = Some(with_steal(|| {
        limits::loopback_into_disk(scratch.path(), ROUND_FILES, round, plan.limit_secs)
    })?);
    res.print();
    Ok(())
}

/// What `rill-bench consume-once` is asked to do.
#[derive(Debug, Clone)]
pub struct ConsumeOnce {
    /// The broker.
    pub bootstrap: String,
    /// The topic (partition 0 is read).
    pub topic: String,
    /// Bytes of record values to read.
    pub bytes: u64,
    /// Fill the topic with this many MiB first (created with one partition).
    pub fill_mib: Option<u64>,
    /// Give up after this long.
    pub limit: Duration,
    /// The consumer's `isolation.level`.
    pub isolation: String,
    /// Print JSON (see [`consume::ConsumeOutcome::to_json`]) instead of a line of text.
    pub json: bool,
}

/// `rill-bench consume-once`: one librdkafka consumer reads `bytes` of record values of
/// `topic` partition 0 from `bootstrap` and prints what it measured; with `fill_mib`, the topic
/// is created and filled first as the `kafka` run fills its consume topic.
pub fn consume_once(job: &ConsumeOnce) -> Result<()> {
    if let Some(fill) = job.fill_mib {
        produce::create_consume_topic(&job.bootstrap, &job.topic, 1)
            .map_err(CreateError::into_anyhow)?;
        let spec = produce::Spec {
            acks: "1",
            partitions: 1,
            rate: None,
            duration: Duration::from_secs(300),
            max_records: fill * 1024,
            linger_ms: LINGER_MS,
        };
        let filled = produce::run(&job.bootstrap, &job.topic, &spec)?;
        if !job.json {
            println!(
                "filled: {} records, {:.0} MiB/s",
                filled.records,
                filled.mib_s()
            );
        }
    }
    let read = consume::run(
        &job.bootstrap,
        &job.topic,
        job.bytes,
        job.limit,
        &job.isolation,
    )?;
    if job.json {
        println!("{}", read.to_json());
        return Ok(());
    }
    println!(
        "librdkafka consumer: {} records, {:.0} MiB/s, {:.0} records/s, host steal {}, {} minor page faults",
        read.records,
        read.mib_s(),
        read.records as f64 / read.secs.max(1e-9),
        stats::fmt_pct(read.steal_pct),
        read.faults.map_or("?".into(), |f| f.to_string()),
    );
    Ok(())
}

/// Tops up the page-cache fill, if there is one, before `phase` (see
/// `limits::PageCacheFill::top_up`), with a note of what it took.
fn top_up(res: &mut Results, fill: Option<&mut limits::PageCacheFill>, phase: &str) -> Result<()> {
    let Some(fill) = fill else {
        return Ok(());
    };
    progress(&format!("topping up the page-cache fill before {phase}"));
    let (bytes, secs) = fill.top_up()?;
    res.notes.push(format!(
        "page cache topped up before {phase}: {:.1} GiB ({secs:.0} s)",
        bytes as f64 / (1u64 << 30) as f64
    ));
    Ok(())
}

/// Measures a limit, adding the CPU time the host took meanwhile to its note.
fn with_steal(measure: impl FnOnce() -> Result<limits::Limit>) -> Result<limits::Limit> {
    let steal = stats::Steal::start();
    let mut limit = measure()?;
    limit.note += &format!(
        ", host steal {}",
        stats::fmt_pct(steal.and_then(|s| s.pct()))
    );
    Ok(limit)
}

pub(crate) fn progress(what: &str) {
    eprintln!("rill-bench kafka: {what} ...");
}

fn rill_bin(args: &KafkaArgs) -> Result<PathBuf> {
    if let Some(p) = &args.rill_bin {
        return Ok(p.clone());
    }
    let exe = std::env::current_exe().context("find rill-bench's own path")?;
    let bin = exe.with_file_name("rill");
    if args.bootstrap.is_none() {
        anyhow::ensure!(
            bin.exists(),
            "{} not found: run `cargo build --release -p rill` or pass --rill-bin",
            bin.display()
        );
    }
    Ok(bin)
}

/// The group-commit broker: produce suite, RSS. Returns the broker's fsync pattern if counted.
fn rill_group_commit(
    res: &mut Results,
    plan: &Plan,
    rill: &Path,
    base: &Path,
    perf_bin: Option<&Path>,
    scratch: &Path,
) -> Result<Option<Synced>> {
    progress("starting rill (group commit)");
    let broker = BrokerProc::start(rill, base, &[])?;
    std::thread::sleep(Duration::from_secs(1));
    let idle = broker.peak_rss_mib()?;
    let sync = group_commit_suite(
        res,
        plan,
        &broker.bootstrap,
        Some(broker.pid()),
        perf_bin,
        scratch,
    )?;
    res.rss.push(Rss {
        label: "group-commit broker",
        idle_mib: idle,
        after_mib: broker.peak_rss_mib()?,
    });
    res.notes.push(format!(
        "group-commit broker RSS now {:.1} MiB",
        broker.rss_mib()?
    ));
    drop(broker);
    // The volume-matched disk-limit files were kept while this broker ran (see limits).
    let kept = volume_limit_dir(scratch);
    if kept.exists() {
        std::fs::remove_dir_all(&kept).with_context(|| format!("remove {}", kept.display()))?;
    }
    Ok(sync)
}

/// The relaxed-fsync broker: acks=all on 12 partitions, consume, RSS.
fn rill_relaxed(
    res: &mut Results,
    plan: &Plan,
    rill: &Path,
    base: &Path,
    perf_bin: Option<&Path>,
) -> Result<()> {
    progress("starting rill (relaxed fsync)");
    let overrides = [
        // Kafka's defaults: never fsync on the append path, the OS writes back.
        "log.flush.interval.messages=9223372036854775807",
        "log.flush.interval.ms=9223372036854775807",
    ];
    let broker = BrokerProc::start(rill, base, &overrides)?;
    std::thread::sleep(Duration::from_secs(1));
    let idle = broker.peak_rss_mib()?;
    progress("TCP loopback before the relaxed phase");
    res.loopback_beside
        .push(with_steal(|| limits::loopback(plan.limit_secs))?);
    let topic = topic_name("relaxed", 12);
    produce::create_topic(&broker.bootstrap, &topic, 12)?;
    let peak = produce_pair(
        res,
        plan,
        SINGLE,
        &broker.bootstrap,
        &topic,
        "relaxed",
        "all",
        12,
    )?;
    if let Some(bin) = perf_bin {
        let load = PerfLoad {
            fsync: "relaxed",
            acks: "all",
            parts: 12,
            peak,
        };
        run_rill_perf(res, plan, bin, &broker.bootstrap, &topic, load);
    }
    progress("loopback into page cache (the relaxed rows' ceiling)");
    res.pipe_relaxed = Some(with_steal(|| {
        limits::loopback_into_page_cache(
            base,
            ROUND_FILES,
            FALLBACK_SYNC_BYTES * ROUND_FILES as u64,
            plan.limit_secs,
        )
    })?);
    consume_suite(res, plan, &broker.bootstrap, perf_bin)?;
    progress("TCP loopback after the consumers");
    res.loopback_beside
        .push(with_steal(|| limits::loopback(plan.limit_secs))?);
    res.rss.push(Rss {
        label: "relaxed broker",
        idle_mib: idle,
        after_mib: broker.peak_rss_mib()?,
    });
    res.notes.push(format!(
        "relaxed broker: Kafka's page-cache mode (log.flush.interval.messages and .ms at Kafka's default, never); RSS now {:.1} MiB",
        broker.rss_mib()?
    ));
    Ok(())
}

pub(crate) fn topic_name(what: &str, partitions: i32) -> String {
    format!("rill-bench-{}-{what}-{partitions}p", std::process::id())
}

/// acks=1/all on 1 and 12 partitions, unlimited then half rate, librdkafka then `rill perf`.
/// With `pid`, counts the broker's fsyncs during acks=all 12p unlimited, measures the disk
/// limit with that pattern and volume right after that run (`res.disk`), and returns the
/// pattern.
fn group_commit_suite(
    res: &mut Results,
    plan: &Plan,
    bootstrap: &str,
    pid: Option<u32>,
    rill_perf_bin: Option<&Path>,
    scratch: &Path,
) -> Result<Option<Synced>> {
    let mut synced = None;
    for parts in [1, 12] {
        let topic = topic_name("gc", parts);
        produce::create_topic(bootstrap, &topic, parts)?;
        for acks in ["1", "all"] {
            let counter = pid
                .filter(|_| acks == "all" && parts == 12)
                .and_then(|p| FsyncCounter::attach(p, scratch));
            let peak = produce_pair_with(
                res,
                plan,
                SINGLE,
                bootstrap,
                &topic,
                "group commit",
                acks,
                parts,
                counter,
                &mut synced,
            )?;
            if let (Some(s), None) = (synced, &res.disk) {
                progress("disk limit (the broker's pattern and volume)");
                let kept = volume_limit_dir(scratch);
                std::fs::create_dir_all(&kept)?;
                let mut d = with_steal(|| {
                    limits::disk_rounds_volume(
                        &kept,
                        ROUND_FILES,
                        s.per_fsync * ROUND_FILES as u64,
                        s.bytes,
                    )
                })?;
                d.note += " (the broker's pattern and volume in the acks=all 12-partition run, \
                           written right after it)";
                res.disk = Some(d);
            }
            if let Some(bin) = rill_perf_bin {
                let load = PerfLoad {
                    fsync: "group commit",
                    acks,
                    parts,
                    peak,
                };
                run_rill_perf(res, plan, bin, bootstrap, &topic, load);
            }
        }
    }
    Ok(synced)
}

/// An unlimited run then a run at half its rate; returns the peak records/s.
#[allow(clippy::too_many_arguments)]
pub(crate) fn produce_pair(
    res: &mut Results,
    plan: &Plan,
    setup: &'static str,
    bootstrap: &str,
    topic: &str,
    fsync: &'static str,
    acks: &'static str,
    parts: i32,
) -> Result<f64> {
    let mut none = None;
    produce_pair_with(
        res, plan, setup, bootstrap, topic, fsync, acks, parts, None, &mut none,
    )
}

#[allow(clippy::too_many_arguments)]
fn produce_pair_with(
    res: &mut Results,
    plan: &Plan,
    setup: &'static str,
    bootstrap: &str,
    topic: &str,
    fsync: &'static str,
    acks: &'static str,
    parts: i32,
    mut counter: Option<FsyncCounter>,
    synced: &mut Option<Synced>,
) -> Result<f64> {
    let against = if fsync == "relaxed" {
        Against::Loopback
    } else {
        Against::Disk
    };
    let mut peak = 0.0;
    // The peak with the default linger (what the caller gets and the ratios use).
    let mut default_peak = 0.0;
    // The latency targets: without the client's linger, at half of the peak the client
    // reaches without linger (half of the linger peak would overload it: it batches less).
    let latency_run = setup == SINGLE && fsync == "group commit";
    let runs: &[(bool, u32)] = if latency_run {
        &[(false, LINGER_MS), (true, LINGER_MS), (false, 0), (true, 0)]
    } else {
        &[(false, LINGER_MS), (true, LINGER_MS)]
    };
    for &(half, linger_ms) in runs {
        if half && peak <= 0.0 {
            res.skipped.push(format!(
                "{fsync} acks={acks} {parts}p linger.ms={linger_ms} at half peak: no peak \
                 (nothing acknowledged in the unlimited run)"
            ));
            continue;
        }
        let rate = half.then_some(peak / 2.0);
        progress(&format!(
            "produce {fsync} acks={acks} {parts}p {} linger.ms={linger_ms}",
            rate.map_or_else(|| "unlimited".to_string(), |r| format!("{r:.0} rec/s"))
        ));
        let spec = produce::Spec {
            acks,
            partitions: parts,
            rate,
            duration: plan.produce,
            max_records: 5_000_000,
            linger_ms,
        };
        let outcome = produce::run(bootstrap, topic, &spec)?;
        if !half {
            peak = outcome.records_s();
            if linger_ms == LINGER_MS {
                default_peak = peak;
            }
            if let Some(c) = counter.take() {
                let bytes = outcome.records * produce::RECORD_BYTES as u64;
                match c.finish().filter(|n| *n > 0) {
                    Some(n) => {
                        *synced = Some(Synced {
                            per_fsync: bytes / n,
                            bytes,
                        });
                        res.notes.push(format!(
                            "broker fsyncs in the group-commit acks=all {parts}-partition unlimited run \
                             (perf stat): {n}, one per {} KiB of record values",
                            (bytes / n) >> 10
                        ));
                    }
                    None => res
                        .notes
                        .push("broker fsyncs: perf stat gave no count".into()),
                }
            }
        }
        res.produce.push(ProduceRow {
            setup,
            client: "librdkafka",
            fsync,
            acks,
            partitions: parts,
            rate,
            linger_ms,
            outcome,
            against,
        });
    }
    Ok(default_peak)
}

/// What one series of `rill perf produce` runs loads a broker with.
struct PerfLoad {
    /// The broker's fsync mode, as the table labels it ("group commit" or "relaxed").
    fsync: &'static str,
    /// acks.
    acks: &'static str,
    /// Partitions of the topic.
    parts: i32,
    /// librdkafka's peak records/s on the same load (sizes the unlimited runs).
    peak: f64,
}

/// `rill perf produce` on `topic`: unlimited with the default linger, then (for the latency
/// targets) unlimited with linger.ms=0 and at half of that peak, as the librdkafka runs.
fn run_rill_perf(
    res: &mut Results,
    plan: &Plan,
    bin: &Path,
    bootstrap: &str,
    topic: &str,
    load: PerfLoad,
) {
    let PerfLoad {
        fsync,
        acks,
        parts,
        peak,
    } = load;
    let against = if fsync == "relaxed" {
        Against::Loopback
    } else {
        Against::Disk
    };
    let mut linger0_peak = None;
    for (linger_ms, half) in [(LINGER_MS, false), (0, false), (0, true)] {
        let rate = if half {
            match linger0_peak {
                Some(p) if p > 0.0 => Some(p / 2.0),
                _ => break,
            }
        } else {
            None
        };
        progress(&format!(
            "rill perf produce {fsync} acks={acks} {parts}p {} linger.ms={linger_ms}",
            rate.map_or_else(|| "unlimited".to_string(), |r| format!("{r:.0} rec/s"))
        ));
        let per_sec = rate.unwrap_or(peak);
        let records = ((per_sec * plan.produce.as_secs_f64()) as u64).clamp(1000, 5_000_000);
        let limit = plan.produce * 4 + Duration::from_secs(10);
        match rill_perf::run(bin, bootstrap, topic, acks, records, rate, linger_ms, limit) {
            Ok(outcome) => {
                if linger_ms == 0 && !half {
                    linger0_peak = Some(outcome.records_s());
                }
                res.produce.push(ProduceRow {
                    setup: SINGLE,
                    client: "rill perf",
                    fsync,
                    acks,
                    partitions: parts,
                    rate,
                    linger_ms,
                    outcome,
                    against,
                });
            }
            Err(e) => {
                res.skipped.push(format!(
                    "rill perf {fsync} acks={acks} {parts}p linger.ms={linger_ms}: {e:#}"
                ));
                break;
            }
        }
    }
}

/// Fills a 1-partition topic with `consume_mib` MiB (acks=1, unlimited), then reads it back
/// with librdkafka and, given its binary, with `rill perf consume`.
fn consume_suite(
    res: &mut Results,
    plan: &Plan,
    bootstrap: &str,
    perf_bin: Option<&Path>,
) -> Result<()> {
    let topic = topic_name("consume", 1);
    produce::create_consume_topic(bootstrap, &topic, 1).map_err(CreateError::into_anyhow)?;
    let read = fill_and_consume(res, plan, bootstrap, &topic, false)?;
    if let Some(bin) = perf_bin {
        progress("consume with rill perf");
        match rill_perf::consume(
            bin,
            bootstrap,
            &topic,
            read.records,
            Duration::from_secs(120),
        ) {
            Ok(c) => res.consume_rill = Some(c),
            Err(e) => res.skipped.push(format!("rill perf consume: {e:#}")),
        }
    }
    progress("consume with librdkafka, malloc keeping freed memory");
    match consume::run_malloc_keeps_freed(bootstrap, &topic, read.bytes, Duration::from_secs(120)) {
        Ok(c) => res.consume_kept = Some(c),
        Err(e) => res.skipped.push(format!(
            "librdkafka consume, malloc keeping freed memory: {e:#}"
        )),
    }
    res.consume = Some(read);
    Ok(())
}

/// Fills `topic` (partition 0) with `consume_mib` MiB at acks=1, then reads it back with one
/// consumer. With `replicated`, the read starts once the high watermark has reached the
/// log end (the followers have caught up; a consumer reads only below the high watermark, so
/// otherwise it would measure the followers' catch-up), and a note says how long that took.
pub(crate) fn fill_and_consume(
    res: &mut Results,
    plan: &Plan,
    bootstrap: &str,
    topic: &str,
    replicated: bool,
) -> Result<consume::ConsumeOutcome> {
    progress(&format!("fill {} MiB for the consumer", plan.consume_mib));
    let spec = produce::Spec {
        acks: "1",
        partitions: 1,
        rate: None,
        duration: Duration::from_secs(120),
        max_records: plan.consume_mib * 1024,
        linger_ms: LINGER_MS,
    };
    let filled = produce::run(bootstrap, topic, &spec)?;
    res.notes.push(format!(
        "consume topic filled with {} MiB at {:.0} MiB/s (acks=1)",
        filled.records >> 10,
        filled.mib_s()
    ));
    if replicated {
        progress("waiting for the followers to catch up");
        let secs = consume::wait_high_watermark(bootstrap, topic, filled.records as i64)?;
        res.notes.push(format!(
            "replicated consume topic: the high watermark reached the log end {secs:.1} s \
             after the fill ended (the followers' catch-up); the consumer started then"
        ));
    }
    progress("consume");
    let want = filled.records * produce::RECORD_BYTES as u64;
    consume::run(
        bootstrap,
        topic,
        want,
        Duration::from_secs(120),
        "read_uncommitted",
    )
}
