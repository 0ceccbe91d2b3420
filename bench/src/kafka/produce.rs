//! Produce load through librdkafka (the `rdkafka` crate's `ThreadedProducer`): 1 KiB records
//! spread round-robin over a topic's partitions, unlimited or at a fixed rate, bounded by a
//! record count and a duration. Each record carries its send time as the delivery opaque; the
//! delivery callback (on the producer's polling thread) records send-to-acknowledgement
//! latency. Also creates the benchmark's topics with the admin API.

use super::stats::{mib_per_sec, Latency, Steal};
use anyhow::{Context, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bytes per record value.
pub const RECORD_BYTES: usize = 1024;

/// One produce measurement.
#[derive(Debug, Clone)]
pub struct Spec {
    /// `acks`: "1" or "all".
    pub acks: &'static str,
    /// Records go round-robin to partitions `0..partitions`.
    pub partitions: i32,
    /// Records per second, or `None` for as fast as the client can queue.
    pub rate: Option<f64>,
    /// Stop sending after this long.
    pub duration: Duration,
    /// Stop sending after this many records.
    pub max_records: u64,
    /// librdkafka's `linger.ms`: how long a batch waits for more records before it is sent.
    pub linger_ms: u32,
}

/// What one produce measurement did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Acknowledged records.
    pub records: u64,
    /// Failed deliveries.
    pub failed: u64,
    /// First send to last acknowledgement, seconds.
    pub secs: f64,
    /// Send-to-acknowledgement latency.
    pub latency: Latency,
    /// The first delivery error, if any failed.
    pub first_error: Option<String>,
    /// Percent of CPU time the host took during the run.
    pub steal_pct: Option<f64>,
}

impl Outcome {
    /// Acknowledged records per second.
    pub fn records_s(&self) -> f64 {
        self.records as f64 / self.secs.max(1e-9)
    }

    /// Acknowledged value bytes per second, MiB/s.
    pub fn mib_s(&self) -> f64 {
        mib_per_sec(self.records * RECORD_BYTES as u64, self.secs)
    }
}

/// Delivery callbacks: latency samples and counts.
#[derive(Default)]
struct Timing {
    /// Send-to-acknowledgement latency of every acknowledged record, microseconds.
    samples_us: Mutex<Vec<u32>>,
    /// When the last acknowledgement arrived.
    last_ack: Mutex<Option<Instant>>,
    /// Failed deliveries.
    failed: AtomicU64,
    /// The first delivery error.
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Timing {}

impl ProducerContext for Timing {
    type DeliveryOpaque = Box<Instant>;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_at: Box<Instant>) {
        let now = Instant::now();
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut first) = self.first_error.lock() {
                first.get_or_insert_with(|| e.to_string());
            }
            return;
        }
        let us = now.saturating_duration_since(*sent_at).as_micros();
        if let Ok(mut v) = self.samples_us.lock() {
            v.push(u32::try_from(us).unwrap_or(u32::MAX));
        }
        if let Ok(mut t) = self.last_ack.lock() {
            *t = Some(now);
        }
    }
}

/// The producer settings every run uses (1 MB batches, no compression, a 32 Ki record queue
/// like the Java client's 32 MB buffer.memory) with the given `linger.ms`.
fn producer_config(bootstrap: &str, acks: &str, linger_ms: u32) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("acks", acks)
        .set("linger.ms", linger_ms.to_string())
        .set("batch.size", "1000000")
        .set("compression.type", "none")
        .set("queue.buffering.max.messages", "32768")
        .set("message.timeout.ms", "60000");
    c
}

/// Runs one produce measurement against `topic`.
pub fn run(bootstrap: &str, topic: &str, spec: &Spec) -> Result<Outcome> {
    run_with(bootstrap, topic, spec, &[])
}

/// [`run`] with more client settings (`security.protocol`, `sasl.*`, `ssl.*`).
pub fn run_with(
    bootstrap: &str,
    topic: &str,
    spec: &Spec,
    extra: &[(String, String)],
) -> Result<Outcome> {
    let mut config = producer_config(bootstrap, spec.acks, spec.linger_ms);
    for (k, v) in extra {
        config.set(k, v);
    }
    let producer: ThreadedProducer<Timing> = config
        .create_with_context(Timing::default())
        .context("create the librdkafka producer")?;
    let payload: Vec<u8> = (0..RECORD_BYTES).map(|i| b'a' + (i % 26) as u8).collect();
    let steal = Steal::start();
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < spec.max_records && start.elapsed() < spec.duration {
        if let Some(rate) = spec.rate {
            let due = start + Duration::from_secs_f64(sent as f64 / rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let record =
            BaseRecord::<(), [u8], Box<Instant>>::with_opaque_to(topic, Box::new(Instant::now()))
                .payload(&payload)
                .partition((sent % spec.partitions as u64) as i32);
        match producer.send(record) {
            Ok(()) => sent += 1,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                std::thread::sleep(Duration::from_micros(200));
            }
            Err((e, _)) => return Err(e).context("produce"),
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .context("flush the producer")?;
    let ctx = producer.context();
    let mut samples = std::mem::take(
        &mut *ctx
            .samples_us
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?,
    );
    let last = ctx
        .last_ack
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .unwrap_or(start);
    Ok(Outcome {
        records: samples.len() as u64,
        failed: ctx.failed.load(Ordering::Relaxed),
        secs: last.saturating_duration_since(start).as_secs_f64(),
        latency: Latency::from_micros(&mut samples),
        first_error: ctx.first_error.lock().ok().and_then(|mut f| f.take()),
        steal_pct: steal.and_then(|s| s.pct()),
    })
}

/// Why a topic could not be created.
#[derive(Debug)]
pub enum CreateError {
    /// The broker refused the replication factor (INVALID_REPLICATION_FACTOR).
    ReplicationFactor(String),
    /// Anything else.
    Other(anyhow::Error),
}

impl CreateError {
    /// As an `anyhow` error (where a refused replication factor is just a failure).
    pub fn into_anyhow(self) -> anyhow::Error {
        match self {
            CreateError::ReplicationFactor(m) => anyhow::anyhow!(m),
            CreateError::Other(e) => e,
        }
    }
}

impl From<anyhow::Error> for CreateError {
    fn from(e: anyhow::Error) -> Self {
        CreateError::Other(e)
    }
}

/// Creates `topic` with `partitions` partitions (replication factor 1).
pub fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<()> {
    create_replicated_topic(bootstrap, topic, partitions, 1).map_err(CreateError::into_anyhow)
}

/// Creates `topic` with `partitions` partitions of `replicas` replicas each.
pub fn create_replicated_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    replicas: i32,
) -> std::result::Result<(), CreateError> {
    create_topic_with(bootstrap, topic, partitions, replicas, &[])
}

/// Creates the one-partition topic a consumer reads back: it keeps
/// [`super::broker_proc::CONSUME_RETAINED_BYTES`] (the bench brokers' default retention keeps
/// less).
pub fn create_consume_topic(
    bootstrap: &str,
    topic: &str,
    replicas: i32,
) -> std::result::Result<(), CreateError> {
    let retained = super::broker_proc::CONSUME_RETAINED_BYTES.to_string();
    create_topic_with(
        bootstrap,
        topic,
        1,
        replicas,
        &[("retention.bytes", &retained)],
    )
}

/// Creates `topic` with `partitions` partitions of `replicas` replicas each and the given
/// topic configs.
pub fn create_topic_with(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    replicas: i32,
    configs: &[(&str, &str)],
) -> std::result::Result<(), CreateError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .context("create the admin client")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("admin runtime")?;
    let new = configs.iter().fold(
        NewTopic::new(topic, partitions, TopicReplication::Fixed(replicas)),
        |t, (k, v)| t.set(k, v),
    );
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = runtime
        .block_on(admin.create_topics([&new], &opts))
        .context("create topics")?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, RDKafkaErrorCode::InvalidReplicationFactor)) => {
                return Err(CreateError::ReplicationFactor(format!(
                    "the broker refused topic {name} with replication factor {replicas} \
                     (INVALID_REPLICATION_FACTOR)"
                )))
            }
            Err((name, code)) => {
                return Err(CreateError::Other(anyhow::anyhow!(
                    "create topic {name}: {code}"
                )))
            }
        }
    }
    Ok(())
}

/// [`run_with`] from `producers` librdkafka producers at once (each its own connection and
/// broker thread), every one sending `spec` to all of `topic`'s partitions; `spec.rate` and
/// `spec.max_records` are shared out among them. The outcome sums their records and failures
/// over the longest producer's time; latency is the first producer's.
///
/// # Errors
/// Any producer's error.
pub fn run_parallel(
    bootstrap: &str,
    topic: &str,
    spec: &Spec,
    extra: &[(String, String)],
    producers: u32,
) -> Result<Outcome> {
    let n = producers.max(1);
    let each = Spec {
        rate: spec.rate.map(|r| r / f64::from(n)),
        max_records: spec.max_records / u64::from(n),
        ..spec.clone()
    };
    let outcomes: Vec<Result<Outcome>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|_| s.spawn(|| run_with(bootstrap, topic, &each, extra)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a producer thread panicked")))
            })
            .collect()
    });
    let mut total = Outcome::default();
    for (i, o) in outcomes.into_iter().enumerate() {
        let o = o?;
        total.records += o.records;
        total.failed += o.failed;
        total.secs = total.secs.max(o.secs);
        if total.first_error.is_none() {
            total.first_error = o.first_error;
        }
        if i == 0 {
            total.latency = o.latency;
            total.steal_pct = o.steal_pct;
        }
    }
    Ok(total)
}

/// The setup the A/B benchmarks (`secure`, `acls`) share: a 12-partition `produce_topic`, a
/// one-partition `consume_topic` filled with `consume_mib` MiB of 1 KiB records, and the
/// produce spec (acks=all, 12 partitions, unpaced, `secs` long, linger 5 ms). Returns the
/// spec and the bytes of record values in the consume topic.
///
/// # Errors
/// A topic that cannot be created, a failed fill.
pub fn ab_setup(
    bootstrap: &str,
    produce_topic: &str,
    consume_topic: &str,
    secs: u64,
    consume_mib: u64,
) -> Result<(Spec, u64)> {
    create_topic(bootstrap, produce_topic, 12)?;
    create_consume_topic(bootstrap, consume_topic, 1).map_err(CreateError::into_anyhow)?;
    let spec = Spec {
        acks: "all",
        partitions: 12,
        rate: None,
        duration: Duration::from_secs(secs),
        max_records: u64::MAX,
        linger_ms: 5,
    };
    let fill = Spec {
        partitions: 1,
        duration: Duration::from_secs(600),
        max_records: consume_mib * 1024 * 1024 / RECORD_BYTES as u64,
        ..spec.clone()
    };
    let filled = run(bootstrap, consume_topic, &fill)?;
    anyhow::ensure!(filled.failed == 0, "filling {consume_topic} failed");
    Ok((spec, filled.records * RECORD_BYTES as u64))
}
