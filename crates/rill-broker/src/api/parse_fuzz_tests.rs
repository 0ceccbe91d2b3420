//! Property tests for [`super::parse_request`]: whatever the bytes, it returns a value or an
//! error and never panics. They run in every `cargo test` (the libFuzzer targets under `fuzz/`
//! are the deeper, on-demand version of the same check, `scripts/fuzz.sh`).
//!
//! Three kinds of input: any bytes; a valid header of every API and version Rill serves
//! followed by any body bytes; and real requests (encoded by kafka-protocol, with topics,
//! partitions, records and strings in them) with bytes overwritten, inserted or cut off, so
//! the body decoders see lengths and counts that lie about what follows.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    fetch_request, join_group_request, metadata_request, produce_request, ApiKey, FetchRequest,
    JoinGroupRequest, MetadataRequest, ProduceRequest, RequestHeader, RequestKind, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use proptest::prelude::*;

use super::{parse_request, supported_apis, ParsedRequest};

/// The served APIs with their version ranges, as a vector proptest can index.
fn served() -> Vec<(ApiKey, i16, i16)> {
    supported_apis().collect()
}

/// Header bytes for `api` at `version`, with `correlation_id` and a client id.
fn header(api: ApiKey, version: i16, correlation_id: i32) -> BytesMut {
    let mut buf = BytesMut::new();
    let h = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("fuzz")));
    // A header always encodes at a version its API defines.
    if h.encode(&mut buf, api.request_header_version(version))
        .is_err()
    {
        buf.clear();
    }
    buf
}

/// Requests with content in them, at every version each can be encoded in.
fn seed_requests() -> Vec<Bytes> {
    let topic = || TopicName(StrBytes::from_static_str("orders"));
    let records = Bytes::from(vec![0x5a; 90]);
    let kinds = [
        RequestKind::Produce(
            ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(30_000)
                .with_topic_data(vec![produce_request::TopicProduceData::default()
                    .with_name(topic())
                    .with_partition_data(vec![
                        produce_request::PartitionProduceData::default()
                            .with_index(3)
                            .with_records(Some(records)),
                    ])]),
        ),
        RequestKind::Fetch(FetchRequest::default().with_max_wait_ms(500).with_topics(
            vec![fetch_request::FetchTopic::default()
                    .with_topic(topic())
                    .with_partitions(vec![fetch_request::FetchPartition::default()
                        .with_partition(1)
                        .with_fetch_offset(42)
                        .with_partition_max_bytes(1 << 20)])],
        )),
        RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default().with_name(Some(topic())),
        ]))),
        RequestKind::JoinGroup(
            JoinGroupRequest::default()
                .with_group_id(StrBytes::from_static_str("billing").into())
                .with_protocol_type(StrBytes::from_static_str("consumer"))
                .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
                )
                .with_name(StrBytes::from_static_str("range"))
                .with_metadata(Bytes::from_static(
                    b"\x00\x01\x00\x00\x00\x01\x00\x06orders",
                ))]),
        ),
    ];
    let mut seeds = Vec::new();
    for kind in &kinds {
        let api = api_of(kind);
        let Some((_, min, max)) = supported_apis().find(|(k, _, _)| *k == api) else {
            continue;
        };
        for version in min..=max {
            let mut buf = header(api, version, 7);
            if kind.encode(&mut buf, version).is_ok() {
                seeds.push(buf.freeze());
            }
        }
    }
    seeds
}

/// The seeds, encoded once for all cases.
static SEEDS: std::sync::LazyLock<Vec<Bytes>> = std::sync::LazyLock::new(seed_requests);

/// The API of a seed request.
fn api_of(kind: &RequestKind) -> ApiKey {
    match kind {
        RequestKind::Produce(_) => ApiKey::Produce,
        RequestKind::Fetch(_) => ApiKey::Fetch,
        RequestKind::Metadata(_) => ApiKey::Metadata,
        _ => ApiKey::JoinGroup,
    }
}

/// One change to a seed: overwrite a byte, insert bytes, or cut the frame short.
#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(seed: &[u8], mutations: &[Mutation]) -> Bytes {
    let mut bytes = seed.to_vec();
    for m in mutations {
        let len = bytes.len().max(1);
        match m {
            Mutation::Set(i, b) => {
                if let Some(slot) = bytes.get_mut(i % len) {
                    *slot = *b;
                }
            }
            Mutation::Insert(i, b) => {
                let at = i % (bytes.len() + 1);
                bytes.splice(at..at, b.iter().copied());
            }
            Mutation::Truncate(i) => bytes.truncate(i % len),
        }
    }
    Bytes::from(bytes)
}

#[test]
fn every_seed_request_parses_unchanged() {
    let seeds = seed_requests();
    assert!(
        seeds.len() > 40,
        "only {} seed requests encoded",
        seeds.len()
    );
    for seed in &seeds {
        match parse_request(seed) {
            Ok(ParsedRequest::Request { correlation_id, .. }) => assert_eq!(correlation_id, 7),
            other => panic!("seed {:?} did not parse: {other:?}", &seed[..4]),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_request(&Bytes::from(bytes));
    }

    #[test]
    fn any_body_after_a_valid_header_never_panics(
        api in any::<prop::sample::Index>(),
        version in any::<prop::sample::Index>(),
        body in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let apis = served();
        let (api, min, max) = apis[api.index(apis.len())];
        let span = usize::try_from(max - min).unwrap_or(0) + 1;
        let version = min + i16::try_from(version.index(span)).unwrap_or(0);
        let mut frame = header(api, version, 1);
        frame.put_slice(&body);
        let _ = parse_request(&frame.freeze());
    }

    #[test]
    fn mutated_real_requests_never_panic(
        seed in any::<prop::sample::Index>(),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let seeds = &*SEEDS;
        let frame = apply(&seeds[seed.index(seeds.len())], &mutations);
        let _ = parse_request(&frame);
    }
}
