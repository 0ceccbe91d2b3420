//! `rill-bench txn`: transactional produce (transactions of 100 and of 10,000 records,
//! acks=all, idempotent) and a read_committed consumer, each beside the non-transactional row
//! measured in the same run against the same broker (issue 23's targets: 10,000-record
//! transactions at >= 0.7x of plain idempotent produce; read_committed consume >= 0.9x of
//! read_uncommitted on the same transactional topic).
//!
//! One `rill serve`; one-partition topics; 1 KiB records; librdkafka `BaseProducer`s (polled by the
//! sending thread) with `linger.ms` 5 and 1 MB batches. The plain row is an idempotent acks=all producer; each
//! transactional row runs begin / produce N / commit in a loop until `--records` are sent.
//! The consume rows read the 100-record-transaction topic (a marker every 100 records) from
//! the start, read_uncommitted then read_committed. The rows run in turn `--rounds` times
//! (default 3) and each reports its best round.

use super::broker_proc::BrokerProc;
use super::produce::{self, RECORD_BYTES};
use super::stats::mib_per_sec;
use anyhow::{Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Options of the transaction benchmark.
#[derive(clap::Args, Debug)]
pub struct TxnArgs {
    /// Records per produce row.
    #[arg(long, default_value_t = 200_000)]
    records: u64,
    /// The `rill` binary (default: `rill` beside this executable).
    #[arg(long)]
    rill_bin: Option<PathBuf>,
    /// Directory for broker data (default: the system temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Rounds: the rows run in turn this many times and each reports its best round, so
    /// no row gains from running first or last (a warm page cache, a grown segment).
    #[arg(long, default_value_t = 3)]
    rounds: u32,
}

fn producer(bootstrap: &str, txn_id: Option<&str>) -> Result<BaseProducer> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("compression.type", "none")
        .set("queue.buffering.max.messages", "32768")
        .set("message.timeout.ms", "60000");
    if let Some(id) = txn_id {
        c.set("transactional.id", id);
    }
    c.create().context("create the librdkafka producer")
}

fn send_n(p: &BaseProducer, topic: &str, n: u64, payload: &[u8]) -> Result<()> {
    let mut sent = 0;
    while sent < n {
        let rec = BaseRecord::<(), [u8]>::to(topic)
            .payload(payload)
            .partition(0);
        match p.send(rec) {
            Ok(()) => {
                sent += 1;
                if sent % 64 == 0 {
                    p.poll(Duration::ZERO);
                }
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                p.poll(Duration::from_millis(1));
            }
            Err((e, _)) => return Err(e).context("produce"),
        }
    }
    Ok(())
}

/// Waits until every record sent has its delivery report, polling every millisecond.
fn drain(p: &BaseProducer, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while p.in_flight_count() > 0 {
        if Instant::now() > deadline {
            anyhow::bail!(
                "{} records undelivered after {timeout:?}",
                p.in_flight_count()
            );
        }
        p.poll(Duration::from_millis(1));
    }
    Ok(())
}

/// Seconds to produce `records` records: plain (`per_txn` None) or in transactions.
fn produce_row(bootstrap: &str, topic: &str, records: u64, per_txn: Option<u64>) -> Result<f64> {
    let payload: Vec<u8> = (0..RECORD_BYTES).map(|i| b'a' + (i % 26) as u8).collect();
    let timeout = Duration::from_secs(60);
    match per_txn {
        None => {
            let p = producer(bootstrap, None)?;
            let start = Instant::now();
            send_n(&p, topic, records, &payload)?;
            drain(&p, timeout)?;
            Ok(start.elapsed().as_secs_f64())
        }
        Some(n) => {
            let p = producer(bootstrap, Some(&format!("bench-{topic}")))?;
            p.init_transactions(timeout).context("init_transactions")?;
            let start = Instant::now();
            let mut sent = 0;
            while sent < records {
                let k = n.min(records - sent);
                let t0 = Instant::now();
                p.begin_transaction().context("begin_transaction")?;
                send_n(&p, topic, k, &payload)?;
                // Delivery reports are served here, polled every millisecond: the crate's
                // `flush` (and librdkafka's own, inside commit_transaction) waits for them
                // in 100 ms steps, which made every small transaction cost 100 ms.
                drain(&p, timeout)?;
                let t1 = Instant::now();
                p.commit_transaction(timeout)
                    .context("commit_transaction")?;
                if std::env::var("RILL_BENCH_TRACE").is_ok() && sent < 5 * n {
                    eprintln!(
                        "transaction: begin+send+flush {:?}, commit {:?}",
                        t1 - t0,
                        t1.elapsed()
                    );
                }
                sent += k;
            }
            Ok(start.elapsed().as_secs_f64())
        }
    }
}

/// Seconds to read `records` records of `topic` partition 0 from the start.
fn consume_row(bootstrap: &str, topic: &str, records: u64, isolation: &str) -> Result<f64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "rill-bench-txn")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("isolation.level", isolation)
        .set("max.partition.fetch.bytes", (16 << 20).to_string())
        .set("fetch.max.bytes", "52428800")
        .create()
        .context("create the consumer")?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)?;
    consumer.assign(&tpl)?;
    let (mut got, mut first, mut last) = (0u64, None, Instant::now());
    let limit = Instant::now() + Duration::from_secs(300);
    while got < records && Instant::now() < limit {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(_)) => {
                got += 1;
                if first.is_none() || got % 1024 == 0 || got >= records {
                    let now = Instant::now();
                    first.get_or_insert(now);
                    last = now;
                }
            }
            Some(Err(e)) => return Err(e).context("consume"),
            None if last.elapsed() > Duration::from_secs(10) && first.is_some() => break,
            None => {}
        }
    }
    anyhow::ensure!(
        got >= records,
        "{isolation}: read {got} of {records} records"
    );
    Ok(first.map_or(0.0, |f| last.saturating_duration_since(f).as_secs_f64()))
}

/// Runs the benchmark and prints the rows.
pub fn run(args: &TxnArgs) -> Result<()> {
    let bin = match &args.rill_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?.with_file_name("rill"),
    };
    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let scratch = tempfile::Builder::new()
        .prefix("rill-bench-txn-")
        .tempdir_in(&base)?;
    let broker = BrokerProc::start(&bin, scratch.path(), &[])?;
    let bootstrap = broker.bootstrap.clone();
    for t in ["plain", "txn100", "txn10k"] {
        produce::create_topic(&bootstrap, t, 1)?;
    }
    let n = args.records;
    let mib = |secs: f64| mib_per_sec(n * RECORD_BYTES as u64, secs);
    println!("rill-bench txn: {n} records of 1 KiB per produce row, acks=all, one partition");
    let (mut plain, mut t100, mut t10k) = (0f64, 0f64, 0f64);
    for _ in 0..args.rounds.max(1) {
        plain = plain.max(mib(produce_row(&bootstrap, "plain", n, None)?));
        t100 = t100.max(mib(produce_row(&bootstrap, "txn100", n, Some(100))?));
        t10k = t10k.max(mib(produce_row(&bootstrap, "txn10k", n, Some(10_000))?));
    }
    println!(
        "{:<44} {plain:>9.1} MiB/s",
        "produce, idempotent (baseline)"
    );
    println!(
        "{:<44} {t100:>9.1} MiB/s  {:.2}x",
        "produce, transactions of 100 records",
        t100 / plain
    );
    println!(
        "{:<44} {t10k:>9.1} MiB/s  {:.2}x (target >= 0.7x)",
        "produce, transactions of 10,000 records",
        t10k / plain
    );
    let (mut unc, mut com) = (0f64, 0f64);
    for _ in 0..args.rounds.max(1) {
        unc = unc.max(mib(consume_row(
            &bootstrap,
            "txn100",
            n,
            "read_uncommitted",
        )?));
        com = com.max(mib(consume_row(&bootstrap, "txn100", n, "read_committed")?));
    }
    println!(
        "{:<44} {unc:>9.1} MiB/s",
        "consume, read_uncommitted (baseline)"
    );
    println!(
        "{:<44} {com:>9.1} MiB/s  {:.2}x (target >= 0.9x)",
        "consume, read_committed",
        com / unc
    );
    drop(broker);
    Ok(())
}
