//! Unit tests of segment file recycling (`recycle`): a retired segment's file is written over
//! by a later roll, and neither reads nor recovery ever see its old bytes as log data.

use crate::testutil::simple_batch;
use crate::{LogConfig, PartitionLog};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// 2 MiB segments of four ~500 KB batches: above `MIN_SPARE_BYTES`, small enough to be quick.
fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 2 << 20,
        retention_ms: None,
        ..LogConfig::default()
    }
}

fn open(dir: &Path) -> PartitionLog {
    PartitionLog::open(dir, config()).unwrap().0
}

/// Appends `n` one-record batches of ~500 KB (offsets consecutive from the log end).
fn append(log: &mut PartitionLog, n: usize) {
    for _ in 0..n {
        let ts = log.log_end_offset();
        log.append(&mut simple_batch(1, 500_000, ts), 1, ts)
            .unwrap();
    }
}

fn log_path(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("{base:020}.log"))
}

fn inode(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().ino()
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// Every offset from the log start to the log end, read back in order.
fn assert_reads_whole_log(log: &PartitionLog) {
    let mut buf = Vec::new();
    log.read_into(log.log_start_offset(), u64::MAX, i64::MAX, true, &mut buf)
        .unwrap();
    let got: Vec<i64> = crate::split_batches(&buf)
        .unwrap()
        .into_iter()
        .map(|(_, h)| h.base_offset)
        .collect();
    let want: Vec<i64> = (log.log_start_offset()..log.log_end_offset()).collect();
    assert_eq!(got, want);
}

/// Recovery reported something cut or dropped that mentions `what`.
fn assert_dropped(report: &crate::RecoveryReport, what: &str) {
    assert!(
        report.dropped.iter().any(|d| d.contains(what)),
        "{what:?} not in {report:?}"
    );
}

/// Three segments (offsets 0-3, 4-7, active from 8), then retention down to ~one segment
/// retires the first one as the spare, its checkpoint written.
fn log_with_ready_spare(dir: &Path) -> PartitionLog {
    let mut log = open(dir);
    append(&mut log, 10);
    assert_eq!(log.segment_count(), 3);
    assert_eq!(retain_about_one_segment(&mut log), 1);
    assert_eq!(log.log_start_offset(), 4);
    assert_eq!(log.spare_count(), 1);
    log
}

/// Retention down to about one segment (segments taken out of the log).
fn retain_about_one_segment(log: &mut PartitionLog) -> usize {
    log.set_config(LogConfig {
        retention_bytes: Some(2_500_000),
        ..config()
    });
    let (n, removed) = log.enforce_retention_deferred(0).unwrap();
    removed.delete().unwrap();
    log.set_config(config());
    n
}

#[test]
fn the_next_roll_writes_over_the_retired_file_and_trims_it_when_it_closes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = log_with_ready_spare(dir.path());
    let spare = log_path(dir.path(), 0);
    let (spare_inode, spare_len) = (inode(&spare), file_len(&spare));
    assert!(spare_len > 1 << 20);

    append(&mut log, 3); // offsets 10..12; the third rolls at 12
    let new = log_path(dir.path(), 12);
    assert!(!spare.exists() && !dir.path().join(format!("{:020}.index", 0)).exists());
    assert_eq!(inode(&new), spare_inode, "the roll renamed the spare");
    assert_eq!(file_len(&new), spare_len, "written over, not emptied");
    assert_eq!(log.spare_count(), 0);
    assert_reads_whole_log(&log);

    append(&mut log, 1); // offset 13
    log.roll(0).unwrap();
    let closed_size = log.segments[&12].size;
    assert!(closed_size < spare_len);
    assert_eq!(file_len(&new), closed_size, "the closed segment is trimmed");
    assert_reads_whole_log(&log);
}

#[test]
fn a_crash_with_a_recycled_active_segment_recovers_exactly_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = log_with_ready_spare(dir.path());
    append(&mut log, 4); // rolls at 12 onto the spare; 12 and 13 written over it
    assert!(file_len(&log_path(dir.path(), 12)) > log.segments[&12].size);
    drop(log); // a crash: no flush, no trim

    let (mut log, report) = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.log_end_offset(), 14);
    assert_dropped(&report, "older segment");
    assert_eq!(
        file_len(&log_path(dir.path(), 12)),
        log.segments[&12].size,
        "the old tail is cut"
    );
    assert_eq!(log.segment_count(), 3, "no segment was dropped");
    assert_reads_whole_log(&log);
    append(&mut log, 2);
    assert_reads_whole_log(&log);
}

#[test]
fn a_stale_tail_a_crash_left_in_a_closed_segment_is_cut_and_later_segments_stay() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = log_with_ready_spare(dir.path());
    // An old batch (offset 5) as it sits in the segment at 4.
    let mut old = Vec::new();
    log.read_into(5, 1, i64::MAX, true, &mut old).unwrap();
    append(&mut log, 9); // rolls at 12 (recycled) and at 16
    assert_eq!(log.segment_count(), 4);
    drop(log);
    // The trim of the closed segment at 12 did not reach the disk, nor did the checkpoint
    // that would let recovery trust it.
    let closed = log_path(dir.path(), 12);
    let mut bytes = std::fs::read(&closed).unwrap();
    bytes.extend_from_slice(&old);
    std::fs::write(&closed, &bytes).unwrap();
    std::fs::remove_file(dir.path().join(crate::checkpoint::RECOVERY_POINT_FILE)).unwrap();

    let (log, report) = PartitionLog::open(dir.path(), config()).unwrap();
    assert_dropped(&report, "older segment");
    assert_eq!(log.segment_count(), 4, "{report:?}");
    assert_eq!(log.log_end_offset(), 19);
    assert_reads_whole_log(&log);
}

#[test]
fn a_rename_lost_in_a_crash_leaves_new_bytes_under_the_old_name_and_open_deletes_them_unread() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with_ready_spare(dir.path());
    // A batch with new offsets (8) at the head of the spare's file, still named 0: the bytes
    // and the deletion of its indexes reached the disk, the rename did not.
    let mut new = Vec::new();
    log.read_into(8, 1, i64::MAX, true, &mut new).unwrap();
    drop(log);
    let spare = log_path(dir.path(), 0);
    let mut bytes = std::fs::read(&spare).unwrap();
    bytes[..new.len()].copy_from_slice(&new);
    std::fs::write(&spare, &bytes).unwrap();
    for ext in ["index", "timeindex"] {
        std::fs::remove_file(dir.path().join(format!("{:020}.{ext}", 0))).unwrap();
    }

    let (log, report) = PartitionLog::open(dir.path(), config()).unwrap();
    assert!(!spare.exists());
    assert_dropped(&report, "below the log start");
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (4, 10));
    assert_eq!(log.segment_count(), 2, "{report:?}");
    assert_reads_whole_log(&log);
}

#[test]
fn a_spare_is_used_only_once_its_checkpoint_is_written_and_no_read_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    append(&mut log, 10);
    let spare = log_path(dir.path(), 0);
    let spare_inode = inode(&spare);
    // A fetch is still sending bytes of the oldest segment.
    let reading = log.read(0, u64::MAX, i64::MAX, true).unwrap();
    assert!(!reading.slices.is_empty());
    log.set_config(LogConfig {
        retention_bytes: Some(2_500_000),
        ..config()
    });
    let (_, removed) = log.enforce_retention_deferred(0).unwrap();
    log.set_config(config());
    append(&mut log, 3); // rolls at 12 before the log start checkpoint is written
    assert_ne!(inode(&log_path(dir.path(), 12)), spare_inode);
    removed.delete().unwrap();
    assert!(spare.exists(), "the spare is kept, not deleted");
    append(&mut log, 4); // rolls at 16 while the read still holds the file
    assert_ne!(inode(&log_path(dir.path(), 16)), spare_inode);
    assert!(spare.exists());
    drop(reading);
    append(&mut log, 4); // rolls at 20: now it is written over
    assert_eq!(inode(&log_path(dir.path(), 20)), spare_inode);
    assert!(!spare.exists());
    assert_reads_whole_log(&log);
}

#[test]
fn a_clean_close_trims_the_active_segment_so_reopening_scans_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = log_with_ready_spare(dir.path());
    append(&mut log, 3); // rolls at 12 onto the spare; 12 written
    log.close().unwrap();
    assert_eq!(file_len(&log_path(dir.path(), 12)), log.segments[&12].size);
    drop(log);
    let (log, report) = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!(report.batches_scanned, 0, "{report:?}");
    assert_eq!(log.log_end_offset(), 13);
    assert_reads_whole_log(&log);
}

#[test]
fn unused_spares_expire_and_a_full_truncation_drops_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = log_with_ready_spare(dir.path());
    let spare = log_path(dir.path(), 0);
    log.spares.backdate(crate::recycle::SPARE_KEEP * 2);
    let (n, removed) = log.enforce_retention_deferred(0).unwrap();
    assert_eq!(n, 0, "nothing left the log");
    assert_eq!(log.spare_count(), 0);
    removed.delete().unwrap();
    assert!(!spare.exists());
    assert_reads_whole_log(&log);

    // A new spare; then the log restarts at a lower offset than its batches.
    append(&mut log, 8);
    assert_eq!(retain_about_one_segment(&mut log), 2);
    let spares = log.spares.paths();
    assert_eq!(spares.len(), 2, "both retired segments are kept");
    assert!(spares.iter().all(|p| p.exists()));
    log.truncate_fully_and_start_at(2).unwrap();
    assert_eq!(log.spare_count(), 0);
    assert!(spares.iter().all(|p| !p.exists()));
    append(&mut log, 5);
    assert_reads_whole_log(&log);
}

#[test]
fn truncating_a_recycled_active_segment_cuts_its_old_tail_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = log_with_ready_spare(dir.path());
    append(&mut log, 5); // 12, 13 and 14 over the spare
    log.truncate_to(13).unwrap();
    assert_eq!(log.log_end_offset(), 13);
    assert_eq!(file_len(&log_path(dir.path(), 12)), log.segments[&12].size);
    drop(log);
    let (log, report) = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.log_end_offset(), 13, "{report:?}");
    assert_reads_whole_log(&log);
}

#[test]
fn delete_records_frees_its_segments_instead_of_keeping_spares() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    append(&mut log, 10);
    log.delete_records_before(8).unwrap();
    assert_eq!(log.spare_count(), 0);
    assert!(!log_path(dir.path(), 0).exists() && !log_path(dir.path(), 4).exists());
    assert_reads_whole_log(&log);
}

#[test]
fn a_replicated_gap_renames_an_empty_recycled_segment_instead_of_unlinking_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = log_with_ready_spare(dir.path());
    let spare_inode = inode(&log_path(dir.path(), 0));
    append(&mut log, 2); // 10, 11: the active segment is full
    log.roll(0).unwrap(); // onto the spare, nothing written yet
    assert_eq!(inode(&log_path(dir.path(), 12)), spare_inode);
    // A follower gets a batch past a gap (a compacted leader): the empty segment moves.
    let batch = crate::testutil::build_batch(&crate::testutil::BatchSpec {
        base_offset: 20,
        records: 1,
        record_bytes: 100,
        ..crate::testutil::BatchSpec::default()
    });
    log.append_replicated(&batch).unwrap();
    assert!(!log_path(dir.path(), 12).exists());
    assert_eq!(inode(&log_path(dir.path(), 20)), spare_inode);
    assert_eq!(log.log_end_offset(), 21);
    drop(log);
    let (log, report) = PartitionLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.log_end_offset(), 21, "{report:?}");
    let mut buf = Vec::new();
    log.read_into(20, u64::MAX, i64::MAX, true, &mut buf)
        .unwrap();
    assert_eq!(buf, batch);
}
