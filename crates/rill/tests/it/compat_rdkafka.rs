//! Compatibility with the `rdkafka` crate (librdkafka, built by the crate): each test starts a
//! real `rill serve` child process on a reserved port with a temporary data directory, drives it
//! with rdkafka's admin client, FutureProducer and BaseConsumer, and checks byte-exact results.
//!
//! Consumers use manual assignment only (no consumer groups yet). The broker's stderr goes to a
//! file in the data directory and is printed when a test fails.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, Timestamp, TopicPartitionList};
use rill_testkit::RillProcess;

const TIMEOUT: Duration = Duration::from_secs(30);
const BASE_TS: i64 = 1_700_000_000_000;

/// A `rill serve` child process (rill-testkit's), killed when dropped.
struct Broker {
    /// The process, its reserved port and data directory.
    process: RillProcess,
}

impl Broker {
    fn start() -> anyhow::Result<Self> {
        let process = RillProcess::builder(env!("CARGO_BIN_EXE_rill"))
            .ready_timeout(Duration::from_secs(20))
            .start()?;
        Ok(Broker { process })
    }

    fn bootstrap(&self) -> String {
        self.process.bootstrap()
    }

    fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", self.bootstrap());
        config
    }

    async fn create_topic(&self, name: &str, partitions: i32) -> anyhow::Result<()> {
        let admin: AdminClient<DefaultClientContext> = self.config().create()?;
        let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
        let results = admin
            .create_topics(
                &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
                &options,
            )
            .await?;
        ensure!(results.len() == 1, "one result per topic: {results:?}");
        match &results[0] {
            Ok(created) if created == name => Ok(()),
            other => bail!("create_topics({name}) = {other:?}"),
        }
    }
}

/// One record as produced or read back: key, payload, headers, timestamp.
type Rec = (
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(String, Option<Vec<u8>>)>,
    i64,
);

fn record(i: usize) -> Rec {
    let key = (!i.is_multiple_of(5)).then(|| format!("key-{}", i % 31).into_bytes());
    let payload =
        (!i.is_multiple_of(17)).then(|| (0..(i * 7) % 300).map(|b| (b * i) as u8).collect());
    let mut headers = vec![("idx".to_string(), Some(i.to_string().into_bytes()))];
    if i.is_multiple_of(3) {
        headers.push(("empty".to_string(), None));
    }
    (key, payload, headers, BASE_TS + i as i64)
}

fn headers_of(msg: &impl Message) -> Vec<(String, Option<Vec<u8>>)> {
    msg.headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                .collect()
        })
        .unwrap_or_default()
}

fn assigned_consumer(
    broker: &Broker,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<BaseConsumer> {
    let consumer: BaseConsumer = broker
        .config()
        .set("group.id", "rill-compat-rdkafka")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    Ok(consumer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_acks_all_and_consume_byte_exact() -> anyhow::Result<()> {
    const N: usize = 2000;
    const PARTITIONS: i32 = 3;
    let broker = Broker::start()?;
    let topic = "rdkafka-roundtrip";
    broker.create_topic(topic, PARTITIONS).await?;

    let producer: FutureProducer = broker
        .config()
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()?;
    let mut sent: BTreeMap<(i32, i64), Rec> = BTreeMap::new();
    let mut deliveries = Vec::with_capacity(N);
    for i in 0..N {
        let rec = record(i);
        let mut headers = OwnedHeaders::new();
        for (key, value) in &rec.2 {
            headers = headers.insert(Header {
                key,
                value: value.as_deref(),
            });
        }
        let mut fr = FutureRecord::<[u8], [u8]>::to(topic)
            .headers(headers)
            .timestamp(rec.3);
        if let Some(k) = &rec.0 {
            fr = fr.key(k.as_slice());
        }
        if let Some(p) = &rec.1 {
            fr = fr.payload(p.as_slice());
        }
        let future = producer.send_result(fr).map_err(|(e, _)| e)?;
        deliveries.push((rec, future));
    }
    for (rec, future) in deliveries {
        let delivery = future.await?.map_err(|(e, _)| e)?;
        ensure!(sent
            .insert((delivery.partition, delivery.offset), rec)
            .is_none());
    }
    for p in 0..PARTITIONS {
        let offsets: Vec<i64> = sent
            .keys()
            .filter(|(q, _)| *q == p)
            .map(|(_, o)| *o)
            .collect();
        ensure!(
            offsets == (0..offsets.len() as i64).collect::<Vec<_>>(),
            "dense offsets in {p}"
        );
    }

    let consumer = assigned_consumer(&broker, topic, PARTITIONS)?;
    let mut got: BTreeMap<(i32, i64), Rec> = BTreeMap::new();
    let deadline = Instant::now() + TIMEOUT;
    while got.len() < N {
        ensure!(
            Instant::now() < deadline,
            "read {} of {N} records",
            got.len()
        );
        if let Some(msg) = consumer.poll(Duration::from_millis(200)) {
            let msg = msg?;
            let ts = match msg.timestamp() {
                Timestamp::CreateTime(t) => t,
                other => bail!("unexpected timestamp type {other:?}"),
            };
            let rec = (
                msg.key().map(<[u8]>::to_vec),
                msg.payload().map(<[u8]>::to_vec),
                headers_of(&msg),
                ts,
            );
            ensure!(
                got.insert((msg.partition(), msg.offset()), rec).is_none(),
                "duplicate"
            );
        }
    }
    ensure!(
        got == sent,
        "records read back differ from the ones acknowledged"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watermarks_and_offsets_for_times() -> anyhow::Result<()> {
    const N: i64 = 50;
    let broker = Broker::start()?;
    let topic = "rdkafka-offsets";
    broker.create_topic(topic, 1).await?;
    let producer: FutureProducer = broker.config().set("acks", "all").create()?;
    for i in 0..N {
        let value = format!("v{i}");
        let fr = FutureRecord::<(), str>::to(topic)
            .payload(&value)
            .partition(0)
            .timestamp(BASE_TS + 1000 * i);
        let delivery = producer.send(fr, TIMEOUT).await.map_err(|(e, _)| e)?;
        ensure!((delivery.partition, delivery.offset) == (0, i));
    }

    let consumer = assigned_consumer(&broker, topic, 1)?;
    ensure!(consumer.fetch_watermarks(topic, 0, TIMEOUT)? == (0, N));
    for (ts, want) in [
        (BASE_TS - 1, Offset::Offset(0)),
        (BASE_TS + 10_500, Offset::Offset(11)),
        (BASE_TS + 1000 * (N - 1), Offset::Offset(N - 1)),
        (BASE_TS + 1000 * N, Offset::End),
    ] {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Offset(ts))?;
        let res = consumer.offsets_for_times(tpl, TIMEOUT)?;
        let elem = res
            .find_partition(topic, 0)
            .context("partition 0 in result")?;
        ensure!(
            elem.error().is_ok(),
            "offsets_for_times error {:?}",
            elem.error()
        );
        ensure!(
            elem.offset() == want,
            "offsets_for_times({}) = {:?}, want {want:?}",
            ts - BASE_TS,
            elem.offset()
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_existing_topic_is_topic_already_exists() -> anyhow::Result<()> {
    let broker = Broker::start()?;
    broker.create_topic("rdkafka-twice", 2).await?;
    let admin: AdminClient<DefaultClientContext> = broker.config().create()?;
    let results = admin
        .create_topics(
            &[NewTopic::new(
                "rdkafka-twice",
                2,
                TopicReplication::Fixed(1),
            )],
            &AdminOptions::new(),
        )
        .await?;
    ensure!(
        matches!(results.as_slice(), [Err((name, RDKafkaErrorCode::TopicAlreadyExists))] if name == "rdkafka-twice"),
        "got {results:?}"
    );
    let metadata = admin
        .inner()
        .fetch_metadata(Some("rdkafka-twice"), TIMEOUT)?;
    let topics = metadata.topics();
    ensure!(
        topics.len() == 1 && topics[0].partitions().len() == 2,
        "metadata {:?}",
        topics.len()
    );
    Ok(())
}
