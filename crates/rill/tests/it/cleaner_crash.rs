//! kill -9 of `rill serve` while its log cleaner works on a compacted topic, repeated with a
//! few seeds: a new `rill serve` over the same data directory opens the log and a consumer
//! reads exactly the latest record of every key acknowledged before the kill (nothing lost
//! above or below the cleaner point), offsets increasing.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use rill_testkit::{listens, reserve_port, RillProcess};

const TOPIC: &str = "compacted";
const KEYS: u64 = 400;
const RECORDS: u64 = 16_000;
/// Slow enough that a pass over the few MiB of dirty log takes seconds.
const CLEANER_OVERRIDES: &[&str] = &[
    "log.cleaner.backoff.ms=10",
    "log.cleaner.io.max.bytes.per.second=3000000",
];

fn client(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    c
}

/// Produces keyed updates and tombstones; returns the latest value of each key.
async fn produce(bootstrap: &str, seed: u64) -> anyhow::Result<BTreeMap<String, Option<String>>> {
    let admin: AdminClient<DefaultClientContext> = client(bootstrap).create()?;
    let topic = NewTopic::new(TOPIC, 1, TopicReplication::Fixed(1))
        .set("cleanup.policy", "compact")
        .set("internal.segment.bytes", "65536")
        .set("min.cleanable.dirty.ratio", "0.01");
    let r = admin.create_topics(&[topic], &AdminOptions::new()).await?;
    ensure!(r[0].is_ok(), "create: {r:?}");
    let producer: FutureProducer = client(bootstrap)
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()?;
    let mut latest = BTreeMap::new();
    let mut pending = Vec::new();
    let mut x = seed;
    for i in 0..RECORDS {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let key = format!("key-{:04}", (x >> 33) % KEYS);
        let value = (!(x >> 20).is_multiple_of(10)).then(|| format!("{i:08}-{}", "v".repeat(200)));
        let mut rec = FutureRecord::<str, str>::to(TOPIC).key(&key);
        if let Some(v) = &value {
            rec = rec.payload(v);
        }
        pending.push(producer.send_result(rec).map_err(|(e, _)| e)?);
        latest.insert(key, value);
    }
    for f in pending {
        f.await?.map_err(|(e, _)| e)?;
    }
    Ok(latest)
}

/// Every record of the topic from offset 0: key -> latest value, checking offsets increase.
fn read_back(bootstrap: &str) -> anyhow::Result<(BTreeMap<String, Option<String>>, usize)> {
    let consumer: BaseConsumer = client(bootstrap)
        .set("group.id", "cleaner-crash")
        .set("enable.auto.commit", "false")
        .create()?;
    let (_, high) = consumer.fetch_watermarks(TOPIC, 0, Duration::from_secs(10))?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, Offset::Beginning)?;
    consumer.assign(&tpl)?;
    let mut got = BTreeMap::new();
    let (mut last, mut n) = (-1i64, 0usize);
    let deadline = Instant::now() + Duration::from_secs(60);
    while last < high - 1 {
        ensure!(Instant::now() < deadline, "read up to {last} of {high}");
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            let m = m?;
            ensure!(m.offset() > last, "offset {} after {last}", m.offset());
            last = m.offset();
            n += 1;
            let key = String::from_utf8(m.key().context("a keyless record")?.to_vec())?;
            let value = m.payload().map(|v| String::from_utf8_lossy(v).into_owned());
            got.insert(key, value);
        }
    }
    Ok((got, n))
}

/// Whether a cleaning pass has files on disk (`.cleaned` / `.swap`) under `dir`.
fn pass_files(dir: &std::path::Path) -> bool {
    let Ok(parts) = std::fs::read_dir(dir) else {
        return false;
    };
    parts.flatten().any(|p| {
        std::fs::read_dir(p.path()).is_ok_and(|files| {
            files.flatten().any(|f| {
                let n = f.file_name().to_string_lossy().into_owned();
                n.ends_with(".cleaned") || n.ends_with(".swap")
            })
        })
    })
}

/// `rill serve` over an existing data directory, killed when dropped.
struct Restarted(Child);

impl Drop for Restarted {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_cleaning_leaves_a_log_that_reads_correctly() -> anyhow::Result<()> {
    let mut killed_mid_pass = 0;
    for seed in [1u64, 7, 42] {
        let mut first = RillProcess::builder(env!("CARGO_BIN_EXE_rill"))
            .overrides(CLEANER_OVERRIDES)
            .start()?;
        let expected = produce(&first.bootstrap(), seed).await?;
        // Let the (throttled) cleaner get into a pass, then kill -9 at a seeded moment.
        let data = first.data_dir();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !pass_files(&data) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(seed * 37 % 400));
        let mid_pass = pass_files(&data);
        first.kill();

        let port = reserve_port()?;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rill"));
        cmd.arg("serve")
            .arg("--override")
            .arg(format!("listeners=PLAINTEXT://127.0.0.1:{}", port.port()))
            .arg("--override")
            .arg(format!("log.dirs={}", data.display()))
            .arg("--admin-listen")
            .arg("127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for o in CLEANER_OVERRIDES {
            cmd.arg("--override").arg(o);
        }
        let mut second = Restarted(cmd.spawn()?);
        let up = Instant::now() + Duration::from_secs(30);
        while !listens(port.port()) {
            if let Some(s) = second.0.try_wait()? {
                bail!("restart exited: {s}");
            }
            ensure!(Instant::now() < up, "restart not listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        let bootstrap = format!("127.0.0.1:{}", port.port());
        let (got, n) = read_back(&bootstrap)?;
        eprintln!(
            "seed {seed}: killed mid-pass: {mid_pass}; {n} records read for {} keys",
            expected.len()
        );
        ensure!(
            got == expected,
            "seed {seed}: latest values differ after the restart"
        );
        ensure!(
            n as u64 <= RECORDS,
            "seed {seed}: more records than produced"
        );
        killed_mid_pass += usize::from(mid_pass);
        drop(second);
    }
    // The kill must have hit a pass (its `.cleaned`/`.swap` files on disk) at least once.
    ensure!(killed_mid_pass > 0, "no kill landed during a cleaning pass");
    Ok(())
}
