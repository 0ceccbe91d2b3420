//! `rill-bench idle-fetch`: what idle long-polling consumers cost a broker that is taking
//! writes (issue 21, part 2). For each N (default 1, 100, 1000), N consumers each long-poll a
//! partition of their own (raw Fetch requests through rill-client, `max_wait_ms` 500,
//! `min_bytes` 1, one connection each) while one librdkafka producer writes 1 KiB records at a
//! fixed rate to other partitions. Printed per N: the broker's CPU seconds (utime + stime of
//! its process, `/proc/PID/stat`) per produced MiB over the produce run, produce p99, and the
//! idle fetches answered per second, and, from a window before the producer starts, the
//! broker's CPU per answered idle fetch (µs; with N=1 that is mostly the broker's own
//! background). With `--baseline-bin` the same rows run against another `rill` binary (the
//! build before the change) in the same run.
//!
//! Traffic goes only to the broker the bench starts on 127.0.0.1; every loop stops at the end
//! of its row.

use super::broker_proc::BrokerProc;
use super::produce::{self, Spec, RECORD_BYTES};
use anyhow::{Context, Result};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of the idle-consumer benchmark.
#[derive(clap::Args)]
pub struct IdleArgs {
    /// The `rill` binary measured (default: `rill` beside this executable).
    #[arg(long)]
    rill_bin: Option<PathBuf>,
    /// Another `rill` binary measured the same way in the same run (e.g. the previous build).
    #[arg(long)]
    baseline_bin: Option<PathBuf>,
    /// Numbers of idle consumers, one row each.
    #[arg(long, value_delimiter = ',', default_value = "1,100,1000")]
    consumers: Vec<usize>,
    /// Produced MiB per second (1 KiB records).
    #[arg(long, default_value_t = 8.0)]
    rate_mib: f64,
    /// Seconds of producing per row.
    #[arg(long, default_value_t = 10.0)]
    secs: f64,
    /// Directory for broker data (default: the system temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Seconds with only the idle consumers (no producer) before each produce run, over which
    /// the broker's CPU per answered idle fetch is measured.
    #[arg(long, default_value_t = 4.0)]
    idle_secs: f64,
    /// Run the brokers with Rill's default fsync per group-commit round; by default they run
    /// in Kafka's page-cache mode, so produce latency shows the broker's CPU and scheduling
    /// rather than the shared disk's fsync times.
    #[arg(long)]
    group_commit: bool,
}

/// Kafka's page-cache mode: never fsync on the append path, the OS writes back.
const PAGE_CACHE_MODE: [&str; 2] = [
    "log.flush.interval.messages=9223372036854775807",
    "log.flush.interval.ms=9223372036854775807",
];

/// The idle consumers' `fetch.wait.max.ms`.
const MAX_WAIT_MS: i32 = 500;

/// Partitions the producer writes to (a topic of their own).
const LOAD_PARTITIONS: i32 = 4;

/// One row: a binary, a number of idle consumers, and what the broker did.
#[derive(Debug, Clone)]
struct Row {
    /// Which binary ("new" or "baseline").
    build: &'static str,
    /// Idle consumers.
    consumers: usize,
    /// Broker CPU seconds per produced MiB.
    cpu_s_per_mib: f64,
    /// Produced MiB (acknowledged).
    mib: f64,
    /// Produce p99, ms.
    p99_ms: f64,
    /// Produce p50, ms.
    p50_ms: f64,
    /// Idle fetches answered per second over the produce run.
    idle_fetches_s: f64,
    /// Broker CPU µs per answered idle fetch, measured with no producer running (everything
    /// the broker did in that window, divided by the fetches answered in it).
    idle_us_per_fetch: f64,
    /// Failed deliveries.
    failed: u64,
}

/// Runs the rows and prints the table.
pub fn run(args: &IdleArgs) -> Result<()> {
    let new_bin = match &args.rill_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()
            .context("find rill-bench's own path")?
            .with_file_name("rill"),
    };
    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let mut builds: Vec<(&'static str, &Path)> = vec![("new", new_bin.as_path())];
    if let Some(b) = &args.baseline_bin {
        builds.push(("baseline", b.as_path()));
    }
    let mut rows = Vec::new();
    for (build, bin) in builds {
        anyhow::ensure!(bin.exists(), "{} not found", bin.display());
        for &n in &args.consumers {
            eprintln!(
                "rill-bench idle-fetch: {build} ({}), {n} idle consumers ...",
                bin.display()
            );
            rows.push(measure(build, bin, &base, n, args)?);
        }
    }
    print_table(&rows, args);
    Ok(())
}

/// One row on a fresh broker from `bin`.
fn measure(build: &'static str, bin: &Path, base: &Path, n: usize, args: &IdleArgs) -> Result<Row> {
    let overrides: &[&str] = if args.group_commit {
        &[]
    } else {
        &PAGE_CACHE_MODE
    };
    let broker = BrokerProc::start(bin, base, overrides)?;
    let idle_topic = "idle";
    produce::create_topic(&broker.bootstrap, idle_topic, n.max(1) as i32)?;
    produce::create_topic(&broker.bootstrap, "load", LOAD_PARTITIONS)?;
    let load = IdleLoad::start(&broker.bootstrap, idle_topic, n)?;
    // Every consumer connected and parked at least once before the measured run.
    std::thread::sleep(Duration::from_millis(2000 + n as u64 * 2));
    let (idle_cpu0, idle_fetched0) = (cpu_secs(broker.pid())?, load.answered());
    std::thread::sleep(Duration::from_secs_f64(args.idle_secs));
    let idle_cpu = cpu_secs(broker.pid())? - idle_cpu0;
    let idle_fetched = load.answered() - idle_fetched0;
    let rate = args.rate_mib * f64::from(1u32 << 20) / RECORD_BYTES as f64;
    let spec = Spec {
        acks: "1",
        partitions: LOAD_PARTITIONS,
        rate: Some(rate),
        duration: Duration::from_secs_f64(args.secs),
        max_records: (rate * args.secs) as u64 + 1,
        linger_ms: super::report::LINGER_MS,
    };
    let (cpu_before, fetched_before, t0) =
        (cpu_secs(broker.pid())?, load.answered(), Instant::now());
    let out = produce::run(&broker.bootstrap, "load", &spec)?;
    let (cpu, fetched, secs) = (
        cpu_secs(broker.pid())? - cpu_before,
        load.answered() - fetched_before,
        t0.elapsed().as_secs_f64(),
    );
    let connected = load.stop();
    anyhow::ensure!(
        connected == n,
        "only {connected} of {n} idle consumers connected"
    );
    let mib = (out.records * RECORD_BYTES as u64) as f64 / f64::from(1u32 << 20);
    Ok(Row {
        build,
        consumers: n,
        cpu_s_per_mib: cpu / mib.max(1e-9),
        mib,
        p99_ms: out.latency.p99_ms,
        p50_ms: out.latency.p50_ms,
        idle_fetches_s: fetched as f64 / secs.max(1e-9),
        idle_us_per_fetch: idle_cpu * 1e6 / (idle_fetched as f64).max(1.0),
        failed: out.failed,
    })
}

/// The idle consumers of one row, on a runtime of their own.
struct IdleLoad {
    /// Runs the consumers.
    runtime: tokio::runtime::Runtime,
    /// Resolves to how many consumers connected, once they stopped.
    consumers: tokio::task::JoinHandle<usize>,
    /// Tells the consumers to stop.
    stop: Arc<AtomicBool>,
    /// Fetch answers received, all consumers together.
    answered: Arc<AtomicU64>,
}

impl IdleLoad {
    /// Starts `n` consumers of partitions `0..n` of `topic`.
    fn start(bootstrap: &str, topic: &'static str, n: usize) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let consumers = runtime.spawn(idle_consumers(
            bootstrap.to_string(),
            topic,
            n,
            stop.clone(),
            answered.clone(),
        ));
        Ok(IdleLoad {
            runtime,
            consumers,
            stop,
            answered,
        })
    }

    /// Fetch answers received so far.
    fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    /// Stops the consumers (each after its fetch in flight, 10 s at most); returns how many
    /// had connected and run until the stop.
    fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        let consumers = self.consumers;
        let connected = self
            .runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), consumers).await })
            .ok()
            .and_then(Result::ok)
            .unwrap_or(0);
        self.runtime.shutdown_timeout(Duration::from_secs(1));
        connected
    }
}

/// Runs `n` idle consumers until `stop`; returns how many connected.
async fn idle_consumers(
    bootstrap: String,
    topic: &'static str,
    n: usize,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
) -> usize {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (bootstrap, stop, answered) = (bootstrap.clone(), stop.clone(), answered.clone());
            tokio::spawn(async move {
                idle_consumer(&bootstrap, topic, i as i32, &stop, &answered).await
            })
        })
        .collect();
    let mut connected = 0;
    for t in tasks {
        if matches!(t.await, Ok(Ok(()))) {
            connected += 1;
        }
    }
    connected
}

/// One consumer: Fetch from offset 0 of partition `index` (which nobody writes), again and
/// again, until `stop` (or an hour, whichever is first).
async fn idle_consumer(
    bootstrap: &str,
    topic: &str,
    index: i32,
    stop: &AtomicBool,
    answered: &AtomicU64,
) -> Result<()> {
    let conn = rill_client::connection::Connection::connect(
        bootstrap,
        &format!("idle-{index}"),
        Duration::from_secs(30),
    )
    .await?;
    let version = conn.version(ApiKey::Fetch)?.min(12);
    let req = fetch_request(topic, index);
    let end = Instant::now() + Duration::from_secs(3600);
    while !stop.load(Ordering::Relaxed) && Instant::now() < end {
        let resp = conn.call(&req, version).await?;
        let errored = resp.error_code != 0
            || resp
                .responses
                .iter()
                .flat_map(|t| &t.partitions)
                .any(|p| p.error_code != 0);
        if errored {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        answered.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// A consumer's Fetch of `topic`/`index` from offset 0, long-polling.
fn fetch_request(topic: &str, index: i32) -> FetchRequest {
    let mut p = FetchPartition::default();
    p.partition = index;
    p.fetch_offset = 0;
    p.partition_max_bytes = 1 << 20;
    p.current_leader_epoch = -1;
    p.log_start_offset = -1;
    let mut t = FetchTopic::default();
    t.topic = TopicName(StrBytes::from_string(topic.to_string()));
    t.partitions = vec![p];
    let mut req = FetchRequest::default();
    req.replica_id = BrokerId(-1);
    req.max_wait_ms = MAX_WAIT_MS;
    req.min_bytes = 1;
    req.max_bytes = 1 << 20;
    req.session_epoch = -1;
    req.topics = vec![t];
    req
}

/// User + system CPU seconds of process `pid` so far (`/proc/PID/stat` fields 14 and 15).
pub(super) fn cpu_secs(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after its ')' are plain.
    let rest = stat.rsplit_once(')').context("no ')' in /proc/PID/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3, so fields 14 and 15 are at 11 and 12.
    let ticks: u64 = fields.get(11).context("short stat")?.parse::<u64>()?
        + fields.get(12).context("short stat")?.parse::<u64>()?;
    Ok(ticks as f64 / clock_ticks() as f64)
}

/// `CLK_TCK` (100 where `getconf` cannot say).
fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// Prints one line per row and each build's N=max / N=min ratios.
fn print_table(rows: &[Row], args: &IdleArgs) {
    println!(
        "idle long-polling consumers (fetch.wait.max.ms={MAX_WAIT_MS}, partitions of their own) \
         while one librdkafka producer writes {:.1} MiB/s of 1 KiB records (acks=1) for {:.0} s; \
         brokers in {}",
        args.rate_mib,
        args.secs,
        if args.group_commit {
            "group-commit mode (fsync per round)"
        } else {
            "page-cache mode (no fsync on the append path)"
        }
    );
    println!(
        "{:<9} {:>6} {:>12} {:>9} {:>9} {:>9} {:>12} {:>7} {:>14}",
        "build",
        "idle",
        "cpu s/MiB",
        "MiB",
        "p50 ms",
        "p99 ms",
        "idle fetch/s",
        "failed",
        "cpu us/idle f."
    );
    for r in rows {
        println!(
            "{:<9} {:>6} {:>12.4} {:>9.1} {:>9.2} {:>9.2} {:>12.0} {:>7} {:>14.1}",
            r.build,
            r.consumers,
            r.cpu_s_per_mib,
            r.mib,
            r.p50_ms,
            r.p99_ms,
            r.idle_fetches_s,
            r.failed,
            r.idle_us_per_fetch
        );
    }
    for build in ["new", "baseline"] {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.build == build).collect();
        let (Some(lo), Some(hi)) = (
            mine.iter().min_by_key(|r| r.consumers),
            mine.iter().max_by_key(|r| r.consumers),
        ) else {
            continue;
        };
        println!(
            "{build}: N={} vs N={}: cpu/MiB {:.2}x, p99 {:.2}x (target: within 1.2x)",
            hi.consumers,
            lo.consumers,
            hi.cpu_s_per_mib / lo.cpu_s_per_mib.max(1e-12),
            hi.p99_ms / lo.p99_ms.max(1e-12)
        );
    }
}
