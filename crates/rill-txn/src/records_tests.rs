//! Record encoding: Kafka's byte layout, round trips in both value versions, and decoding
//! that never panics on arbitrary bytes.

use proptest::prelude::*;

use super::*;

fn sample(state: TxnState) -> StoredTxn {
    let partitions = if state == TxnState::Empty {
        BTreeSet::new()
    } else {
        [("a", 0), ("a", 2), ("b", 1)]
            .iter()
            .map(|(t, p)| TopicPartition::new(*t, *p))
            .collect()
    };
    StoredTxn {
        producer_id: 1000,
        previous_producer_id: 999,
        next_producer_id: NO_PRODUCER_ID,
        producer_epoch: 3,
        txn_timeout_ms: 60_000,
        state,
        partitions,
        txn_last_update_timestamp_ms: 1_700_000_000_123,
        txn_start_timestamp_ms: 1_700_000_000_000,
        client_transaction_version: 0,
    }
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A v1 Ongoing record as a Kafka 4.0 broker wrote it: producer 0 epoch 0, timeout 60000,
/// partition txtest-0, both timestamps 0x19e7b4b367a, no tagged fields.
#[test]
fn decodes_kafkas_v1_bytes_and_writes_them_back() {
    let bytes = hex(
        "0001 0000000000000000 0000 0000ea60 01 02 07 747874657374 02 00000000 00
         0000019e7b4b367a 0000019e7b4b367a 00",
    );
    assert_eq!(bytes.len(), 48);
    let v = decode_value(&bytes).unwrap();
    assert_eq!(v.producer_id, 0);
    assert_eq!(v.producer_epoch, 0);
    assert_eq!(v.txn_timeout_ms, 60_000);
    assert_eq!(v.state, TxnState::Ongoing);
    assert_eq!(
        v.partitions.iter().collect::<Vec<_>>(),
        vec![&TopicPartition::new("txtest", 0)]
    );
    assert_eq!(v.txn_start_timestamp_ms, 0x19e7b4b367a);
    assert_eq!(v.previous_producer_id, NO_PRODUCER_ID);
    assert_eq!(encode_value(&v, 1).as_ref(), bytes.as_slice());
}

#[test]
fn v0_layout_is_classic() {
    let mut v = sample(TxnState::Ongoing);
    v.partitions = [TopicPartition::new("t", 7)].into_iter().collect();
    let b = encode_value(&v, 0);
    let expected = hex("0000 00000000000003e8 0003 0000ea60 01
         00000001 0001 74 00000001 00000007
         0000018bcfe5687b 0000018bcfe56800");
    assert_eq!(b.as_ref(), expected.as_slice());
    // v0 has no previous producer id.
    let back = decode_value(&b).unwrap();
    assert_eq!(back.previous_producer_id, NO_PRODUCER_ID);
    assert_eq!(back.partitions, v.partitions);
}

#[test]
fn key_layout_and_round_trip() {
    let k = encode_key("tx-1");
    assert_eq!(k.as_ref(), &[0, 0, 0, 4, b't', b'x', b'-', b'1']);
    assert_eq!(decode_key(&k), Ok("tx-1".to_string()));
    assert_eq!(
        decode_key(&[0, 1, 0, 0]),
        Err(RecordError::UnknownVersion {
            what: "key",
            version: 1
        })
    );
    assert!(decode_key(&[0, 0, 0xff, 0xff]).is_err());
    assert!(decode_key(&[0, 0, 0, 2, 0xc3]).is_err());
}

#[test]
fn round_trips_every_state_in_both_versions() {
    for state in crate::state::ALL_STATES {
        let v = sample(state);
        let back1 = decode_value(&encode_value(&v, 1)).unwrap();
        assert_eq!(back1, v, "v1 {state}");
        let back0 = decode_value(&encode_value(&v, 0)).unwrap();
        assert_eq!(
            back0,
            StoredTxn {
                previous_producer_id: NO_PRODUCER_ID,
                ..v.clone()
            },
            "v0 {state}"
        );
    }
}

#[test]
fn empty_state_writes_a_null_partition_array() {
    let v = sample(TxnState::Empty);
    let b0 = encode_value(&v, 0);
    assert_eq!(&b0[2 + 8 + 2 + 4 + 1..2 + 8 + 2 + 4 + 1 + 4], &[0xff; 4]);
    let b1 = encode_value(&v, 1);
    assert_eq!(b1[2 + 8 + 2 + 4 + 1], 0);
    // A non-Empty state with no partitions writes an empty (not null) array.
    let mut c = sample(TxnState::CompleteCommit);
    c.partitions.clear();
    assert_eq!(encode_value(&c, 1)[2 + 8 + 2 + 4 + 1], 1);
    assert_eq!(decode_value(&encode_value(&c, 0)).unwrap(), {
        let mut c0 = c.clone();
        c0.previous_producer_id = NO_PRODUCER_ID;
        c0
    });
}

#[test]
fn tagged_fields_are_read_and_unknown_ones_skipped() {
    let mut v = sample(TxnState::CompleteAbort);
    v.next_producer_id = 77;
    v.client_transaction_version = 2;
    let b = encode_value(&v, 1);
    assert_eq!(decode_value(&b).unwrap(), v);
    // Append an unknown tag 9 (3 bytes) by rewriting the tag count: 3 -> 4.
    let mut raw = b.to_vec();
    let at = raw.len() - (2 + 8) - (2 + 8) - (2 + 2) - 1;
    assert_eq!(raw[at], 3);
    raw[at] = 4;
    raw.extend_from_slice(&[9, 3, 1, 2, 3]);
    assert_eq!(decode_value(&raw).unwrap(), v);
    // A tag of the wrong size is refused.
    let mut bad = encode_value(&sample(TxnState::Ongoing), 1).to_vec();
    let last = bad.len() - 1;
    bad[last - 8] = 7;
    assert!(decode_value(&bad).is_err());
}

#[test]
fn every_truncation_is_an_error() {
    for version in [0, 1] {
        let full = encode_value(&sample(TxnState::PrepareCommit), version);
        for cut in 0..full.len() {
            assert!(
                decode_value(&full[..cut]).is_err(),
                "v{version} cut at {cut}"
            );
        }
    }
    let key = encode_key("abc");
    for cut in 0..key.len() {
        assert!(decode_key(&key[..cut]).is_err());
    }
}

#[test]
fn bad_versions_statuses_and_lengths_are_errors() {
    let mut b = encode_value(&sample(TxnState::Ongoing), 0).to_vec();
    b[1] = 2;
    assert!(matches!(
        decode_value(&b),
        Err(RecordError::UnknownVersion { version: 2, .. })
    ));
    let mut b = encode_value(&sample(TxnState::Ongoing), 0).to_vec();
    b[16] = 9;
    assert_eq!(decode_value(&b), Err(RecordError::UnknownStatus(9)));
    // A partition count claiming far more entries than bytes.
    let mut b = encode_value(&sample(TxnState::Ongoing), 0).to_vec();
    b[17..21].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(decode_value(&b).is_err());
    // An over-long varint.
    let mut b = encode_value(&sample(TxnState::Ongoing), 1).to_vec();
    b.truncate(17);
    b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert!(decode_value(&b).is_err());
}

fn arb_state() -> impl Strategy<Value = TxnState> {
    (0usize..8).prop_map(|i| crate::state::ALL_STATES[i])
}

fn arb_stored() -> impl Strategy<Value = StoredTxn> {
    (
        (any::<i64>(), any::<i64>(), any::<i64>(), any::<i16>()),
        (any::<i32>(), arb_state(), any::<i64>(), any::<i64>()),
        any::<i16>(),
        proptest::collection::btree_set(("[a-z.\\-_]{1,12}", 0i32..1000), 0..12),
    )
        .prop_map(
            |((pid, prev, next, epoch), (timeout, state, last, start), ctv, ps)| {
                let partitions = if state == TxnState::Empty {
                    BTreeSet::new()
                } else {
                    ps.into_iter()
                        .map(|(t, p)| TopicPartition::new(t, p))
                        .collect()
                };
                StoredTxn {
                    producer_id: pid,
                    previous_producer_id: prev,
                    next_producer_id: next,
                    producer_epoch: epoch,
                    txn_timeout_ms: timeout,
                    state,
                    partitions,
                    txn_last_update_timestamp_ms: last,
                    txn_start_timestamp_ms: start,
                    client_transaction_version: ctv,
                }
            },
        )
}

proptest! {
    #[test]
    fn decoding_random_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_key(&bytes);
        let _ = decode_value(&bytes);
    }

    #[test]
    fn decoding_mutated_records_never_panics(
        v in arb_stored(),
        version in 0i16..2,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut b = encode_value(&v, version).to_vec();
        for (at, byte) in flips {
            let i = at % b.len();
            b[i] = byte;
        }
        let _ = decode_value(&b);
    }

    #[test]
    fn v1_round_trips(v in arb_stored()) {
        prop_assert_eq!(decode_value(&encode_value(&v, 1)).unwrap(), v);
    }

    #[test]
    fn v0_round_trips_the_classic_fields(v in arb_stored()) {
        let back = decode_value(&encode_value(&v, 0)).unwrap();
        prop_assert_eq!(back, StoredTxn {
            previous_producer_id: NO_PRODUCER_ID,
            next_producer_id: NO_PRODUCER_ID,
            client_transaction_version: 0,
            ..v
        });
    }

    #[test]
    fn keys_round_trip(id in "\\PC{0,40}") {
        prop_assert_eq!(decode_key(&encode_key(&id)).unwrap(), id);
    }
}
