//! Unit tests of a whole pass on a real log: what is kept, when a log is due, the commit's
//! conflict checks, the checkpoint's resets, and crash recovery at each swap step (without
//! power loss; the model test in `tests/it/cleaner.rs` adds power cuts).

use crate::cleaner::{
    checkpoint, CleanedSegments, Cleaner, CleanerConfig, CommitOutcome, NoThrottle,
};
use crate::{
    BatchBuilder, BatchTemplate, CleanupPolicy, Codec, Headers, LogConfig, NewRecord, PartitionLog,
    Records,
};
use std::path::Path;

const NOW: i64 = 1_000_000;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 400,
        segment_ms: None,
        retention_ms: None,
        index_interval_bytes: 100,
        cleanup_policy: CleanupPolicy::COMPACT,
        min_cleanable_dirty_ratio: 0.0,
        delete_retention_ms: 1_000,
        ..LogConfig::default()
    }
}

/// Appends one batch of `(key, value)` records (producer `pid` when >= 0).
fn append(
    log: &mut PartitionLog,
    recs: &[(Option<&str>, Option<&str>)],
    pid: i64,
    seq: i32,
) -> i64 {
    let mut t = BatchTemplate::plain(0);
    if pid >= 0 {
        (t.producer_id, t.producer_epoch, t.base_sequence) = (pid, 0, seq);
    }
    let mut b = BatchBuilder::new(t, Codec::Lz4, None, Vec::new());
    for (i, (k, v)) in recs.iter().enumerate() {
        let r = NewRecord {
            offset: i as i64,
            timestamp: NOW,
            key: k.map(str::as_bytes),
            value: v.map(str::as_bytes),
            headers: Headers::default(),
        };
        b.push(&r).unwrap();
    }
    let mut bytes = b.finish().unwrap();
    log.append(&mut bytes, 0, NOW).unwrap().base_offset
}

/// (offset, key, value) of every record from the log start.
fn contents(log: &PartitionLog) -> Vec<(i64, Option<String>, Option<String>)> {
    let mut buf = Vec::new();
    log.read_into(log.log_start_offset(), u64::MAX, i64::MAX, true, &mut buf)
        .unwrap();
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let h = crate::BatchHeader::parse(&buf[pos..]).unwrap();
        let mut s = Vec::new();
        for r in Records::decode(&buf[pos..pos + h.total_len()], &mut s, 1 << 20)
            .unwrap()
            .iter()
        {
            let r = r.unwrap();
            let st = |b: Option<&[u8]>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
            out.push((r.offset, st(r.key), st(r.value)));
        }
        pos += h.total_len();
    }
    out
}

fn pass(log: &mut PartitionLog, now: i64, map_bytes: usize) -> Option<CommitOutcome> {
    let plan = log.plan_clean(now, i64::MAX).unwrap()?;
    let mut c = Cleaner::new(CleanerConfig {
        dedupe_buffer_bytes: map_bytes,
        ..CleanerConfig::default()
    });
    let cleaned = c.clean(plan, &mut NoThrottle).unwrap();
    Some(log.commit_clean(cleaned).unwrap())
}

fn fill(dir: &Path) -> PartitionLog {
    let (mut log, _) = PartitionLog::open(dir, config()).unwrap();
    append(
        &mut log,
        &[
            (Some("a"), Some("1")),
            (Some("b"), Some("1")),
            (None, Some("x")),
        ],
        -1,
        0,
    );
    append(&mut log, &[(Some("a"), Some("2")), (Some("c"), None)], 7, 0);
    log.roll(NOW).unwrap();
    append(
        &mut log,
        &[(Some("b"), Some("2")), (Some("a"), Some("3"))],
        -1,
        0,
    );
    log.roll(NOW).unwrap();
    append(&mut log, &[(Some("a"), Some("4"))], -1, 0);
    log
}

fn s(o: i64, k: &str, v: Option<&str>) -> (i64, Option<String>, Option<String>) {
    (o, Some(k.into()), v.map(Into::into))
}

#[test]
fn a_pass_keeps_the_latest_per_key_and_never_touches_the_active_segment() {
    let d = tempfile::tempdir().unwrap();
    let mut log = fill(d.path());
    let info = log.cleanable_info(NOW, i64::MAX).unwrap();
    assert_eq!(
        (info.first_dirty_offset, info.first_uncleanable_offset),
        (0, 7)
    );
    assert!(info.cleanable && info.dirty_ratio > 0.99);
    let Some(CommitOutcome::Swapped { stats, obsolete }) = pass(&mut log, NOW, 1 << 16) else {
        panic!("not swapped")
    };
    obsolete.delete(std::time::Duration::ZERO).unwrap();
    assert_eq!((stats.end_offset, stats.keyless_removed), (7, 1));
    assert_eq!(
        contents(&log),
        vec![
            s(4, "c", None),
            s(5, "b", Some("2")),
            s(6, "a", Some("3")),
            s(7, "a", Some("4"))
        ]
    );
    // The producer's emptied last batch is kept (offsets 3..=4, no records but the tombstone).
    assert_eq!(
        log.producer_state()
            .producer(7)
            .unwrap()
            .batches
            .back()
            .unwrap()
            .last_seq,
        1
    );
    assert_eq!(checkpoint::read(d.path()).unwrap(), Some(7));
    log.verify_indexes().unwrap();
    let before = contents(&log);
    drop(log);
    let (log, report) = PartitionLog::open(d.path(), config()).unwrap();
    assert_eq!(contents(&log), before, "{report:?}");
    assert!(report.dropped.is_empty(), "{report:?}");
}

#[test]
fn tombstones_go_after_their_horizon_and_a_small_map_takes_several_passes() {
    let d = tempfile::tempdir().unwrap();
    let mut log = fill(d.path());
    // 16 slots hold 14 keys: enough here; the horizon is the point.
    assert!(matches!(
        pass(&mut log, NOW, 0),
        Some(CommitOutcome::Swapped { .. })
    ));
    log.roll(NOW).unwrap();
    assert!(pass(&mut log, NOW + 999, 0).is_some());
    assert!(
        contents(&log).contains(&s(4, "c", None)),
        "within the horizon"
    );
    log.roll(NOW).unwrap();
    append(&mut log, &[(Some("z"), Some("1"))], -1, 0);
    log.roll(NOW).unwrap();
    assert!(pass(&mut log, NOW + 1_000, 0).is_some());
    assert!(
        !contents(&log).iter().any(|r| r.1.as_deref() == Some("c")),
        "horizon passed"
    );
}

#[test]
fn more_keys_than_the_map_holds_are_cleaned_over_several_passes() {
    let d = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(d.path(), config()).unwrap();
    for round in 0..3 {
        for k in 0..40 {
            let (key, val) = (format!("k{k}"), format!("{round}"));
            append(&mut log, &[(Some(&key), Some(&val))], -1, 0);
        }
    }
    log.roll(NOW).unwrap();
    let mut passes = 0;
    while let Some(out) = pass(&mut log, NOW, 16 * 24) {
        assert!(matches!(out, CommitOutcome::Swapped { .. }));
        passes += 1;
        if log.cleanable_info(NOW, i64::MAX).unwrap().dirty_bytes == 0 {
            break;
        }
    }
    assert!(passes > 3, "{passes} passes");
    let c = contents(&log);
    assert_eq!(c.len(), 40);
    assert!(c.iter().all(|r| r.2.as_deref() == Some("2")));
}

#[test]
fn a_pass_whose_segments_went_away_is_abandoned_and_leaves_no_files() {
    let d = tempfile::tempdir().unwrap();
    let mut log = fill(d.path());
    let plan = log.plan_clean(NOW, i64::MAX).unwrap().unwrap();
    let cleaned = Cleaner::new(CleanerConfig::default())
        .clean(plan, &mut NoThrottle)
        .unwrap();
    log.delete_records_before(5).unwrap();
    let out = log.commit_clean(cleaned).unwrap();
    assert!(matches!(out, CommitOutcome::Abandoned { .. }), "{out:?}");
    let names: Vec<String> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.ends_with(".cleaned") || n.ends_with(".swap")),
        "{names:?}"
    );
}

#[test]
fn a_crash_at_each_swap_step_leaves_the_old_or_the_new_segments() {
    for crash_at in 0..8u32 {
        let d = tempfile::tempdir().unwrap();
        let mut log = fill(d.path());
        let old = contents(&log);
        let plan = log.plan_clean(NOW, i64::MAX).unwrap().unwrap();
        let mut cleaned: CleanedSegments = Cleaner::new(CleanerConfig::default())
            .clean(plan, &mut NoThrottle)
            .unwrap();
        cleaned.crash_after(crash_at);
        let res = log.commit_clean(cleaned);
        drop(log);
        let (log, report) = PartitionLog::open(d.path(), config()).unwrap();
        let got = contents(&log);
        let new = vec![
            s(4, "c", None),
            s(5, "b", Some("2")),
            s(6, "a", Some("3")),
            s(7, "a", Some("4")),
        ];
        if crash_at < 3 {
            assert_eq!(got, old, "crash after step {crash_at}: {res:?} {report:?}");
        } else {
            assert_eq!(got, new, "crash after step {crash_at}: {res:?} {report:?}");
            assert_eq!(checkpoint::read(d.path()).unwrap(), Some(7));
        }
        log.verify_indexes().unwrap();
        let leftovers = std::fs::read_dir(d.path())
            .unwrap()
            .filter(|e| {
                let n = e.as_ref().unwrap().file_name().into_string().unwrap();
                n.contains(".cleaned")
                    || n.contains(".swap")
                    || n.contains(".deleted")
                    || n == "cleaner-swap"
            })
            .count();
        assert_eq!(leftovers, 0, "crash after step {crash_at}");
    }
}

#[test]
fn due_rules_ratio_lags_policy_and_bound() {
    let d = tempfile::tempdir().unwrap();
    let mut log = fill(d.path());
    let mut cfg = config();
    cfg.min_cleanable_dirty_ratio = 0.5;
    log.set_config(cfg.clone());
    assert!(log.cleanable_info(NOW, i64::MAX).unwrap().cleanable);
    assert!(pass(&mut log, NOW, 1 << 16).is_some());
    let i = log.cleanable_info(NOW, i64::MAX).unwrap();
    assert!(!i.cleanable && i.dirty_bytes == 0 && i.first_dirty_offset == 7);
    // The bound (high watermark) stops cleaning at the segment holding it.
    let i = log.cleanable_info(NOW, 2).unwrap();
    assert_eq!(i.first_uncleanable_offset, 0);
    // min.compaction.lag.ms: records younger than the lag are not cleanable.
    log.roll(NOW).unwrap();
    append(&mut log, &[(Some("q"), Some("1"))], -1, 0);
    log.roll(NOW).unwrap();
    cfg.min_compaction_lag_ms = 10_000;
    log.set_config(cfg.clone());
    assert_eq!(
        log.cleanable_info(NOW + 5_000, i64::MAX)
            .unwrap()
            .dirty_bytes,
        0
    );
    assert!(
        log.cleanable_info(NOW + 20_000, i64::MAX)
            .unwrap()
            .dirty_bytes
            > 0
    );
    // max.compaction.lag.ms forces cleaning below the ratio.
    cfg.min_compaction_lag_ms = 0;
    cfg.min_cleanable_dirty_ratio = 0.99;
    cfg.max_compaction_lag_ms = 1_000;
    log.set_config(cfg.clone());
    let i = log.cleanable_info(NOW + 5_000, i64::MAX).unwrap();
    assert!(i.compaction_lag_due && i.cleanable, "{i:?}");
    // A delete-only policy never cleans.
    cfg.cleanup_policy = CleanupPolicy::default();
    log.set_config(cfg);
    assert!(!log.cleanable_info(NOW + 5_000, i64::MAX).unwrap().cleanable);
    assert!(log.plan_clean(NOW, i64::MAX).unwrap().is_none());
}

#[test]
fn compact_alone_keeps_segments_retention_would_delete_and_truncation_lowers_the_checkpoint() {
    let d = tempfile::tempdir().unwrap();
    let mut log = fill(d.path());
    let mut cfg = config();
    cfg.retention_ms = Some(1);
    cfg.retention_bytes = Some(1);
    log.set_config(cfg.clone());
    assert_eq!(log.enforce_retention(NOW + 10_000).unwrap(), 0);
    cfg.cleanup_policy = CleanupPolicy::COMPACT_DELETE;
    log.set_config(cfg);
    assert!(pass(&mut log, NOW, 1 << 16).is_some());
    log.truncate_to(6).unwrap();
    // The batch holding 6 (5..=6) goes whole: the log ends at 5, and so does the clean part.
    assert_eq!(log.log_end_offset(), 5);
    assert_eq!(checkpoint::read(d.path()).unwrap(), Some(5));
    log.roll(NOW).unwrap();
    append(&mut log, &[(Some("a"), Some("5"))], -1, 0);
    assert!(log.enforce_retention(NOW + 10_000).unwrap() > 0);
}

#[test]
fn the_throttle_sees_every_byte_and_can_stop_a_pass() {
    let d = tempfile::tempdir().unwrap();
    let log = fill(d.path());
    let plan = log.plan_clean(NOW, i64::MAX).unwrap().unwrap();
    let mut seen = 0u64;
    let mut count = |b: u64| {
        seen += b;
        Ok(())
    };
    let cleaned = Cleaner::new(CleanerConfig::default())
        .clean(plan.clone(), &mut count)
        .unwrap();
    let st = &cleaned.stats;
    assert_eq!(seen, st.map_bytes_read + st.bytes_read + st.bytes_written);
    cleaned.discard().unwrap();
    let mut stop = |_: u64| Err(crate::cleaner::throttle::aborted("shutdown"));
    let err = Cleaner::new(CleanerConfig::default())
        .clean(plan, &mut stop)
        .unwrap_err();
    assert!(matches!(err, crate::LogError::CleanerAborted { .. }));
}
