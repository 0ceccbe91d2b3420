//! Shared by the `cli_*` integration tests: a live `rill serve` child process on a reserved
//! port with a temporary data directory (rill-testkit), a runner for the `rill` binary's client subcommands, and
//! rdkafka (librdkafka) clients used as the independent witness of what the CLI did.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use rill_testkit::RillProcess;

/// Timeout for witness clients.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A record as librdkafka read it: offset, key, value, headers.
pub type WitnessRecord = (
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(String, Vec<u8>)>,
);

/// A `rill serve` child process (rill-testkit's), killed when dropped.
pub struct Broker {
    /// The process, its reserved port and data directory.
    process: RillProcess,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Broker {
    /// Starts a broker and waits until it listens.
    pub fn start() -> anyhow::Result<Self> {
        let process = RillProcess::builder(env!("CARGO_BIN_EXE_rill"))
            .ready_timeout(Duration::from_secs(20))
            .start()?;
        Ok(Broker {
            port: process.port(),
            process,
        })
    }

    /// `127.0.0.1:PORT`.
    pub fn bootstrap(&self) -> String {
        self.process.bootstrap()
    }

    /// Runs `rill ARGS` against this broker with `stdin`; returns the output.
    pub fn rill(&self, args: &[&str], stdin: &[u8]) -> anyhow::Result<Output> {
        rill_with(&self.bootstrap(), args, stdin)
    }

    /// Runs `rill ARGS` and fails unless it exits 0; returns stdout.
    pub fn rill_ok(&self, args: &[&str], stdin: &[u8]) -> anyhow::Result<Vec<u8>> {
        let out = self.rill(args, stdin)?;
        if !out.status.success() {
            bail!(
                "rill {args:?} failed with {}:\nstdout: {}\nstderr: {}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out.stdout)
    }

    /// An rdkafka config pointing at this broker.
    pub fn config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.bootstrap());
        c
    }

    /// Reads every record of `topic`/`partition` with librdkafka: (offset, key, value, headers).
    pub fn read_all(&self, topic: &str, partition: i32) -> anyhow::Result<Vec<WitnessRecord>> {
        let consumer: BaseConsumer = self
            .config()
            .set("group.id", "witness")
            .set("enable.auto.commit", "false")
            .create()?;
        let (_, high) = consumer.fetch_watermarks(topic, partition, TIMEOUT)?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Beginning)?;
        consumer.assign(&tpl)?;
        let mut out = Vec::new();
        let deadline = Instant::now() + TIMEOUT;
        while (out.len() as i64) < high {
            if Instant::now() > deadline {
                bail!(
                    "read only {} of {high} records of {topic}-{partition}",
                    out.len()
                );
            }
            if let Some(m) = consumer.poll(Duration::from_millis(200)) {
                let m = m?;
                let headers = m
                    .headers()
                    .map(|hs| {
                        use rdkafka::message::Headers;
                        hs.iter()
                            .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push((
                    m.offset(),
                    m.key().map(<[u8]>::to_vec),
                    m.payload().map(<[u8]>::to_vec),
                    headers,
                ));
            }
        }
        Ok(out)
    }

    /// The (low, high) watermarks of a partition, as librdkafka sees them.
    pub fn watermarks(&self, topic: &str, partition: i32) -> anyhow::Result<(i64, i64)> {
        let consumer: BaseConsumer = self.config().create()?;
        Ok(consumer.fetch_watermarks(topic, partition, TIMEOUT)?)
    }

    /// Partition count of `topic` per librdkafka's metadata (None: no such topic).
    pub fn partition_count(&self, topic: &str) -> anyhow::Result<Option<usize>> {
        let consumer: BaseConsumer = self.config().create()?;
        let md = consumer.fetch_metadata(None, TIMEOUT)?;
        Ok(md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .filter(|t| t.error().is_none())
            .map(|t| t.partitions().len()))
    }
}

/// Runs `rill ARGS` with `-b bootstrap`.
pub fn rill_with(bootstrap: &str, args: &[&str], stdin: &[u8]) -> anyhow::Result<Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(args)
        .env("RILL_BROKERS", bootstrap)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut input = child.stdin.take().context("stdin")?;
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output()?;
    let _ = writer.join();
    Ok(out)
}

/// Parses stdout as one JSON document.
pub fn json(stdout: &[u8]) -> anyhow::Result<serde_json::Value> {
    serde_json::from_slice(stdout)
        .with_context(|| format!("not JSON: {}", String::from_utf8_lossy(stdout)))
}
