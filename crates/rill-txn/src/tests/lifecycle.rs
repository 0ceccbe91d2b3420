//! Time and ownership: timed-out transactions, expired ids, loading and unloading
//! partitions, deadlines.

use super::*;

#[test]
fn deadlines_follow_ownership() {
    let mut c = TxnCoordinator::new(cfg());
    assert_eq!(c.next_deadline(), None);
    assert!(c.tick(1_000_000).is_empty());
    c.begin_load(0, 1);
    assert_eq!(c.next_deadline(), None, "not before the load is done");
    let _ = c.loaded_partition(0, 1, 5_000);
    assert_eq!(c.next_deadline(), Some(6_000));
    assert!(c.tick(5_999).is_empty());
    let _ = c.tick(6_000);
    assert_eq!(c.next_deadline(), Some(7_000));
    let _ = c.unload_partition(0);
    assert_eq!(c.next_deadline(), None);
}

#[test]
fn timed_out_transaction_is_aborted_with_a_bumped_epoch() {
    let mut h = Harness::new();
    let p = h.producer(T); // timeout 10 s
    h.add(&p, &[tp("a", 0)]).unwrap();
    let start = h.now;
    // Scans run every second; the transaction times out after start + 10 s.
    while h.now < start + 10_000 {
        h.advance(1_000);
        assert!(h.inflight.is_empty(), "aborted too early at {}", h.now);
    }
    h.advance(1_000);
    assert_eq!(h.inflight.len(), 1);
    h.ack_all();
    let v = h.last_stored(T).unwrap();
    assert_eq!(
        (v.state, v.producer_epoch),
        (TxnState::PrepareAbort, p.producer_epoch + 1)
    );
    let m = &h.markers[0];
    assert_eq!(
        (m.result, m.producer_epoch),
        (TxnResult::Abort, p.producer_epoch + 1)
    );
    h.settle();
    assert_eq!(h.state(T), Some(TxnState::CompleteAbort));
    // The producer is fenced.
    assert_eq!(err(h.add(&p, &[tp("a", 0)])).code(), 90);
    assert_eq!(err(h.end(&p, true)).code(), 90);
    // KIP-360 does not save it in transactions V1: its epoch is neither current nor last.
    let expected = ProducerIdAndEpoch::new(p.producer_id, p.producer_epoch);
    assert_eq!(err(h.init(T, Some(expected))).code(), 90);
    // A new producer goes on.
    assert_eq!(
        h.init(T, None),
        Ok(ProducerIdAndEpoch::new(p.producer_id, p.producer_epoch + 2))
    );
}

#[test]
fn failed_fence_keeps_the_producer_fenced_and_reuses_the_epoch() {
    let mut h = Harness::new();
    let p = h.producer(T);
    h.add(&p, &[tp("a", 0)]).unwrap();
    h.advance(12_000);
    assert_eq!(h.inflight.len(), 1);
    h.fail_one(TxnError::CoordinatorNotAvailable);
    assert_eq!(h.state(T), Some(TxnState::Ongoing));
    // Still fenced in memory.
    assert_eq!(err(h.add(&p, &[tp("b", 0)])).code(), 90);
    assert_eq!(h.c.get(T).unwrap().epoch(), p.producer_epoch + 1);
    // The next scan tries again with the same epoch.
    h.advance(1_000);
    h.ack_all();
    let v = h.last_stored(T).unwrap();
    assert_eq!(
        (v.state, v.producer_epoch),
        (TxnState::PrepareAbort, p.producer_epoch + 1)
    );
    h.settle();
    // An InitProducerId whose fence failed likewise reuses it.
    let q = h.producer(T);
    assert_eq!(q.producer_epoch, p.producer_epoch + 2);
    h.add(&q, &[tp("a", 0)]).unwrap();
    let r = h.init_req(T, 10_000, None);
    h.fail_one(TxnError::CoordinatorNotAvailable);
    assert_eq!(h.pid(r), Err(TxnError::CoordinatorNotAvailable));
    let r = h.init_req(T, 10_000, None);
    h.settle();
    assert_eq!(h.pid(r), Err(TxnError::ConcurrentTransactions));
    assert_eq!(
        h.last_stored(T).unwrap().producer_epoch,
        q.producer_epoch + 1
    );
}

#[test]
fn transactions_with_a_pending_change_are_not_timed_out() {
    let mut h = Harness::new();
    let p = h.producer(T);
    h.add(&p, &[tp("a", 0)]).unwrap();
    let _ = h.add_req(&p, &[tp("b", 0)]);
    h.advance(20_000);
    assert_eq!(h.inflight.len(), 1, "only the add's record");
    h.ack_all();
    h.advance(1_000);
    assert_eq!(h.inflight.len(), 1, "the abort, next scan");
}

#[test]
fn idle_ids_expire_with_a_tombstone() {
    let mut h = Harness::new();
    let p = h.producer(T); // last update 1_000
    h.now = 60_000;
    let busy = h.producer("busy");
    h.add(&busy, &[tp("a", 0)]).unwrap();
    // At 100_999 nothing is old enough; at 101_000 T (idle since 1_000) is.
    h.now = 100_999;
    let out = h.c.expire_transactional_ids(h.now);
    assert!(out.is_empty());
    h.advance(1);
    let tombstones: Vec<_> = h.inflight.iter().filter(|r| r.value.is_none()).collect();
    assert_eq!(tombstones.len(), 1, "{:?}", h.inflight);
    assert_eq!(tombstones[0].key, encode_key(T));
    // Until durable, the id is pending: requests are told to retry.
    assert_eq!(
        err(h.init(T, None)),
        TxnError::ConcurrentTransactions,
        "init before the tombstone is durable"
    );
    assert!(h.c.get(T).is_none(), "the init settled the tombstone");
    assert_eq!(err(h.add(&p, &[tp("a", 0)])).code(), 49);
    // A new InitProducerId starts over with a new producer id.
    let q = h.init(T, None).unwrap();
    assert_ne!(q.producer_id, p.producer_id);
    assert_eq!(q.epoch, 0);
    // Ongoing ids never expire.
    assert!(h.c.get("busy").is_some());
}

#[test]
fn failed_tombstone_keeps_the_id() {
    let mut h = Harness::new();
    let p = h.producer(T);
    h.now += 100_000;
    h.advance(20_000);
    assert_eq!(h.inflight.len(), 1);
    h.fail_one(TxnError::CoordinatorNotAvailable);
    assert_eq!(h.state(T), Some(TxnState::Empty));
    assert!(h.add(&p, &[tp("a", 0)]).is_ok());
}

#[test]
fn load_resumes_prepared_transactions() {
    let mut h = Harness::new();
    let p = h.producer(T);
    h.add(&p, &[tp("a", 0), tp("a", 1)]).unwrap();
    let r = h.end_req(&p, true);
    h.ack_all();
    assert_eq!(h.done(r), Ok(()));
    let old_batch = h.markers[0].clone();
    // Leadership moves before the markers are written; it comes back in a later epoch.
    h.failover(EPOCH + 1);
    assert_eq!(h.markers.len(), 1);
    let b = h.markers[0].clone();
    assert_eq!(b.coordinator_epoch, EPOCH + 1);
    assert_eq!((b.result, b.partitions.len()), (TxnResult::Commit, 2));
    // Reports from the old epoch are ignored.
    let out =
        h.c.markers_written(T, old_batch.coordinator_epoch, &old_batch.partitions, h.now);
    assert!(out.is_empty());
    h.settle();
    assert_eq!(h.state(T), Some(TxnState::CompleteCommit));
}

#[test]
fn load_aborts_a_recorded_epoch_fence() {
    let mut h = Harness::new();
    h.seed(
        T,
        &stored(42, 3, TxnState::PrepareEpochFence, &[tp("a", 0)]),
    );
    h.failover(EPOCH + 1);
    assert_eq!(h.inflight.len(), 1);
    h.settle();
    let v = h.last_stored(T).unwrap();
    assert_eq!((v.state, v.producer_epoch), (TxnState::CompleteAbort, 3));
}

#[test]
fn unload_answers_parked_requests_and_ignores_late_reports() {
    let mut h = Harness::new();
    let p = h.producer(T);
    let part = h.c.partition_for(T);
    let r = h.add_req(&p, &[tp("a", 0)]);
    let rec = h.inflight.pop_front().unwrap();
    let out = h.c.unload_partition(part);
    assert_eq!(
        out.reply_to(r),
        Some(&Answer::Done(Err(TxnError::NotCoordinator {
            partition: part
        })))
    );
    assert!(h.c.on_append_complete(rec.write_id, h.now).is_empty());
    assert_eq!(h.c.writes_in_flight(), 0);
    assert!(h.c.get(T).is_none());
}

#[test]
fn reload_in_the_middle_answers_and_drops_the_old_state() {
    let mut h = Harness::new();
    let p = h.producer(T);
    let part = h.c.partition_for(T);
    let r = h.add_req(&p, &[tp("a", 0)]);
    let out = h.c.begin_load(part, EPOCH + 1);
    assert_eq!(
        out.reply_to(r),
        Some(&Answer::Done(Err(TxnError::NotCoordinator {
            partition: part
        })))
    );
    // A stale end of load is ignored.
    assert!(h.c.loaded_partition(part, EPOCH, h.now).is_empty());
    assert!(h.c.is_loading(part));
}

#[test]
fn replay_errors() {
    let mut c = TxnCoordinator::new(cfg());
    let key = encode_key(T);
    let value = encode_value(&stored(1, 0, TxnState::Empty, &[]), 1);
    let p = c.partition_for(T);
    assert_eq!(
        c.replay(&key, Some(&value)),
        Err(crate::error::RecordError::NotLoading { partition: p })
    );
    c.begin_load(p, 1);
    assert!(c.replay(&key[..3], Some(&value)).is_err());
    assert!(c.replay(&key, Some(&value[..5])).is_err());
    c.replay(&key, Some(&value)).unwrap();
    assert!(c.get(T).is_some());
    c.replay(&key, None).unwrap();
    assert!(c.get(T).is_none(), "a tombstone removes the id");
    // A Dead record reads as a tombstone.
    c.replay(&key, Some(&value)).unwrap();
    let dead = encode_value(&stored(1, 0, TxnState::Dead, &[]), 0);
    c.replay(&key, Some(&dead)).unwrap();
    assert!(c.get(T).is_none());
}

#[test]
fn replay_rebuilds_the_same_metadata() {
    let mut h = Harness::new();
    let a = h.producer("a");
    let b = h.producer("b");
    h.add(&a, &[tp("x", 0)]).unwrap();
    h.add(&b, &[tp("y", 1)]).unwrap();
    h.end(&b, false).unwrap();
    let before: Vec<_> = ["a", "b"]
        .iter()
        .map(|id| h.c.get(id).unwrap().stored())
        .collect();
    h.failover(EPOCH + 1);
    let after: Vec<_> = ["a", "b"]
        .iter()
        .map(|id| h.c.get(id).unwrap().stored())
        .collect();
    assert_eq!(before, after);
}
