//! The same produce load driven by `rill perf produce` (Rill's own client, crate rill-client)
//! instead of librdkafka, when the `rill` binary has that subcommand. Its JSON summary is parsed
//! into the same [`Outcome`] as the librdkafka runs.

use super::consume::{ConsumeOutcome, FETCH_PARTITION_BYTES};
use super::produce::Outcome;
use super::stats::{Latency, Steal};
use anyhow::{Context, Result};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `bin perf produce --help` works.
pub fn available(bin: &Path) -> bool {
    Command::new(bin)
        .args(["perf", "produce", "--help"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Reads `records` records of `topic` from the beginning with `rill perf consume`
/// ([`FETCH_PARTITION_BYTES`] per fetch, as the librdkafka consumer is set up) and returns its figures; killed
/// after `limit`.
pub fn consume(
    bin: &Path,
    bootstrap: &str,
    topic: &str,
    records: u64,
    limit: Duration,
) -> Result<ConsumeOutcome> {
    let steal = Steal::start();
    let child = Command::new(bin)
        .args(["perf", "consume", topic, "-O", "json", "-b", bootstrap])
        .arg("--fetch-size")
        .arg(FETCH_PARTITION_BYTES.to_string())
        .arg("-n")
        .arg(records.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("start rill perf consume")?;
    let v = json_of(child, limit, "rill perf consume")?;
    let num = |p: &str| {
        v.pointer(p)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(0.0)
    };
    Ok(ConsumeOutcome {
        bytes: num("/bytes") as u64,
        records: num("/records") as u64,
        secs: num("/seconds"),
        steal_pct: steal.and_then(|s| s.pct()),
        faults: None,
    })
}

/// Waits for `child` (killed after `limit`) and parses its JSON stdout; `what` names it in
/// errors.
pub(crate) fn json_of(mut child: Child, limit: Duration, what: &str) -> Result<serde_json::Value> {
    let deadline = Instant::now() + limit;
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("{what} took longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output()?;
    anyhow::ensure!(out.status.success(), "{what} failed: {}", out.status);
    serde_json::from_slice(&out.stdout).with_context(|| format!("{what}: its JSON"))
}

/// Produces `records` 1 KiB records to `topic` with `rill perf produce` (at `rate` records/s
/// or unlimited, `linger_ms`, 1 MB batches) and returns its figures; killed after `limit`.
#[allow(clippy::too_many_arguments)]
pub fn run(
    bin: &Path,
    bootstrap: &str,
    topic: &str,
    acks: &str,
    records: u64,
    rate: Option<f64>,
    linger_ms: u32,
    limit: Duration,
) -> Result<Outcome> {
    let throughput = rate.map_or(-1, |r| r.round().max(1.0) as i64);
    let steal = Steal::start();
    let child = Command::new(bin)
        .args([
            "perf", "produce", topic, "-O", "json", "-b", bootstrap, "--acks", acks,
        ])
        .args(["-s", "1024", "--batch-size", "1000000", "-n"])
        .arg(records.to_string())
        .arg("--linger-ms")
        .arg(linger_ms.to_string())
        .arg("--throughput")
        .arg(throughput.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("start rill perf produce")?;
    let v = json_of(child, limit, "rill perf produce")?;
    let num = |p: &str| {
        v.pointer(p)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(0.0)
    };
    Ok(Outcome {
        records: num("/records") as u64,
        failed: num("/failed") as u64,
        secs: num("/seconds"),
        latency: Latency {
            p50_ms: num("/latency_ms/p50"),
            p99_ms: num("/latency_ms/p99"),
            p999_ms: num("/latency_ms/p999"),
        },
        first_error: None,
        steal_pct: steal.and_then(|s| s.pct()),
    })
}
