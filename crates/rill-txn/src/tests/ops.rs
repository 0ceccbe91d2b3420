//! AddPartitionsToTxn, AddOffsetsToTxn and KIP-890 verification.

use super::*;
use crate::error::TxnApi;
use crate::types::{partition_for, CONSUMER_OFFSETS_TOPIC};

#[test]
fn add_opens_the_transaction_and_records_it() {
    let mut h = Harness::new();
    let p = h.producer(T);
    h.now = 5_000;
    let r = h.add_req(&p, &[tp("a", 0), tp("a", 1)]);
    assert!(h.answer(r).is_none(), "answered once durable");
    h.ack_all();
    assert_eq!(h.done(r), Ok(()));
    let v = h.last_stored(T).unwrap();
    assert_eq!(v.state, TxnState::Ongoing);
    assert_eq!(v.txn_start_timestamp_ms, 5_000);
    assert_eq!(v.partitions.len(), 2);
    // More partitions later: same start, union of partitions.
    h.now = 6_000;
    h.add(&p, &[tp("b", 0), tp("a", 0)]).unwrap();
    let v = h.last_stored(T).unwrap();
    assert_eq!(v.txn_start_timestamp_ms, 5_000);
    assert_eq!(v.txn_last_update_timestamp_ms, 6_000);
    assert_eq!(
        v.partitions.into_iter().collect::<Vec<_>>(),
        vec![tp("a", 0), tp("a", 1), tp("b", 0)]
    );
}

#[test]
fn add_of_partitions_already_in_is_answered_at_once_without_a_record() {
    let mut h = Harness::new();
    let p = h.producer(T);
    h.add(&p, &[tp("a", 0), tp("a", 1)]).unwrap();
    let n = h.log.len();
    let r = h.add_req(&p, &[tp("a", 1)]);
    assert_eq!(h.done(r), Ok(()));
    assert!(h.inflight.is_empty());
    assert_eq!(h.log.len(), n);
}

#[test]
fn add_errors_in_kafkas_order() {
    let mut h = Harness::new();
    // Unknown id.
    let ghost = TxnProducer::new("ghost", 1, 0);
    let e = err(h.add(&ghost, &[tp("a", 0)]));
    assert_eq!(e, TxnError::InvalidProducerIdMapping { sent: 1 });
    assert_eq!(e.code(), 49);
    let p = h.producer(T);
    // Another producer id (checked before the epoch).
    let other = TxnProducer::new(T, p.producer_id + 1, 99);
    assert_eq!(err(h.add(&other, &[tp("a", 0)])).code(), 49);
    // Older and newer epochs are fenced.
    for epoch in [p.producer_epoch - 1, p.producer_epoch + 1] {
        let q = TxnProducer::new(T, p.producer_id, epoch);
        let e = err(h.add(&q, &[tp("a", 0)]));
        assert!(matches!(e, TxnError::ProducerFenced { .. }), "{e:?}");
        assert_eq!(e.code_for(TxnApi::AddPartitionsToTxn, 1), 47);
        assert_eq!(e.code_for(TxnApi::AddPartitionsToTxn, 2), 90);
    }
    // Empty transactional id.
    let empty = TxnProducer::new("", p.producer_id, p.producer_epoch);
    assert_eq!(err(h.add(&empty, &[tp("a", 0)])).code(), 42);
    // A change in flight.
    let first = h.add_req(&p, &[tp("a", 0)]);
    let second = h.add_req(&p, &[tp("b", 0)]);
    assert_eq!(h.done(second), Err(TxnError::ConcurrentTransactions));
    h.ack_all();
    assert_eq!(h.done(first), Ok(()));
    // Not the coordinator.
    let part = h.c.partition_for(T);
    let out = h.c.unload_partition(part);
    h.absorb(out);
    assert_eq!(
        err(h.add(&p, &[tp("a", 0)])),
        TxnError::NotCoordinator { partition: part }
    );
}

#[test]
fn add_while_the_transaction_completes_is_concurrent() {
    let mut h = Harness::new();
    let p = h.producer(T);
    h.add(&p, &[tp("a", 0)]).unwrap();
    let end = h.end_req(&p, true);
    // Prepare record in flight.
    assert_eq!(
        err(h.add(&p, &[tp("b", 0)])),
        TxnError::ConcurrentTransactions
    );
    assert_eq!(h.done(end), Ok(()));
    // Markers in flight.
    assert_eq!(h.markers.len(), 1);
    assert_eq!(
        err(h.add(&p, &[tp("b", 0)])),
        TxnError::ConcurrentTransactions
    );
    h.settle();
    // After the commit a new transaction starts, with only its own partitions.
    h.now = 9_000;
    h.add(&p, &[tp("b", 0)]).unwrap();
    let v = h.last_stored(T).unwrap();
    assert_eq!(
        v.partitions.into_iter().collect::<Vec<_>>(),
        vec![tp("b", 0)]
    );
    assert_eq!(v.txn_start_timestamp_ms, 9_000);
}

#[test]
fn add_offsets_adds_the_groups_offsets_partition() {
    let mut h = Harness::new();
    let p = h.producer(T);
    let r = h.request_id_for_test();
    let out = h.c.add_offsets(r, &p, "group-1", 50, h.now);
    h.absorb(out);
    h.ack_all();
    assert_eq!(h.done(r), Ok(()));
    let v = h.last_stored(T).unwrap();
    assert_eq!(
        v.partitions.into_iter().collect::<Vec<_>>(),
        vec![tp(CONSUMER_OFFSETS_TOPIC, partition_for("group-1", 50))]
    );
    // Its markers go to the offsets partition too.
    h.end(&p, true).unwrap();
    let v = h.last_stored(T).unwrap();
    assert_eq!(v.state, TxnState::CompleteCommit);
}

#[test]
fn verify_only_checks_membership() {
    let mut h = Harness::new();
    let p = h.producer(T);
    h.add(&p, &[tp("a", 0)]).unwrap();
    let res =
        h.c.verify_partitions(&p, &[tp("a", 0), tp("a", 1)])
            .unwrap();
    assert_eq!(res[0], (tp("a", 0), Ok(())));
    assert_eq!(res[1], (tp("a", 1), Err(TxnError::TransactionAbortable)));
    let abortable = TxnError::TransactionAbortable;
    assert_eq!(abortable.code(), 120);
    assert_eq!(abortable.code_for(TxnApi::AddPartitionsToTxn, 4), 48);
    assert!(h.inflight.is_empty(), "verification writes nothing");
    // Verification does not wait for a pending change.
    let r = h.add_req(&p, &[tp("a", 1)]);
    let res = h.c.verify_partitions(&p, &[tp("a", 1)]).unwrap();
    assert_eq!(res[0].1, Err(TxnError::TransactionAbortable));
    h.ack_all();
    assert_eq!(h.done(r), Ok(()));
    assert_eq!(
        h.c.verify_partitions(&p, &[tp("a", 1)]).unwrap()[0].1,
        Ok(())
    );
    // Errors for the whole request.
    let stale = TxnProducer::new(T, p.producer_id, p.producer_epoch + 1);
    assert_eq!(err(h.c.verify_partitions(&stale, &[tp("a", 0)])).code(), 90);
    let other = TxnProducer::new(T, 5, p.producer_epoch);
    assert_eq!(err(h.c.verify_partitions(&other, &[tp("a", 0)])).code(), 49);
    let ghost = TxnProducer::new("ghost", 5, 0);
    assert_eq!(err(h.c.verify_partitions(&ghost, &[tp("a", 0)])).code(), 49);
    let empty = TxnProducer::new("", 5, 0);
    assert_eq!(err(h.c.verify_partitions(&empty, &[tp("a", 0)])).code(), 42);
    // While completing: CONCURRENT_TRANSACTIONS.
    let _ = h.end_req(&p, false);
    h.ack_all();
    assert_eq!(
        err(h.c.verify_partitions(&p, &[tp("a", 0)])),
        TxnError::ConcurrentTransactions
    );
    h.settle();
    // After the abort nothing is in the transaction.
    assert_eq!(
        h.c.verify_partitions(&p, &[tp("a", 0)]).unwrap()[0].1,
        Err(TxnError::TransactionAbortable)
    );
}

impl Harness {
    pub(super) fn request_id_for_test(&mut self) -> RequestId {
        self.next_request += 1;
        self.next_request
    }
}
