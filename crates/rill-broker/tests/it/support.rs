//! Helpers for the broker's integration tests on top of rill-testkit (a real server on
//! 127.0.0.1:0 over a temporary data directory, a raw Kafka connection that encodes requests
//! with kafka-protocol, record batches): topic creation, produce and fetch calls.

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rill_testkit::BatchBuilder;

pub use rill_testkit::{KafkaConn as Conn, Node};

/// Starts a broker over `dir` with extra `key=value` configs.
pub async fn start(dir: &std::path::Path, extra: &[(&str, &str)]) -> Node {
    Node::start(dir, extra).await
}

/// One RecordBatch v2 of `count` records with `value_len`-byte values (keys `k<i>`).
pub fn batch_of(count: usize, value_len: usize, seed: u8) -> Bytes {
    BatchBuilder::new().filler(count, value_len, seed).build()
}

/// Creates `name` (replication factor 1) with CreateTopics v7; returns the topic's error code.
pub async fn try_create_topic(conn: &mut Conn, name: &str, partitions: i32) -> i16 {
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = TopicName(StrBytes::from_string(name.into()));
    t.num_partitions = partitions;
    t.replication_factor = 1;
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 5000;
    let resp = conn.call(&req, 7).await;
    resp.topics[0].error_code
}

/// Creates `name`, which must succeed.
pub async fn create_topic(conn: &mut Conn, name: &str, partitions: i32) {
    assert_eq!(try_create_topic(conn, name, partitions).await, 0);
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
