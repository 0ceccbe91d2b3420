//! Tests of the record codec: build -> read round trips for every codec, recompression,
//! Kafka's empty-batch and delete-horizon layouts, and malformed bytes that never panic.

use crate::batch::{validate_batch, verify_integrity, BatchHeader};
use crate::batch_builder::{recompress, BatchBuilder, BatchTemplate, NewRecord};
use crate::compression::{Codec, DEFAULT_MAX_DECOMPRESSED_BYTES};
use crate::records::{Header, Headers, Records};
use proptest::prelude::*;

const CODECS: [Codec; 5] = [
    Codec::None,
    Codec::Gzip,
    Codec::Snappy,
    Codec::Lz4,
    Codec::Zstd,
];

/// (offset gap, timestamp, key, value, headers) of one generated record.
type Spec = (
    i64,
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(Vec<u8>, Option<Vec<u8>>)>,
);

fn build(template: BatchTemplate, codec: Codec, specs: &[Spec]) -> Vec<u8> {
    let mut b = BatchBuilder::new(template, codec, None, Vec::new());
    let mut next = template.base_offset;
    for (gap, ts, k, v, hs) in specs {
        let offset = next + gap;
        next = offset + 1;
        let list: Vec<Header<'_>> = hs
            .iter()
            .map(|(k, v)| Header {
                key: k,
                value: v.as_deref(),
            })
            .collect();
        let mut buf = Vec::new();
        let headers = Headers::encode(&list, &mut buf);
        b.push(&NewRecord {
            offset,
            timestamp: *ts,
            key: k.as_deref(),
            value: v.as_deref(),
            headers,
        })
        .unwrap();
    }
    b.finish().unwrap()
}

fn spec() -> impl Strategy<Value = Spec> {
    let bytes = || proptest::collection::vec(any::<u8>(), 0..40);
    (
        0i64..3,
        -5i64..1_000_000,
        proptest::option::of(bytes()),
        proptest::option::of(bytes()),
        proptest::collection::vec((bytes(), proptest::option::of(bytes())), 0..3),
    )
}

#[test]
fn empty_batch_keeps_its_header_fields_and_is_uncompressed() {
    let mut t = BatchTemplate::plain(100);
    t.producer_id = 7;
    t.producer_epoch = 2;
    t.base_sequence = 40;
    t.last_offset_delta = Some(9);
    t.empty_timestamp_ms = 555;
    let b = BatchBuilder::new(t, Codec::Zstd, None, Vec::new())
        .finish()
        .unwrap();
    let h = verify_integrity(&b).unwrap();
    assert_eq!(
        (h.base_offset, h.last_offset_delta, h.record_count),
        (100, 9, 0)
    );
    assert_eq!(
        (h.producer_id, h.producer_epoch, h.last_sequence()),
        (7, 2, 49)
    );
    assert_eq!((h.compression(), h.max_timestamp), (0, 555));
    let mut s = Vec::new();
    assert_eq!(
        Records::decode(&b, &mut s, 1 << 20).unwrap().iter().count(),
        0
    );
}

#[test]
fn delete_horizon_is_the_base_timestamp_and_records_keep_their_timestamps() {
    let mut t = BatchTemplate::plain(0);
    t.delete_horizon_ms = Some(1_000);
    let b = build(
        t,
        Codec::Gzip,
        &[(0, 40, Some(b"k".to_vec()), None, vec![])],
    );
    let h = validate_batch(&b).unwrap();
    assert_eq!(h.base_timestamp, 1_000);
    let mut s = Vec::new();
    let recs = Records::decode(&b, &mut s, 1 << 20).unwrap();
    assert_eq!(recs.delete_horizon_ms(), Some(1_000));
    let r = recs.iter().next().unwrap().unwrap();
    assert_eq!((r.timestamp, r.key, r.value), (40, Some(&b"k"[..]), None));
}

#[test]
fn kept_last_offset_delta_must_cover_the_records() {
    let mut t = BatchTemplate::plain(0);
    t.last_offset_delta = Some(0);
    let mut b = BatchBuilder::new(t, Codec::None, None, Vec::new());
    b.push(&NewRecord {
        offset: 3,
        timestamp: 0,
        key: None,
        value: None,
        headers: Headers::default(),
    })
    .unwrap();
    assert!(b.finish().is_err());
    let mut b = BatchBuilder::new(BatchTemplate::plain(5), Codec::None, None, Vec::new());
    let r = NewRecord {
        offset: 4,
        timestamp: 0,
        key: None,
        value: None,
        headers: Headers::default(),
    };
    assert!(b.push(&r).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn build_then_read_round_trips_for_every_codec(
        specs in proptest::collection::vec(spec(), 1..20),
        base in 0i64..1_000_000,
        pid in -1i64..5,
        log_append in proptest::option::of(0i64..1_000),
    ) {
        for codec in CODECS {
            let mut t = BatchTemplate::plain(base);
            t.producer_id = pid;
            t.log_append_time_ms = log_append;
            let b = build(t, codec, &specs);
            let h = validate_batch(&b);
            // Offset gaps make last offset delta != count - 1; integrity must hold anyway.
            let h = match h { Ok(h) => h, Err(_) => verify_integrity(&b).unwrap() };
            prop_assert_eq!(h.compression(), codec.attribute_bits() as u8);
            let mut s = Vec::new();
            let recs = Records::decode(&b, &mut s, DEFAULT_MAX_DECOMPRESSED_BYTES).unwrap();
            let got: Vec<_> = recs.iter().collect::<crate::Result<_>>().unwrap();
            prop_assert_eq!(got.len(), specs.len());
            let (mut offset, mut next) = (base, base);
            for (r, (gap, ts, k, v, hs)) in got.iter().zip(&specs) {
                offset = next + gap;
                next = offset + 1;
                prop_assert_eq!(r.offset, offset);
                prop_assert_eq!(r.timestamp, log_append.unwrap_or(*ts));
                prop_assert_eq!(r.key, k.as_deref());
                prop_assert_eq!(r.value, v.as_deref());
                let hv: Vec<_> = r.headers.iter().map(|h| (h.key.to_vec(), h.value.map(<[u8]>::to_vec))).collect();
                prop_assert_eq!(&hv, hs);
            }
            prop_assert_eq!(h.last_offset(), offset);
            for to in CODECS {
                let re = recompress(&b, to, None, DEFAULT_MAX_DECOMPRESSED_BYTES).unwrap();
                let rh = verify_integrity(&re).unwrap();
                prop_assert_eq!(rh.compression(), to.attribute_bits() as u8);
                prop_assert_eq!(
                    (rh.base_offset, rh.last_offset_delta, rh.base_timestamp, rh.max_timestamp, rh.producer_id),
                    (h.base_offset, h.last_offset_delta, h.base_timestamp, h.max_timestamp, h.producer_id)
                );
                let mut s2 = Vec::new();
                let again: Vec<_> = Records::decode(&re, &mut s2, DEFAULT_MAX_DECOMPRESSED_BYTES)
                    .unwrap().iter().collect::<crate::Result<_>>().unwrap();
                prop_assert_eq!(&again, &got);
            }
        }
    }

    #[test]
    fn malformed_records_never_panic(
        specs in proptest::collection::vec(spec(), 1..6),
        codec_i in 0usize..5,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let b = build(BatchTemplate::plain(0), CODECS[codec_i], &specs);
        let mut bad = b.clone();
        let span = bad.len() - 21;
        for (at, byte) in edits {
            bad[21 + at % span] = byte;
        }
        if let Some(c) = cut {
            bad.truncate(21 + c % span);
            let len = (bad.len() - 12) as i32;
            bad[8..12].copy_from_slice(&len.to_be_bytes());
        }
        let mut s = Vec::new();
        if let Ok(recs) = Records::decode(&bad, &mut s, 1 << 16) {
            for r in recs.iter().flatten() {
                let _ = r.headers.iter().count();
            }
        }
        let _ = recompress(&bad, Codec::Lz4, None, 1 << 16);
        let _ = BatchHeader::parse(&bad);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut s = Vec::new();
        if let Ok(recs) = Records::decode(&bytes, &mut s, 1 << 16) {
            for _ in recs.iter() {}
        }
    }
}
