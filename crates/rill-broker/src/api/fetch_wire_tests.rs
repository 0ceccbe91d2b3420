//! The file-range Fetch encoder against kafka-protocol's own: for every version we serve,
//! with errors, null/empty/large records, aborted transactions, topic ids, tagged fields and
//! node endpoints, the frame (records read back from the files) must be byte-identical.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint,
    PartitionData, SnapshotId,
};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchResponse, ResponseHeader, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes};
use rill_log::FileSlice;

use super::{encode_fetch_response, FileRecords};
use crate::net::response::{Chunk, Response};

/// kafka-protocol's encoding of the whole frame.
fn reference(correlation_id: i32, version: i16, response: &FetchResponse) -> Vec<u8> {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&[0; 4]);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, ApiKey::Fetch.response_header_version(version))
        .unwrap();
    response.encode(&mut buf, version).unwrap();
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    buf.to_vec()
}

/// The bytes a response puts on the wire, file ranges read back.
fn materialize(r: &Response) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let mut out = Vec::new();
    for c in r.chunks() {
        match c {
            Chunk::Bytes(b) => out.extend_from_slice(b),
            Chunk::File(f) => {
                let mut buf = vec![0u8; f.len as usize];
                f.file.read_exact_at(&mut buf, f.position).unwrap();
                out.extend_from_slice(&buf);
            }
        }
    }
    assert_eq!(out.len() as u64, r.len());
    out
}

/// A file holding `data` after `pad` bytes of noise, as slices of at most `piece` bytes.
fn slices_of(
    dir: &std::path::Path,
    name: &str,
    data: &[u8],
    pad: usize,
    piece: usize,
) -> Vec<FileSlice> {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(&vec![0xee; pad]).unwrap();
    f.write_all(data).unwrap();
    f.write_all(&[0xdd; 17]).unwrap();
    let file = Arc::new(std::fs::File::open(&path).unwrap());
    data.chunks(piece.max(1))
        .enumerate()
        .map(|(i, c)| FileSlice::new(file.clone(), (pad + i * piece) as u64, c.len() as u64))
        .collect()
}

fn records(len: usize, seed: u8) -> Bytes {
    Bytes::from(
        (0..len)
            .map(|i| seed.wrapping_add((i % 251) as u8))
            .collect::<Vec<u8>>(),
    )
}

/// A response using the fields `version` has, with records of various sizes in some
/// partitions. Returns it with the records left in, plus which partitions go to files.
fn sample(version: i16) -> (FetchResponse, Vec<(usize, usize)>) {
    let mut r = FetchResponse::default();
    r.throttle_time_ms = 7;
    if version >= 7 {
        r.error_code = 0;
        r.session_id = 0;
    }
    let sizes: [&[Option<usize>]; 3] = [
        &[Some(300), Some(0), None, Some(130)],
        &[Some(70_000)],
        &[Some(5), Some(200), Some(1)],
    ];
    let mut files = Vec::new();
    for (t, parts) in sizes.iter().enumerate() {
        let mut topic = FetchableTopicResponse::default();
        if version >= 13 {
            topic.topic_id = uuid::Uuid::from_u128(0x1234_5678 + t as u128);
        } else {
            topic.topic = TopicName(StrBytes::from_static_str(["alpha", "b", "some-topic"][t]));
        }
        for (p, size) in parts.iter().enumerate() {
            let mut pd = PartitionData::default();
            pd.partition_index = p as i32;
            pd.high_watermark = 1000 + p as i64;
            pd.last_stable_offset = 990;
            if version >= 5 {
                pd.log_start_offset = 3;
            }
            if p == 1 {
                pd.error_code = 1; // OFFSET_OUT_OF_RANGE
            }
            pd.aborted_transactions = (p % 2 == 0).then(|| {
                vec![AbortedTransaction::default()
                    .with_producer_id(kafka_protocol::messages::ProducerId(9))
                    .with_first_offset(44)]
            });
            pd.preferred_read_replica = BrokerId(if version >= 11 { 2 } else { -1 });
            if version >= 12 && p == 0 {
                pd.diverging_epoch = EpochEndOffset::default().with_epoch(3).with_end_offset(77);
                pd.current_leader = LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(1))
                    .with_leader_epoch(5);
            }
            if version >= 12 && p == 2 {
                pd.snapshot_id = SnapshotId::default().with_end_offset(8).with_epoch(1);
            }
            pd.records = size.map(|n| records(n, (t * 10 + p) as u8));
            if size.is_some_and(|n| n > 0 && (t + p) % 2 == 0) {
                files.push((t, p));
            }
            topic.partitions.push(pd);
        }
        r.responses.push(topic);
    }
    if version >= 16 {
        r.node_endpoints.push(
            NodeEndpoint::default()
                .with_node_id(BrokerId(1))
                .with_host(StrBytes::from_static_str("127.0.0.1"))
                .with_port(9092),
        );
    }
    (r, files)
}

#[test]
fn every_version_encodes_byte_for_byte_like_kafka_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let versions = ApiKey::Fetch.valid_versions();
    let (min, max) = crate::api::supported_apis()
        .find(|(k, _, _)| *k == ApiKey::Fetch)
        .map(|(_, a, b)| (a, b))
        .unwrap();
    assert_eq!((min, max), (versions.min, versions.max));
    for version in min..=max {
        for piece in [1 << 20, 64, 1] {
            let (response, file_parts) = sample(version);
            let expected = reference(41 + i32::from(version), version, &response);
            let mut files: FileRecords = BTreeMap::new();
            let mut input = response.clone();
            for &(t, p) in &file_parts {
                let data = input.responses[t].partitions[p].records.take().unwrap();
                // The placeholder a handler leaves: empty, replaced by the file ranges.
                input.responses[t].partitions[p].records = Some(Bytes::new());
                let name = format!("v{version}-{piece}-{t}-{p}");
                files.insert((t, p), slices_of(dir.path(), &name, &data, 13 * p, piece));
            }
            let out = encode_fetch_response(41 + i32::from(version), version, input, files)
                .unwrap_or_else(|e| panic!("v{version}: {e}"));
            let got = materialize(&out);
            assert_eq!(got, expected, "fetch v{version}, slices of {piece} bytes");
            let file_chunks = out
                .chunks()
                .iter()
                .filter(|c| matches!(c, Chunk::File(_)))
                .count();
            assert!(
                file_chunks >= file_parts.len(),
                "v{version}: records were copied"
            );
        }
    }
}

#[test]
fn error_only_and_empty_responses_match_too() {
    for version in 4..=ApiKey::Fetch.valid_versions().max {
        // A request-level error with no topics, and a topic whose partitions all failed.
        let mut r = FetchResponse::default();
        if version >= 7 {
            r.error_code = 70; // FETCH_SESSION_ID_NOT_FOUND
        }
        let out = encode_fetch_response(5, version, r.clone(), FileRecords::new()).unwrap();
        assert_eq!(materialize(&out), reference(5, version, &r), "v{version}");
        let mut t = FetchableTopicResponse::default();
        if version >= 13 {
            t.topic_id = uuid::Uuid::from_u128(99);
        } else {
            t.topic = TopicName(StrBytes::from_static_str("gone"));
        }
        for p in 0..3 {
            let mut pd = PartitionData::default();
            pd.partition_index = p;
            pd.error_code = 3; // UNKNOWN_TOPIC_OR_PARTITION
            pd.high_watermark = -1;
            pd.records = (p != 1).then(Bytes::new);
            t.partitions.push(pd);
        }
        r.responses.push(t);
        let out = encode_fetch_response(6, version, r.clone(), FileRecords::new()).unwrap();
        assert_eq!(materialize(&out), reference(6, version, &r), "v{version}");
        assert_eq!(out.memory_bytes(), out.len());
    }
}

#[test]
fn a_field_the_version_lacks_is_an_encode_error_not_a_panic() {
    let mut r = FetchResponse::default();
    let mut t = FetchableTopicResponse::default();
    let mut pd = PartitionData::default();
    pd.preferred_read_replica = BrokerId(3); // v11+
    t.partitions.push(pd);
    r.responses.push(t);
    assert!(encode_fetch_response(1, 10, r, FileRecords::new()).is_err());
}
