//! `rill produce` and `rill consume` against a live `rill serve`, with librdkafka (rdkafka)
//! and kcat as the independent clients: keyed records land where librdkafka's murmur2
//! partitioner puts them, consume returns kcat's bytes exactly, options have their effect.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use crate::cli_support::{json, Broker, TIMEOUT};
use anyhow::{ensure, Context as _};
use rdkafka::producer::{FutureProducer, FutureRecord};

const BASE_TS: i64 = 1_700_000_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_records_land_where_librdkafka_murmur2_puts_them() -> anyhow::Result<()> {
    let b = Broker::start()?;
    b.rill_ok(&["topics", "create", "by-rill", "-p", "7"], b"")?;
    b.rill_ok(&["topics", "create", "by-rdkafka", "-p", "7"], b"")?;
    let keys: Vec<String> = (0..200)
        .map(|i| format!("user-{i}"))
        .chain(["", "a", "21", "é", "the quick brown fox"].map(String::from))
        .collect();
    let input: String = keys
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{k}\t{i}\n"))
        .collect();
    b.rill_ok(
        &["produce", "by-rill", "--key-separator", "\t"],
        input.as_bytes(),
    )?;

    let producer: FutureProducer = b.config().set("partitioner", "murmur2_random").create()?;
    let mut want = BTreeMap::new();
    for k in &keys {
        let p = producer
            .send(
                FutureRecord::to("by-rdkafka")
                    .key(k.as_bytes())
                    .payload("x"),
                TIMEOUT,
            )
            .await
            .map_err(|(e, _)| e)?
            .partition;
        want.insert(k.clone(), p);
    }
    let mut got = BTreeMap::new();
    for p in 0..7 {
        for (_, key, value, _) in b.read_all("by-rill", p)? {
            let key = String::from_utf8(key.context("rill wrote a null key")?)?;
            let i: usize = String::from_utf8(value.unwrap_or_default())?.parse()?;
            ensure!(keys[i] == key, "value {i} carries key {key}");
            got.insert(key, p);
        }
    }
    ensure!(
        got.len() == keys.len(),
        "{} of {} records read",
        got.len(),
        keys.len()
    );
    let spread: std::collections::BTreeSet<i32> = got.values().copied().collect();
    ensure!(
        spread.len() == 7,
        "keys spread over every partition: {spread:?}"
    );
    for (k, p) in &want {
        ensure!(
            got.get(k) == Some(p),
            "key {k:?}: rill chose {:?}, librdkafka murmur2 {p}",
            got.get(k)
        );
    }
    Ok(())
}

#[test]
fn consume_returns_kcat_bytes_exactly() -> anyhow::Result<()> {
    let b = Broker::start()?;
    b.rill_ok(&["topics", "create", "raw", "-p", "1"], b"")?;
    // Keys and values with bytes that are not UTF-8, spaces, tabs inside values, empty value.
    let mut input = Vec::new();
    for i in 0..50u8 {
        input.extend_from_slice(format!("k{i}").as_bytes());
        input.push(b'|');
        input.extend_from_slice(&[0xff, 0xfe, i.wrapping_add(11), 0x80 | i, b' ', b'\t']);
        input.extend_from_slice(format!("value {i} ünïcode").as_bytes());
        input.push(b'\n');
    }
    input.extend_from_slice(b"empty|\n");
    let mut kcat = Command::new("kcat")
        .env_remove("LD_LIBRARY_PATH")
        .args([
            "-b",
            &b.bootstrap(),
            "-t",
            "raw",
            "-p",
            "0",
            "-P",
            "-K",
            "|",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .context("kcat must be installed (scripts/setup-compat.sh)")?;
    kcat.stdin.take().context("stdin")?.write_all(&input)?;
    ensure!(kcat.wait()?.success(), "kcat failed");

    let out = b.rill_ok(
        &[
            "consume",
            "raw",
            "--from-beginning",
            "--exit-at-end",
            "--format",
            "{key}|{value}",
        ],
        b"",
    )?;
    ensure!(
        out == input,
        "bytes differ:\n{:?}\n{:?}",
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&input)
    );

    let lines = b.rill_ok(
        &[
            "consume",
            "raw",
            "--from-beginning",
            "-n",
            "2",
            "-O",
            "json",
        ],
        b"",
    )?;
    let docs: Vec<serde_json::Value> = lines
        .split(|c| *c == b'\n')
        .filter(|l| !l.is_empty())
        .map(json)
        .collect::<anyhow::Result<_>>()?;
    ensure!(
        docs.len() == 2
            && docs[1]["offset"] == 1
            && docs[1]["key"] == "k1"
            && docs[1]["partition"] == 0,
        "{docs:?}"
    );
    ensure!(
        docs[0]["value"]["hex"]
            .as_str()
            .is_some_and(|h| h.starts_with("fffe0b80")),
        "{docs:?}"
    );
    Ok(())
}

#[test]
fn produce_options_take_effect() -> anyhow::Result<()> {
    let b = Broker::start()?;
    b.rill_ok(&["topics", "create", "opts", "-p", "4"], b"")?;
    // librdkafka as built by the rdkafka crate has no zstd: zstd goes to partition 2 and is
    // checked with kcat; the other codecs go to partition 3 and are checked with librdkafka.
    // (kcat runs without cargo's LD_LIBRARY_PATH, which points at the crate's librdkafka.)
    for (i, codec) in ["none", "gzip", "snappy", "lz4", "zstd"].iter().enumerate() {
        let lines: String = (0..20).map(|n| format!("{codec}-{n}\n")).collect();
        let partition = if *codec == "zstd" { "2" } else { "3" };
        b.rill_ok(
            &[
                "produce",
                "opts",
                "--partition",
                partition,
                "--compression",
                codec,
                "-H",
                "codec=x",
                "-H",
                &format!("i={i}"),
                "--idempotent",
            ],
            lines.as_bytes(),
        )?;
    }
    let recs = b.read_all("opts", 3)?;
    ensure!(recs.len() == 80, "{} records in partition 3", recs.len());
    for (n, (offset, key, value, headers)) in recs.iter().enumerate() {
        let codec = ["none", "gzip", "snappy", "lz4"][n / 20];
        ensure!(*offset == n as i64 && key.is_none());
        ensure!(
            value.as_deref() == Some(format!("{codec}-{}", n % 20).as_bytes()),
            "record {n}: {value:?}"
        );
        ensure!(
            headers
                == &vec![
                    ("codec".to_string(), b"x".to_vec()),
                    ("i".to_string(), (n / 20).to_string().into_bytes())
                ],
            "{headers:?}"
        );
    }
    let kcat = Command::new("kcat")
        .env_remove("LD_LIBRARY_PATH")
        .args([
            "-b",
            &b.bootstrap(),
            "-t",
            "opts",
            "-p",
            "2",
            "-C",
            "-e",
            "-q",
            "-f",
            "%o %s %h\\n",
        ])
        .output()?;
    let want: String = (0..20)
        .map(|n| format!("{n} zstd-{n} codec=x,i=4\n"))
        .collect();
    ensure!(
        String::from_utf8_lossy(&kcat.stdout) == want,
        "kcat read {:?} {:?}",
        String::from_utf8_lossy(&kcat.stdout),
        String::from_utf8_lossy(&kcat.stderr)
    );
    for p in 0..2 {
        ensure!(
            b.watermarks("opts", p)?.1 == 0,
            "partition {p} should be empty"
        );
    }
    // acks=0 still delivers (checked by the end offset), and keyless records stick to one
    // partition while their batch fills.
    b.rill_ok(
        &["produce", "opts", "--acks", "0", "--linger-ms", "1000"],
        "a\nb\nc\nd\ne\n".as_bytes(),
    )?;
    // acks=0 gets no answer: the broker may still be appending when rill exits, so wait.
    let before = [0, 0, 20, 80];
    let deadline = std::time::Instant::now() + TIMEOUT;
    let new_in: Vec<i64> = loop {
        let grown: Vec<i64> = (0..4)
            .map(|p| b.watermarks("opts", p).map(|w| w.1))
            .collect::<anyhow::Result<_>>()?;
        let new_in: Vec<i64> = grown.iter().zip(before).map(|(h, b)| h - b).collect();
        if new_in.iter().sum::<i64>() >= 5 || std::time::Instant::now() > deadline {
            break new_in;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    ensure!(
        new_in.iter().sum::<i64>() == 5 && new_in.iter().filter(|n| **n > 0).count() == 1,
        "sticky: {new_in:?}"
    );
    let bad = b.rill(&["produce", "opts", "--idempotent", "--acks", "1"], b"x\n")?;
    ensure!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("--acks all"));
    let bad = b.rill(&["produce", "opts", "--partition", "9"], b"x\n")?;
    ensure!(
        !bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("no partition 9")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_starts_where_asked() -> anyhow::Result<()> {
    let b = Broker::start()?;
    b.rill_ok(&["topics", "create", "pos", "-p", "2"], b"")?;
    let producer: FutureProducer = b.config().create()?;
    for i in 0..10i64 {
        let v = format!("r{i}");
        producer
            .send(
                FutureRecord::<(), _>::to("pos")
                    .partition(1)
                    .payload(&v)
                    .timestamp(BASE_TS + i * 1000),
                TIMEOUT,
            )
            .await
            .map_err(|(e, _)| e)?;
    }
    let run =
        |args: &[&str]| -> anyhow::Result<String> { Ok(String::from_utf8(b.rill_ok(args, b"")?)?) };
    ensure!(
        run(&[
            "consume",
            "pos",
            "-p",
            "1",
            "--from-beginning",
            "-e",
            "-F",
            "{offset}:{value}:{timestamp}"
        ])?
        .lines()
        .count()
            == 10
    );
    let ts = (BASE_TS + 5500).to_string();
    ensure!(
        run(&["consume", "pos", "-p", "1", "--from-timestamp", &ts, "-e"])? == "r6\nr7\nr8\nr9\n"
    );
    ensure!(run(&["consume", "pos", "-p", "1", "--offset", "3", "-n", "2"])? == "r3\nr4\n");
    ensure!(
        run(&[
            "consume",
            "pos",
            "--from-beginning",
            "-e",
            "-F",
            "{partition}/{offset}"
        ])?
        .lines()
        .last()
            == Some("1/9")
    );
    ensure!(run(&["consume", "pos", "--from-end", "--idle-timeout-ms", "300"])?.is_empty());
    let out = b.rill(&["consume", "pos", "-p", "5", "-e"], b"")?;
    ensure!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no partition 5")
    );
    Ok(())
}

#[test]
fn produce_gives_up_at_the_delivery_timeout() -> anyhow::Result<()> {
    // acks=all to a single-replica topic that asks for two in-sync replicas: every attempt
    // gets NOT_ENOUGH_REPLICAS (retriable). The client's ten retries take about 7.5 s to run
    // out; a delivery.timeout.ms of 1.5 s must end the record's delivery first, with the
    // last attempt's error in the message, and nothing may be written.
    let b = Broker::start()?;
    b.rill_ok(
        &["topics", "create", "two-isr", "-c", "min.insync.replicas=2"],
        b"",
    )?;
    let started = std::time::Instant::now();
    let out = b.rill(
        &[
            "produce",
            "two-isr",
            "--acks",
            "all",
            "--delivery-timeout-ms",
            "1500",
        ],
        b"x\n",
    )?;
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(!out.status.success(), "produce succeeded: {stderr}");
    ensure!(
        stderr.contains("within delivery.timeout.ms (1500 ms)")
            && stderr.contains("NOT_ENOUGH_REPLICAS"),
        "{stderr}"
    );
    ensure!(
        took >= std::time::Duration::from_millis(1400) && took < std::time::Duration::from_secs(5),
        "gave up after {took:?}"
    );
    ensure!(b.watermarks("two-isr", 0)?.1 == 0, "a record was written");
    Ok(())
}
