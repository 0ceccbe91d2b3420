//! Group commit across the partitions of one log directory. Contract: a `wait_durable` returns
//! only after an fsync round that started after its append covered its partition; rounds are
//! shared by every partition of the directory (fewer rounds than waits under concurrency);
//! a truncation during a round keeps that round from publishing offsets that no longer exist,
//! while the round still completes for everyone else.
//! One test binary of its own: the round hook is process-wide.
#![allow(clippy::unwrap_used)]

use rill_log::flush::hooks;
use rill_log::testutil::simple_batch;
use rill_log::{LogConfig, LogError, PartitionLog};
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};

/// Tests here install the process-wide hook one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn open(root: &std::path::Path, name: &str) -> Arc<Mutex<PartitionLog>> {
    let (log, _) = PartitionLog::open(&root.join(name), LogConfig::default()).unwrap();
    Arc::new(Mutex::new(log))
}

#[test]
fn partitions_of_one_directory_share_rounds_and_every_wait_is_covered() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let root = tempfile::tempdir().unwrap();
    let logs: Vec<_> = (0..6)
        .map(|i| open(root.path(), &format!("t-{i}")))
        .collect();
    let dir_sync = logs[0].lock().unwrap().durability().dir_sync().clone();
    assert!(Arc::ptr_eq(
        &dir_sync,
        logs[5].lock().unwrap().durability().dir_sync()
    ));
    let rounds_before = dir_sync.rounds();
    const WAITS: usize = 30;
    std::thread::scope(|s| {
        for (t, log) in logs.iter().enumerate() {
            s.spawn(move || {
                for i in 0..WAITS {
                    let (info, d) = {
                        let mut l = log.lock().unwrap();
                        let info = l.append(&mut simple_batch(3, 100, i as i64), 0, 0).unwrap();
                        (info, l.durability())
                    };
                    d.wait_durable(info.last_offset + 1).unwrap();
                    assert!(
                        d.durable_offset() > info.last_offset,
                        "partition {t}: wait returned before its offsets were durable"
                    );
                }
            });
        }
    });
    let rounds = dir_sync.rounds() - rounds_before;
    let waits = (logs.len() * WAITS) as u64;
    println!(
        "{waits} waits over {} partitions took {rounds} rounds",
        logs.len()
    );
    assert!(rounds > 0);
    assert!(
        rounds < waits,
        "{rounds} rounds for {waits} waits: partitions did not share rounds"
    );
    for log in &logs {
        let l = log.lock().unwrap();
        assert_eq!(l.durability().durable_offset(), l.log_end_offset());
    }
}

#[test]
fn truncation_during_a_round_keeps_it_from_publishing_and_others_still_complete() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let root = tempfile::tempdir().unwrap();
    let a = open(root.path(), "a-0");
    let b = open(root.path(), "b-0");
    let a_dir: PathBuf = std::fs::canonicalize(root.path().join("a-0")).unwrap();
    // 10 records in A (offsets 0..10), one batch in B.
    for _ in 0..10 {
        a.lock()
            .unwrap()
            .append(&mut simple_batch(1, 50, 0), 0, 0)
            .unwrap();
    }
    let b_end = b
        .lock()
        .unwrap()
        .append(&mut simple_batch(4, 50, 0), 0, 0)
        .unwrap()
        .last_offset
        + 1;
    // Hold the first round that captured A until the test says go.
    let (captured_tx, captured_rx) = mpsc::channel::<usize>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = Mutex::new(go_rx);
    let captured_tx = Mutex::new(captured_tx);
    let held = std::sync::atomic::AtomicBool::new(false);
    hooks::set_after_capture(Some(Box::new(move |dirs| {
        let has_a = dirs
            .iter()
            .any(|d| std::fs::canonicalize(d).ok().as_deref() == Some(a_dir.as_path()));
        if has_a && !held.swap(true, std::sync::atomic::Ordering::SeqCst) {
            captured_tx.lock().unwrap().send(dirs.len()).unwrap();
            go_rx.lock().unwrap().recv().unwrap();
        }
    })));
    let da = a.lock().unwrap().durability();
    let db = b.lock().unwrap().durability();
    let (waiter_a, waiter_b) = (da.clone(), db.clone());
    let ta = std::thread::spawn(move || waiter_a.wait_durable(10));
    captured_rx.recv().unwrap();
    // The round captured A at 10. B waits now: it joins the next round, after this one.
    let tb = std::thread::spawn(move || waiter_b.wait_durable(b_end));
    // Truncate A to 5 (that fsyncs by itself) and append 3 more records: offsets 5..8.
    {
        let mut l = a.lock().unwrap();
        l.truncate_to(5).unwrap();
        for _ in 0..3 {
            l.append(&mut simple_batch(1, 50, 0), 0, 0).unwrap();
        }
        assert_eq!(l.log_end_offset(), 8);
    }
    go_tx.send(()).unwrap();
    let ra = ta.join().unwrap();
    hooks::set_after_capture(None);
    // The round captured end 10 of the old generation: it must not publish it, and 10 was
    // never written in the new one.
    assert!(
        matches!(ra, Err(LogError::NotWritten { requested: 10, .. })),
        "{ra:?}"
    );
    assert_eq!(da.durable_offset(), 5, "a stale round published offsets");
    tb.join().unwrap().unwrap();
    assert!(db.durable_offset() >= b_end);
    da.wait_durable(8).unwrap();
    assert_eq!(da.durable_offset(), 8);
}

#[test]
fn waiting_for_many_partitions_at_once_takes_one_round_with_helpers() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let root = tempfile::tempdir().unwrap();
    let logs: Vec<_> = (0..8)
        .map(|i| open(root.path(), &format!("m-{i}")))
        .collect();
    let mut waits = Vec::new();
    for log in &logs {
        let mut l = log.lock().unwrap();
        let info = l.append(&mut simple_batch(5, 200, 0), 0, 0).unwrap();
        waits.push((l.durability(), info.last_offset + 1));
    }
    let dir_sync = waits[0].0.dir_sync().clone();
    let before = dir_sync.rounds();
    let pairs: Vec<_> = waits.iter().map(|(d, end)| (d.as_ref(), *end)).collect();
    for r in rill_log::flush::wait_durable_all(&pairs) {
        r.unwrap();
    }
    assert_eq!(
        dir_sync.rounds() - before,
        1,
        "all eight were queued before the round"
    );
    for (d, end) in &waits {
        assert!(d.durable_offset() >= *end);
        assert_eq!(d.sync_count(), 1);
    }
    // The other seven fsyncs were handed to helper threads (they stay a while for the next).
    assert!(dir_sync.helper_threads() >= 1);
    // Nothing left to do: a second wait returns at once, without a round.
    for r in rill_log::flush::wait_durable_all(&pairs) {
        r.unwrap();
    }
    assert_eq!(dir_sync.rounds() - before, 1);
}

#[test]
fn a_partition_deleted_while_queued_does_not_fail_the_round() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let root = tempfile::tempdir().unwrap();
    let a = open(root.path(), "gone-0");
    let b = open(root.path(), "kept-0");
    let ia = a
        .lock()
        .unwrap()
        .append(&mut simple_batch(2, 50, 0), 0, 0)
        .unwrap();
    let ib = b
        .lock()
        .unwrap()
        .append(&mut simple_batch(2, 50, 0), 0, 0)
        .unwrap();
    let (da, db) = (
        a.lock().unwrap().durability(),
        b.lock().unwrap().durability(),
    );
    let log_a = Arc::try_unwrap(a).unwrap().into_inner().unwrap();
    log_a.delete().unwrap();
    // The deleted partition's wait still ends (its bytes are gone, nothing to fsync) and the
    // other partition of the same round becomes durable.
    da.wait_durable(ia.last_offset + 1).unwrap();
    db.wait_durable(ib.last_offset + 1).unwrap();
    assert!(db.durable_offset() > ib.last_offset);
}

/// Wakes a parked thread (a one-thread executor for the async waits below).
struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// An async wait of the test below: (partition, end offset, result).
type Wait =
    std::pin::Pin<Box<dyn std::future::Future<Output = (usize, i64, Result<(), LogError>)>>>;

/// Polls every pending wait once; drops and counts the completed ones (each must be Ok).
fn poll_all(pending: &mut Vec<Wait>, cx: &mut std::task::Context<'_>) -> usize {
    let before = pending.len();
    pending.retain_mut(|f| match f.as_mut().poll(cx) {
        std::task::Poll::Ready((t, end, r)) => {
            r.unwrap_or_else(|e| panic!("partition {t} end {end}: {e}"));
            false
        }
        std::task::Poll::Pending => true,
    });
    before - pending.len()
}

#[test]
fn async_waiters_on_one_thread_are_covered_by_rounds_the_helpers_run() {
    use std::task::Context;
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let root = tempfile::tempdir().unwrap();
    let logs: Vec<_> = (0..4)
        .map(|i| open(root.path(), &format!("async-{i}")))
        .collect();
    let dir_sync = logs[0].lock().unwrap().durability().dir_sync().clone();
    let rounds_before = dir_sync.rounds();
    // A blocking waiter on another partition of the same directory at the same time: rounds
    // it leads and ends must still hand queued async work on.
    let blocking = open(root.path(), "blocking-0");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let blocking_thread = {
        let (blocking, stop) = (blocking.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (info, d) = {
                    let mut l = blocking.lock().unwrap();
                    let info = l.append(&mut simple_batch(2, 50, i), 0, 0).unwrap();
                    (info, l.durability())
                };
                d.wait_durable(info.last_offset + 1).unwrap();
                i += 1;
            }
        })
    };
    // Every wait is polled on this one thread, which never runs an fsync itself: the waits
    // can only complete if the directory's helper threads run the rounds.
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut pending: Vec<Wait> = Vec::new();
    let mut done = 0;
    const APPENDS: usize = 40;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    for i in 0..APPENDS {
        for (t, log) in logs.iter().enumerate() {
            let (info, d) = {
                let mut l = log.lock().unwrap();
                let info = l.append(&mut simple_batch(3, 100, i as i64), 0, 0).unwrap();
                (info, l.durability())
            };
            let end = info.last_offset + 1;
            pending.push(Box::pin(async move {
                let r = d.wait_durable_async(end).await;
                assert!(
                    d.durable_offset() >= end,
                    "partition {t}: async wait returned before offset {end} was durable"
                );
                (t, end, r)
            }));
        }
        // Poll everything once between appends, so later appends land during rounds.
        done += poll_all(&mut pending, &mut cx);
    }
    while !pending.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} async waits never completed",
            pending.len()
        );
        std::thread::park_timeout(std::time::Duration::from_millis(100));
        done += poll_all(&mut pending, &mut cx);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    blocking_thread.join().unwrap();
    assert_eq!(done, APPENDS * logs.len());
    for log in &logs {
        let l = log.lock().unwrap();
        assert_eq!(l.durability().durable_offset(), l.log_end_offset());
    }
    let rounds = dir_sync.rounds() - rounds_before;
    println!("{done} async waits (and a blocking waiter) took {rounds} rounds");
    assert!(rounds > 0);
}
