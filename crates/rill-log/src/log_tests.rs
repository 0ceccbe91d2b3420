//! Unit tests of `PartitionLog` (append, read, roll, recovery glue, truncation, retention,
//! timestamps, producer state, group commit, checkpoints).

use crate::testutil::{build_batch, simple_batch, BatchSpec};
use crate::{FlushPolicy, LogConfig, LogError, PartitionLog, TimestampType};
use std::path::Path;

fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 100,
        retention_ms: None,
        ..LogConfig::default()
    }
}

fn read_all(log: &PartitionLog, from: i64) -> Vec<u8> {
    let mut buf = Vec::new();
    log.read_into(from, u64::MAX, i64::MAX, true, &mut buf)
        .unwrap();
    buf
}

/// (base offset, last offset) of each batch in `bytes`.
fn offsets(bytes: &[u8]) -> Vec<(i64, i64)> {
    crate::split_batches(bytes)
        .map(|v| {
            v.into_iter()
                .map(|(_, h)| (h.base_offset, h.last_offset()))
                .collect()
        })
        .unwrap_or_default()
}

fn append_n(log: &mut PartitionLog, n: usize, records: i32, ts0: i64) -> Vec<(i64, i64)> {
    (0..n)
        .map(|i| {
            let mut b = simple_batch(records, 100, ts0 + i as i64);
            let info = log.append(&mut b, 1, ts0 + i as i64).unwrap();
            (info.base_offset, info.last_offset)
        })
        .collect()
}

fn open(dir: &Path, cfg: LogConfig) -> PartitionLog {
    PartitionLog::open(dir, cfg).unwrap().0
}

#[test]
fn append_assigns_offsets_and_read_returns_whole_containing_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let appended = append_n(&mut log, 5, 3, 1000);
    assert_eq!(appended, vec![(0, 2), (3, 5), (6, 8), (9, 11), (12, 14)]);
    assert_eq!(log.log_end_offset(), 15);
    assert_eq!(
        offsets(&read_all(&log, 4)),
        vec![(3, 5), (6, 8), (9, 11), (12, 14)]
    );
    let one = 161u64; // 61 header + 100 body
    let mut buf = Vec::new();
    assert_eq!(
        log.read_into(0, one * 2 + 10, i64::MAX, false, &mut buf)
            .unwrap(),
        one * 2
    );
    assert_eq!(offsets(&buf), vec![(0, 2), (3, 5)]);
    let r = log.read(0, 10, i64::MAX, true).unwrap();
    assert_eq!((r.total_len, r.first_batch_base_offset), (one, Some(0)));
    assert_eq!(log.read(0, 10, i64::MAX, false).unwrap().total_len, 0);
    let capped = log.read(0, u64::MAX, 6, false).unwrap();
    assert_eq!(
        capped.total_len,
        one * 2,
        "max_offset excludes the batch at 6"
    );
    assert_eq!(log.read(15, 100, i64::MAX, true).unwrap().total_len, 0);
    assert!(matches!(
        log.read(16, 100, i64::MAX, true),
        Err(LogError::OffsetOutOfRange {
            requested: 16,
            log_start: 0,
            log_end: 15
        })
    ));
}

#[test]
fn invalid_batches_get_typed_errors_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(
        dir.path(),
        LogConfig {
            max_message_bytes: 500,
            ..LogConfig::default()
        },
    );
    let mut big = simple_batch(1, 600, 0);
    assert!(matches!(
        log.append(&mut big, 0, 0),
        Err(LogError::BatchTooLarge { .. })
    ));
    let mut bad = simple_batch(1, 10, 0);
    bad[70] ^= 1;
    assert!(matches!(
        log.append(&mut bad, 0, 0),
        Err(LogError::CorruptBatch { .. })
    ));
    assert_eq!((log.log_end_offset(), log.size_bytes()), (0, 0));
}

#[test]
fn rolls_by_size_reads_across_segments_and_reopens_without_scanning_after_flush() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    let appended = append_n(&mut log, 40, 2, 0);
    assert!(log.segment_count() >= 6, "{}", log.segment_count());
    for (i, &(base, _)) in appended.iter().enumerate() {
        let got = offsets(&read_all(&log, base + 1));
        assert_eq!(got, appended[i..].to_vec(), "from {}", base + 1);
    }
    let before = read_all(&log, 0);
    log.flush().unwrap();
    drop(log);
    let (log, report) = PartitionLog::open(dir.path(), small_config()).unwrap();
    assert_eq!(report.batches_scanned, 0, "{report:?}");
    assert!(report.dropped.is_empty(), "{report:?}");
    assert_eq!(read_all(&log, 0), before);
    assert_eq!(log.log_end_offset(), 80);
    drop(log);
    std::fs::remove_file(dir.path().join(crate::checkpoint::RECOVERY_POINT_FILE)).unwrap();
    let (log, report) = PartitionLog::open(dir.path(), small_config()).unwrap();
    assert_eq!(report.batches_scanned, 40);
    assert_eq!(read_all(&log, 0), before);
}

#[test]
fn missing_or_garbage_indexes_are_rebuilt_and_reads_stay_correct() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    let appended = append_n(&mut log, 30, 1, 0);
    log.flush().unwrap();
    let before = read_all(&log, 0);
    drop(log);
    let mut n = 0;
    for ent in std::fs::read_dir(dir.path()).unwrap() {
        let p = ent.unwrap().path();
        match p.extension().and_then(|e| e.to_str()) {
            Some("index") if n % 2 == 0 => std::fs::remove_file(&p).unwrap(),
            Some("index") => std::fs::write(&p, [0xffu8; 24]).unwrap(),
            Some("timeindex") => std::fs::write(&p, [7u8; 25]).unwrap(),
            _ => continue,
        }
        n += 1;
    }
    let (log, report) = PartitionLog::open(dir.path(), small_config()).unwrap();
    assert!(report.indexes_rebuilt > 0);
    assert_eq!(read_all(&log, 0), before);
    for &(base, last) in &appended {
        assert_eq!(offsets(&read_all(&log, last)).first(), Some(&(base, last)));
    }
}

#[test]
fn truncate_to_cuts_at_batch_boundaries_and_fixes_epochs_and_producers() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    append_n(&mut log, 10, 3, 0); // offsets 0..30, epoch 1
    let mut b = simple_batch(3, 100, 50);
    log.append(&mut b, 2, 50).unwrap(); // 30..=32 epoch 2
    assert_eq!(log.leader_epoch_cache().entries(), &[(1, 0), (2, 30)]);
    log.truncate_to(31).unwrap(); // inside batch 30..=32: removed whole
    assert_eq!(log.log_end_offset(), 30);
    assert_eq!(log.leader_epoch_cache().entries(), &[(1, 0)]);
    log.truncate_to(13).unwrap(); // inside 12..=14
    assert_eq!(log.log_end_offset(), 12);
    assert_eq!(offsets(&read_all(&log, 0)).last(), Some(&(9, 11)));
    let info = log.append(&mut simple_batch(1, 10, 60), 3, 60).unwrap();
    assert_eq!(info.base_offset, 12);
    drop(log);
    let log = open(dir.path(), small_config());
    assert_eq!(log.log_end_offset(), 13);
    assert_eq!(log.leader_epoch_cache().entries(), &[(1, 0), (3, 12)]);
    let mut log = log;
    log.truncate_fully_and_start_at(100).unwrap();
    assert_eq!(
        (
            log.log_start_offset(),
            log.log_end_offset(),
            log.segment_count()
        ),
        (100, 100, 1)
    );
    assert_eq!(
        log.append(&mut simple_batch(1, 10, 0), 4, 0)
            .unwrap()
            .base_offset,
        100
    );
}

#[test]
fn retention_by_bytes_and_time_and_delete_records_move_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    append_n(&mut log, 30, 1, 1000); // timestamps 1000..1030, ~6 per segment
    let segs = log.segment_count();
    let cfg = LogConfig {
        retention_ms: Some(100),
        ..small_config()
    };
    log.set_config(cfg);
    let deleted = log.enforce_retention(1112).unwrap(); // deletes segments whose max ts < 1012
    assert!(deleted >= 1 && log.segment_count() == segs - deleted);
    let start = log.log_start_offset();
    assert!((6..=12).contains(&start), "{start}");
    assert!(log.read(start - 1, 10, i64::MAX, true).is_err());
    assert_eq!(
        offsets(&read_all(&log, start)).first().map(|o| o.0),
        Some(start)
    );
    log.set_config(LogConfig {
        retention_bytes: Some(700),
        ..small_config()
    });
    log.enforce_retention(0).unwrap();
    assert!(log.size_bytes() <= 700 + 1024, "{}", log.size_bytes());
    assert_eq!(log.delete_records_before(25).unwrap(), 25);
    assert!(matches!(
        log.delete_records_before(31),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(offsets(&read_all(&log, 25)).first(), Some(&(25, 25)));
    drop(log);
    let log = open(dir.path(), small_config());
    assert_eq!(
        log.log_start_offset(),
        25,
        "log start offset is checkpointed"
    );
}

/// Segment (`.log`) files in `dir`.
fn log_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "log")
        })
        .count()
}

#[test]
fn deferred_retention_moves_the_log_start_first_and_deletes_files_when_told() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    append_n(&mut log, 30, 1, 1000);
    let files_before = log_files(dir.path());
    log.set_config(LogConfig {
        retention_ms: Some(100),
        ..small_config()
    });
    let cp = dir.path().join(crate::checkpoint::LOG_START_OFFSET_FILE);
    let cp_before = std::fs::read(&cp).ok();
    let (n, removed) = log.enforce_retention_deferred(1112).unwrap();
    assert!(n >= 1);
    assert_eq!(
        std::fs::read(&cp).ok(),
        cp_before,
        "checkpoint written by delete()"
    );
    // Out of the log and the log start moved; checkpoint and files wait for delete().
    let start = log.log_start_offset();
    assert!(start >= 6, "{start}");
    assert!(log.read(start - 1, 10, i64::MAX, true).is_err());
    assert_eq!(log_files(dir.path()), files_before);
    removed.delete().unwrap();
    assert_eq!(log_files(dir.path()), files_before - n);
    // A reopened log starts where retention left it.
    drop(log);
    let log = open(dir.path(), small_config());
    assert_eq!(log.log_start_offset(), start);
}

#[test]
fn deferred_delete_records_moves_the_log_start_first_and_deletes_files_when_told() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    append_n(&mut log, 30, 1, 1000);
    let files_before = log_files(dir.path());
    let (start, removed) = log.delete_records_before_deferred(20).unwrap();
    assert_eq!((start, log.log_start_offset()), (20, 20));
    assert!(log.read(19, 10, i64::MAX, true).is_err());
    assert_eq!(offsets(&read_all(&log, 20)).first(), Some(&(20, 20)));
    assert!(
        log.segment_count() < files_before,
        "whole segments below 20 left the log"
    );
    assert_eq!(
        log_files(dir.path()),
        files_before,
        "files wait for delete()"
    );
    removed.delete().unwrap();
    assert_eq!(log_files(dir.path()), log.segment_count());
    // Asking again for an offset at or below the start removes nothing.
    let (start, removed) = log.delete_records_before_deferred(10).unwrap();
    assert_eq!(start, 20);
    removed.delete().unwrap();
    assert_eq!(log_files(dir.path()), log.segment_count());
    drop(log);
    let log = open(dir.path(), small_config());
    assert_eq!(
        log.log_start_offset(),
        20,
        "log start offset is checkpointed"
    );
}

#[test]
fn segment_ms_rolls_the_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_ms: Some(10),
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), cfg);
    log.append(&mut simple_batch(1, 10, 100), 0, 100).unwrap();
    log.append(&mut simple_batch(1, 10, 105), 0, 105).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append(&mut simple_batch(1, 10, 200), 0, 200).unwrap();
    assert_eq!(log.segment_count(), 2);
    log.enforce_retention(1000).unwrap();
    assert_eq!(log.segment_count(), 3);
}

#[test]
fn timestamp_lookups_and_log_append_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    for (i, ts) in [10, 30, 20, 50, 40, 60].iter().enumerate() {
        let _ = i;
        log.append(&mut simple_batch(2, 150, *ts), 0, 0).unwrap();
    }
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 10)));
    assert_eq!(log.offset_for_timestamp(25).unwrap(), Some((2, 30)));
    assert_eq!(log.offset_for_timestamp(45).unwrap(), Some((6, 50)));
    assert_eq!(log.offset_for_timestamp(61).unwrap(), None);
    assert_eq!(log.max_timestamp_offset().unwrap(), Some((11, 60)));
    log.set_config(LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..small_config()
    });
    let info = log.append(&mut simple_batch(1, 10, 5), 0, 777).unwrap();
    assert_eq!((info.log_append_time_ms, info.max_timestamp), (777, 777));
    let bytes = read_all(&log, info.base_offset);
    let h = crate::validate_batch(&bytes).unwrap();
    assert!(h.timestamp_type_is_log_append());
}

#[test]
fn idempotent_producer_duplicates_return_original_offsets_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let spec = |seq, n| BatchSpec {
        records: n,
        producer_id: 42,
        producer_epoch: 0,
        base_sequence: seq,
        ..BatchSpec::default()
    };
    log.append(&mut build_batch(&BatchSpec::default()), 0, 0)
        .unwrap();
    let first = log.append(&mut build_batch(&spec(0, 3)), 0, 0).unwrap();
    let dup = log.append(&mut build_batch(&spec(0, 3)), 0, 0).unwrap();
    assert!(dup.duplicate && !first.duplicate);
    assert_eq!((dup.base_offset, dup.last_offset), (1, 3));
    assert_eq!(log.log_end_offset(), 4);
    let err = log.append(&mut build_batch(&spec(5, 1)), 0, 0).unwrap_err();
    assert!(matches!(
        err,
        LogError::OutOfOrderSequence {
            producer_id: 42,
            expected: 3,
            got: 5
        }
    ));
    drop(log); // crash: no snapshot, rebuilt from headers
    let mut log = open(dir.path(), LogConfig::default());
    assert_eq!(log.producer_state().producer_ids(), 1);
    assert!(
        log.append(&mut build_batch(&spec(0, 3)), 0, 0)
            .unwrap()
            .duplicate
    );
    log.append(&mut build_batch(&spec(3, 1)), 0, 0).unwrap();
    log.flush().unwrap();
    drop(log);
    let mut log = open(dir.path(), LogConfig::default());
    assert!(
        log.append(&mut build_batch(&spec(3, 1)), 0, 0)
            .unwrap()
            .duplicate
    );
}

#[test]
fn checkpoints_of_high_watermark_and_epochs_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    append_n(&mut log, 3, 1, 0);
    log.checkpoint_high_watermark(2).unwrap();
    log.assign_leader_epoch(5, 3).unwrap();
    log.append(&mut simple_batch(1, 10, 0), 5, 0).unwrap();
    drop(log);
    let log = open(dir.path(), LogConfig::default());
    assert_eq!(log.checkpointed_high_watermark(), Some(2));
    assert_eq!(log.leader_epoch_cache().entries(), &[(1, 0), (5, 3)]);
    assert_eq!(
        log.leader_epoch_cache()
            .end_offset_for(1, log.log_end_offset()),
        (1, 3)
    );
}

#[test]
fn group_commit_shares_fsyncs_between_concurrent_writers() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(open(
        dir.path(),
        LogConfig::default(),
    )));
    let durability = log.lock().unwrap().durability();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let log = log.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let info = log
                        .lock()
                        .unwrap()
                        .append(&mut simple_batch(1, 100, 0), 0, 0)
                        .unwrap();
                    let d = log.lock().unwrap().durability();
                    d.wait_durable(info.last_offset + 1).unwrap();
                    assert!(d.durable_offset() > info.last_offset);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(durability.durable_offset(), 200);
    assert!(
        durability.sync_count() <= 200,
        "{}",
        durability.sync_count()
    );
    assert!(matches!(
        durability.wait_durable(201),
        Err(LogError::NotWritten { .. })
    ));
}

#[test]
fn sync_observer_is_told_each_group_commit_fsync() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let d = log.durability();
    let calls = Arc::new(AtomicU64::new(0));
    let seen = calls.clone();
    assert!(d.set_sync_observer(crate::SyncObserver::new(
        std::time::Instant::now,
        move |_| {
            seen.fetch_add(1, Ordering::Relaxed);
        }
    )));
    assert!(
        !d.set_sync_observer(crate::SyncObserver::new(std::time::Instant::now, |_| {})),
        "first observer wins"
    );
    for i in 0..3 {
        let info = log.append(&mut simple_batch(1, 10, 0), 0, 0).unwrap();
        d.wait_durable(info.last_offset + 1).unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), i + 1);
    }
    d.wait_durable(3).unwrap();
    assert_eq!(
        calls.load(Ordering::Relaxed),
        3,
        "nothing new to sync, no fsync"
    );
    assert_eq!(d.sync_count(), 3);
}

#[test]
fn interval_policy_returns_at_once_and_fsyncs_on_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        flush: FlushPolicy::Interval {
            messages: Some(3),
            ms: None,
        },
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), cfg);
    let d = log.durability();
    log.append(&mut simple_batch(2, 10, 0), 0, 0).unwrap();
    d.wait_durable(2).unwrap();
    assert_eq!(
        d.durable_offset(),
        0,
        "below the threshold nothing is fsynced"
    );
    log.append(&mut simple_batch(1, 10, 0), 0, 0).unwrap();
    assert_eq!(d.durable_offset(), 3);
    assert_eq!(d.sync_count(), 0);
}

#[test]
fn replicated_append_keeps_offsets_and_rejects_gaps_backwards() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let mk = |base, n, epoch| {
        build_batch(&BatchSpec {
            base_offset: base,
            records: n,
            partition_leader_epoch: epoch,
            ..BatchSpec::default()
        })
    };
    let mut payload = mk(0, 2, 3);
    payload.extend(mk(2, 3, 4));
    let info = log.append_replicated(&payload).unwrap().unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.record_count),
        (0, 4, 5)
    );
    assert_eq!(log.leader_epoch_cache().entries(), &[(3, 0), (4, 2)]);
    assert!(matches!(
        log.append_replicated(&mk(3, 1, 4)),
        Err(LogError::NonContiguousReplicatedBatch {
            expected: 5,
            got: 3
        })
    ));
    assert_eq!(log.append_replicated(&[]).unwrap(), None);
    assert_eq!(read_all(&log, 0), payload);
}

/// A replica that led epoch 5 without appending keeps the entry (5, end); as a follower it
/// must lose it on truncation even when nothing is cut, and batches of an older epoch
/// appended after it replace it, so the cache describes the data (found by the replication
/// simulation: the stale entry made a later divergence check cut committed data).
#[test]
fn epochs_without_data_go_on_truncation_and_older_replicated_epochs_replace_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let mk = |base, n, epoch| {
        build_batch(&BatchSpec {
            base_offset: base,
            records: n,
            partition_leader_epoch: epoch,
            ..BatchSpec::default()
        })
    };
    log.append_replicated(&mk(0, 2, 1)).unwrap();
    log.assign_leader_epoch(5, 2).unwrap();
    assert_eq!(log.leader_epoch_cache().entries(), &[(1, 0), (5, 2)]);
    log.truncate_to(2).unwrap();
    assert_eq!(log.log_end_offset(), 2, "no batch cut at the log end");
    assert_eq!(log.leader_epoch_cache().entries(), &[(1, 0)]);
    log.truncate_to(9).unwrap();
    assert_eq!(log.leader_epoch_cache().entries(), &[(1, 0)]);

    log.assign_leader_epoch(5, 2).unwrap();
    log.append_replicated(&mk(2, 3, 3)).unwrap();
    assert_eq!(
        log.leader_epoch_cache().entries(),
        &[(1, 0), (3, 2)],
        "epoch 3's batches start at 2: the empty epoch 5 entry went"
    );
    assert_eq!(log.leader_epoch_cache().end_offset_for(3, 5), (3, 5));
}

#[test]
fn full_index_rolls_and_flush_without_changes_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        index_interval_bytes: 1,
        segment_index_bytes: 16,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), cfg);
    append_n(&mut log, 5, 1, 0);
    assert!(
        log.segment_count() >= 2,
        "an index of 2 entries is full: roll"
    );
    log.flush().unwrap();
    let rp = dir.path().join(crate::checkpoint::RECOVERY_POINT_FILE);
    std::fs::remove_file(&rp).unwrap();
    log.flush().unwrap();
    assert!(!rp.exists(), "nothing changed: flush skipped");
    append_n(&mut log, 1, 1, 0);
    log.flush().unwrap();
    assert!(rp.exists());
}

#[test]
fn public_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PartitionLog>();
    assert_send_sync::<crate::Durability>();
    assert_send_sync::<crate::ReadResult>();
    assert_send_sync::<crate::LogError>();
    assert_send_sync::<crate::FileCache>();
}

/// Kafka's page-cache mode: never fsync on the append path.
fn page_cache_config() -> LogConfig {
    LogConfig {
        flush: FlushPolicy::Interval {
            messages: None,
            ms: None,
        },
        ..small_config()
    }
}

/// The recovery point checkpoint as (offset, segment base, segment size).
fn recovery_point(dir: &Path) -> (i64, i64, i64) {
    let rows = crate::checkpoint::read_rows(&dir.join(crate::checkpoint::RECOVERY_POINT_FILE), 3)
        .unwrap()
        .unwrap()
        .unwrap();
    (rows[0][0], rows[0][1], rows[0][2])
}

#[test]
fn page_cache_mode_rolls_leave_the_fsync_and_the_recovery_point_for_later() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), page_cache_config());
    log.flush().unwrap();
    let before = recovery_point(dir.path());
    append_n(&mut log, 12, 1, 1000); // 161 bytes each, 1024-byte segments: rolls
    assert!(log.segment_count() >= 2);
    assert!(log.has_pending_roll_syncs());
    assert_eq!(
        recovery_point(dir.path()),
        before,
        "not moved before the fsync"
    );
    let syncs = log.pending_roll_syncs().unwrap();
    let active_base = *log.segments.keys().next_back().unwrap();
    assert_eq!(syncs.end(), active_base, "covers every closed segment");
    syncs.sync().unwrap();
    log.roll_syncs_done(&syncs).unwrap();
    assert!(!log.has_pending_roll_syncs());
    assert_eq!(recovery_point(dir.path()), (active_base, active_base, 0));
    assert!(log.durability().durable_offset() >= active_base);
    // Reported twice (a flush got there first): nothing moves back.
    log.flush().unwrap();
    let flushed = recovery_point(dir.path());
    log.roll_syncs_done(&syncs).unwrap();
    assert_eq!(recovery_point(dir.path()), flushed);
}

#[test]
fn a_crash_before_the_deferred_fsync_rescans_the_rolled_segments_and_keeps_every_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), page_cache_config());
    log.flush().unwrap();
    let appended = append_n(&mut log, 12, 1, 1000);
    assert!(log.has_pending_roll_syncs());
    drop(log); // no flush: as a crash (the bytes are in the page cache, not vouched for)
    let (log, report) = PartitionLog::open(dir.path(), page_cache_config()).unwrap();
    assert!(
        report.batches_scanned >= 12,
        "the rolled segments were scanned, not trusted: {report:?}"
    );
    assert_eq!(log.log_end_offset(), appended.last().unwrap().1 + 1);
    assert_eq!(offsets(&read_all(&log, 0)), appended);
}

#[test]
fn flush_config_change_and_many_rolls_fsync_the_rolled_segments_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), page_cache_config());
    append_n(&mut log, 12, 1, 1000);
    assert!(log.has_pending_roll_syncs());
    log.flush().unwrap();
    assert!(!log.has_pending_roll_syncs(), "flush fsyncs them");
    let end = log.log_end_offset();
    assert_eq!(recovery_point(dir.path()).0, end);

    append_n(&mut log, 12, 1, 2000);
    assert!(log.has_pending_roll_syncs());
    // Group-commit rounds fsync the active segment only: switching to it fsyncs the rest.
    log.set_config(small_config());
    assert!(!log.has_pending_roll_syncs());
    assert!(log.durability().durable_offset() >= *log.segments.keys().next_back().unwrap());

    // Rolls left unsynced are bounded: past the bound a roll fsyncs the older ones itself.
    log.set_config(page_cache_config());
    append_n(&mut log, 60, 1, 3000);
    assert!(log.segment_count() > super::log::MAX_UNSYNCED_ROLLS + 2);
    assert!(log.unsynced_rolls.len() <= super::log::MAX_UNSYNCED_ROLLS);
}

#[test]
fn group_commit_rolls_fsync_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    append_n(&mut log, 12, 1, 1000);
    assert!(log.segment_count() >= 2);
    assert!(!log.has_pending_roll_syncs());
    let active_base = *log.segments.keys().next_back().unwrap();
    assert!(log.durability().durable_offset() >= active_base);
}

#[test]
fn checkpoint_writes_land_in_decision_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(crate::checkpoint::LOG_START_OFFSET_FILE);
    let cp = crate::checkpoint::OrderedCheckpoint::new(path.clone());
    let (older, newer) = (cp.ticket(vec![vec![10]]), cp.ticket(vec![vec![5]])); // e.g. retention, then a truncation
    cp.write(&newer).unwrap();
    cp.write(&older).unwrap(); // late: skipped
    assert_eq!(crate::checkpoint::read_single(&path).unwrap(), Some(Ok(5)));
    cp.write_now(vec![vec![7]]).unwrap();
    assert_eq!(crate::checkpoint::read_single(&path).unwrap(), Some(Ok(7)));
}

#[test]
fn retention_defers_the_epoch_checkpoint_and_a_crash_before_it_is_repaired_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    append_n(&mut log, 10, 1, 1000); // epoch 1 from offset 0
    let mut b = simple_batch(1, 100, 2000);
    log.append(&mut b, 2, 2000).unwrap(); // epoch 2 from offset 10
    append_n(&mut log, 20, 1, 3000);
    let epochs_file = dir.path().join(crate::checkpoint::LEADER_EPOCH_FILE);
    let on_disk = std::fs::read(&epochs_file).unwrap();
    log.set_config(LogConfig {
        retention_bytes: Some(1500),
        ..small_config()
    });
    let (n, removed) = log.enforce_retention_deferred(0).unwrap();
    assert!(n >= 1);
    let start = log.log_start_offset();
    assert!(start > 10, "{start}");
    assert_eq!(log.epochs.entries(), &[(2, start)], "in memory at once");
    assert_eq!(
        std::fs::read(&epochs_file).unwrap(),
        on_disk,
        "file waits for delete()"
    );
    // A crash now: files and both checkpoints still old.
    drop(removed);
    drop(log);
    let log = open(dir.path(), small_config());
    assert!(log.log_start_offset() < start);
    assert_eq!(log.epochs.entries()[0].1, log.log_start_offset());
    drop(log);
    // And done properly.
    let mut log = open(
        dir.path(),
        LogConfig {
            retention_bytes: Some(1500),
            ..small_config()
        },
    );
    let (_, removed) = log.enforce_retention_deferred(0).unwrap();
    removed.delete().unwrap();
    let start = log.log_start_offset();
    drop(log);
    let log = open(dir.path(), small_config());
    assert_eq!(log.log_start_offset(), start);
    assert_eq!(log.epochs.entries(), &[(2, start)]);
}

#[test]
fn retention_deletes_a_segment_larger_than_one_cut_step_and_the_log_reads_on() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_bytes: 40 << 20,
        recycle_segments: false,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), cfg.clone());
    for i in 0..40 {
        let mut b = simple_batch(1, 1_000_000, i); // ~1 MB per batch
        log.append(&mut b, 1, i).unwrap();
    }
    log.roll(0).unwrap();
    let first = dir.path().join(format!("{:020}.log", 0));
    let size = std::fs::metadata(&first).unwrap().len();
    assert!(size > 2 * crate::segment::GENTLE_DELETE_STEP, "{size}");
    append_n(&mut log, 3, 1, 100);
    log.set_config(LogConfig {
        retention_bytes: Some(100),
        ..cfg
    });
    let (n, removed) = log.enforce_retention_deferred(0).unwrap();
    assert_eq!(n, 1);
    removed.delete().unwrap();
    assert!(!first.exists());
    assert_eq!(log.log_start_offset(), 40);
    assert_eq!(offsets(&read_all(&log, 40)).len(), 3);
}

#[test]
fn removed_segments_leave_a_directory_made_again_under_the_same_name_alone() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("t-0");
    let mut log = open(&part, small_config());
    append_n(&mut log, 30, 1, 1000);
    log.set_config(LogConfig {
        retention_ms: Some(100),
        ..small_config()
    });
    let (n, removed) = log.enforce_retention_deferred(1112).unwrap();
    assert!(n >= 1);
    // The topic is deleted and made again before the retention thread finishes.
    drop(log);
    std::fs::remove_dir_all(&part).unwrap();
    std::fs::create_dir(&part).unwrap();
    let newcomer = part.join(format!("{:020}.log", 0));
    std::fs::write(&newcomer, b"new partition").unwrap();
    removed.delete().unwrap();
    assert!(newcomer.exists(), "a new partition's file was deleted");
    assert!(!part.join(crate::checkpoint::LOG_START_OFFSET_FILE).exists());
}

#[test]
fn page_cache_rolls_leave_snapshots_to_the_deferred_fsync_and_survive_them_torn() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), page_cache_config());
    let spec = |seq| BatchSpec {
        records: 2,
        record_bytes: 300,
        producer_id: 7,
        producer_epoch: 0,
        base_sequence: seq,
        ..BatchSpec::default()
    };
    for i in 0..12 {
        log.append(&mut build_batch(&spec(2 * i)), 0, 0).unwrap();
    }
    assert!(
        log.segment_count() >= 4,
        "330-byte batches roll 1 KiB segments"
    );
    let syncs = log.pending_roll_syncs().unwrap();
    // Each pending roll's snapshot is listed, the newest exists (older ones may be deleted by
    // newer ones already: the fsync skips those).
    assert_eq!(syncs.snapshots.len(), log.unsynced_rolls.len());
    assert!(syncs.snapshots.last().unwrap().exists());
    assert_eq!(syncs.dir, dir.path());
    syncs.sync().unwrap();
    log.roll_syncs_done(&syncs).unwrap();

    // A crash before the snapshots' fsync can leave them empty: both are ignored on open and
    // the producer's state is rebuilt from the batch headers.
    log.append(&mut build_batch(&spec(24)), 0, 0).unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "snapshot") {
            std::fs::write(path, b"").unwrap();
        }
    }
    drop(log);
    let (mut log, report) = PartitionLog::open(dir.path(), page_cache_config()).unwrap();
    assert!(
        report
            .dropped
            .iter()
            .filter(|d| d.contains("snapshot"))
            .count()
            >= 2,
        "{report:?}"
    );
    assert!(
        log.append(&mut build_batch(&spec(24)), 0, 0)
            .unwrap()
            .duplicate,
        "the last batch is still known"
    );
    log.append(&mut build_batch(&spec(26)), 0, 0).unwrap();
    let err = log.append(&mut build_batch(&spec(40)), 0, 0).unwrap_err();
    assert!(matches!(
        err,
        LogError::OutOfOrderSequence { expected: 28, .. }
    ));
}

#[test]
fn deferred_roll_fsync_of_a_deleted_partition_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("t-0");
    let mut log = open(&part, page_cache_config());
    append_n(&mut log, 12, 1, 1000);
    let syncs = log.pending_roll_syncs().unwrap();
    std::fs::remove_dir_all(&part).unwrap();
    syncs.sync().unwrap();
}

#[test]
fn segments_a_crash_left_below_the_log_start_are_deleted_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    append_n(&mut log, 30, 1, 1000);
    let files_before = log_files(dir.path());
    let (start, removed) = log.delete_records_before_deferred(20).unwrap();
    let files = removed.write_log_start().unwrap();
    assert!(files.bytes() > 0);
    drop(files); // a crash after the checkpoint, before the files went
    assert_eq!(log_files(dir.path()), files_before);
    let kept = log.segment_count();
    drop(log);
    let (log, report) = PartitionLog::open(dir.path(), small_config()).unwrap();
    assert_eq!(log.log_start_offset(), start);
    assert_eq!(log_files(dir.path()), kept);
    assert_eq!(log.segment_count(), kept);
    assert!(
        report
            .dropped
            .iter()
            .any(|d| d.contains("below the log start")),
        "{report:?}"
    );
    assert_eq!(offsets(&read_all(&log, start)).first(), Some(&(20, 20)));
}

#[test]
fn deletion_pauses_shrink_so_a_pass_ends_within_its_budget() {
    use crate::segment::{gentle_pause, gentle_steps, GENTLE_DELETE_PAUSE, GENTLE_DELETE_STEP};
    use std::time::Duration;
    assert_eq!(gentle_steps(GENTLE_DELETE_STEP), 0);
    assert_eq!(gentle_steps(GENTLE_DELETE_STEP + 1), 1);
    let gib = gentle_steps(1 << 30);
    assert_eq!(gib, 255);
    // Kafka's default check interval (5 min): the full pause.
    assert_eq!(
        gentle_pause(gib, Duration::from_secs(150)),
        GENTLE_DELETE_PAUSE
    );
    assert_eq!(gentle_pause(0, Duration::ZERO), GENTLE_DELETE_PAUSE);
    // A 2 s interval and 12 GiB due: pauses that fit half of one second.
    let p = gentle_pause(12 * gib, Duration::from_secs(1));
    assert!(p < GENTLE_DELETE_PAUSE && p * (12 * gib as u32) <= Duration::from_millis(500));
    assert_eq!(
        gentle_pause(u64::MAX, Duration::from_secs(1)),
        Duration::ZERO
    );
}

/// The file-range read jumps over indexed batches: for every start, byte budget and bound
/// across two segments it returns exactly the whole batches the copying read (which walks every
/// header) returns, the same records count, and never more than the budget.
#[test]
fn range_reads_that_jump_by_the_index_return_what_a_full_walk_returns() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_bytes: 2000,
        index_interval_bytes: 1,
        retention_ms: None,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), cfg);
    let batches = append_n(&mut log, 24, 2, 0);
    assert!(
        log.segment_count() >= 2,
        "the reads cross a segment boundary"
    );
    let end = batches.last().unwrap().1 + 1;
    for from in 0..end {
        for max_bytes in (0..2600u64).step_by(37) {
            for bound in [end, end - 5, from + 3] {
                let mut copied = Vec::new();
                log.read_into(from, max_bytes, bound, true, &mut copied)
                    .unwrap();
                let ranges = log.read(from, max_bytes, bound, true).unwrap();
                let sent = crate::testutil::slice_bytes(&ranges.slices);
                assert!(
                    sent == copied,
                    "from {from} max_bytes {max_bytes} bound {bound}: ranges hold batches {:?}, \
                     the full walk {:?}",
                    offsets(&sent),
                    offsets(&copied)
                );
                let records: i64 = offsets(&copied).iter().map(|(b, l)| l - b + 1).sum();
                assert_eq!(
                    ranges.records, records as u64,
                    "from {from} max_bytes {max_bytes}"
                );
                let one = offsets(&copied).len() == 1;
                assert!(
                    sent.len() as u64 <= max_bytes || one,
                    "over budget from {from}"
                );
            }
        }
    }
}

/// A truncation and a roll can leave a segment wholly below the log start offset; retention
/// removes it (Kafka's log-start rule), so it does not sit on disk until a restart.
#[test]
fn retention_removes_a_segment_left_wholly_below_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    append_n(&mut log, 3, 3, 0); // 0..=8 in one segment
    assert_eq!(log.delete_records_before(6).unwrap(), 6);
    log.truncate_to(7).unwrap(); // the batch holding 7 starts at 6: the log ends at 6
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (6, 6));
    log.roll(0).unwrap();
    assert_eq!(
        log.segment_count(),
        2,
        "segment 0 (0..=5) is now wholly below the start"
    );
    assert_eq!(log.enforce_retention(0).unwrap(), 1);
    assert_eq!(log.segment_count(), 1);
    assert!(!dir.path().join(crate::segment::log_file_name(0)).exists());
    append_n(&mut log, 1, 1, 0);
    assert_eq!(offsets(&read_all(&log, 6)), vec![(6, 6)]);
}
