//! InitProducerId: new ids, epoch bumps, request validation, fencing an open transaction,
//! KIP-360 expected producers, epoch exhaustion, failed writes.

use super::*;
use crate::error::TxnApi;

#[test]
fn new_id_gets_a_producer_id_once_its_record_is_durable() {
    let mut h = Harness::new();
    let r = h.init_req(T, 10_000, None);
    assert!(
        h.answer(r).is_none(),
        "no answer before the record is durable"
    );
    assert_eq!(h.inflight.len(), 1);
    assert_eq!(h.inflight[0].partition, h.c.partition_for(T));
    h.ack_all();
    assert_eq!(h.pid(r), Ok(ProducerIdAndEpoch::new(1000, 0)));
    let v = h.last_stored(T).expect("stored");
    assert_eq!(
        (v.producer_id, v.producer_epoch, v.state),
        (1000, 0, TxnState::Empty)
    );
    assert_eq!(v.txn_timeout_ms, 10_000);
    assert_eq!(v.txn_start_timestamp_ms, -1);
    // Another InitProducerId bumps the epoch of the same producer id.
    assert_eq!(h.init(T, None), Ok(ProducerIdAndEpoch::new(1000, 1)));
    assert_eq!(h.init(T, None), Ok(ProducerIdAndEpoch::new(1000, 2)));
    assert_eq!(h.next_producer_id, 1001, "one producer id allocated");
}

#[test]
fn invalid_requests() {
    let mut h = Harness::new();
    let r = h.init_req("", 10_000, None);
    assert!(matches!(err(h.pid(r)), TxnError::InvalidRequest(_)));
    assert_eq!(err(h.pid(r)).code(), 42);
    for timeout in [0, -5, 60_001] {
        let r = h.init_req(T, timeout, None);
        let e = err(h.pid(r));
        assert!(
            matches!(e, TxnError::InvalidTransactionTimeout { .. }),
            "{e:?}"
        );
        assert_eq!(e.code(), 50);
    }
    let r = h.init_req(T, 60_000, None);
    h.ack_all();
    assert!(h.pid(r).is_ok(), "the maximum itself is valid");
    assert!(h.inflight.is_empty());
}

#[test]
fn ownership_errors() {
    let mut h = Harness::new();
    let p = h.c.partition_for(T);
    let out = h.c.unload_partition(p);
    h.absorb(out);
    let r = h.init_req(T, 10_000, None);
    assert_eq!(err(h.pid(r)), TxnError::NotCoordinator { partition: p });
    assert_eq!(err(h.pid(r)).code(), 16);
    h.c.begin_load(p, EPOCH + 1);
    let r = h.init_req(T, 10_000, None);
    assert_eq!(
        err(h.pid(r)),
        TxnError::CoordinatorLoadInProgress { partition: p }
    );
    assert_eq!(err(h.pid(r)).code(), 14);
    let out = h.c.loaded_partition(p, EPOCH + 1, h.now);
    h.absorb(out);
    assert!(h.init(T, None).is_ok());
}

#[test]
fn concurrent_while_a_write_is_pending_or_markers_are_written() {
    let mut h = Harness::new();
    let first = h.init_req(T, 10_000, None);
    let second = h.init_req(T, 10_000, None);
    assert_eq!(err(h.pid(second)), TxnError::ConcurrentTransactions);
    assert_eq!(err(h.pid(second)).code(), 51);
    h.ack_all();
    let p = TxnProducer::new(T, 1000, h.pid(first).unwrap().epoch);
    h.add(&p, &[tp("a", 0)]).unwrap();
    let end = h.end_req(&p, true);
    h.ack_all();
    assert_eq!(h.done(end), Ok(()));
    assert_eq!(h.markers.len(), 1);
    // PrepareCommit with markers in flight.
    let r = h.init_req(T, 10_000, None);
    assert_eq!(err(h.pid(r)), TxnError::ConcurrentTransactions);
    h.settle();
    assert_eq!(h.state(T), Some(TxnState::CompleteCommit));
    assert_eq!(h.init(T, None), Ok(ProducerIdAndEpoch::new(1000, 1)));
}

#[test]
fn init_fences_an_open_transaction_and_aborts_it() {
    let mut h = Harness::new();
    let old = h.producer(T);
    h.add(&old, &[tp("a", 0), tp("b", 3)]).unwrap();
    let r = h.init_req(T, 10_000, None);
    // The old producer is fenced at once, before the abort is durable.
    let e = err(h.add(&old, &[tp("a", 0)]));
    assert_eq!(
        e,
        TxnError::ProducerFenced {
            sent_epoch: 0,
            current_epoch: 1
        }
    );
    // (the add above acked the PrepareAbort record)
    assert_eq!(err(h.pid(r)), TxnError::ConcurrentTransactions);
    let v = h.last_stored(T).unwrap();
    assert_eq!((v.state, v.producer_epoch), (TxnState::PrepareAbort, 1));
    assert_eq!(h.markers.len(), 1);
    let m = &h.markers[0];
    assert_eq!(
        (
            m.producer_id,
            m.producer_epoch,
            m.result,
            m.coordinator_epoch
        ),
        (1000, 1, TxnResult::Abort, EPOCH)
    );
    assert_eq!(m.partitions, vec![tp("a", 0), tp("b", 3)]);
    assert_eq!(err(h.end(&old, true)).code(), 90);
    assert_eq!(err(h.end(&old, true)).code_for(TxnApi::EndTxn, 1), 47);
    h.settle();
    assert_eq!(h.state(T), Some(TxnState::CompleteAbort));
    // The retry gets the epoch after the fencing one.
    assert_eq!(h.init(T, None), Ok(ProducerIdAndEpoch::new(1000, 2)));
}

#[test]
fn kip360_expected_producer() {
    let mut h = Harness::new();
    let p0 = h.init(T, None).unwrap();
    // The current producer continues after an error: bumped, last epoch remembered.
    let p1 = h.init(T, Some(p0)).unwrap();
    assert_eq!(p1, ProducerIdAndEpoch::new(1000, 1));
    // Its retry (the answer was lost) gets the same epoch back.
    assert_eq!(h.init(T, Some(p0)), Ok(p1));
    let v = h.last_stored(T).unwrap();
    assert_eq!(v.producer_epoch, 1);
    // The new epoch bumps on.
    let p2 = h.init(T, Some(p1)).unwrap();
    assert_eq!(p2.epoch, 2);
    // Now p0 is neither current nor last: fenced.
    let e = err(h.init(T, Some(p0)));
    assert_eq!(
        e,
        TxnError::ProducerFenced {
            sent_epoch: 0,
            current_epoch: 2
        }
    );
    assert_eq!(e.code_for(TxnApi::InitProducerId, 3), 47);
    assert_eq!(e.code_for(TxnApi::InitProducerId, 4), 90);
    // Another producer id is fenced.
    assert_eq!(
        err(h.init(T, Some(ProducerIdAndEpoch::new(77, 2)))).code(),
        90
    );
    // A producer without expected epoch fences the last epoch: a retry of p1 fails now.
    let p3 = h.init(T, None).unwrap();
    assert_eq!(p3.epoch, 3);
    assert_eq!(err(h.init(T, Some(p2))).code(), 90);
}

#[test]
fn kip360_on_a_new_id_returns_a_fresh_producer() {
    // A producer whose id expired continues with a new producer id.
    let mut h = Harness::new();
    assert_eq!(
        h.init(T, Some(ProducerIdAndEpoch::new(5, 9))),
        Ok(ProducerIdAndEpoch::new(1000, 0))
    );
}

#[test]
fn exhausted_epoch_rotates_the_producer_id() {
    let mut h = Harness::new();
    h.seed(T, &stored(500, i16::MAX - 1, TxnState::CompleteCommit, &[]));
    h.failover(EPOCH + 1);
    let p = h.init(T, None).unwrap();
    assert_eq!(p, ProducerIdAndEpoch::new(1000, 0));
    let v = h.last_stored(T).unwrap();
    assert_eq!((v.producer_id, v.previous_producer_id), (1000, 500));
}

#[test]
fn kip360_rotation_retry_is_answered_with_the_new_producer() {
    let mut h = Harness::new();
    h.seed(T, &stored(500, i16::MAX - 1, TxnState::Empty, &[]));
    h.failover(EPOCH + 1);
    let old = ProducerIdAndEpoch::new(500, i16::MAX - 1);
    let p = h.init(T, Some(old)).unwrap();
    assert_eq!(p, ProducerIdAndEpoch::new(1000, 0));
    // The answer was lost; the client retries with its old producer.
    assert_eq!(h.init(T, Some(old)), Ok(p));
    // A stale epoch of the old producer id is fenced.
    assert_eq!(
        err(h.init(T, Some(ProducerIdAndEpoch::new(500, 3)))).code(),
        90
    );
}

#[test]
fn retry_of_the_bump_to_an_exhausted_epoch_is_answered() {
    let mut h = Harness::new();
    h.seed(T, &stored(500, i16::MAX - 2, TxnState::Empty, &[]));
    h.failover(EPOCH + 1);
    let before = ProducerIdAndEpoch::new(500, i16::MAX - 2);
    let p = h.init(T, Some(before)).unwrap();
    assert_eq!(p, ProducerIdAndEpoch::new(500, i16::MAX - 1));
    assert_eq!(h.init(T, Some(before)), Ok(p), "a retry, no bump");
    // With the exhausted epoch itself: rotation.
    assert_eq!(h.init(T, Some(p)), Ok(ProducerIdAndEpoch::new(1000, 0)));
}

#[test]
fn fencing_at_the_last_epoch_then_init_rotates() {
    let mut h = Harness::new();
    h.seed(
        T,
        &stored(500, i16::MAX - 1, TxnState::Ongoing, &[tp("a", 0)]),
    );
    h.failover(EPOCH + 1);
    let r = h.init_req(T, 10_000, None);
    h.settle();
    assert_eq!(err(h.pid(r)), TxnError::ConcurrentTransactions);
    let v = h.last_stored(T).unwrap();
    assert_eq!(
        (v.state, v.producer_epoch),
        (TxnState::CompleteAbort, i16::MAX)
    );
    assert_eq!(h.init(T, None), Ok(ProducerIdAndEpoch::new(1000, 0)));
}

#[test]
fn allocator_errors_are_answered() {
    let mut h = Harness::new();
    let req = InitProducerIdRequest {
        transactional_id: T.into(),
        txn_timeout_ms: 1000,
        expected: None,
    };
    let mut alloc = || Err(TxnError::CoordinatorLoadInProgress { partition: -1 });
    let out = h.c.init_producer_id(9, &req, &mut alloc, h.now);
    assert_eq!(
        out.reply_to(9),
        Some(&Answer::ProducerId(Err(
            TxnError::CoordinatorLoadInProgress { partition: -1 }
        )))
    );
    assert!(out.records.is_empty());
    assert!(h.c.get(T).is_none(), "nothing cached without a producer id");
}

#[test]
fn failed_write_is_answered_and_changes_nothing() {
    let mut h = Harness::new();
    let p0 = h.init(T, None).unwrap();
    let r = h.init_req(T, 10_000, None);
    h.fail_one(TxnError::from_append_error_code(19, 0));
    assert_eq!(err(h.pid(r)), TxnError::CoordinatorNotAvailable);
    let m = h.c.get(T).unwrap();
    assert_eq!((m.producer_epoch, m.is_pending()), (p0.epoch, false));
    assert_eq!(h.init(T, None), Ok(ProducerIdAndEpoch::new(1000, 1)));
}

#[test]
fn failed_first_write_keeps_the_producer_id_for_the_retry() {
    let mut h = Harness::new();
    let r = h.init_req(T, 10_000, None);
    h.fail_one(TxnError::NotCoordinator { partition: 0 });
    assert!(h.pid(r).is_err());
    assert!(h.last_stored(T).is_none());
    assert_eq!(h.init(T, None), Ok(ProducerIdAndEpoch::new(1000, 0)));
    // As in Kafka, a bump records the current producer id as the previous one.
    assert_eq!(h.last_stored(T).unwrap().previous_producer_id, 1000);
}
