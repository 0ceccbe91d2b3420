#![allow(clippy::unwrap_used)]
//! The produce rules topic configs switch on, over real sockets: recompression to
//! `compression.type` (the stored codec, records read back), INVALID_TIMESTAMP outside the
//! CreateTime bounds, INVALID_RECORD for keyless records on compacted topics, each with
//! Kafka's per-record errors and partition message.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::*;
use kafka_protocol::records::{Compression, RecordBatchDecoder};
use rill_testkit::batch::now_ms;
use rill_testkit::BatchBuilder;

use crate::support::{start, Conn};
use crate::topic_configs::create;

const INVALID_TIMESTAMP: i16 = 32;
const INVALID_RECORD: i16 = 87;

/// Produce v9 of one batch: the partition's answer.
async fn produce(
    conn: &mut Conn,
    topic: &str,
    records: Bytes,
) -> produce_response::PartitionProduceResponse {
    let req = crate::support::produce_request(topic, 0, records);
    conn.call(&req, 9)
        .await
        .responses
        .remove(0)
        .partition_responses
        .remove(0)
}

/// The stored batches of partition 0 from offset 0: (codec bits, [(key, value, timestamp)]).
async fn stored(conn: &mut Conn, topic: &str) -> Vec<(i16, Vec<(Option<Vec<u8>>, Vec<u8>, i64)>)> {
    let pd = crate::support::fetch(conn, topic, 0, 0, 1 << 20, 12).await;
    let mut bytes = pd.records.unwrap_or_default();
    let mut out = Vec::new();
    while bytes.has_remaining() {
        let attributes = i16::from_be_bytes([bytes[21], bytes[22]]);
        let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
        let records = set
            .records
            .into_iter()
            .map(|r| {
                (
                    r.key.map(|k| k.to_vec()),
                    r.value.unwrap().to_vec(),
                    r.timestamp,
                )
            })
            .collect();
        out.push((attributes & 7, records));
    }
    out
}

#[tokio::test]
async fn compression_type_recompresses_other_codecs_and_producer_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]).await;
    let mut conn = Conn::open(node.addr).await;
    for (topic, codec) in [
        ("to-zstd", "zstd"),
        ("to-none", "uncompressed"),
        ("to-lz4", "lz4"),
        ("keep", "producer"),
    ] {
        assert_eq!(
            create(&mut conn, topic, &[("compression.type", codec)], false)
                .await
                .error_code,
            0
        );
        let ts = now_ms();
        let gzip = BatchBuilder::new()
            .filler(20, 300, 7)
            .compression(Compression::Gzip)
            .timestamp(ts)
            .build();
        let r = produce(&mut conn, topic, gzip).await;
        assert_eq!((r.error_code, r.base_offset), (0, 0), "{topic}");
        let plain = BatchBuilder::new().filler(5, 100, 9).timestamp(ts).build();
        let r = produce(&mut conn, topic, plain).await;
        assert_eq!((r.error_code, r.base_offset), (0, 20), "{topic}");
        let batches = stored(&mut conn, topic).await;
        let codecs: Vec<i16> = batches.iter().map(|(c, _)| *c).collect();
        let want = match codec {
            "zstd" => vec![4, 4],
            "uncompressed" => vec![0, 0],
            "lz4" => vec![3, 3],
            _ => vec![1, 0],
        };
        assert_eq!(codecs, want, "{topic}");
        // The records read back as produced: keys, values and timestamps.
        let first = &batches[0].1;
        assert_eq!(first.len(), 20);
        for (i, (k, v, t)) in first.iter().enumerate() {
            assert_eq!(k.as_deref(), Some(format!("k{i}").as_bytes()));
            assert_eq!(v.len(), 300);
            assert_eq!(v[0], 7);
            assert_eq!(*t, ts + i as i64);
        }
        assert_eq!(batches[1].1.len(), 5);
    }
    node.shutdown().await;
}

#[tokio::test]
async fn keyless_records_to_a_compacted_topic_get_invalid_record_with_record_errors() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]).await;
    let mut conn = Conn::open(node.addr).await;
    assert_eq!(
        create(&mut conn, "state", &[("cleanup.policy", "compact")], false)
            .await
            .error_code,
        0
    );
    for compression in [Compression::None, Compression::Zstd] {
        let batch = BatchBuilder::new()
            .record(Some(b"a"), Some(b"1"))
            .record(None, Some(b"2"))
            .record(Some(b"c"), None)
            .record(None, Some(b"4"))
            .compression(compression)
            .build();
        let r = produce(&mut conn, "state", batch).await;
        assert_eq!(r.error_code, INVALID_RECORD);
        let why = "Compacted topic cannot accept message without key in topic partition state-0";
        let errors: Vec<(i32, String)> = r
            .record_errors
            .iter()
            .map(|e| {
                (
                    e.batch_index,
                    e.batch_index_error_message.as_ref().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(errors, vec![(1, why.to_string()), (3, why.to_string())]);
        assert_eq!(
            r.error_message.unwrap().as_str(),
            format!(
                "One or more records have been rejected due to 2 record errors in total, and only \
                 showing the first three errors at most: [RecordError(batchIndex=1, message='{why}'), \
                 RecordError(batchIndex=3, message='{why}')]"
            )
        );
    }
    // Nothing was appended; keyed records (and tombstones) are.
    assert!(stored(&mut conn, "state").await.is_empty());
    let keyed = BatchBuilder::new()
        .record(Some(b"a"), Some(b"1"))
        .record(Some(b"a"), None)
        .build();
    assert_eq!(produce(&mut conn, "state", keyed).await.error_code, 0);
    // A topic that is not compacted takes keyless records.
    assert_eq!(create(&mut conn, "events", &[], false).await.error_code, 0);
    let keyless = BatchBuilder::new().record(None, Some(b"x")).build();
    assert_eq!(
        produce(&mut conn, "events", keyless.clone())
            .await
            .error_code,
        0
    );
    // Until it is made compacted: the rule follows a config change.
    let (code, _) =
        crate::topic_configs::alter(&mut conn, "events", &[("cleanup.policy", "compact,delete")])
            .await;
    assert_eq!(code, 0);
    let r = produce(&mut conn, "events", keyless).await;
    assert_eq!((r.error_code, r.record_errors.len()), (INVALID_RECORD, 1));
    node.shutdown().await;
}

#[tokio::test]
async fn timestamps_outside_the_bounds_get_invalid_timestamp_with_record_errors() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]).await;
    let mut conn = Conn::open(node.addr).await;
    let hour = 3_600_000;
    assert_eq!(
        create(
            &mut conn,
            "recent",
            &[("message.timestamp.before.max.ms", "60000")],
            false
        )
        .await
        .error_code,
        0
    );
    // One hour old: refused, each record named.
    let old = now_ms() - hour;
    let r = produce(
        &mut conn,
        "recent",
        BatchBuilder::new().filler(3, 10, 1).timestamp(old).build(),
    )
    .await;
    assert_eq!(r.error_code, INVALID_TIMESTAMP);
    assert_eq!(
        r.error_message.unwrap().as_str(),
        "One or more records have been rejected due to invalid timestamp"
    );
    assert_eq!(
        r.record_errors
            .iter()
            .map(|e| e.batch_index)
            .collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    let m = r.record_errors[0]
        .batch_index_error_message
        .as_ref()
        .unwrap()
        .to_string();
    assert!(
        m.starts_with(&format!("Timestamp {old} of message with offset 0 is out of range. The timestamp should be within [")),
        "{m}"
    );
    // Compressed batches are checked record by record as well.
    let r = produce(
        &mut conn,
        "recent",
        BatchBuilder::new()
            .filler(2, 10, 1)
            .timestamp(old)
            .compression(Compression::Lz4)
            .build(),
    )
    .await;
    assert_eq!(r.error_code, INVALID_TIMESTAMP);
    assert_eq!(r.record_errors.len(), 2);
    // Current records pass.
    let r = produce(
        &mut conn,
        "recent",
        BatchBuilder::new().filler(2, 10, 1).build(),
    )
    .await;
    assert_eq!(r.error_code, 0);

    // Kafka 4's default message.timestamp.after.max.ms (one hour) on a default topic.
    assert_eq!(create(&mut conn, "plain", &[], false).await.error_code, 0);
    let future = now_ms() + 2 * hour;
    let r = produce(
        &mut conn,
        "plain",
        BatchBuilder::new()
            .filler(2, 10, 1)
            .timestamp(future)
            .build(),
    )
    .await;
    assert_eq!(r.error_code, INVALID_TIMESTAMP);
    assert_eq!(r.record_errors.len(), 2);
    // Old records are fine by default (before.max.ms is Long.MAX).
    let r = produce(
        &mut conn,
        "plain",
        BatchBuilder::new()
            .filler(2, 10, 1)
            .timestamp(1_000)
            .build(),
    )
    .await;
    assert_eq!(r.error_code, 0);
    // LogAppendTime topics never check the producer's timestamps.
    let cfg = [
        ("message.timestamp.type", "LogAppendTime"),
        ("message.timestamp.before.max.ms", "0"),
    ];
    assert_eq!(
        create(&mut conn, "stamped", &cfg, false).await.error_code,
        0
    );
    let r = produce(
        &mut conn,
        "stamped",
        BatchBuilder::new()
            .filler(2, 10, 1)
            .timestamp(future)
            .build(),
    )
    .await;
    assert_eq!(r.error_code, 0);
    node.shutdown().await;
}
