#![allow(clippy::unwrap_used)]
//! The read side of transactions over real sockets: the last stable offset (LSO),
//! read_committed Fetch (v4, v12 by name, v16 by topic id) with its aborted transactions,
//! ListOffsets with isolation levels, a parked read_committed fetch woken by a marker, and
//! DescribeProducers.
//!
//! Two idempotent producers (ids from InitProducerId without a transactional id) write
//! transactional batches; the markers that end their transactions are written through the
//! partition (`Partition::append_txn_marker`, what WriteTxnMarkers does), since no
//! client-visible route writes them yet. The transactional batches are appended through the
//! partition too: the produce path refuses transactional batches until the transaction
//! coordinator lands (TODO: produce them with Produce requests then).
//!
//! What a read_committed consumer does with the answer is checked with the clients' own rule
//! (Kafka's `Fetcher`/librdkafka): a producer's transactional records from the first offset
//! of an aborted transaction listed in the answer up to its abort marker are dropped, control
//! batches are never delivered.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use rill_broker::replica::Partition;
use rill_log::{MarkerSpec, TxnOutcome};
use rill_meta::Uuid;
use rill_testkit::BatchBuilder;

use crate::support::{create_topic, start, Conn};

const TOPIC: &str = "txn-read";

fn name(v: &str) -> TopicName {
    TopicName(StrBytes::from_string(v.to_string()))
}

/// A fresh producer id (InitProducerId without a transactional id).
async fn producer_id(conn: &mut Conn) -> i64 {
    let mut req = InitProducerIdRequest::default();
    req.transactional_id = None;
    req.transaction_timeout_ms = 60_000;
    let resp = conn.call(&req, 4).await;
    assert_eq!(resp.error_code, 0);
    resp.producer_id.0
}

/// Appends a batch of `values` (transactional when `txn`) as the leader and waits until it
/// is committed (durable, high watermark past it). Returns its base offset.
async fn append(p: &Partition, pid: i64, seq: i32, txn: bool, values: &[&str]) -> i64 {
    let mut b = BatchBuilder::new().producer(pid, 0, seq);
    if txn {
        b = b.transactional();
    }
    for v in values {
        b = b.record(Some(b"k"), Some(v.as_bytes()));
    }
    let mut bytes = b.build().to_vec();
    let info = p.append(&mut bytes, rill_testkit::batch::now_ms()).unwrap();
    commit(p, info.last_offset + 1).await;
    info.base_offset
}

/// Waits until everything below `end` is durable (the high watermark follows on a lone node).
async fn commit(p: &Partition, end: i64) {
    for r in Partition::wait_durable_all_async(&[(p, end)]).await {
        r.unwrap();
    }
    assert!(p.high_watermark() >= end);
}

fn marker(pid: i64, outcome: TxnOutcome) -> MarkerSpec {
    MarkerSpec {
        producer_id: pid,
        producer_epoch: 0,
        coordinator_epoch: 3,
        outcome,
        timestamp_ms: rill_testkit::batch::now_ms(),
    }
}

/// A one-partition Fetch of `TOPIC` at `version` (by topic id from v13).
fn fetch_req(
    topic_id: Uuid,
    version: i16,
    offset: i64,
    isolation: i8,
    max_bytes: i32,
    max_wait_ms: i32,
) -> FetchRequest {
    let mut p = fetch_request::FetchPartition::default();
    p.partition = 0;
    p.fetch_offset = offset;
    p.partition_max_bytes = max_bytes;
    p.current_leader_epoch = -1;
    let mut t = fetch_request::FetchTopic::default();
    if version >= 13 {
        t.topic_id = topic_id;
    } else {
        t.topic = name(TOPIC);
    }
    t.partitions = vec![p];
    let mut req = FetchRequest::default();
    req.replica_id = BrokerId(-1);
    req.max_wait_ms = max_wait_ms;
    req.min_bytes = 1;
    req.max_bytes = max_bytes;
    req.isolation_level = isolation;
    req.topics = vec![t];
    req
}

async fn fetch(
    conn: &mut Conn,
    topic_id: Uuid,
    version: i16,
    offset: i64,
    isolation: i8,
    max_bytes: i32,
) -> PartitionData {
    let req = fetch_req(topic_id, version, offset, isolation, max_bytes, 0);
    let resp = conn.call(&req, version).await;
    resp.responses[0].partitions[0].clone()
}

/// What a consumer delivers from a fetch answer: (offset, value) of every record, after the
/// clients' read_committed rule when the answer lists aborted transactions.
fn delivered(pd: &PartitionData) -> Vec<(i64, String)> {
    let mut aborted: Vec<(i64, i64)> = pd
        .aborted_transactions
        .iter()
        .flatten()
        .map(|a| (a.first_offset, a.producer_id.0))
        .collect();
    aborted.sort_unstable();
    let mut aborted = aborted.into_iter().peekable();
    let mut skipping = BTreeSet::new();
    let mut out = Vec::new();
    let mut bytes: Bytes = pd.records.clone().unwrap_or_default();
    while bytes.has_remaining() {
        let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
        for r in set.records {
            while let Some((first, pid)) = aborted.peek().copied() {
                if first > r.offset {
                    break;
                }
                skipping.insert(pid);
                aborted.next();
            }
            if r.control {
                // Any marker ends its producer's transaction.
                skipping.remove(&r.producer_id);
                continue;
            }
            if r.transactional && skipping.contains(&r.producer_id) {
                continue;
            }
            let value = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
            out.push((r.offset, value));
        }
    }
    out
}

/// ListOffsets of `TOPIC`-0 at `timestamp` with `isolation` (v7; v1 has no isolation).
async fn list_offset(conn: &mut Conn, version: i16, timestamp: i64, isolation: i8) -> i64 {
    let mut p = list_offsets_request::ListOffsetsPartition::default();
    p.partition_index = 0;
    p.timestamp = timestamp;
    p.current_leader_epoch = -1;
    let mut t = list_offsets_request::ListOffsetsTopic::default();
    t.name = name(TOPIC);
    t.partitions = vec![p];
    let mut req = ListOffsetsRequest::default();
    req.replica_id = BrokerId(-1);
    if version >= 2 {
        req.isolation_level = isolation;
    }
    req.topics = vec![t];
    let resp = conn.call(&req, version).await;
    let pr = &resp.topics[0].partitions[0];
    assert_eq!(pr.error_code, 0);
    pr.offset
}

async fn describe_producers(
    conn: &mut Conn,
    topic: &str,
    partitions: Vec<i32>,
) -> Vec<describe_producers_response::PartitionResponse> {
    let mut t = TopicRequest::default();
    t.name = name(topic);
    t.partition_indexes = partitions;
    let mut req = DescribeProducersRequest::default();
    req.topics = vec![t];
    let resp = conn.call(&req, 0).await;
    resp.topics[0].partitions.clone()
}

fn values(v: &[(i64, String)]) -> Vec<&str> {
    v.iter().map(|(_, s)| s.as_str()).collect()
}

#[tokio::test]
async fn read_committed_stops_at_the_lso_and_gets_the_aborted_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]).await;
    let mut conn = Conn::open(node.addr).await;
    create_topic(&mut conn, TOPIC, 1).await;
    let meta = conn
        .call(
            &MetadataRequest::default().with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default().with_name(Some(name(TOPIC))),
            ])),
            12,
        )
        .await;
    let topic_id = meta.topics[0].topic_id;
    let part: Arc<Partition> = node.broker.replicas.get(TOPIC, 0).unwrap();
    let (a, b) = (producer_id(&mut conn).await, producer_id(&mut conn).await);

    // 0-1 A (open), 2 plain, 3-4 B (open), 5 A.
    assert_eq!(append(&part, a, 0, true, &["a0", "a1"]).await, 0);
    append(&part, -1, -1, false, &["plain2"]).await;
    assert_eq!(append(&part, b, 0, true, &["b3", "b4"]).await, 3);
    append(&part, a, 2, true, &["a5"]).await;
    assert_eq!((part.high_watermark(), part.last_stable_offset()), (6, 0));

    for version in [4, 12, 16] {
        let pd = fetch(&mut conn, topic_id, version, 0, 1, 1 << 20).await;
        assert_eq!(pd.error_code, 0);
        assert_eq!(
            (pd.high_watermark, pd.last_stable_offset),
            (6, 0),
            "v{version}"
        );
        assert!(
            pd.records.as_ref().is_none_or(|r| r.is_empty()),
            "v{version}"
        );
        assert_eq!(
            pd.aborted_transactions,
            Some(vec![]),
            "v{version}: empty, not null"
        );
        let pd = fetch(&mut conn, topic_id, version, 0, 0, 1 << 20).await;
        assert_eq!(
            pd.last_stable_offset, 0,
            "v{version}: the real LSO for uncommitted too"
        );
        assert_eq!(
            pd.aborted_transactions, None,
            "v{version}: null for uncommitted"
        );
        assert_eq!(
            values(&delivered(&pd)),
            ["a0", "a1", "plain2", "b3", "b4", "a5"]
        );
    }
    assert_eq!(
        list_offset(&mut conn, 7, -1, 1).await,
        0,
        "latest committed = LSO"
    );
    assert_eq!(list_offset(&mut conn, 7, -1, 0).await, 6, "latest = HW");
    assert_eq!(
        list_offset(&mut conn, 1, -1, 0).await,
        6,
        "v1 has no isolation"
    );
    let first_ts = 0; // every record's timestamp is after it: the first offset, if readable
    assert_eq!(list_offset(&mut conn, 7, first_ts, 0).await, 0);
    assert_eq!(
        list_offset(&mut conn, 7, first_ts, 1).await,
        -1,
        "nothing below the LSO"
    );
    let producers = describe_producers(&mut conn, TOPIC, vec![0]).await;
    assert_eq!(producers[0].error_code, 0);
    let open: Vec<(i64, i64, i32)> = producers[0]
        .active_producers
        .iter()
        .map(|p| (p.producer_id.0, p.current_txn_start_offset, p.last_sequence))
        .collect();
    assert_eq!(open, [(a, 0, 2), (b, 3, 1)]);

    // A read_committed long poll at the LSO is woken by the marker that moves it (no high
    // watermark move: the marker is not durable yet, so nothing else wakes it).
    let mut poller = Conn::open(node.addr).await;
    let (id, frame) = poller.frame(&fetch_req(topic_id, 12, 0, 1, 1 << 20, 20_000), 12);
    poller.send_raw(&frame).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let abort_at = part
        .append_txn_marker(&marker(a, TxnOutcome::Abort), rill_testkit::batch::now_ms())
        .unwrap()
        .base_offset;
    assert_eq!(abort_at, 6);
    let resp = tokio::time::timeout(Duration::from_secs(10), poller.read_frame())
        .await
        .expect("answered")
        .expect("open");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woken by the marker"
    );
    let resp = Conn::decode::<FetchRequest>(resp, id, 12);
    let pd = &resp.responses[0].partitions[0];
    assert_eq!((pd.high_watermark, pd.last_stable_offset), (6, 3));
    assert_eq!(pd.aborted_transactions.as_ref().unwrap().len(), 1);
    assert_eq!(
        values(&delivered(pd)),
        ["plain2"],
        "A's records dropped, B's not read"
    );

    // B commits; once both markers are committed everything is stable.
    let commit_at = part
        .append_txn_marker(
            &marker(b, TxnOutcome::Commit),
            rill_testkit::batch::now_ms(),
        )
        .unwrap()
        .base_offset;
    assert_eq!(commit_at, 7);
    assert_eq!(part.last_stable_offset(), 6, "no open transaction: the HW");
    commit(&part, 8).await;
    assert_eq!(part.last_stable_offset(), 8);
    let (_, file_before, copied_before) = node.net.send_stats.snapshot();
    for version in [4, 12, 16] {
        let pd = fetch(&mut conn, topic_id, version, 0, 1, 1 << 20).await;
        assert_eq!(
            (pd.high_watermark, pd.last_stable_offset),
            (8, 8),
            "v{version}"
        );
        let aborted: Vec<(i64, i64)> = pd
            .aborted_transactions
            .iter()
            .flatten()
            .map(|t| (t.producer_id.0, t.first_offset))
            .collect();
        assert_eq!(aborted, [(a, 0)], "v{version}");
        assert_eq!(
            values(&delivered(&pd)),
            ["plain2", "b3", "b4"],
            "v{version}: committed and plain records, once"
        );
        let pd = fetch(&mut conn, topic_id, version, 0, 0, 1 << 20).await;
        assert_eq!(pd.aborted_transactions, None);
        assert_eq!(
            delivered(&pd).len(),
            6,
            "read_uncommitted sees the aborted ones"
        );
    }
    let (_, file_after, copied_after) = node.net.send_stats.snapshot();
    assert!(
        file_after + copied_after > file_before + copied_before,
        "record data still goes out as file ranges"
    );
    // The aborted list covers what was read: [fetch offset, end of the last batch).
    let one = fetch(&mut conn, topic_id, 12, 3, 1, 1).await; // one batch: B's 3-4
    assert_eq!(
        one.aborted_transactions.as_ref().map(Vec::len),
        Some(1),
        "A overlaps 3-5"
    );
    let tail = fetch(&mut conn, topic_id, 12, 7, 1, 1 << 20).await; // B's commit marker
    assert_eq!(
        tail.aborted_transactions,
        Some(vec![]),
        "A's marker is before 7"
    );
    assert!(delivered(&tail).is_empty(), "markers are not delivered");
    assert_eq!(list_offset(&mut conn, 7, -1, 1).await, 8);
    assert_eq!(list_offset(&mut conn, 7, first_ts, 1).await, 0);

    // DescribeProducers after the markers: no open transaction, the coordinator epoch.
    let producers = describe_producers(&mut conn, TOPIC, vec![0, 7]).await;
    let ended: Vec<(i64, i64, i32)> = producers[0]
        .active_producers
        .iter()
        .map(|p| {
            (
                p.producer_id.0,
                p.current_txn_start_offset,
                p.coordinator_epoch,
            )
        })
        .collect();
    assert_eq!(ended, [(a, -1, 3), (b, -1, 3)]);
    assert_eq!(producers[1].error_code, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    let unknown = describe_producers(&mut conn, "no-such-topic", vec![0]).await;
    assert_eq!(unknown[0].error_code, 3);

    // A restart keeps it all (producer snapshot, .txnindex).
    drop((conn, poller, part));
    node.shutdown().await;
    let node = start(dir.path(), &[]).await;
    let mut conn = Conn::open(node.addr).await;
    let pd = fetch(&mut conn, topic_id, 12, 0, 1, 1 << 20).await;
    assert_eq!(pd.last_stable_offset, 8);
    assert_eq!(values(&delivered(&pd)), ["plain2", "b3", "b4"]);
    node.shutdown().await;
}

/// The metrics show the LSO and how far open transactions hold it behind the high watermark.
#[tokio::test]
async fn an_open_transaction_shows_as_last_stable_offset_lag() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]).await;
    let mut conn = Conn::open(node.addr).await;
    create_topic(&mut conn, TOPIC, 1).await;
    let part = node.broker.replicas.get(TOPIC, 0).unwrap();
    let a = producer_id(&mut conn).await;
    append(&part, -1, -1, false, &["p0", "p1"]).await;
    append(&part, a, 0, true, &["a2"]).await;
    append(&part, -1, -1, false, &["p3"]).await;
    let stats = part.log_stats().unwrap();
    assert_eq!((stats.high_watermark, stats.last_stable_offset), (4, 2));
    let scrape = || rill_broker::observe::collect::collect(&node.broker, &Default::default());
    let text = scrape();
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l.contains(&format!("topic=\"{TOPIC}\"")))
            .unwrap_or_else(|| panic!("{name} missing"))
            .rsplit(' ')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(line("rill_log_last_stable_offset{"), "2");
    assert_eq!(line("rill_partition_last_stable_offset_lag{"), "2");
    part.append_txn_marker(&marker(a, TxnOutcome::Commit), 0)
        .unwrap();
    commit(&part, 5).await;
    let text = scrape();
    assert!(text.contains(&format!(
        "rill_partition_last_stable_offset_lag{{topic=\"{TOPIC}\",partition=\"0\"}} 0"
    )));
    node.shutdown().await;
}
