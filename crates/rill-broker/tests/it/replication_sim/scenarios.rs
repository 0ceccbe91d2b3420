//! Scripted replication scenarios the simulation found or that need an exact history:
//! real `Partition`s in temp directories driven step by step through the same calls the
//! fetcher and the request handlers make.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::PartitionData;
use rill_broker::replica::fetcher::{apply_fetch, epoch_to_ask, truncate_to_divergence};
use rill_broker::replica::{Partition, PartitionId};
use rill_log::testutil::{build_batch, BatchSpec};
use rill_log::{LogConfig, PartitionLog};
use rill_meta::PartitionImage;

use crate::replication_sim::world::{TOPIC, TOPIC_ID};

fn open(dir: &Path, id: i32) -> Arc<Partition> {
    open_index(dir, id, 0)
}

fn open_index(dir: &Path, id: i32, index: i32) -> Arc<Partition> {
    let part = PartitionId {
        dir,
        topic: TOPIC,
        topic_id: TOPIC_ID,
        index,
    };
    let p = Partition::open(part, LogConfig::default(), 1, id);
    Arc::new(p.unwrap())
}

fn image(leader: i32, leader_epoch: i32, isr: &[i32]) -> PartitionImage {
    PartitionImage {
        replicas: vec![1, 2, 3],
        isr: isr.to_vec(),
        leader,
        leader_epoch,
        partition_epoch: leader_epoch,
        ..Default::default()
    }
}

/// One-record batch at `offset` of `epoch`; `fill` tells different contents apart.
fn batch(offset: i64, epoch: i32, fill: u8) -> Vec<u8> {
    build_batch(&BatchSpec {
        base_offset: offset,
        partition_leader_epoch: epoch,
        fill,
        ..BatchSpec::default()
    })
}

fn whole_log(p: &Partition) -> Vec<u8> {
    p.read_for_follower(0, u64::MAX).unwrap().records
}

/// One follower fetch of everything `leader` has, applied by the real `apply_fetch`.
fn fetch_all(follower: &Arc<Partition>, follower_id: i32, leader: &Partition, leader_id: i32) {
    let offset = follower.log_end_offset().unwrap();
    let start = follower.log_start_offset().unwrap();
    leader
        .record_follower_fetch(follower_id, offset, start, 0)
        .unwrap();
    let read = leader.read_for_follower(offset, u64::MAX).unwrap();
    let mut pd = PartitionData::default();
    pd.high_watermark = read.high_watermark;
    pd.log_start_offset = read.log_start_offset;
    pd.records = Some(Bytes::from(read.records));
    let epoch = follower.replica_state().leader_epoch;
    let out = apply_fetch(leader_id, vec![(follower.clone(), epoch, pd)]);
    assert!(!out.retry_later, "the fetch applies");
}

/// The divergence search as the fetcher runs it, until found; returns each step's
/// (asked epoch, log end after it).
fn find_divergence(f: &Partition, leader: &Partition, leader_id: i32) -> Vec<(i32, i64)> {
    let epoch = f.replica_state().leader_epoch;
    let mut steps = Vec::new();
    while f.needs_truncation() {
        assert!(steps.len() < 10, "the search ends: {steps:?}");
        let Some(asked) = epoch_to_ask(f, leader_id, epoch).unwrap() else {
            break;
        };
        let (answer_epoch, answer_end) = leader.end_offset_for_epoch(asked).unwrap();
        truncate_to_divergence(f, leader_id, epoch, asked, answer_epoch, answer_end).unwrap();
        steps.push((asked, f.log_end_offset().unwrap()));
    }
    steps
}

/// Found by the simulation (seed 2086): broker 3 led epoch 1 without appending anything, so
/// its epoch cache said "epoch 1 starts at 0"; following broker 1 (epoch 2) it fetched
/// broker 1's epoch-0 records, which did not replace that entry; after a restart it asked
/// about epoch 1, heard "epoch 0 ends at 10", looked up where epoch 0 ends in its own
/// cache (at 0, where its phantom epoch 1 began) and cut 10 committed records.
#[test]
fn a_replica_that_led_an_empty_epoch_keeps_committed_records_after_a_restart() {
    let (d1, d3) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let b1 = open(d1.path(), 1);
    b1.apply_image(&image(1, 0, &[1]), 0).unwrap();
    for i in 0..10 {
        let info = b1.append(&mut batch(0, -1, i), 0).unwrap();
        b1.wait_durable(info.last_offset + 1).unwrap();
    }
    assert_eq!(b1.high_watermark(), 10);
    let b3 = open(d3.path(), 3);
    b3.apply_image(&image(3, 1, &[3]), 0).unwrap();
    assert!(b3.is_leader(), "broker 3 leads epoch 1 and appends nothing");

    b1.apply_image(&image(1, 2, &[1]), 0).unwrap();
    b3.apply_image(&image(1, 2, &[1]), 0).unwrap();
    assert_eq!(find_divergence(&b3, &b1, 1), vec![(1, 0)]);
    fetch_all(&b3, 3, &b1, 1);
    assert_eq!(
        (b3.log_end_offset().unwrap(), b3.high_watermark()),
        (10, 10)
    );

    drop(b3);
    let b3 = open(d3.path(), 3);
    b3.apply_image(&image(1, 2, &[1]), 0).unwrap();
    find_divergence(&b3, &b1, 1);
    assert_eq!(
        b3.log_end_offset().unwrap(),
        10,
        "the committed records stay after the restart"
    );
    assert_eq!(whole_log(&b3), whole_log(&b1));
}

/// KIP-279: the follower has epochs 0, 1, 3 and the new leader 0, 2, 4. Asked about 3, the
/// leader answers "epoch 2 ends at 20"; the follower never had epoch 2, so it must not stop
/// at the end of its epoch 1 (8): those epoch-1 records are not the leader's. It cuts to 8,
/// asks about epoch 1, hears "epoch 0 ends at 10" and cuts to 5, where its epoch 0 ended.
#[test]
fn a_follower_lacking_the_leaders_epoch_searches_back_epoch_by_epoch() {
    let (dl, df) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    {
        let (mut l, _) = PartitionLog::open(dl.path(), LogConfig::default()).unwrap();
        let (mut f, _) = PartitionLog::open(df.path(), LogConfig::default()).unwrap();
        for o in 0..20 {
            let epoch = if o < 10 { 0 } else { 2 };
            l.append_replicated(&batch(o, epoch, o as u8)).unwrap();
        }
        for o in 0..12 {
            let (epoch, fill) = match o {
                0..5 => (0, o as u8),
                5..8 => (1, 100 + o as u8),
                _ => (3, 200 + o as u8),
            };
            f.append_replicated(&batch(o, epoch, fill)).unwrap();
        }
        l.flush().unwrap();
        f.flush().unwrap();
    }
    let (leader, follower) = (open(dl.path(), 1), open(df.path(), 2));
    leader.apply_image(&image(1, 4, &[1]), 0).unwrap();
    follower.apply_image(&image(1, 4, &[1]), 0).unwrap();
    assert_eq!(
        find_divergence(&follower, &leader, 1),
        vec![(3, 8), (1, 5)],
        "cut to the end of epoch 1, then to where the logs agree"
    );
    fetch_all(&follower, 2, &leader, 1);
    assert_eq!(whole_log(&follower), whole_log(&leader));
}

/// Found by the simulation's consumer: a new leader learns the high watermark its consumers
/// already saw only when its followers fetch again; until then a consumer past it must get
/// nothing (and retry), not OFFSET_OUT_OF_RANGE (which makes it reset its position).
#[test]
fn a_consumer_ahead_of_a_new_leaders_high_watermark_gets_nothing_not_out_of_range() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (b1, b2) = (open(d1.path(), 1), open(d2.path(), 2));
    b1.apply_image(&image(1, 0, &[1, 2]), 0).unwrap();
    b2.apply_image(&image(1, 0, &[1, 2]), 0).unwrap();
    for i in 0..10 {
        let info = b1.append(&mut batch(0, -1, i), 0).unwrap();
        b1.wait_durable(info.last_offset + 1).unwrap();
    }
    find_divergence(&b2, &b1, 1);
    fetch_all(&b2, 2, &b1, 1);
    assert_eq!(b2.log_end_offset().unwrap(), 10);
    // Broker 2's next fetch tells broker 1 it has everything; the answer (with the high
    // watermark) never arrives: broker 1 dies.
    b1.record_follower_fetch(2, 10, 0, 0).unwrap();
    assert_eq!(b1.read(10, 1 << 20, true).unwrap().high_watermark, 10);
    b2.apply_image(&image(2, 1, &[2, 3]), 0).unwrap();
    assert!(b2.high_watermark() < 10);
    let read = b2
        .read(7, 1 << 20, true)
        .expect("a position within the log is in range");
    assert!(read.records.is_empty());
    assert!(
        b2.read(11, 1 << 20, true).is_err(),
        "past the log end it is out of range"
    );
}

/// Found by the 3-node benchmark: a follower fetch covering several partitions must record
/// the follower's progress on every one of them. Recording stopped at the first partition
/// whose high watermark moved, so acks=all produces to the others waited for the follower's
/// next fetch, up to replica.fetch.wait.max.ms (500 ms) when no new data came.
#[test]
fn one_follower_fetch_advances_the_high_watermark_of_every_partition_in_it() {
    let d = tempfile::tempdir().unwrap();
    let parts: Vec<Arc<Partition>> = (0..4).map(|i| open_index(d.path(), 1, i)).collect();
    for (i, p) in parts.iter().enumerate() {
        p.apply_image(&image(1, 0, &[1, 2]), 0).unwrap();
        let info = p.append(&mut batch(0, -1, i as u8), 0).unwrap();
        p.wait_durable(info.last_offset + 1).unwrap();
        assert_eq!(p.high_watermark(), 0, "not replicated yet");
    }
    let moved = Partition::record_follower_fetches(parts.iter().map(|p| (p.as_ref(), 1, 0)), 2, 0);
    assert!(moved);
    let hws: Vec<i64> = parts.iter().map(|p| p.high_watermark()).collect();
    assert_eq!(
        hws,
        vec![1, 1, 1, 1],
        "every partition's high watermark moved"
    );
}

/// Base offsets of the batches a consumer reads from `p`'s log start.
fn batches_from_start(p: &Partition) -> Vec<i64> {
    let start = p.log_start_offset().unwrap();
    let records = p.read(start, u64::MAX, true).unwrap().records;
    let mut out = Vec::new();
    let mut at = 0;
    while at < records.len() {
        let h = rill_log::BatchHeader::parse(&records[at..]).unwrap();
        out.push(h.base_offset);
        at += h.total_len();
    }
    out
}

/// Replicated DeleteRecords: followers take the leader's log start from fetch answers and
/// report theirs, the leader's low watermark (smallest log start of the ISR) reaches the
/// deleted offset only then, and after the leader dies the new leader has no deleted record.
#[test]
fn deleted_records_stay_deleted_after_a_leader_change() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let b: Vec<Arc<Partition>> = (1..=3)
        .map(|id| open(dirs[id as usize - 1].path(), id))
        .collect();
    for p in &b {
        p.apply_image(&image(1, 0, &[1, 2, 3]), 0).unwrap();
    }
    for i in 0..10 {
        let info = b[0].append(&mut batch(0, -1, 100 + i), 0).unwrap();
        b[0].wait_durable(info.last_offset + 1).unwrap();
    }
    find_divergence(&b[1], &b[0], 1);
    find_divergence(&b[2], &b[0], 1);
    for _ in 0..2 {
        fetch_all(&b[1], 2, &b[0], 1);
        fetch_all(&b[2], 3, &b[0], 1);
    }
    assert_eq!(b[0].high_watermark(), 10);
    assert_eq!(b[0].low_watermark().unwrap(), 0);

    assert_eq!(b[0].delete_records(6).unwrap(), 6);
    assert_eq!(
        b[0].low_watermark().unwrap(),
        0,
        "the followers have not moved their log start yet"
    );
    // The next fetch answers carry log start 6; the fetch after reports the followers'.
    fetch_all(&b[1], 2, &b[0], 1);
    fetch_all(&b[2], 3, &b[0], 1);
    assert_eq!(b[1].log_start_offset().unwrap(), 6);
    assert_eq!(b[2].log_start_offset().unwrap(), 6);
    assert_eq!(b[0].low_watermark().unwrap(), 0, "not reported yet");
    fetch_all(&b[1], 2, &b[0], 1);
    assert_eq!(
        b[0].low_watermark().unwrap(),
        0,
        "broker 3 has not reported"
    );
    fetch_all(&b[2], 3, &b[0], 1);
    assert_eq!(b[0].low_watermark().unwrap(), 6);

    // Broker 1 dies; broker 2 leads. Its log starts at 6 and a consumer reading from the
    // beginning never sees a deleted record, even after a restart of broker 2.
    for p in &b[1..] {
        p.apply_image(&image(2, 1, &[2, 3]), 0).unwrap();
    }
    assert!(b[1].is_leader());
    assert!(b[1].log_start_offset().unwrap() >= 6);
    let seen = batches_from_start(&b[1]);
    assert_eq!(
        seen,
        (6..10).collect::<Vec<i64>>(),
        "only records from 6 on"
    );
    let b2 = open(dirs[1].path(), 2);
    b2.apply_image(&image(2, 1, &[2, 3]), 0).unwrap();
    assert_eq!(
        b2.log_start_offset().unwrap(),
        6,
        "the log start is checkpointed"
    );
}

/// A DeleteRecords waits in the purgatory: it completes when the ISR's low watermark reaches
/// the offset and times out otherwise.
#[tokio::test]
async fn delete_records_waits_for_the_low_watermark() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let leader = open(dirs[0].path(), 1);
    let follower = open(dirs[1].path(), 2);
    for p in [&leader, &follower] {
        p.apply_image(&image(1, 0, &[1, 2]), 0).unwrap();
    }
    for i in 0..4 {
        let info = leader.append(&mut batch(0, -1, i), 0).unwrap();
        leader.wait_durable(info.last_offset + 1).unwrap();
    }
    find_divergence(&follower, &leader, 1);
    fetch_all(&follower, 2, &leader, 1);
    fetch_all(&follower, 2, &leader, 1);
    assert_eq!(leader.delete_records(3).unwrap(), 3);
    let soon = tokio::time::Instant::now() + std::time::Duration::from_millis(50);
    assert_eq!(
        leader.wait_low_watermark(3, 0, soon).await.unwrap(),
        (0, false),
        "times out while the follower has not moved"
    );
    let waiter = {
        let leader = leader.clone();
        tokio::spawn(async move {
            let later = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
            leader.wait_low_watermark(3, 0, later).await.unwrap()
        })
    };
    let (f, l) = (follower.clone(), leader.clone());
    tokio::task::spawn_blocking(move || {
        fetch_all(&f, 2, &l, 1);
        fetch_all(&f, 2, &l, 1);
    })
    .await
    .unwrap();
    assert_eq!(waiter.await.unwrap(), (3, true));
}
