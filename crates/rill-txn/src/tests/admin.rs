//! DescribeTransactions and ListTransactions.

use super::*;
use crate::admin::{ListTransactionsFilter, ListedTxn};

#[test]
fn describe_shows_what_kafka_shows() {
    let mut h = Harness::new();
    let p = h.producer(T);
    let d = h.c.describe_transaction(T).unwrap();
    assert_eq!(d.state_name(), "Empty");
    assert_eq!(
        (d.producer_id, d.producer_epoch),
        (p.producer_id, p.producer_epoch)
    );
    assert_eq!((d.txn_timeout_ms, d.txn_start_timestamp_ms), (10_000, -1));
    assert!(d.topics.is_empty());
    h.now = 3_000;
    h.add(&p, &[tp("b", 2), tp("a", 1), tp("a", 0)]).unwrap();
    let d = h.c.describe_transaction(T).unwrap();
    assert_eq!(d.state_name(), "Ongoing");
    assert_eq!(d.txn_start_timestamp_ms, 3_000);
    assert_eq!(
        d.topics,
        vec![("a".to_string(), vec![0, 1]), ("b".to_string(), vec![2])]
    );
    let _ = h.end_req(&p, true);
    h.ack_all();
    assert_eq!(
        h.c.describe_transaction(T).unwrap().state_name(),
        "PrepareCommit"
    );
    // Partitions leave the description as their markers are written.
    let out =
        h.c.markers_written(T, EPOCH, &[tp("a", 0), tp("a", 1)], h.now);
    h.absorb(out);
    assert_eq!(
        h.c.describe_transaction(T).unwrap().topics,
        vec![("b".to_string(), vec![2])]
    );
    h.markers.clear();
    let out = h.c.markers_written(T, EPOCH, &[tp("b", 2)], h.now);
    h.absorb(out);
    h.settle();
    let d = h.c.describe_transaction(T).unwrap();
    assert_eq!(d.state_name(), "CompleteCommit");
    assert!(d.topics.is_empty());
}

#[test]
fn describe_errors() {
    let mut h = Harness::new();
    let e = err(h.c.describe_transaction("nope"));
    assert_eq!(e, TxnError::TransactionalIdNotFound("nope".into()));
    assert_eq!(e.code(), 105);
    assert_eq!(err(h.c.describe_transaction("")).code(), 42);
    let part = h.c.partition_for(T);
    h.c.begin_load(part, EPOCH + 1);
    assert_eq!(err(h.c.describe_transaction(T)).code(), 14);
    let out = h.c.unload_partition(part);
    h.absorb(out);
    assert_eq!(err(h.c.describe_transaction(T)).code(), 16);
}

#[test]
fn describe_shows_the_fencing_epoch() {
    let mut h = Harness::new();
    let p = h.producer(T);
    h.add(&p, &[tp("a", 0)]).unwrap();
    let _ = h.init_req(T, 10_000, None);
    let d = h.c.describe_transaction(T).unwrap();
    assert_eq!(
        (d.state_name(), d.producer_epoch),
        ("Ongoing", p.producer_epoch + 1)
    );
}

fn ids(l: &[ListedTxn]) -> Vec<&str> {
    l.iter().map(|t| t.transactional_id.as_str()).collect()
}

#[test]
fn list_filters_like_kafka() {
    let mut h = Harness::new();
    let a = h.producer("a");
    let b = h.producer("b");
    let _c = h.producer("c");
    h.now = 2_000;
    h.add(&a, &[tp("x", 0)]).unwrap();
    h.now = 5_000;
    h.add(&b, &[tp("x", 0)]).unwrap();
    h.end(&b, true).unwrap();
    let all =
        h.c.list_transactions(&ListTransactionsFilter::all(), h.now)
            .unwrap();
    assert_eq!(ids(&all.transactions), vec!["a", "b", "c"]);
    assert_eq!(all.transactions[0].producer_id, a.producer_id);
    assert_eq!(all.transactions[0].state.name(), "Ongoing");
    assert_eq!(all.transactions[1].state.name(), "CompleteCommit");
    // By state, with an unknown name reported.
    let f = ListTransactionsFilter {
        states: vec!["Ongoing".into(), "Empty".into(), "Bogus".into()],
        ..ListTransactionsFilter::all()
    };
    let l = h.c.list_transactions(&f, h.now).unwrap();
    assert_eq!(ids(&l.transactions), vec!["a", "c"]);
    assert_eq!(l.unknown_state_filters, vec!["Bogus".to_string()]);
    // Only unknown names: no state filter, as in Kafka.
    let f = ListTransactionsFilter {
        states: vec!["ongoing".into()],
        ..ListTransactionsFilter::all()
    };
    assert_eq!(
        h.c.list_transactions(&f, h.now).unwrap().transactions.len(),
        3
    );
    // By producer id.
    let f = ListTransactionsFilter {
        producer_ids: vec![b.producer_id, 9_999],
        ..ListTransactionsFilter::all()
    };
    assert_eq!(
        ids(&h.c.list_transactions(&f, h.now).unwrap().transactions),
        vec!["b"]
    );
    // By duration: running for more than 2_000 ms at 5_000 means started before 3_000;
    // "c" never started (-1) and passes, as in Kafka.
    let f = ListTransactionsFilter {
        duration_filter_ms: 2_000,
        ..ListTransactionsFilter::all()
    };
    let l = h.c.list_transactions(&f, h.now).unwrap();
    assert_eq!(ids(&l.transactions), vec!["a", "c"]);
    let f = ListTransactionsFilter {
        duration_filter_ms: 3_000,
        ..ListTransactionsFilter::all()
    };
    assert_eq!(
        ids(&h.c.list_transactions(&f, h.now).unwrap().transactions),
        vec!["c"]
    );
    // By id predicate (the v2 pattern, compiled by the shell).
    let l =
        h.c.list_transactions_matching(&ListTransactionsFilter::all(), h.now, &|id| id != "a")
            .unwrap();
    assert_eq!(ids(&l.transactions), vec!["b", "c"]);
    // While a partition loads: COORDINATOR_LOAD_IN_PROGRESS.
    h.c.begin_load(0, EPOCH + 1);
    assert_eq!(
        err(h.c.list_transactions(&ListTransactionsFilter::all(), h.now)).code(),
        14
    );
}
