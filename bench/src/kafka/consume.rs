//! Consume throughput: one librdkafka `BaseConsumer` assigned to partition 0 of a topic from the
//! beginning (no group membership), polling until it has read the wanted bytes, bounded by an
//! overall time limit and an idle timeout. The topic is filled just before by the produce load,
//! so the reads come from the page cache.

use super::stats::{mib_per_sec, Steal};
use anyhow::{Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::time::{Duration, Instant};

/// Bytes per partition and fetch for both consumers (max.partition.fetch.bytes; Kafka's
/// default is 1 MiB). One partition, one fetch in flight: each answer is a pause between two
/// round trips, so larger answers (within fetch.max.bytes, 50 MiB) leave fewer pauses.
pub const FETCH_PARTITION_BYTES: u32 = 16 << 20;

/// What one consume measurement read.
#[derive(Debug, Clone, Default)]
pub struct ConsumeOutcome {
    /// Value bytes read.
    pub bytes: u64,
    /// Records read.
    pub records: u64,
    /// First record to the last, seconds.
    pub secs: f64,
    /// Percent of CPU time the host took during the run.
    pub steal_pct: Option<f64>,
    /// Minor page faults of the consuming process during the run (`/proc/self/stat`), when
    /// known.
    pub faults: Option<u64>,
}

impl ConsumeOutcome {
    /// Value bytes per second, MiB/s.
    pub fn mib_s(&self) -> f64 {
        mib_per_sec(self.bytes, self.secs)
    }

    /// The figures as the JSON `consume-once --json` prints.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "bytes": self.bytes,
            "records": self.records,
            "seconds": self.secs,
            "steal_pct": self.steal_pct,
            "faults": self.faults,
        })
    }
}

/// Reads `want_bytes` of record values from `topic` partition 0 with `isolation`
/// (`isolation.level`), giving up after `limit` in total or 10 s without a record.
pub fn run(
    bootstrap: &str,
    topic: &str,
    want_bytes: u64,
    limit: Duration,
    isolation: &str,
) -> Result<ConsumeOutcome> {
    run_with(bootstrap, topic, want_bytes, limit, isolation, &[])
}

/// [`run`] with more client settings (`security.protocol`, `sasl.*`, `ssl.*`).
pub fn run_with(
    bootstrap: &str,
    topic: &str,
    want_bytes: u64,
    limit: Duration,
    isolation: &str,
    extra: &[(String, String)],
) -> Result<ConsumeOutcome> {
    let mut config = ClientConfig::new();
    for (k, v) in extra {
        config.set(k, v);
    }
    let consumer: BaseConsumer = config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "rill-bench")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set(
            "max.partition.fetch.bytes",
            FETCH_PARTITION_BYTES.to_string(),
        )
        .set("fetch.max.bytes", "52428800")
        .set("isolation.level", isolation)
        .create()
        .context("create the librdkafka consumer")?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)?;
    consumer.assign(&tpl)?;
    let steal = Steal::start();
    let faults_before = minor_faults();
    let begin = Instant::now();
    let (mut out, mut first, mut last) = (ConsumeOutcome::default(), None, Instant::now());
    while out.bytes < want_bytes && begin.elapsed() < limit {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                out.bytes += m.payload_len() as u64;
                out.records += 1;
                // The clock is read for the first record, every 1024th and the last one (the
                // loop ends on it): a read per record took a tenth of this VM's CPU time
                // (kvm-clock through the vDSO), more than librdkafka's hand-over.
                if first.is_none() || out.records % 1024 == 0 || out.bytes >= want_bytes {
                    let now = Instant::now();
                    first.get_or_insert(now);
                    last = now;
                }
            }
            Some(Err(e)) => return Err(e).context("consume"),
            None if last.elapsed() > Duration::from_secs(10) => break,
            None => {}
        }
    }
    out.secs = first.map_or(0.0, |f| last.saturating_duration_since(f).as_secs_f64());
    out.steal_pct = steal.and_then(|s| s.pct());
    out.faults = minor_faults()
        .zip(faults_before)
        .map(|(after, before)| after.saturating_sub(before));
    Ok(out)
}

/// glibc malloc settings under which freed memory stays in the process: no `mmap` of its own
/// for blocks under 64 MiB and no trimming of the heap's top under 1 GiB. With the defaults,
/// librdkafka's fetch-answer buffers (megabytes each) go back to the kernel when freed and the
/// next answer faults fresh pages in.
pub const MALLOC_KEEPS_FREED: &str =
    "glibc.malloc.mmap_threshold=67108864:glibc.malloc.trim_threshold=1073741824";

/// [`run`] in a child process (`rill-bench consume-once --json`) started with
/// `GLIBC_TUNABLES=`[`MALLOC_KEEPS_FREED`]: the same librdkafka consumer, with an allocator
/// that keeps what it frees. Killed after `limit` (plus 30 s to start).
pub fn run_malloc_keeps_freed(
    bootstrap: &str,
    topic: &str,
    want_bytes: u64,
    limit: Duration,
) -> Result<ConsumeOutcome> {
    let exe = std::env::current_exe().context("find rill-bench's own path")?;
    let child = std::process::Command::new(exe)
        .env("GLIBC_TUNABLES", MALLOC_KEEPS_FREED)
        .args([
            "consume-once",
            "--json",
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
        ])
        .arg("--bytes")
        .arg(want_bytes.to_string())
        .arg("--limit-secs")
        .arg(limit.as_secs().to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("start rill-bench consume-once")?;
    let v = super::rill_perf::json_of(
        child,
        limit + Duration::from_secs(30),
        "rill-bench consume-once",
    )?;
    let num = |p: &str| v.pointer(p).and_then(serde_json::Value::as_f64);
    Ok(ConsumeOutcome {
        bytes: num("/bytes").unwrap_or(0.0) as u64,
        records: num("/records").unwrap_or(0.0) as u64,
        secs: num("/seconds").unwrap_or(0.0),
        steal_pct: num("/steal_pct"),
        faults: num("/faults").map(|f| f as u64),
    })
}

/// This process's minor page faults so far (field 10 of `/proc/self/stat`).
fn minor_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(7)?.parse().ok()
}

/// Waits until partition 0 of `topic` has its high watermark at `end` (at most 300 s) and
/// returns the seconds waited.
pub fn wait_high_watermark(bootstrap: &str, topic: &str, end: i64) -> Result<f64> {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .context("create a watermark client")?;
    let begin = Instant::now();
    loop {
        if let Ok((_, high)) = client.fetch_watermarks(topic, 0, Duration::from_secs(5)) {
            if high >= end {
                return Ok(begin.elapsed().as_secs_f64());
            }
        }
        anyhow::ensure!(
            begin.elapsed() < Duration::from_secs(300),
            "the high watermark of {topic} did not reach {end} in 300 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
