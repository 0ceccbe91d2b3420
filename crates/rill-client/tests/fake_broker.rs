//! rill-client against scripted fake brokers (plain TCP servers speaking the Kafka protocol
//! through kafka-protocol's types): pipelining with in-order matching, a correlation-id
//! mismatch, following a leader move on NOT_LEADER_OR_FOLLOWER, no retry of non-retriable
//! errors, the ApiVersions v0 fallback, the connect error's advice, and records batched while
//! every in-flight slot is busy.

// A test file: a malformed frame from the client under test should panic the fake broker.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, MetadataResponse, ProduceResponse, RequestHeader,
    RequestKind, ResponseHeader, ResponseKind, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rill_client::producer::{Producer, ProducerConfig};
use rill_client::records::ProduceRecord;
use rill_client::{Client, ClientConfig, ClientError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What a fake broker does with one request.
enum Reply {
    /// Answer with this body.
    Body(ResponseKind),
    /// Answer with this body but a wrong correlation id.
    WrongCorrelation(ResponseKind),
    /// Answer with raw body bytes encoded at this version (ApiVersions v0 fallback).
    Raw(Bytes),
}

/// The script: (node id, request header, body) -> reply.
type Script = Arc<dyn Fn(i32, &RequestHeader, RequestKind) -> Reply + Send + Sync>;

/// Starts a fake broker; returns its port. `batch` > 1 makes it read that many requests
/// before answering any (only a pipelining client gets answers).
async fn fake(node: i32, listener: TcpListener, script: Script, batch: usize) {
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let script = script.clone();
            tokio::spawn(async move { serve(node, sock, script, batch).await });
        }
    });
}

async fn serve(node: i32, mut sock: TcpStream, script: Script, batch: usize) {
    let mut queued = Vec::new();
    let mut handshake_done = false;
    loop {
        let mut len = [0u8; 4];
        if sock.read_exact(&mut len).await.is_err() {
            return;
        }
        let mut frame = vec![0u8; i32::from_be_bytes(len) as usize];
        if sock.read_exact(&mut frame).await.is_err() {
            return;
        }
        let mut buf = Bytes::from(frame);
        let api = ApiKey::try_from(i16::from_be_bytes([buf[0], buf[1]])).unwrap();
        let version = i16::from_be_bytes([buf[2], buf[3]]);
        let header = RequestHeader::decode(&mut buf, api.request_header_version(version)).unwrap();
        let body = RequestKind::decode(api, &mut buf, version).unwrap();
        let reply = script(node, &header, body);
        let out = encode(api, version, &header, reply);
        queued.push(out);
        // The ApiVersions handshake is answered at once; later requests in batches.
        if !handshake_done || queued.len() >= batch {
            handshake_done = true;
            for out in queued.drain(..) {
                if sock.write_all(&out).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn encode(api: ApiKey, version: i16, header: &RequestHeader, reply: Reply) -> Bytes {
    let mut out = BytesMut::new();
    out.extend_from_slice(&[0; 4]);
    let (body, correlation_id, raw) = match reply {
        Reply::Body(b) => (Some(b), header.correlation_id, None),
        Reply::WrongCorrelation(b) => (Some(b), header.correlation_id + 1000, None),
        Reply::Raw(r) => (None, header.correlation_id, Some(r)),
    };
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(
            &mut out,
            if raw.is_some() {
                0
            } else {
                api.response_header_version(version)
            },
        )
        .unwrap();
    match (body, raw) {
        (Some(b), _) => b.encode(&mut out, version).unwrap(),
        (_, Some(r)) => out.extend_from_slice(&r),
        _ => unreachable!(),
    }
    let size = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    out.freeze()
}

fn api_versions() -> ApiVersionsResponse {
    let mut r = ApiVersionsResponse::default();
    r.api_keys = [ApiKey::ApiVersions, ApiKey::Metadata, ApiKey::Produce]
        .iter()
        .map(|k| {
            let v = k.valid_versions();
            let mut a = ApiVersion::default();
            a.api_key = *k as i16;
            a.min_version = v.min;
            a.max_version = v.max;
            a
        })
        .collect();
    r
}

/// Metadata naming brokers (node, port) and topic "t" (1 partition) led by `leader`.
fn metadata(brokers: &[(i32, u16)], leader: i32, topics: &[String]) -> MetadataResponse {
    let mut r = MetadataResponse::default();
    r.brokers = brokers
        .iter()
        .map(|(n, port)| {
            let mut b = MetadataResponseBroker::default();
            b.node_id = BrokerId(*n);
            b.host = StrBytes::from_static_str("127.0.0.1");
            b.port = i32::from(*port);
            b
        })
        .collect();
    r.controller_id = BrokerId(brokers[0].0);
    r.topics = topics
        .iter()
        .map(|name| {
            let mut p = MetadataResponsePartition::default();
            p.leader_id = BrokerId(leader);
            p.replica_nodes = vec![BrokerId(leader)];
            p.isr_nodes = vec![BrokerId(leader)];
            let mut t = MetadataResponseTopic::default();
            t.name = Some(TopicName(StrBytes::from_string(name.clone())));
            t.partitions = vec![p];
            t
        })
        .collect();
    r
}

fn requested_topics(req: &kafka_protocol::messages::MetadataRequest) -> Vec<String> {
    req.topics
        .iter()
        .flatten()
        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
        .collect()
}

fn produce_answer(error_code: i16, base_offset: i64) -> ProduceResponse {
    let mut p = PartitionProduceResponse::default();
    p.error_code = error_code;
    p.base_offset = base_offset;
    let mut t = TopicProduceResponse::default();
    t.name = TopicName(StrBytes::from_static_str("t"));
    t.partition_responses = vec![p];
    let mut r = ProduceResponse::default();
    r.responses = vec![t];
    r
}

fn config(port: u16) -> ClientConfig {
    let mut c = ClientConfig::new(&format!("127.0.0.1:{port}"));
    c.request_timeout = Duration::from_secs(5);
    c.retry_backoff = Duration::from_millis(10);
    c
}

#[tokio::test]
async fn pipelined_requests_are_matched_in_order() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let script: Script = Arc::new(move |_, _, body| match body {
        RequestKind::ApiVersions(_) => Reply::Body(ResponseKind::ApiVersions(api_versions())),
        RequestKind::Metadata(m) => Reply::Body(ResponseKind::Metadata(metadata(
            &[(1, port)],
            1,
            &requested_topics(&m),
        ))),
        _ => panic!("unexpected request"),
    });
    // The fake answers only once it holds 20 requests: a client that waited for each answer
    // before sending the next would time out here.
    fake(1, listener, script, 20).await;
    let conn = rill_client::connection::Connection::connect(
        &format!("127.0.0.1:{port}"),
        "t",
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let version = conn.version(ApiKey::Metadata).unwrap();
    let mut waits = Vec::new();
    for i in 0..20 {
        let req = rill_client::metadata::request(Some(&[format!("topic-{i}")]), version);
        waits.push(conn.send(&req, version).await.unwrap());
    }
    for (i, w) in waits.into_iter().enumerate() {
        let resp: MetadataResponse = w.decode(version).await.unwrap();
        let name = resp.topics[0].name.as_ref().unwrap().0.to_string();
        assert_eq!(
            name,
            format!("topic-{i}"),
            "response {i} went to the wrong request"
        );
    }
}

#[tokio::test]
async fn a_wrong_correlation_id_fails_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let script: Script = Arc::new(move |_, _, body| match body {
        RequestKind::ApiVersions(_) => Reply::Body(ResponseKind::ApiVersions(api_versions())),
        RequestKind::Metadata(m) => Reply::WrongCorrelation(ResponseKind::Metadata(metadata(
            &[(1, port)],
            1,
            &requested_topics(&m),
        ))),
        _ => panic!("unexpected request"),
    });
    fake(1, listener, script, 1).await;
    let err = Client::connect(config(port)).await.unwrap_err();
    match &err {
        ClientError::ConnectionLost { reason, .. } => {
            assert!(reason.contains("does not match"), "{err}")
        }
        other => panic!("expected ConnectionLost, got {other:?}"),
    }
}

#[tokio::test]
async fn produce_follows_a_leader_move() {
    // Broker 1 leads at first and then answers NOT_LEADER_OR_FOLLOWER; metadata then names
    // broker 2, which takes the batch.
    let (l1, l2) = (
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
    );
    let (p1, p2) = (
        l1.local_addr().unwrap().port(),
        l2.local_addr().unwrap().port(),
    );
    #[derive(Default)]
    struct State {
        /// Produce requests each broker got.
        produces: [u32; 3],
        /// Whether the leader has moved to broker 2.
        moved: bool,
        /// Metadata requests answered.
        metadata: u32,
    }
    let state = Arc::new(Mutex::new(State::default()));
    let st = state.clone();
    let script: Script = Arc::new(move |node, _, body| {
        let mut s = st.lock().unwrap();
        match body {
            RequestKind::ApiVersions(_) => Reply::Body(ResponseKind::ApiVersions(api_versions())),
            RequestKind::Metadata(m) => {
                s.metadata += 1;
                let leader = if s.moved { 2 } else { 1 };
                Reply::Body(ResponseKind::Metadata(metadata(
                    &[(1, p1), (2, p2)],
                    leader,
                    &requested_topics(&m),
                )))
            }
            RequestKind::Produce(req) => {
                s.produces[node as usize] += 1;
                assert_eq!(
                    req.topic_data[0].partition_data[0]
                        .records
                        .as_ref()
                        .map(|r| r.remaining() > 0),
                    Some(true)
                );
                if node == 1 {
                    s.moved = true;
                    Reply::Body(ResponseKind::Produce(produce_answer(6, -1)))
                } else {
                    Reply::Body(ResponseKind::Produce(produce_answer(0, 42)))
                }
            }
            _ => panic!("unexpected request"),
        }
    });
    fake(1, l1, script.clone(), 1).await;
    fake(2, l2, script, 1).await;
    let client = Client::connect(config(p1)).await.unwrap();
    let mut producer = Producer::new(client, ProducerConfig::default())
        .await
        .unwrap();
    let record = ProduceRecord {
        value: Some(Bytes::from_static(b"v")),
        ..ProduceRecord::default()
    };
    let rx = producer.send("t", Some(0), record).await.unwrap();
    producer.flush().await.unwrap();
    let delivery = rx.await.unwrap().unwrap();
    assert_eq!((delivery.partition, delivery.offset), (0, 42));
    let s = state.lock().unwrap();
    assert_eq!(
        s.produces,
        [0, 1, 1],
        "one attempt at the old leader, one at the new"
    );
    assert!(
        s.metadata >= 3,
        "metadata refreshed after the error ({} requests)",
        s.metadata
    );
}

#[tokio::test]
async fn non_retriable_errors_are_not_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let produces = Arc::new(Mutex::new(0));
    let count = produces.clone();
    let script: Script = Arc::new(move |_, _, body| match body {
        RequestKind::ApiVersions(_) => Reply::Body(ResponseKind::ApiVersions(api_versions())),
        RequestKind::Metadata(m) => Reply::Body(ResponseKind::Metadata(metadata(
            &[(1, port)],
            1,
            &requested_topics(&m),
        ))),
        RequestKind::Produce(_) => {
            *count.lock().unwrap() += 1;
            Reply::Body(ResponseKind::Produce(produce_answer(10, -1))) // MESSAGE_TOO_LARGE
        }
        _ => panic!("unexpected request"),
    });
    fake(1, listener, script, 1).await;
    let client = Client::connect(config(port)).await.unwrap();
    let mut producer = Producer::new(client, ProducerConfig::default())
        .await
        .unwrap();
    let rx = producer
        .send("t", None, ProduceRecord::default())
        .await
        .unwrap();
    producer.flush().await.unwrap();
    let err = rx.await.unwrap().unwrap_err();
    assert_eq!(err.kafka_code(), Some(10), "{err}");
    assert!(err.to_string().contains("MESSAGE_TOO_LARGE"), "{err}");
    assert_eq!(*produces.lock().unwrap(), 1);
}

#[tokio::test]
async fn api_versions_falls_back_to_v0() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let script: Script = Arc::new(move |_, header, body| match body {
        RequestKind::ApiVersions(_) if header.request_api_version > 0 => {
            // An old broker: v0 body with UNSUPPORTED_VERSION and its ranges.
            let mut r = api_versions();
            r.error_code = 35;
            let mut b = BytesMut::new();
            r.encode(&mut b, 0).unwrap();
            Reply::Raw(b.freeze())
        }
        RequestKind::Metadata(m) => Reply::Body(ResponseKind::Metadata(metadata(
            &[(1, port)],
            1,
            &requested_topics(&m),
        ))),
        _ => panic!("unexpected request"),
    });
    fake(1, listener, script, 1).await;
    let client = Client::connect(config(port)).await.unwrap();
    assert_eq!(client.topic("t", true).await.unwrap().partitions.len(), 1);
}

#[tokio::test]
async fn connect_errors_say_what_to_do() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = Client::connect(config(port)).await.unwrap_err();
    assert!(matches!(err, ClientError::Connect { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{port}")) && msg.contains("is `rill serve`"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_sent_while_every_slot_is_busy_travel_in_one_batch() {
    // linger.ms 0 and one in-flight slot: the first record goes out alone; the broker holds
    // that answer for a while, so the next nine (sent meanwhile) must wait in one open batch
    // and travel together, as with librdkafka, not as nine requests one after another.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let counts = Arc::new(Mutex::new(Vec::new()));
    let seen = counts.clone();
    let script: Script = Arc::new(move |_, _, body| match body {
        RequestKind::ApiVersions(_) => Reply::Body(ResponseKind::ApiVersions(api_versions())),
        RequestKind::Metadata(m) => Reply::Body(ResponseKind::Metadata(metadata(
            &[(1, port)],
            1,
            &requested_topics(&m),
        ))),
        RequestKind::Produce(p) => {
            let records = p.topic_data[0].partition_data[0].records.clone().unwrap();
            // RecordBatch v2: the record count is the i32 at byte 57.
            let count = i32::from_be_bytes(records[57..61].try_into().unwrap());
            seen.lock().unwrap().push(count);
            std::thread::sleep(Duration::from_millis(300));
            Reply::Body(ResponseKind::Produce(produce_answer(0, 0)))
        }
        _ => panic!("unexpected request"),
    });
    fake(1, listener, script, 1).await;
    let client = Client::connect(config(port)).await.unwrap();
    let cfg = ProducerConfig {
        linger: Duration::ZERO,
        max_in_flight: 1,
        ..ProducerConfig::default()
    };
    let mut producer = Producer::new(client, cfg).await.unwrap();
    let mut receipts = Vec::new();
    for _ in 0..10 {
        receipts.push(
            producer
                .send("t", Some(0), ProduceRecord::default())
                .await
                .unwrap(),
        );
    }
    producer.flush().await.unwrap();
    for rx in receipts {
        rx.await.unwrap().unwrap();
    }
    assert_eq!(*counts.lock().unwrap(), vec![1, 9]);
}
