//! Helpers for the broker's integration tests: a real server on 127.0.0.1:0 over a temporary
//! data directory, and a raw Kafka connection that encodes requests with kafka-protocol.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use rill_broker::{Broker, BrokerConfig, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A running broker.
pub struct Node {
    pub addr: SocketAddr,
    pub broker: Arc<Broker>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// Starts a broker over `dir` with extra `key=value` configs.
pub async fn start(dir: &std::path::Path, extra: &[(&str, &str)]) -> Node {
    let mut pairs = vec![
        (
            "listeners".to_string(),
            "PLAINTEXT://127.0.0.1:0".to_string(),
        ),
        ("log.dirs".to_string(), dir.display().to_string()),
        ("admin.listen".to_string(), "127.0.0.1:0".to_string()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = BrokerConfig::from_pairs(pairs, |_| {}).unwrap();
    let server = Server::bind(config).await.unwrap();
    let addr = server.local_addr().unwrap();
    let broker = server.broker.clone();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(server.run(rx));
    Node {
        addr,
        broker,
        stop,
        task,
    }
}

impl Node {
    pub async fn shutdown(self) {
        self.stop.send(true).unwrap();
        self.task.await.unwrap();
    }
}

/// One raw Kafka connection.
pub struct Conn {
    pub stream: TcpStream,
    next_id: i32,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Conn {
        Conn {
            stream: TcpStream::connect(addr).await.unwrap(),
            next_id: 1,
        }
    }

    /// The frame (size prefix included) of `req` at `version`, with the next correlation id.
    pub fn frame<R: Request>(&mut self, req: &R, version: i16) -> (i32, Vec<u8>) {
        let id = self.next_id;
        self.next_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(id)
            .with_client_id(Some(StrBytes::from_static_str("test")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(version))
            .unwrap();
        req.encode(&mut body, version).unwrap();
        let mut frame = BytesMut::new();
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(&body);
        (id, frame.to_vec())
    }

    /// Writes raw bytes (a frame or any part of one).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads one response frame; None when the broker closed the connection.
    pub async fn read_frame(&mut self) -> Option<Bytes> {
        let mut len = [0u8; 4];
        if self.stream.read_exact(&mut len).await.is_err() {
            return None;
        }
        let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut buf).await.ok()?;
        Some(Bytes::from(buf))
    }

    /// Decodes a response frame of `R` at `version`, checking the correlation id.
    pub fn decode<R: Request>(mut frame: Bytes, id: i32, version: i16) -> R::Response {
        let header =
            ResponseHeader::decode(&mut frame, R::Response::header_version(version)).unwrap();
        assert_eq!(header.correlation_id, id);
        R::Response::decode(&mut frame, version).unwrap()
    }

    /// Sends `req` and waits (10 s at most) for its response.
    pub async fn call<R: Request>(&mut self, req: &R, version: i16) -> R::Response {
        let (id, frame) = self.frame(req, version);
        self.stream.write_all(&frame).await.unwrap();
        let resp = tokio::time::timeout(Duration::from_secs(10), self.read_frame())
            .await
            .expect("response in time")
            .expect("connection open");
        Self::decode::<R>(resp, id, version)
    }
}

/// One RecordBatch v2 of `count` records with `value_len`-byte values (keys `k<i>`).
pub fn batch_of(count: usize, value_len: usize, seed: u8) -> Bytes {
    // Now: an old timestamp would make every batch roll a new segment (segment.ms).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let recs: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32,
            timestamp: now + i as i64,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(
                (0..value_len)
                    .map(|j| seed.wrapping_add((j % 253) as u8))
                    .collect::<Vec<u8>>(),
            )),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &recs,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}

pub async fn create_topic(conn: &mut Conn, name: &str, partitions: i32) {
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = TopicName(StrBytes::from_string(name.into()));
    t.num_partitions = partitions;
    t.replication_factor = 1;
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 5000;
    let resp = conn.call(&req, 7).await;
    assert_eq!(resp.topics[0].error_code, 0);
}

/// A produce request (acks=all) of one batch to `topic`/`partition`.
pub fn produce_request(topic: &str, partition: i32, records: Bytes) -> ProduceRequest {
    let mut p = produce_request::PartitionProduceData::default();
    p.index = partition;
    p.records = Some(records);
    let mut t = produce_request::TopicProduceData::default();
    t.name = TopicName(StrBytes::from_string(topic.into()));
    t.partition_data = vec![p];
    let mut req = ProduceRequest::default();
    req.acks = -1;
    req.timeout_ms = 5000;
    req.topic_data = vec![t];
    req
}

/// Produces one batch; returns (error code, base offset).
pub async fn produce(conn: &mut Conn, topic: &str, partition: i32, records: Bytes) -> (i16, i64) {
    let resp = conn
        .call(&produce_request(topic, partition, records), 9)
        .await;
    let pr = &resp.responses[0].partition_responses[0];
    (pr.error_code, pr.base_offset)
}

/// Fetches from `offset` at `version` with a `max_bytes` limit; returns the partition data.
pub async fn fetch(
    conn: &mut Conn,
    topic: &str,
    partition: i32,
    offset: i64,
    max_bytes: i32,
    version: i16,
) -> fetch_response::PartitionData {
    let mut p = fetch_request::FetchPartition::default();
    p.partition = partition;
    p.fetch_offset = offset;
    p.partition_max_bytes = max_bytes;
    p.current_leader_epoch = -1;
    let mut t = fetch_request::FetchTopic::default();
    assert!(version <= 12, "fetch by topic name: v12 at most");
    t.topic = TopicName(StrBytes::from_string(topic.into()));
    t.partitions = vec![p];
    let mut req = FetchRequest::default();
    req.replica_id = BrokerId(-1);
    req.max_wait_ms = 100;
    req.min_bytes = 1;
    req.max_bytes = max_bytes;
    req.topics = vec![t];
    let resp = conn.call(&req, version).await;
    resp.responses[0].partitions[0].clone()
}
