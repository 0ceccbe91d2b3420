//! `rill perf produce|consume`: load generators like kafka-producer-perf-test and
//! kafka-consumer-perf-test. Produce: records of N bytes (random A-Z, as Kafka's tool), a target
//! rate or unlimited, batching/linger/acks/compression knobs, a progress line every second on
//! stderr, then the totals (records/s, MB/s) and latency percentiles (send to acknowledgement).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, Subcommand};
use rill_client::batch_view;
use rill_client::fetch::{FetchOptions, EARLIEST};
use rill_client::producer::{
    DeliveryClosed, DeliveryReceiver, DeliveryResult, Producer, ProducerConfig,
};
use rill_client::records::{decode_batch, parse_compression, ProduceRecord};
use serde_json::json;

use super::output::print_json;
use super::produce::parse_acks;
use super::{now_ms, Global};

/// `rill perf` subcommands.
#[derive(Debug, Subcommand)]
pub enum PerfCmd {
    /// Produce load and report throughput and latency.
    Produce {
        /// Topic.
        topic: String,
        /// How many records.
        #[arg(long = "num-records", short = 'n', default_value_t = 100_000)]
        num_records: u64,
        /// Bytes per record value.
        #[arg(long = "record-size", short = 's', default_value_t = 100)]
        record_size: usize,
        /// Target records per second (-1: as fast as possible).
        #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
        throughput: i64,
        /// acks: all, 1, 0.
        #[arg(long, default_value = "1")]
        acks: String,
        /// batch.size in bytes.
        #[arg(long = "batch-size", default_value_t = 65_536)]
        batch_size: usize,
        /// linger.ms.
        #[arg(long = "linger-ms", default_value_t = 5)]
        linger_ms: u64,
        /// Compression: none, gzip, snappy, lz4, zstd.
        #[arg(long, default_value = "none")]
        compression: String,
        /// Batches in flight at once.
        #[arg(long = "max-in-flight", default_value_t = 5)]
        max_in_flight: usize,
        /// delivery.timeout.ms: a batch not acknowledged this long after its first record
        /// (retries included) fails the run.
        #[arg(long = "delivery-timeout-ms", default_value_t = 120_000)]
        delivery_timeout_ms: u64,
    },
    /// Read a topic from the beginning and report throughput.
    Consume {
        /// Topic.
        topic: String,
        /// Stop after this many records.
        #[arg(long = "messages", short = 'n', default_value_t = 100_000)]
        messages: u64,
        /// Stop after this long without records.
        #[arg(long = "timeout-ms", default_value_t = 10_000)]
        timeout_ms: u64,
        /// Bytes asked for per partition and fetch (max.partition.fetch.bytes).
        #[arg(long = "fetch-size", default_value_t = 1_048_576)]
        fetch_size: i32,
    },
}

/// `rill perf ...`.
#[derive(Debug, Args)]
pub struct PerfArgs {
    /// What to do.
    #[command(subcommand)]
    pub cmd: PerfCmd,
}

/// Runs `rill perf`.
///
/// # Errors
/// Connection and broker errors; failed deliveries.
pub async fn run(args: PerfArgs, g: Global) -> anyhow::Result<()> {
    match args.cmd {
        PerfCmd::Produce {
            topic,
            num_records,
            record_size,
            throughput,
            acks,
            batch_size,
            linger_ms,
            compression,
            max_in_flight,
            delivery_timeout_ms,
        } => {
            let config = ProducerConfig {
                acks: parse_acks(&acks)?,
                compression: parse_compression(&compression)?,
                batch_size,
                linger: Duration::from_millis(linger_ms),
                idempotent: false,
                max_in_flight,
                timeout_ms: 30_000,
                delivery_timeout: Duration::from_millis(delivery_timeout_ms),
            };
            produce(&g, &topic, num_records, record_size, throughput, config).await
        }
        PerfCmd::Consume {
            topic,
            messages,
            timeout_ms,
            fetch_size,
        } => consume(&g, &topic, messages, timeout_ms, fetch_size).await,
    }
}

/// Latencies and counts of a run.
#[derive(Debug, Default)]
struct Stats {
    /// Latency of each acknowledged record, microseconds.
    latencies_us: Vec<u64>,
    /// Records that failed.
    failed: u64,
    /// Records acknowledged in the current progress window.
    window: u64,
}

impl Stats {
    fn record(&mut self, sent_at: Instant, r: Result<DeliveryResult, DeliveryClosed>) {
        match r {
            Ok(Ok(d)) => {
                self.latencies_us
                    .push(d.acked_at.saturating_duration_since(sent_at).as_micros() as u64);
                self.window += 1;
            }
            _ => self.failed += 1,
        }
    }
}

fn payloads(size: usize) -> Vec<Bytes> {
    (0..16)
        .map(|_| {
            Bytes::from(
                (0..size)
                    .map(|_| b'A' + rand::random_range(0..26u8))
                    .collect::<Vec<u8>>(),
            )
        })
        .collect()
}

async fn produce(
    g: &Global,
    topic: &str,
    n: u64,
    size: usize,
    rate: i64,
    config: ProducerConfig,
) -> anyhow::Result<()> {
    let client = g.connect().await?;
    client.topic(topic, true).await?;
    let acks0 = config.acks == 0;
    let mut producer = Producer::new(client, config).await?;
    let pool = payloads(size);
    let mut pending: VecDeque<(Instant, DeliveryReceiver)> = VecDeque::new();
    let mut stats = Stats::default();
    let start = Instant::now();
    // Record timestamps come from the one clock read per record (the latency's start).
    let start_ms = now_ms();
    let mut last_report = start;
    let mut sent_bytes = 0u64;
    for i in 0..n {
        if rate > 0 {
            let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
            let now = Instant::now();
            if due > now {
                producer.flush_due().await?;
                tokio::time::sleep(due - now).await;
            }
        }
        let sent_at = Instant::now();
        let record = ProduceRecord {
            key: None,
            value: Some(pool[(i % 16) as usize].clone()),
            headers: Vec::new(),
            timestamp_ms: start_ms + sent_at.duration_since(start).as_millis() as i64,
        };
        let rx = producer.send(topic, None, record).await?;
        sent_bytes += size as u64;
        pending.push_back((sent_at, rx));
        while let Some((at, rx)) = pending.front() {
            let Some(r) = rx.try_recv() else { break };
            stats.record(*at, r);
            pending.pop_front();
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            let secs = last_report.elapsed().as_secs_f64();
            let recent = &stats.latencies_us[stats.latencies_us.len() - stats.window as usize..];
            let avg = recent.iter().sum::<u64>() as f64 / recent.len().max(1) as f64 / 1000.0;
            eprintln!(
                "{} records acknowledged, {:.1} records/sec ({:.2} MB/sec), {avg:.1} ms avg latency",
                stats.latencies_us.len(),
                stats.window as f64 / secs,
                stats.window as f64 * size as f64 / secs / 1_048_576.0
            );
            stats.window = 0;
            last_report = Instant::now();
        }
    }
    producer.flush().await?;
    for (at, rx) in pending {
        stats.record(at, rx.await);
    }
    let elapsed = start.elapsed().as_secs_f64();
    report(g, &mut stats, n, sent_bytes, elapsed, acks0);
    if stats.failed > 0 {
        anyhow::bail!("{} of {n} records failed", stats.failed);
    }
    Ok(())
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

fn report(g: &Global, stats: &mut Stats, n: u64, bytes: u64, elapsed: f64, acks0: bool) {
    stats.latencies_us.sort_unstable();
    let l = &stats.latencies_us;
    let acked = l.len() as u64;
    let rps = acked as f64 / elapsed;
    let mbps = acked as f64 * (bytes as f64 / n.max(1) as f64) / elapsed / 1_048_576.0;
    let avg = l.iter().sum::<u64>() as f64 / l.len().max(1) as f64 / 1000.0;
    let (p50, p95, p99, p999) = (
        percentile(l, 0.5),
        percentile(l, 0.95),
        percentile(l, 0.99),
        percentile(l, 0.999),
    );
    let max = l.last().copied().unwrap_or(0) as f64 / 1000.0;
    if g.json() {
        print_json(&json!({
            "records": acked, "failed": stats.failed, "seconds": elapsed, "records_per_sec": rps, "mb_per_sec": mbps,
            "latency_ms": {"avg": avg, "p50": p50, "p95": p95, "p99": p99, "p999": p999, "max": max},
            "acks0": acks0,
        }));
    } else {
        println!(
            "{acked} records sent, {rps:.1} records/sec ({mbps:.2} MB/sec), {avg:.2} ms avg latency, {max:.2} ms max latency, {p50:.2} ms 50th, {p95:.2} ms 95th, {p99:.2} ms 99th, {p999:.2} ms 99.9th."
        );
        if acks0 {
            println!("(acks=0: latency is the time to write the request, not an acknowledgement)");
        }
    }
}

async fn consume(
    g: &Global,
    topic: &str,
    messages: u64,
    timeout_ms: u64,
    fetch_size: i32,
) -> anyhow::Result<()> {
    anyhow::ensure!(fetch_size > 0, "--fetch-size must be positive");
    let client = g.connect().await?;
    let t = client.topic(topic, true).await?;
    let specs: Vec<(i32, i64)> = t
        .partitions
        .iter()
        .map(|p| (p.partition, EARLIEST))
        .collect();
    let mut positions = client.list_offsets(topic, &specs).await?;
    let start = Instant::now();
    let mut last = Instant::now();
    let opts = FetchOptions {
        max_wait_ms: 100,
        partition_max_bytes: fetch_size,
        ..FetchOptions::default()
    };
    // Fetching and decoding overlap: the next range is asked for (its offset read from the
    // batch headers) while a second task decodes and counts this one. The channel is bounded,
    // so at most a few fetch answers are held at once.
    let (tx, rx) = tokio::sync::mpsc::channel::<(Bytes, i64)>(2);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let counter = tokio::spawn(count_records(rx, messages, done.clone()));
    'fetching: while !done.load(std::sync::atomic::Ordering::Relaxed)
        && last.elapsed() < Duration::from_millis(timeout_ms)
    {
        let list: Vec<(i32, i64)> = positions.iter().map(|(p, o)| (*p, *o)).collect();
        for part in client.fetch_raw(topic, &list, opts).await? {
            if part.error_code != 0 {
                anyhow::bail!(
                    "fetch {topic}-{}: error code {}",
                    part.partition,
                    part.error_code
                );
            }
            if let Some(next) = part.next_offset {
                positions.insert(part.partition, next);
                last = Instant::now();
                // The counting task ended (done, or a batch that does not decode, which its
                // result reports): stop fetching.
                if tx.send((part.records, part.fetch_offset)).await.is_err() {
                    break 'fetching;
                }
            }
        }
    }
    drop(tx);
    let (count, bytes) = counter.await??;
    let secs = start.elapsed().as_secs_f64();
    let (rps, mbps) = (count as f64 / secs, bytes as f64 / secs / 1_048_576.0);
    if g.json() {
        print_json(
            &json!({"records": count, "bytes": bytes, "seconds": secs, "records_per_sec": rps, "mb_per_sec": mbps}),
        );
    } else {
        println!("{count} records consumed ({bytes} bytes) in {secs:.2} s: {rps:.1} records/sec ({mbps:.2} MB/sec)");
    }
    Ok(())
}

/// The decoding side of `perf consume`: checks every fetched batch's CRC and reads its
/// records in place (`batch_view`; compressed batches are decompressed and decoded), counting
/// records and their key+value bytes up to `messages`, then sets `done`.
async fn count_records(
    mut rx: tokio::sync::mpsc::Receiver<(Bytes, i64)>,
    messages: u64,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<(u64, u64)> {
    let (mut count, mut bytes) = (0u64, 0u64);
    while let Some((data, from)) = rx.recv().await {
        for batch in batch_view::batches(&data) {
            let batch = batch?;
            if batch.is_control() || count >= messages {
                continue;
            }
            if batch.compression() != 0 {
                let mut records = Vec::new();
                decode_batch(&data, batch, from, &mut records)?;
                for r in records
                    .iter()
                    .take(usize::try_from(messages - count).unwrap_or(usize::MAX))
                {
                    count += 1;
                    bytes += r.value.as_ref().map_or(0, |v| v.len()) as u64
                        + r.key.as_ref().map_or(0, |k| k.len()) as u64;
                }
                continue;
            }
            for r in batch.records()? {
                let r = r?;
                if r.offset < from {
                    continue;
                }
                count += 1;
                bytes += (r.value.map_or(0, <[u8]>::len) + r.key.map_or(0, <[u8]>::len)) as u64;
                if count >= messages {
                    break;
                }
            }
        }
        if count >= messages {
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            break;
        }
    }
    Ok((count, bytes))
}
