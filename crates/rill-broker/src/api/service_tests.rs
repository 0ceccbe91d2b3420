//! The Produce and Fetch handlers against the partition service (a `ReplicaManager` over a
//! temporary directory and a metadata image made here): what the handlers decode reaches the
//! service, and what the service answers comes back on the wire types, guards and purgatory
//! included.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, ProduceRequest, RequestHeader, TopicName,
};
use kafka_protocol::ResponseError;
use rill_log::testutil::{build_batch, BatchSpec};
use rill_meta::{MetadataImage, MetadataRecord};

use super::{fetch, produce, str_bytes, RequestContext};
use crate::config::BrokerConfig;
use crate::replica::ReplicaManager;

/// A lone broker's partitions: topic `t` with 2 partitions and topic `strict` (1 partition,
/// min.insync.replicas=2).
struct Fixture {
    /// Keeps the data directory.
    _dir: tempfile::TempDir,
    /// The service.
    replicas: Arc<ReplicaManager>,
    /// The image it was reconciled with.
    image: Arc<MetadataImage>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let pairs = [("log.dirs".to_string(), dir.path().display().to_string())];
    let config = BrokerConfig::from_pairs(pairs, |_| {}).expect("config");
    let replicas = Arc::new(ReplicaManager::new(dir.path(), &config));
    let mut image = MetadataImage::new();
    for (name, partitions, configs) in [
        ("t", 2, BTreeMap::new()),
        (
            "strict",
            1,
            BTreeMap::from([("min.insync.replicas".to_string(), "2".to_string())]),
        ),
    ] {
        image
            .apply(&MetadataRecord::TopicCreated {
                topic_id: uuid::Uuid::new_v4(),
                name: name.to_string(),
                partitions,
                replication_factor: 1,
                configs,
            })
            .expect("create topic");
    }
    replicas.reconcile(&image, &config).expect("reconcile");
    Fixture {
        _dir: dir,
        replicas,
        image: Arc::new(image),
    }
}

fn ctx(api_key: ApiKey) -> RequestContext {
    RequestContext {
        api_key,
        version: 9,
        header: RequestHeader::default(),
        peer: SocketAddr::from(([127, 0, 0, 1], 1)),
        listener: crate::session::ListenerContext::plaintext("PLAINTEXT"),
        auth: crate::authz::RequestAuth::allow_all("User:ANONYMOUS"),
        quota: None,
    }
}

fn batch(records: i32) -> Bytes {
    Bytes::from(build_batch(&BatchSpec {
        records,
        record_bytes: 64,
        ..BatchSpec::default()
    }))
}

fn produce_request(topic: &str, index: i32, acks: i16, records: Option<Bytes>) -> ProduceRequest {
    let mut p = PartitionProduceData::default();
    p.index = index;
    p.records = records;
    let mut t = TopicProduceData::default();
    t.name = TopicName(str_bytes(topic));
    t.partition_data = vec![p];
    let mut req = ProduceRequest::default();
    req.acks = acks;
    req.timeout_ms = 5_000;
    req.topic_data = vec![t];
    req
}

fn fetch_request(topic: &str, index: i32, offset: i64, max_wait_ms: i32) -> FetchRequest {
    let mut p = FetchPartition::default();
    p.partition = index;
    p.fetch_offset = offset;
    p.partition_max_bytes = 1 << 20;
    p.current_leader_epoch = -1;
    let mut t = FetchTopic::default();
    t.topic = TopicName(str_bytes(topic));
    t.partitions = vec![p];
    let mut req = FetchRequest::default();
    req.replica_id = BrokerId(-1);
    req.max_wait_ms = max_wait_ms;
    req.min_bytes = 1;
    req.max_bytes = 1 << 20;
    req.topics = vec![t];
    req
}

/// Produces one request and returns (error code, base offset) of its one partition.
async fn produce_one(f: &Fixture, req: ProduceRequest) -> Option<(i16, i64)> {
    let resp = produce::handle(&f.replicas, &f.image, &ctx(ApiKey::Produce), req).await?;
    let pr = &resp.responses[0].partition_responses[0];
    Some((pr.error_code, pr.base_offset))
}

#[tokio::test]
async fn produce_appends_and_fetch_reads_it_back() {
    let f = fixture();
    let sent = batch(3);
    let answer = produce_one(&f, produce_request("t", 0, 1, Some(sent.clone()))).await;
    assert_eq!(answer, Some((0, 0)));
    let answer = produce_one(&f, produce_request("t", 0, -1, Some(batch(2)))).await;
    assert_eq!(answer, Some((0, 3)), "acks=all on a lone leader");
    let got = fetch::handle(
        &f.replicas,
        &f.image,
        &ctx(ApiKey::Fetch),
        fetch_request("t", 0, 0, 0),
    )
    .await;
    let pd = &got.response.responses[0].partitions[0];
    assert_eq!(
        (pd.error_code, pd.high_watermark, pd.log_start_offset),
        (0, 5, 0)
    );
    let len: u64 = got
        .files
        .get(&(0, 0))
        .map_or(0, |s| s.iter().map(|s| s.len).sum());
    assert_eq!(len, 2 * sent.len() as u64, "both batches are the same size");
}

#[tokio::test]
async fn produce_guards_answer_per_partition() {
    let f = fixture();
    let code = |e: ResponseError| Some((e.code(), -1));
    let unknown = produce_one(&f, produce_request("nope", 0, 1, Some(batch(1)))).await;
    assert_eq!(unknown, code(ResponseError::UnknownTopicOrPartition));
    let acks = produce_one(&f, produce_request("t", 0, 2, Some(batch(1)))).await;
    assert_eq!(acks, code(ResponseError::InvalidRequiredAcks));
    let mut old = batch(1).to_vec();
    old[16] = 1;
    let magic = produce_one(&f, produce_request("t", 0, 1, Some(Bytes::from(old)))).await;
    assert_eq!(magic, code(ResponseError::InvalidRecord));
    let none = produce_one(&f, produce_request("t", 0, 1, None)).await;
    assert_eq!(none, code(ResponseError::InvalidRecord));
    let strict = produce_one(&f, produce_request("strict", 0, -1, Some(batch(1)))).await;
    assert_eq!(strict, code(ResponseError::NotEnoughReplicas));
    let acks1 = produce_one(&f, produce_request("strict", 0, 1, Some(batch(1)))).await;
    assert_eq!(
        acks1,
        Some((0, 0)),
        "min.insync.replicas binds acks=all only"
    );
    let acks0 = produce_one(&f, produce_request("t", 1, 0, Some(batch(1)))).await;
    assert_eq!(acks0, None, "acks=0 gets no response");
}

/// A consumer fetch of `t`/`partition` from offset 0 with `max_wait_ms`, running in its own
/// task (it parks: the partition is empty).
fn park_fetch(
    f: &Fixture,
    partition: i32,
    max_wait_ms: i32,
) -> tokio::task::JoinHandle<fetch::FetchAnswer> {
    let replicas = f.replicas.clone();
    let image = f.image.clone();
    tokio::spawn(async move {
        fetch::handle(
            &replicas,
            &image,
            &ctx(ApiKey::Fetch),
            fetch_request("t", partition, 0, max_wait_ms),
        )
        .await
    })
}

#[tokio::test]
async fn a_parked_fetch_is_completed_by_data_on_its_own_partition() {
    let f = fixture();
    let started = Instant::now();
    let parked = park_fetch(&f, 0, 10_000);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        produce_one(&f, produce_request("t", 0, 1, Some(batch(1)))).await,
        Some((0, 0))
    );
    let got = parked.await.expect("fetch task");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woken by the append"
    );
    let pd = &got.response.responses[0].partitions[0];
    assert_eq!(pd.high_watermark, 1);
    assert!(got.files.contains_key(&(0, 0)));
}

#[tokio::test]
async fn a_parked_fetch_waits_out_data_on_another_partition() {
    let f = fixture();
    let started = Instant::now();
    let parked = park_fetch(&f, 1, 400);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        produce_one(&f, produce_request("t", 0, 1, Some(batch(1)))).await,
        Some((0, 0))
    );
    let got = parked.await.expect("fetch task");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "answered at its max wait"
    );
    let pd = &got.response.responses[0].partitions[0];
    assert_eq!((pd.error_code, pd.high_watermark), (0, 0));
    assert!(got.files.is_empty());
}

#[tokio::test]
async fn fetch_guards_answer_per_partition() {
    let f = fixture();
    let mut req = fetch_request("t", 0, 0, 0);
    req.topics[0].partitions[0].current_leader_epoch = 5;
    let got = fetch::handle(&f.replicas, &f.image, &ctx(ApiKey::Fetch), req).await;
    let code = got.response.responses[0].partitions[0].error_code;
    assert_eq!(code, ResponseError::UnknownLeaderEpoch.code());
    let mut req = fetch_request("t", 0, 0, 0);
    req.replica_id = BrokerId(7);
    let got = fetch::handle(&f.replicas, &f.image, &ctx(ApiKey::Fetch), req).await;
    let code = got.response.responses[0].partitions[0].error_code;
    assert_eq!(
        code,
        ResponseError::NotLeaderOrFollower.code(),
        "7 is no replica"
    );
    let got = fetch::handle(
        &f.replicas,
        &f.image,
        &ctx(ApiKey::Fetch),
        fetch_request("t", 0, 9, 0),
    )
    .await;
    let code = got.response.responses[0].partitions[0].error_code;
    assert_eq!(code, ResponseError::OffsetOutOfRange.code());
    let mut req = fetch_request("t", 0, 0, 0);
    req.session_id = 3;
    let got = fetch::handle(&f.replicas, &f.image, &ctx(ApiKey::Fetch), req).await;
    assert_eq!(
        got.response.error_code,
        ResponseError::FetchSessionIdNotFound.code()
    );
}
