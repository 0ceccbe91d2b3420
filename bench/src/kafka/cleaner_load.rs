//! `rill-bench cleaner-load`: produce throughput on another partition while the broker's log
//! cleaner compacts a dirty topic, versus the same produce with the cleaner idle, in one run
//! (issue 22's target: at most a 20% drop).
//!
//! One `rill serve` (cleaner on, `log.cleaner.backoff.ms` 25 s, so its first check finds an
//! empty broker and the next comes after the fill and the baseline): a compacted topic is filled
//! with `--dirty-mib` of keyed 1 KiB records over `--keys` keys (1 MiB segments) and the
//! baseline produce (acks=all, one partition of another topic) is measured at once, before
//! the cleaner's first check; then the bench waits for a pass to start (`.cleaned` files in
//! the data directory) and measures the same produce again while it runs.

use super::broker_proc::BrokerProc;
use super::produce::{self, Spec};
use anyhow::{bail, Context, Result};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Options of the cleaner-load benchmark.
#[derive(clap::Args, Debug)]
pub struct CleanerLoadArgs {
    /// MiB of keyed records written to the compacted topic.
    #[arg(long, default_value_t = 512)]
    dirty_mib: u64,
    /// Distinct keys among them.
    #[arg(long, default_value_t = 20_000)]
    keys: u64,
    /// Seconds of each produce measurement.
    #[arg(long, default_value_t = 2.0)]
    secs: f64,
    /// The `rill` binary (default: `rill` beside this executable).
    #[arg(long)]
    rill_bin: Option<PathBuf>,
    /// Directory for broker data (default: the system temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Whether a cleaning pass has files under `dir` (any depth up to 4).
fn cleaning(dir: &Path, depth: u32) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.flatten().any(|e| {
        let n = e.file_name().to_string_lossy().into_owned();
        n.ends_with(".cleaned")
            || (depth > 0 && e.path().is_dir() && cleaning(&e.path(), depth - 1))
    })
}

/// Fills `topic` with `mib` MiB of keyed 1 KiB records over `keys` keys.
fn fill(bootstrap: &str, topic: &str, mib: u64, keys: u64) -> Result<()> {
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "1")
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "100000")
        .create()
        .context("create the fill producer")?;
    let value = vec![b'v'; 1000];
    let n = mib << 10;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..n {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let key = format!("key-{:08}", (x >> 33) % keys);
        let mut rec = BaseRecord::<str, [u8]>::to(topic).key(&key).payload(&value);
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((_, r)) => {
                    rec = r;
                    p.poll(Duration::from_millis(5));
                }
            }
        }
    }
    p.flush(Duration::from_secs(120))
        .context("flush the fill")?;
    Ok(())
}

/// Runs the benchmark and prints the two rows.
pub fn run(args: &CleanerLoadArgs) -> Result<()> {
    let bin = match &args.rill_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?.with_file_name("rill"),
    };
    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let scratch = tempfile::Builder::new()
        .prefix("rill-bench-cleaner-load-")
        .tempdir_in(&base)?;
    let broker = BrokerProc::start(
        &bin,
        scratch.path(),
        &["log.cleaner.backoff.ms=25000", "log.retention.bytes=-1"],
    )?;
    let bootstrap = broker.bootstrap.clone();
    produce::create_topic(&bootstrap, "other", 1)?;
    produce::create_topic_with(
        &bootstrap,
        "dirty",
        1,
        1,
        &[
            ("cleanup.policy", "compact"),
            ("internal.segment.bytes", "1048576"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    )
    .map_err(produce::CreateError::into_anyhow)?;
    let spec = Spec {
        acks: "all",
        partitions: 1,
        rate: None,
        duration: Duration::from_secs_f64(args.secs),
        max_records: u64::MAX,
        linger_ms: 5,
    };
    println!(
        "rill-bench cleaner-load: {} MiB of keyed 1 KiB records over {} keys in a compacted topic, produce acks=all to another partition, {} s each",
        args.dirty_mib, args.keys, args.secs
    );
    let t = Instant::now();
    fill(&bootstrap, "dirty", args.dirty_mib, args.keys)?;
    eprintln!("filled in {:.1} s", t.elapsed().as_secs_f64());
    // Waiting for a pass in the baseline would bias it: measure the baseline, then the run
    // with the cleaner, and say whether the cleaner ran during each.
    // Let the fill's writeback settle so it does not weigh on the baseline alone.
    std::thread::sleep(Duration::from_secs(4));
    let busy_before = cleaning(scratch.path(), 4);
    let baseline = produce::run(&bootstrap, "other", &spec)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cleaning(scratch.path(), 4) {
        if Instant::now() > deadline {
            bail!("no cleaning pass started within 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let during = produce::run(&bootstrap, "other", &spec)?;
    let still = cleaning(scratch.path(), 4);
    println!(
        "{:<38} {:>10.1} MiB/s  p99 {:>7.1} ms",
        format!(
            "produce, cleaner idle{}",
            if busy_before { " (was busy!)" } else { "" }
        ),
        baseline.mib_s(),
        baseline.latency.p99_ms
    );
    println!(
        "{:<38} {:>10.1} MiB/s  p99 {:>7.1} ms",
        format!(
            "produce, cleaner running{}",
            if still { "" } else { " (pass ended early)" }
        ),
        during.mib_s(),
        during.latency.p99_ms
    );
    println!(
        "drop: {:.0}% (target <= 20%)",
        100.0 * (1.0 - during.mib_s() / baseline.mib_s().max(1e-9))
    );
    drop(broker);
    Ok(())
}
