//! `rill produce TOPIC`: one record per input line (stdin or `--file`), like
//! kafka-console-producer: optional key separator, headers, fixed partition, acks,
//! compression, idempotence. Keys choose partitions with Kafka's murmur2 partitioner; keyless
//! records are batched sticky.
//!
//! Lines are bytes (not necessarily UTF-8); the trailing `\n` is removed, nothing else.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use rill_client::producer::{DeliveryReceiver, Producer, ProducerConfig};
use rill_client::records::{parse_compression, ProduceRecord};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::output::print_json;
use super::{key_value, now_ms, Global};

/// Flags of `rill produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Topic to write to.
    pub topic: String,
    /// Read lines from this file instead of stdin.
    #[arg(long, short = 'f')]
    pub file: Option<PathBuf>,
    /// Split each line at the first SEP into key and value (lines without SEP: no key).
    #[arg(long = "key-separator", short = 'K', value_name = "SEP")]
    pub key_separator: Option<String>,
    /// Header `KEY=VALUE` added to every record (repeatable).
    #[arg(long = "header", short = 'H')]
    pub headers: Vec<String>,
    /// Write every record to this partition.
    #[arg(long, short = 'p')]
    pub partition: Option<i32>,
    /// acks: all (-1), 1 or 0.
    #[arg(long, default_value = "all")]
    pub acks: String,
    /// Compression: none, gzip, snappy, lz4, zstd.
    #[arg(long, short = 'z', default_value = "none")]
    pub compression: String,
    /// Idempotent producer (needs acks=all).
    #[arg(long)]
    pub idempotent: bool,
    /// linger.ms.
    #[arg(long = "linger-ms", default_value_t = 5)]
    pub linger_ms: u64,
    /// batch.size in bytes.
    #[arg(long = "batch-size", default_value_t = 16_384)]
    pub batch_size: usize,
    /// delivery.timeout.ms: a record not acknowledged this long after it was sent (retries
    /// included) is reported as failed.
    #[arg(long = "delivery-timeout-ms", default_value_t = 120_000)]
    pub delivery_timeout_ms: u64,
}

/// Parses `--acks`.
///
/// # Errors
/// Anything but all, -1, 1, 0.
pub fn parse_acks(s: &str) -> anyhow::Result<i16> {
    match s {
        "all" | "-1" => Ok(-1),
        "1" => Ok(1),
        "0" => Ok(0),
        other => anyhow::bail!("--acks '{other}' is not all, 1 or 0"),
    }
}

/// Runs `rill produce`.
///
/// # Errors
/// Connection errors, unknown topic, failed deliveries.
pub async fn run(args: ProduceArgs, g: Global) -> anyhow::Result<()> {
    let acks = parse_acks(&args.acks)?;
    if args.idempotent && acks != -1 {
        anyhow::bail!("--idempotent needs --acks all (Kafka's rule for idempotent producers)");
    }
    let headers: Vec<(String, Option<Bytes>)> = args
        .headers
        .iter()
        .map(|h| key_value(h, "--header").map(|(k, v)| (k, Some(Bytes::from(v)))))
        .collect::<anyhow::Result<_>>()?;
    let client = g.connect().await?;
    client.topic(&args.topic, true).await?;
    let config = ProducerConfig {
        acks,
        compression: parse_compression(&args.compression)?,
        batch_size: args.batch_size,
        linger: Duration::from_millis(args.linger_ms),
        idempotent: args.idempotent,
        delivery_timeout: Duration::from_millis(args.delivery_timeout_ms),
        ..ProducerConfig::default()
    };
    let mut producer = Producer::new(client, config).await?;
    let lines = spawn_line_reader(args.file.clone())?;
    let (sent, failed) = produce_lines(&mut producer, &args, &headers, lines).await?;
    if g.json() {
        print_json(&json!({"topic": args.topic, "records": sent, "failed": failed}));
    } else {
        eprintln!(
            "produced {sent} records to {}{}",
            args.topic,
            if failed > 0 {
                format!(" ({failed} failed)")
            } else {
                String::new()
            }
        );
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {sent} records were not acknowledged");
    }
    Ok(())
}

/// Reads lines on a task (reads are not cancel-safe; the channel is).
fn spawn_line_reader(
    file: Option<PathBuf>,
) -> anyhow::Result<tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>> {
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let input: Box<dyn tokio::io::AsyncRead + Unpin + Send> = match &file {
        Some(path) => Box::new(
            std::fs::File::open(path)
                .map(tokio::fs::File::from_std)
                .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?,
        ),
        None => Box::new(tokio::io::stdin()),
    };
    tokio::spawn(async move {
        let mut reader = BufReader::new(input);
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line).await {
                Ok(0) => break,
                Ok(_) => {
                    if line.last() == Some(&b'\n') {
                        line.pop();
                    }
                    if tx.send(Ok(line)).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    break;
                }
            }
        }
    });
    Ok(rx)
}

async fn produce_lines(
    producer: &mut Producer,
    args: &ProduceArgs,
    headers: &[(String, Option<Bytes>)],
    mut lines: tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
) -> anyhow::Result<(u64, u64)> {
    let sep = args.key_separator.as_deref().map(str::as_bytes);
    let mut receipts: Vec<DeliveryReceiver> = Vec::new();
    loop {
        let next = match producer.next_due() {
            Some(due) => tokio::select! {
                l = lines.recv() => l,
                _ = tokio::time::sleep_until(due.into()) => { producer.flush_due().await?; continue; }
            },
            None => lines.recv().await,
        };
        let Some(line) = next else { break };
        let line = line.map_err(|e| anyhow::anyhow!("cannot read input: {e}"))?;
        let (key, value) = split_line(&line, sep);
        let record = ProduceRecord {
            key,
            value: Some(value),
            headers: headers.to_vec(),
            timestamp_ms: now_ms(),
        };
        receipts.push(producer.send(&args.topic, args.partition, record).await?);
    }
    producer.flush().await?;
    let sent = receipts.len() as u64;
    let mut failed = 0;
    for r in receipts {
        match r.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                if failed == 0 {
                    eprintln!("rill: error: {e}");
                }
                failed += 1;
            }
            Err(_) => failed += 1,
        }
    }
    Ok((sent, failed))
}

/// Splits a line into key and value at the first `sep`.
fn split_line(line: &[u8], sep: Option<&[u8]>) -> (Option<Bytes>, Bytes) {
    if let Some(sep) = sep.filter(|s| !s.is_empty()) {
        if let Some(i) = line.windows(sep.len()).position(|w| w == sep) {
            return (
                Some(Bytes::copy_from_slice(&line[..i])),
                Bytes::copy_from_slice(&line[i + sep.len()..]),
            );
        }
    }
    (None, Bytes::copy_from_slice(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_first_separator() {
        assert_eq!(
            split_line(b"k:v:w", Some(b":")),
            (Some(Bytes::from_static(b"k")), Bytes::from_static(b"v:w"))
        );
        assert_eq!(
            split_line(b"kv", Some(b":")),
            (None, Bytes::from_static(b"kv"))
        );
        assert_eq!(
            split_line(b"k::v", Some(b"::")),
            (Some(Bytes::from_static(b"k")), Bytes::from_static(b"v"))
        );
        assert_eq!(parse_acks("all").unwrap(), -1);
        assert!(parse_acks("2").is_err());
    }
}
