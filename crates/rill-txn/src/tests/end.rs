//! EndTxn: the two phases (Prepare record, markers, Complete record), retries after the
//! end, invalid states, failed writes.

use super::*;
use crate::error::TxnApi;

#[test]
fn commit_goes_through_prepare_markers_and_complete() {
    let mut h = Harness::new();
    let p = h.producer(T);
    h.add(&p, &[tp("a", 0), tp("b", 1)]).unwrap();
    let r = h.end_req(&p, true);
    assert!(h.answer(r).is_none());
    assert!(
        h.markers.is_empty(),
        "no markers before the Prepare record is durable"
    );
    h.ack_all();
    assert_eq!(h.done(r), Ok(()));
    let v = h.last_stored(T).unwrap();
    assert_eq!(v.state, TxnState::PrepareCommit);
    assert_eq!(h.state(T), Some(TxnState::PrepareCommit));
    let batch = h.markers.pop().unwrap();
    assert_eq!(batch.result, TxnResult::Commit);
    assert_eq!(
        (
            batch.producer_id,
            batch.producer_epoch,
            batch.coordinator_epoch
        ),
        (p.producer_id, p.producer_epoch, EPOCH)
    );
    // One partition written: nothing yet.
    let out = h.c.markers_written(T, EPOCH, &[tp("a", 0)], h.now);
    assert!(out.is_empty());
    // A report for another coordinator epoch is ignored.
    let out = h.c.markers_written(T, EPOCH - 1, &[tp("b", 1)], h.now);
    assert!(out.is_empty());
    // The last one: the Complete record.
    h.now += 10;
    let out = h.c.markers_written(T, EPOCH, &[tp("b", 1)], h.now);
    assert_eq!(out.records.len(), 1);
    h.absorb(out);
    assert_eq!(h.state(T), Some(TxnState::PrepareCommit), "until durable");
    h.ack_all();
    let v = h.last_stored(T).unwrap();
    assert_eq!(v.state, TxnState::CompleteCommit);
    assert!(v.partitions.is_empty());
    assert_eq!(v.txn_last_update_timestamp_ms, h.now);
    assert_eq!(h.state(T), Some(TxnState::CompleteCommit));
    assert!(!h.c.get(T).unwrap().is_pending());
}

#[test]
fn abort_writes_abort_markers() {
    let mut h = Harness::new();
    let p = h.producer(T);
    h.add(&p, &[tp("a", 0)]).unwrap();
    let r = h.end_req(&p, false);
    h.ack_all();
    assert_eq!(h.done(r), Ok(()));
    assert_eq!(h.markers[0].result, TxnResult::Abort);
    h.settle();
    assert_eq!(h.state(T), Some(TxnState::CompleteAbort));
    // The epoch is not bumped (transactions V1).
    assert_eq!(h.last_stored(T).unwrap().producer_epoch, p.producer_epoch);
}

#[test]
fn retries_after_the_end() {
    let mut h = Harness::new();
    let p = h.producer(T);
    h.add(&p, &[tp("a", 0)]).unwrap();
    h.end(&p, true).unwrap();
    let n = h.log.len();
    // Same result: success without a record.
    assert_eq!(h.end(&p, true), Ok(()));
    assert_eq!(h.log.len(), n);
    // The other result: INVALID_TXN_STATE.
    let e = err(h.end(&p, false));
    assert_eq!(
        e,
        TxnError::InvalidTxnState {
            state: TxnState::CompleteCommit,
            result: TxnResult::Abort
        }
    );
    assert_eq!(e.code(), 48);
    // The same after an abort.
    h.add(&p, &[tp("a", 0)]).unwrap();
    h.end(&p, false).unwrap();
    assert_eq!(h.end(&p, false), Ok(()));
    assert_eq!(err(h.end(&p, true)).code(), 48);
}

#[test]
fn retry_while_completing_is_concurrent() {
    let mut h = Harness::new();
    let p = h.producer(T);
    h.add(&p, &[tp("a", 0)]).unwrap();
    let r = h.end_req(&p, true);
    let again = h.end_req(&p, true);
    assert_eq!(h.done(again), Err(TxnError::ConcurrentTransactions));
    h.ack_all();
    assert_eq!(h.done(r), Ok(()));
    // Markers in flight.
    assert_eq!(err(h.end(&p, true)), TxnError::ConcurrentTransactions);
}

#[test]
fn end_without_a_transaction_is_invalid() {
    let mut h = Harness::new();
    let p = h.producer(T);
    for commit in [true, false] {
        let e = err(h.end(&p, commit));
        assert!(
            matches!(
                e,
                TxnError::InvalidTxnState {
                    state: TxnState::Empty,
                    ..
                }
            ),
            "{e:?}"
        );
    }
}

#[test]
fn end_errors_in_kafkas_order() {
    let mut h = Harness::new();
    assert_eq!(
        err(h.end(&TxnProducer::new("ghost", 1, 0), true)).code(),
        49
    );
    assert_eq!(err(h.end(&TxnProducer::new("", 1, 0), true)).code(), 42);
    let p = h.producer(T);
    h.add(&p, &[tp("a", 0)]).unwrap();
    assert_eq!(
        err(h.end(&TxnProducer::new(T, p.producer_id + 1, 0), true)).code(),
        49
    );
    let stale = TxnProducer::new(T, p.producer_id, p.producer_epoch + 1);
    let e = err(h.end(&stale, true));
    assert_eq!(e.code(), 90);
    assert_eq!(e.code_for(TxnApi::EndTxn, 0), 47);
    assert_eq!(e.code_for(TxnApi::EndTxn, 2), 90);
}

#[test]
fn transaction_without_partitions_completes_at_once() {
    let mut h = Harness::new();
    let p = h.producer(T);
    h.add(&p, &[]).unwrap();
    assert_eq!(h.state(T), Some(TxnState::Ongoing));
    let r = h.end_req(&p, true);
    h.ack_one();
    assert_eq!(h.done(r), Ok(()));
    assert!(h.markers.is_empty());
    assert_eq!(
        h.inflight.len(),
        1,
        "the Complete record follows the Prepare one"
    );
    h.ack_all();
    assert_eq!(h.state(T), Some(TxnState::CompleteCommit));
}

#[test]
fn failed_prepare_is_answered_and_can_be_retried() {
    let mut h = Harness::new();
    let p = h.producer(T);
    h.add(&p, &[tp("a", 0)]).unwrap();
    let r = h.end_req(&p, true);
    h.fail_one(TxnError::from_append_error_code(6, 0));
    assert_eq!(h.done(r), Err(TxnError::NotCoordinator { partition: 0 }));
    assert_eq!(h.state(T), Some(TxnState::Ongoing));
    assert!(h.markers.is_empty());
    assert_eq!(h.end(&p, true), Ok(()));
    assert_eq!(h.state(T), Some(TxnState::CompleteCommit));
}

#[test]
fn failed_complete_is_retried_after_the_backoff() {
    let mut h = Harness::new();
    let p = h.producer(T);
    h.add(&p, &[tp("a", 0)]).unwrap();
    let _ = h.end_req(&p, true);
    h.ack_all();
    h.write_markers();
    assert_eq!(h.inflight.len(), 1);
    h.fail_one(TxnError::CoordinatorNotAvailable);
    assert_eq!(h.state(T), Some(TxnState::PrepareCommit));
    assert!(h.c.get(T).unwrap().is_pending(), "still completing");
    assert_eq!(h.c.next_deadline(), Some(h.now + 100));
    // Requests in the meantime are told to retry.
    assert_eq!(err(h.end(&p, true)), TxnError::ConcurrentTransactions);
    h.advance(99);
    assert!(h.inflight.is_empty());
    h.advance(1);
    assert_eq!(h.inflight.len(), 1);
    h.ack_all();
    assert_eq!(h.state(T), Some(TxnState::CompleteCommit));
    assert_eq!(h.end(&p, true), Ok(()));
}
