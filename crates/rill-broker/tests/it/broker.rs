#![allow(clippy::unwrap_used)]
//! Integration tests of the broker over real sockets with hand-encoded Kafka requests
//! (kafka-protocol's client side), a real data directory and a real server task.
//! Contract checked: requests are answered as a Kafka broker would, bad input closes only the
//! offending connection, and acknowledged records come back byte for byte after a restart.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, StrBytes};
use kafka_protocol::records::{Compression, RecordBatchDecoder};

use crate::support::{produce, start, try_create_topic as create_topic, Conn};
use rill_testkit::BatchBuilder;

fn batch(records: &[(&[u8], &[u8])], ts: i64, compression: Compression) -> Bytes {
    records
        .iter()
        .fold(BatchBuilder::new(), |b, (k, v)| b.record(Some(k), Some(v)))
        .compression(compression)
        .timestamp(ts)
        .build()
}

/// Fetches `topic`/`partition` from `offset` (v12, 1 MiB): (error, high watermark, records).
async fn fetch(conn: &mut Conn, topic: &str, partition: i32, offset: i64) -> (i16, i64, Bytes) {
    let pd = crate::support::fetch(conn, topic, partition, offset, 1 << 20, 12).await;
    (
        pd.error_code,
        pd.high_watermark,
        pd.records.unwrap_or_default(),
    )
}

fn decode_values(mut bytes: Bytes) -> Vec<(i64, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    while bytes.has_remaining() {
        let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
        for r in set.records {
            out.push((r.offset, r.key.unwrap().to_vec(), r.value.unwrap().to_vec()));
        }
    }
    out
}

#[tokio::test]
async fn api_versions_lists_our_apis_and_answers_too_new_versions_with_v0() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]).await;
    let mut conn = Conn::open(node.addr).await;
    let resp = conn.call(&ApiVersionsRequest::default(), 3).await;
    assert_eq!(resp.error_code, 0);
    let produce = resp.api_keys.iter().find(|k| k.api_key == 0).unwrap();
    assert_eq!((produce.min_version, produce.max_version), (3, 13));
    assert!(resp
        .api_keys
        .iter()
        .any(|k| k.api_key == ApiKey::CreateTopics as i16));

    // ApiVersions v99: header v2 (flexible), answer is a v0 body with UNSUPPORTED_VERSION.
    let mut body = BytesMut::new();
    body.put_i16(18);
    body.put_i16(99);
    body.put_i32(77);
    body.put_i16(-1);
    body.put_u8(0);
    let mut frame = BytesMut::new();
    frame.put_i32(body.len() as i32);
    frame.extend_from_slice(&body);
    conn.send_raw(&frame).await;
    let mut resp = conn.read_frame().await.unwrap();
    assert_eq!(resp.get_i32(), 77);
    let v0 = ApiVersionsResponse::decode(&mut resp, 0).unwrap();
    assert_eq!(v0.error_code, 35);
    assert!(!v0.api_keys.is_empty());
    node.shutdown().await;
}

#[tokio::test]
async fn bad_frames_close_only_their_connection() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]).await;
    let cases: Vec<Vec<u8>> = vec![
        vec![0, 0, 0, 2, 1, 2],                        // shorter than a header
        (-5i32).to_be_bytes().to_vec(),                // negative size
        (200 * 1024 * 1024i32).to_be_bytes().to_vec(), // over socket.request.max.bytes
        [
            &12i32.to_be_bytes()[..],
            &[0x7f, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
        ]
        .concat(), // unknown api key
        [
            &12i32.to_be_bytes()[..],
            &[0, 3, 0x40, 0, 0, 0, 0, 1, 0, 0, 0, 0],
        ]
        .concat(), // Metadata v16384
        [
            &14i32.to_be_bytes()[..],
            &[0, 19, 0, 7, 0, 0, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff],
        ]
        .concat(), // CreateTopics garbage body
        // Claimed lengths far beyond the frame must not be trusted for allocation (these
        // used to abort the process on a 150 GB allocation).
        [
            &14i32.to_be_bytes()[..],
            &[0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff],
        ]
        .concat(), // Metadata v1, 2^31-1 topics
        [
            &20i32.to_be_bytes()[..],
            &[
                0, 0, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0, 1, 0, 0, 3, 0xe8, 0x7f, 0xff,
            ],
        ]
        .concat(), // Produce v3, truncated huge topic array
        [
            &16i32.to_be_bytes()[..],
            &[
                0, 3, 0, 9, 0, 0, 0, 1, 0xff, 0xff, 0, 0xff, 0xff, 0xff, 0xff, 0x0f,
            ],
        ]
        .concat(), // Metadata v9, compact array of 2^32-2
        [
            &16i32.to_be_bytes()[..],
            &[0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0, 0, 0, 1, 0x7f, 0xff],
        ]
        .concat(), // Metadata v1, a 32767-byte topic name
    ];
    for frame in cases {
        let mut bad = Conn::open(node.addr).await;
        bad.send_raw(&frame).await;
        let closed = tokio::time::timeout(Duration::from_secs(5), bad.read_frame())
            .await
            .unwrap();
        assert!(
            closed.is_none(),
            "connection should be closed for {frame:?}"
        );
        let mut good = Conn::open(node.addr).await;
        assert_eq!(
            good.call(&ApiVersionsRequest::default(), 3)
                .await
                .error_code,
            0
        );
    }
    node.shutdown().await;
}

#[tokio::test]
async fn produce_fetch_restart_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    // Timestamps of now: 1970's would let retention delete the segments after the restart.
    let now = rill_testkit::batch::now_ms();
    let node = start(dir.path(), &[]).await;
    let mut conn = Conn::open(node.addr).await;
    assert_eq!(create_topic(&mut conn, "orders", 2).await, 0);
    assert_eq!(
        create_topic(&mut conn, "orders", 2).await,
        36,
        "TOPIC_ALREADY_EXISTS"
    );
    assert_eq!(
        create_topic(&mut conn, "bad name!", 1).await,
        17,
        "INVALID_TOPIC_EXCEPTION"
    );
    let (err, base) = produce(
        &mut conn,
        "orders",
        1,
        batch(&[(b"k1", b"v1"), (b"k2", b"v2")], now, Compression::None),
    )
    .await;
    assert_eq!((err, base), (0, 0));
    let (err, base) = produce(
        &mut conn,
        "orders",
        1,
        batch(&[(b"k3", b"v3")], now + 1000, Compression::Gzip),
    )
    .await;
    assert_eq!((err, base), (0, 2));
    let (err, hw, records) = fetch(&mut conn, "orders", 1, 0).await;
    assert_eq!((err, hw), (0, 3));
    assert_eq!(
        decode_values(records),
        vec![
            (0, b"k1".to_vec(), b"v1".to_vec()),
            (1, b"k2".to_vec(), b"v2".to_vec()),
            (2, b"k3".to_vec(), b"v3".to_vec())
        ]
    );
    let (err, _, _) = fetch(&mut conn, "orders", 1, 10).await;
    assert_eq!(err, 1, "OFFSET_OUT_OF_RANGE");
    let (err, _) = produce(
        &mut conn,
        "nope",
        0,
        batch(&[(b"k", b"v")], now, Compression::None),
    )
    .await;
    assert_eq!(err, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    let mut corrupt = batch(&[(b"k", b"v")], now, Compression::None).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let (err, _) = produce(&mut conn, "orders", 0, Bytes::from(corrupt)).await;
    assert_eq!(err, 2, "CORRUPT_MESSAGE");
    drop(conn);
    node.shutdown().await;

    let node = start(dir.path(), &[]).await;
    let mut conn = Conn::open(node.addr).await;
    let (err, hw, records) = fetch(&mut conn, "orders", 1, 0).await;
    assert_eq!((err, hw), (0, 3));
    assert_eq!(decode_values(records).len(), 3);
    let (err, base) = produce(
        &mut conn,
        "orders",
        1,
        batch(&[(b"k4", b"v4")], now + 2000, Compression::None),
    )
    .await;
    assert_eq!((err, base), (0, 3));
    node.shutdown().await;
}

#[tokio::test]
async fn oversized_batches_get_message_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[("message.max.bytes", "1000")]).await;
    let mut conn = Conn::open(node.addr).await;
    assert_eq!(create_topic(&mut conn, "small", 1).await, 0);
    let big = vec![7u8; 5000];
    let (err, _) = produce(
        &mut conn,
        "small",
        0,
        batch(&[(b"k", &big)], 1, Compression::None),
    )
    .await;
    assert_eq!(err, 10, "MESSAGE_TOO_LARGE");
    let (err, base) = produce(
        &mut conn,
        "small",
        0,
        batch(&[(b"k", b"fits")], 1, Compression::None),
    )
    .await;
    assert_eq!((err, base), (0, 0));
    node.shutdown().await;
}

#[tokio::test]
async fn metadata_lists_topics_and_auto_creates() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[("num.partitions", "3")]).await;
    let mut conn = Conn::open(node.addr).await;
    assert_eq!(create_topic(&mut conn, "listed", 2).await, 0);
    // v0: an empty list means every topic.
    let resp = conn
        .call(&MetadataRequest::default().with_topics(Some(vec![])), 0)
        .await;
    assert_eq!(resp.topics.len(), 1);
    assert_eq!(resp.topics[0].partitions.len(), 2);
    // v12: an empty list means none; a named unknown topic is auto-created with num.partitions.
    let resp = conn
        .call(&MetadataRequest::default().with_topics(Some(vec![])), 12)
        .await;
    assert!(resp.topics.is_empty());
    let mut t = metadata_request::MetadataRequestTopic::default();
    t.name = Some(TopicName(StrBytes::from_static_str("made-on-demand")));
    let req = MetadataRequest::default()
        .with_topics(Some(vec![t]))
        .with_allow_auto_topic_creation(true);
    let resp = conn.call(&req, 12).await;
    assert_eq!(resp.topics[0].error_code, 0);
    assert_eq!(resp.topics[0].partitions.len(), 3);
    assert_ne!(resp.topics[0].topic_id, rill_meta_uuid_nil());
    // An invalid name is INVALID_TOPIC_EXCEPTION, not created.
    let mut t = metadata_request::MetadataRequestTopic::default();
    t.name = Some(TopicName(StrBytes::from_static_str("no good")));
    let req = MetadataRequest::default()
        .with_topics(Some(vec![t]))
        .with_allow_auto_topic_creation(true);
    assert_eq!(conn.call(&req, 12).await.topics[0].error_code, 17);
    node.shutdown().await;
}

fn rill_meta_uuid_nil() -> uuid::Uuid {
    uuid::Uuid::nil()
}

#[tokio::test]
async fn describe_quorum_on_a_lone_node_names_it_leader_and_only_voter() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]).await;
    let mut conn = Conn::open(node.addr).await;
    let mut p = describe_quorum_request::PartitionData::default();
    p.partition_index = 0;
    let mut t = describe_quorum_request::TopicData::default();
    t.topic_name = TopicName(StrBytes::from_static_str("__cluster_metadata"));
    t.partitions = vec![p];
    for version in [0, 1, 2] {
        let req = DescribeQuorumRequest::default().with_topics(vec![t.clone()]);
        let resp = conn.call(&req, version).await;
        assert_eq!(resp.error_code, 0);
        let part = &resp.topics[0].partitions[0];
        assert_eq!(part.error_code, 0);
        assert_eq!(part.leader_id, BrokerId(1));
        assert_eq!(part.current_voters.len(), 1);
        assert_eq!(part.current_voters[0].replica_id, BrokerId(1));
    }
    // Asking about another topic is an invalid request.
    let resp = conn.call(&DescribeQuorumRequest::default(), 0).await;
    assert_eq!(resp.error_code, 42);
    node.shutdown().await;
}
