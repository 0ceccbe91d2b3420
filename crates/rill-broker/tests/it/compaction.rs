#![allow(clippy::unwrap_used)]
//! The log cleaner service over real sockets: a compacted topic with small segments takes
//! keyed updates and tombstones, the broker's cleaner threads compact it, and a fetch from
//! offset 0 returns exactly the latest record of each key below the cleaner point, offsets
//! increasing with gaps; the cleaner's metrics show the pass.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use kafka_protocol::records::RecordBatchDecoder;
use rill_testkit::BatchBuilder;

use crate::support::{start, Conn};
use crate::topic_configs::create;

/// (offset, key, value) of every record from offset 0 up to the high watermark.
async fn read_all(conn: &mut Conn, topic: &str) -> Vec<(i64, Vec<u8>, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut next = 0i64;
    loop {
        let pd = crate::support::fetch(conn, topic, 0, next, 1 << 20, 12).await;
        assert_eq!(pd.error_code, 0, "fetch at {next}");
        let mut bytes: Bytes = pd.records.unwrap_or_default();
        if bytes.is_empty() {
            assert!(
                next >= pd.high_watermark,
                "nothing returned below the high watermark"
            );
            return out;
        }
        while bytes.remaining() >= 27 {
            let base = i64::from_be_bytes(bytes[0..8].try_into().unwrap());
            let last_delta = i32::from_be_bytes(bytes[23..27].try_into().unwrap());
            let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
            for r in set.records {
                out.push((
                    r.offset,
                    r.key.map(|k| k.to_vec()).unwrap_or_default(),
                    r.value.map(|v| v.to_vec()),
                ));
            }
            next = base + i64::from(last_delta) + 1;
        }
        if next >= pd.high_watermark {
            return out;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleaner_keeps_the_latest_record_per_key_with_offset_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[("log.cleaner.backoff.ms", "20")]).await;
    let mut conn = Conn::open(node.addr).await;
    let r = create(
        &mut conn,
        "compacted",
        &[
            ("cleanup.policy", "compact"),
            ("internal.segment.bytes", "4096"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
        false,
    )
    .await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    // 40 keys, 12 rounds of updates (the last one of even keys only); every 5th key deleted
    // in the last rounds.
    let mut expected: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
    for round in 0..12u32 {
        let mut b = BatchBuilder::new();
        for k in (0..40u32).filter(|k| round < 11 || k % 2 == 0) {
            let key = format!("key-{k:03}").into_bytes();
            let deleted = round >= 10 && k % 5 == 0;
            let value = (!deleted).then(|| format!("v{round}-{k}-{}", "x".repeat(60)).into_bytes());
            b = b.record(Some(&key), value.as_deref());
            expected.insert(key, value);
        }
        let (err, _) = crate::support::produce(&mut conn, "compacted", 0, b.build()).await;
        assert_eq!(err, 0);
    }
    // A large record rolls the segment, so the last round is cleanable too.
    let big = vec![b'y'; 5000];
    let b = BatchBuilder::new().record(Some(b"sentinel"), Some(&big));
    assert_eq!(
        crate::support::produce(&mut conn, "compacted", 0, b.build())
            .await
            .0,
        0
    );
    expected.insert(b"sentinel".to_vec(), Some(big));
    let p = node.broker.replicas.get("compacted", 0).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let first_dirty = loop {
        let (info, _) = p.cleaner_state(i64::MAX / 2).unwrap().unwrap();
        if node.broker.cleaner.snapshot().passes > 0 && !info.cleanable {
            break info.first_dirty_offset;
        }
        assert!(Instant::now() < deadline, "not cleaned in 30 s: {info:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        first_dirty, 460,
        "the cleaner point is the active segment's base"
    );

    let records = read_all(&mut conn, "compacted").await;
    // Offsets increase, with gaps where records were removed.
    assert!(records.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(
        records.windows(2).any(|w| w[1].0 > w[0].0 + 1),
        "no offset gaps: {} records, cleaner point {first_dirty}, {:?}",
        records.len(),
        node.broker.cleaner.snapshot()
    );
    assert!(records.len() < 460, "nothing removed: {}", records.len());
    // Below the cleaner point each key appears once.
    let mut seen = std::collections::HashSet::new();
    for (o, k, _) in records.iter().filter(|r| r.0 < first_dirty) {
        assert!(
            seen.insert(k.clone()),
            "key {k:?} twice below the cleaner point (at {o})"
        );
    }
    // Reading everything gives exactly the latest record of each key (tombstones kept within
    // delete.retention.ms).
    let mut latest: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
    for (_, k, v) in records {
        latest.insert(k, v);
    }
    assert_eq!(latest, expected);

    let s = node.broker.cleaner.snapshot();
    assert!(
        s.bytes_read > 0 && s.bytes_written > 0 && s.records_removed > 0,
        "{s:?}"
    );
    assert_eq!(s.dead_threads, 0);
    let metrics = reqwest_metrics(node.admin_addr.unwrap()).await;
    assert!(
        metrics.contains("rill_log_cleaner_recopy_percent"),
        "{metrics}"
    );
    assert!(metrics.contains("rill_log_cleaner_manager_uncleanable_partitions_count 0"));
    node.shutdown().await;
}

/// GET /metrics over a plain socket.
async fn reqwest_metrics(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// `.cleaned` / `.swap` files of a pass under the data directory.
fn pass_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for part in std::fs::read_dir(dir).unwrap().flatten() {
        if let Ok(files) = std::fs::read_dir(part.path()) {
            for f in files.flatten() {
                let n = f.file_name().to_string_lossy().into_owned();
                if n.ends_with(".cleaned") || n.ends_with(".swap") {
                    out.push(f.path());
                }
            }
        }
    }
    out
}

/// A broker whose throttled cleaner (20 KB/s) is in the middle of a pass over topic `slow`.
async fn node_mid_pass(dir: &std::path::Path) -> (crate::support::Node, Conn) {
    // A pass over ~150 KB of dirty log would take several seconds.
    let node = start(
        dir,
        &[
            ("log.cleaner.backoff.ms", "20"),
            ("log.cleaner.io.max.bytes.per.second", "20000"),
        ],
    )
    .await;
    let mut conn = Conn::open(node.addr).await;
    let r = create(
        &mut conn,
        "slow",
        &[
            ("cleanup.policy", "compact"),
            ("internal.segment.bytes", "8192"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
        false,
    )
    .await;
    assert_eq!(r.error_code, 0);
    for round in 0..40u32 {
        let mut b = BatchBuilder::new();
        for k in 0..40u32 {
            let v = format!("{round}-{}", "z".repeat(80));
            b = b.record(Some(format!("k{k}").as_bytes()), Some(v.as_bytes()));
        }
        assert_eq!(
            crate::support::produce(&mut conn, "slow", 0, b.build())
                .await
                .0,
            0
        );
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while pass_files(dir).is_empty() {
        assert!(Instant::now() < deadline, "no pass started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (node, conn)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_aborts_a_throttled_pass_and_removes_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let (node, _conn) = node_mid_pass(dir.path()).await;
    let broker = node.broker.clone();
    let t = Instant::now();
    node.shutdown().await;
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        t.elapsed()
    );
    assert_eq!(
        broker.cleaner.snapshot().passes,
        0,
        "the pass was not cut short"
    );
    assert!(broker.cleaner.snapshot().passes_abandoned >= 1);
    assert_eq!(pass_files(dir.path()), Vec::<std::path::PathBuf>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_topic_stops_its_pass_without_marking_it_uncleanable() {
    use kafka_protocol::messages::{DeleteTopicsRequest, TopicName};
    let dir = tempfile::tempdir().unwrap();
    let (node, mut conn) = node_mid_pass(dir.path()).await;
    let mut r = DeleteTopicsRequest::default();
    r.topic_names = vec![TopicName(
        kafka_protocol::protocol::StrBytes::from_static_str("slow"),
    )];
    r.timeout_ms = 5000;
    let resp = conn.call(&r, 4).await;
    assert_eq!(resp.responses[0].error_code, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.broker.cleaner.snapshot().passes_abandoned == 0 {
        assert!(
            Instant::now() < deadline,
            "the pass went on: {:?}",
            node.broker.cleaner.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let s = node.broker.cleaner.snapshot();
    assert_eq!(
        (s.passes, s.uncleanable_partitions, s.dead_threads),
        (0, 0, 0),
        "{s:?}"
    );
    // The broker still serves, and a new topic of the same name is clean.
    let r = create(&mut conn, "slow", &[("cleanup.policy", "compact")], false).await;
    assert_eq!(r.error_code, 0);
    node.shutdown().await;
}
