//! `rill perf` against live processes (`rill dev` is in cli_dev_cluster.rs). Perf figures are
//! checked against an
//! independent count: how far librdkafka sees the partitions' end offsets grow over the run.

use std::time::Instant;

use crate::cli_support::{json, Broker};
use anyhow::{ensure, Context as _};

fn end_total(b: &Broker, topic: &str, partitions: i32) -> anyhow::Result<i64> {
    (0..partitions)
        .map(|p| b.watermarks(topic, p).map(|w| w.1))
        .sum()
}

fn within(a: f64, b: f64, frac: f64) -> bool {
    (a - b).abs() <= frac * b.abs().max(1e-9)
}

#[test]
fn perf_produce_figures_match_the_brokers_count() -> anyhow::Result<()> {
    let b = Broker::start()?;
    b.rill_ok(&["topics", "create", "load", "-p", "2"], b"")?;
    b.rill_ok(&["produce", "load"], b"before\n")?;
    let before = end_total(&b, "load", 2)?;
    let started = Instant::now();
    let doc = json(&b.rill_ok(
        &[
            "perf", "produce", "load", "-n", "20000", "-s", "200", "--acks", "1", "-O", "json",
        ],
        b"",
    )?)?;
    let wall = started.elapsed().as_secs_f64();
    let grown = (end_total(&b, "load", 2)? - before) as f64;
    let records = doc["records"].as_f64().context("records")?;
    let secs = doc["seconds"].as_f64().context("seconds")?;
    let rps = doc["records_per_sec"].as_f64().context("rps")?;
    let mbps = doc["mb_per_sec"].as_f64().context("mbps")?;
    ensure!(
        grown == 20000.0 && records == grown,
        "broker grew by {grown}, perf says {records}"
    );
    ensure!(
        secs > 0.0 && secs <= wall,
        "run took {secs}s inside a {wall}s process"
    );
    ensure!(
        within(rps, grown / secs, 0.10),
        "rps {rps} vs {}",
        grown / secs
    );
    ensure!(
        within(mbps, grown * 200.0 / secs / 1_048_576.0, 0.10),
        "MB/s {mbps}"
    );
    let lat = &doc["latency_ms"];
    let p = |k: &str| lat[k].as_f64().unwrap_or(-1.0);
    ensure!(
        p("p50") >= 0.0
            && p("p50") <= p("p95")
            && p("p95") <= p("p99")
            && p("p99") <= p("p999")
            && p("p999") <= p("max"),
        "{lat}"
    );
    ensure!(
        p("max") <= secs * 1000.0 + 1.0,
        "latency beyond the run: {lat}"
    );

    // A target rate is held: 3000 records at 2000/s take about 1.5 s.
    let started = Instant::now();
    let out = b.rill(
        &[
            "perf",
            "produce",
            "load",
            "-n",
            "3000",
            "-s",
            "50",
            "--throughput",
            "2000",
        ],
        b"",
    )?;
    let wall = started.elapsed().as_secs_f64();
    ensure!(out.status.success());
    let text = String::from_utf8(out.stdout)?;
    ensure!(
        text.contains("3000 records sent") && text.contains("99.9th"),
        "{text}"
    );
    let rps: f64 = text
        .split(" records/sec")
        .next()
        .and_then(|s| s.rsplit(", ").next())
        .context("rps")?
        .parse()?;
    ensure!(within(rps, 2000.0, 0.10), "rate {rps} for a 2000/s target");
    ensure!(wall >= 1.4, "3000 records at 2000/s finished in {wall}s");
    ensure!(
        String::from_utf8_lossy(&out.stderr).contains("records acknowledged"),
        "no progress line"
    );
    ensure!(end_total(&b, "load", 2)? - before == 23000);

    let consume = |extra: &[&str]| -> anyhow::Result<serde_json::Value> {
        let mut args = vec![
            "perf",
            "consume",
            "load",
            "-n",
            "23001",
            "--timeout-ms",
            "2000",
            "-O",
            "json",
        ];
        args.extend_from_slice(extra);
        json(&b.rill_ok(&args, b"")?)
    };
    let doc = consume(&[])?;
    ensure!(doc["records"] == 23001, "{doc}");
    // Small fetches: hundreds of fetch answers pass through the fetch/decode pipeline, and the
    // figures must be the same.
    let small = consume(&["--fetch-size", "8192"])?;
    ensure!(small["records"] == 23001, "{small}");
    ensure!(small["bytes"] == doc["bytes"], "{small} vs {doc}");
    Ok(())
}
