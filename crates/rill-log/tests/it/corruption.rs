//! Corruption tests. Contract: whatever bytes are flipped, cut or deleted, `open` succeeds,
//! keeps every intact batch before the damage (byte for byte), drops the damaged batch and
//! everything after it, and says in the report what it dropped. Indexes and checkpoints are
//! derived data: losing or garbling them loses no batch.
#![allow(clippy::unwrap_used)]

use rand::{Rng, SeedableRng};
use rill_log::testutil::simple_batch;
use rill_log::{LogConfig, PartitionLog};
use std::path::{Path, PathBuf};

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 4000,
        index_interval_bytes: 300,
        retention_ms: None,
        ..LogConfig::default()
    }
}

/// Writes 60 batches of varied sizes without a final flush (as after a crash); returns each
/// batch's (base, last, bytes).
fn build(dir: &Path, seed: u64) -> Vec<(i64, i64, Vec<u8>)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (mut log, _) = PartitionLog::open(dir, config()).unwrap();
    (0..60)
        .map(|i| {
            let mut b = simple_batch(rng.random_range(1..4), rng.random_range(10..400), i);
            let info = log.append(&mut b, 0, i).unwrap();
            (info.base_offset, info.last_offset, b)
        })
        .collect()
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

fn content(log: &PartitionLog) -> Vec<u8> {
    let mut buf = Vec::new();
    log.read_into(log.log_start_offset(), u64::MAX, i64::MAX, true, &mut buf)
        .unwrap();
    buf
}

/// Expected content: all batches whose base offset is below `keep_below`.
fn prefix(batches: &[(i64, i64, Vec<u8>)], keep_below: i64) -> Vec<u8> {
    batches
        .iter()
        .filter(|b| b.0 < keep_below)
        .flat_map(|b| b.2.clone())
        .collect()
}

/// Base offset of the batch whose bytes cover `pos` in segment file `seg_base`.
fn batch_at(batches: &[(i64, i64, Vec<u8>)], seg_base: i64, pos: u64) -> (i64, u64) {
    let mut at = 0u64;
    for b in batches.iter().filter(|b| b.0 >= seg_base) {
        if pos < at + b.2.len() as u64 {
            return (b.0, pos - at);
        }
        at += b.2.len() as u64;
    }
    panic!("position {pos} beyond segment {seg_base}");
}

fn seg_base(p: &Path) -> i64 {
    p.file_stem().unwrap().to_str().unwrap().parse().unwrap()
}

#[test]
fn flipped_byte_in_unflushed_segment_cuts_from_that_batch() {
    for seed in 0..12u64 {
        let dir = tempfile::tempdir().unwrap();
        let batches = build(dir.path(), seed);
        let last = files(dir.path(), "log").pop().unwrap();
        let base = seg_base(&last);
        let len = std::fs::metadata(&last).unwrap().len();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed + 100);
        let (pos, damaged) = loop {
            let pos = rng.random_range(0..len);
            let (b, within) = batch_at(&batches, base, pos);
            // The partition leader epoch (bytes 12..16) is outside the CRC in Kafka's format.
            if !(12..16).contains(&within) {
                break (pos, b);
            }
        };
        let mut bytes = std::fs::read(&last).unwrap();
        bytes[pos as usize] ^= 1 << rng.random_range(0..8);
        std::fs::write(&last, bytes).unwrap();
        let (log, report) = PartitionLog::open(dir.path(), config()).unwrap();
        assert_eq!(
            log.log_end_offset(),
            damaged,
            "seed {seed} pos {pos}: {report:?}"
        );
        assert_eq!(content(&log), prefix(&batches, damaged), "seed {seed}");
        assert!(
            !report.dropped.is_empty() && report.truncated_bytes > 0,
            "{report:?}"
        );
    }
}

#[test]
fn truncated_log_file_keeps_whole_batches_before_the_cut() {
    for seed in 0..12u64 {
        let dir = tempfile::tempdir().unwrap();
        let batches = build(dir.path(), seed);
        let last = files(dir.path(), "log").pop().unwrap();
        let base = seg_base(&last);
        let len = std::fs::metadata(&last).unwrap().len();
        let cut = rand::rngs::StdRng::seed_from_u64(seed).random_range(0..len);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&last)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let (first_lost, within) = batch_at(&batches, base, cut);
        let (log, report) = PartitionLog::open(dir.path(), config()).unwrap();
        assert_eq!(log.log_end_offset(), first_lost);
        assert_eq!(content(&log), prefix(&batches, first_lost));
        if within > 0 {
            assert!(
                report.dropped.iter().any(|d| d.contains("torn")),
                "{report:?}"
            );
        }
    }
}

#[test]
fn damage_in_an_old_segment_without_recovery_point_drops_it_and_everything_after() {
    let dir = tempfile::tempdir().unwrap();
    let batches = build(dir.path(), 7);
    let logs = files(dir.path(), "log");
    assert!(logs.len() >= 4, "{}", logs.len());
    let victim = &logs[1];
    let base = seg_base(victim);
    let mut bytes = std::fs::read(victim).unwrap();
    let pos = bytes.len() / 2;
    bytes[pos] ^= 0x40;
    std::fs::write(victim, bytes).unwrap();
    std::fs::remove_file(dir.path().join(rill_log::checkpoint::RECOVERY_POINT_FILE)).unwrap();
    let (damaged, _) = batch_at(&batches, base, pos as u64);
    let (log, report) = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.log_end_offset(), damaged);
    assert_eq!(content(&log), prefix(&batches, damaged));
    assert_eq!(log.segment_count(), 2);
    assert!(
        report
            .dropped
            .iter()
            .filter(|d| d.contains("deleted"))
            .count()
            >= 2,
        "{report:?}"
    );
    assert_eq!(files(dir.path(), "log").len(), 2);
}

#[test]
fn deleted_indexes_and_garbage_checkpoints_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let batches = build(dir.path(), 3);
    for p in files(dir.path(), "index")
        .into_iter()
        .chain(files(dir.path(), "timeindex"))
    {
        std::fs::remove_file(p).unwrap();
    }
    for name in [
        "recovery-point",
        "log-start-offset",
        "high-watermark",
        "leader-epoch-checkpoint",
    ] {
        std::fs::write(dir.path().join(name), b"\x00garbage\xff").unwrap();
    }
    let (log, report) = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!(content(&log), prefix(&batches, i64::MAX));
    assert_eq!(report.indexes_rebuilt, files(dir.path(), "log").len());
    assert!(
        report
            .dropped
            .iter()
            .filter(|d| d.contains("ignored"))
            .count()
            >= 3,
        "{report:?}"
    );
    for (base, last, _) in &batches {
        let r = log.read(*last, 1, i64::MAX, true).unwrap();
        assert_eq!(r.first_batch_base_offset, Some(*base));
    }
    assert_eq!(
        files(dir.path(), "index").len(),
        files(dir.path(), "log").len()
    );
}

#[test]
fn random_bytes_in_every_file_never_panic() {
    for seed in 0..40u64 {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let _ = build(dir.path(), seed);
        for p in std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
        {
            let mut bytes = std::fs::read(&p).unwrap();
            if bytes.is_empty() || rng.random_bool(0.3) {
                continue;
            }
            for _ in 0..rng.random_range(1..20) {
                let i = rng.random_range(0..bytes.len());
                bytes[i] = rng.random();
            }
            if rng.random_bool(0.3) {
                bytes.truncate(rng.random_range(0..bytes.len()));
            }
            std::fs::write(&p, bytes).unwrap();
        }
        let (mut log, _) = PartitionLog::open(dir.path(), config()).unwrap();
        let start = log.log_start_offset();
        for off in start..log.log_end_offset() {
            log.read(off, 1000, i64::MAX, true).unwrap();
        }
        let _ = log.offset_for_timestamp(10).unwrap();
        let mut b = simple_batch(1, 10, 0);
        let info = log.append(&mut b, 0, 0).unwrap();
        assert_eq!(info.base_offset + 1, log.log_end_offset());
    }
}

#[test]
fn absurd_file_names_and_checkpoint_values_do_not_overflow() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("09223372036854775807.log"),
        simple_batch(1, 10, 0),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("log-start-offset"),
        format!("0\n1\n{}\n", i64::MAX),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("recovery-point"),
        format!("0\n1\n{} {} {}\n", i64::MAX, i64::MIN, i64::MAX),
    )
    .unwrap();
    let (mut log, report) = PartitionLog::open(dir.path(), config()).unwrap();
    assert!(
        report.dropped.iter().any(|d| d.contains("ignored")),
        "{report:?}"
    );
    let info = log.append(&mut simple_batch(3, 10, 0), 0, 0).unwrap();
    assert_eq!(info.last_offset + 1, log.log_end_offset());
    log.truncate_fully_and_start_at(i64::MAX).unwrap();
    log.append(&mut simple_batch(3, 10, 0), 0, 0).unwrap();
}
