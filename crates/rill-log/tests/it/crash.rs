//! Crash test. Contract: every append whose `wait_durable` returned before the process was
//! killed with SIGKILL is present after reopening, at the same offsets, byte-intact (CRC).
//!
//! The test re-executes its own binary as the child (`crash_child`, enabled by
//! `RILL_CRASH_DIR`): three writer threads append random batches to one log behind a Mutex,
//! wait for durability outside the lock and print `ack <base> <last> <crc>` lines. The parent
//! kills the child at a random moment, reopens the log, checks every acknowledged batch, and
//! repeats on the same directory (so recovery of recovered logs is exercised too).
//! Odd rounds turn on torn writes (the crate's fault seam), so recovery has torn tails to cut.
//! A second test does the same while a fourth thread enforces size retention every few
//! milliseconds on 1.5 MiB segments, so rolls write over recycled segment files: batches
//! retention removed are not checked, every other acknowledged one is, and the whole log
//! must read back as contiguous, intact batches (no old bytes of a recycled file).
//! Note: SIGKILL keeps the page cache, so this checks recovery of torn process state,
//! not power loss.
#![allow(clippy::unwrap_used)]

use rand::{Rng, SeedableRng};
use rill_log::testutil::{build_batch, BatchSpec};
use rill_log::{split_batches, validate_batch, LogConfig, PartitionLog};
use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 256 * 1024,
        index_interval_bytes: 4096,
        retention_ms: None,
        ..LogConfig::default()
    }
}

/// Segments big enough to be kept as spares, and retention that keeps about three.
fn recycling_config() -> LogConfig {
    LogConfig {
        segment_bytes: 9 << 17,
        retention_bytes: Some(5 << 19),
        ..config()
    }
}

fn config_for(recycle: bool) -> LogConfig {
    if recycle {
        recycling_config()
    } else {
        config()
    }
}

#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("RILL_CRASH_DIR") else {
        return;
    };
    let seed: u64 = std::env::var("RILL_CRASH_SEED").unwrap().parse().unwrap();
    // Odd rounds tear every write in two with a pause, so kills leave torn batches behind.
    rill_log::io::fault::set_torn_writes(seed % 2 == 1);
    let recycle = std::env::var("RILL_CRASH_RECYCLE").is_ok();
    let (log, _) = PartitionLog::open(std::path::Path::new(&dir), config_for(recycle)).unwrap();
    let log = Arc::new(Mutex::new(log));
    if recycle {
        let log = log.clone();
        std::thread::spawn(move || loop {
            let removed = log.lock().unwrap().enforce_retention_deferred(0).unwrap().1;
            removed.delete().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(5));
        });
    }
    let threads: Vec<_> = (0..3u64)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut rng =
                    rand::rngs::StdRng::seed_from_u64(seed.wrapping_mul(10).wrapping_add(t));
                loop {
                    let spec = BatchSpec {
                        records: rng.random_range(1..10),
                        record_bytes: rng.random_range(20..6000),
                        fill: rng.random(),
                        max_timestamp: rng.random_range(0..1_000_000),
                        ..BatchSpec::default()
                    };
                    let mut b = build_batch(&spec);
                    let (info, durability) = {
                        let mut log = log.lock().unwrap();
                        (log.append(&mut b, 1, 0).unwrap(), log.durability())
                    };
                    durability.wait_durable(info.last_offset + 1).unwrap();
                    let crc = validate_batch(&b).unwrap().crc;
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {} {} {crc}", info.base_offset, info.last_offset).unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn acknowledged_appends_survive_kill_9() {
    kill_rounds(false);
}

#[test]
fn acknowledged_appends_survive_kill_9_while_segment_files_are_recycled() {
    kill_rounds(true);
}

fn kill_rounds(recycle: bool) {
    let dir = tempfile::tempdir().unwrap();
    let seed: u64 = std::env::var("RILL_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("crash test seed {seed} (set RILL_CRASH_SEED to replay)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let exe = std::env::current_exe().unwrap();
    let mut acked: Vec<(i64, i64, u32)> = Vec::new();
    let (mut cut_bytes, mut left_below_start) = (0, 0);
    for round in 0..if recycle { 10 } else { 6u64 } {
        let mut cmd = std::process::Command::new(&exe);
        if recycle {
            cmd.env("RILL_CRASH_RECYCLE", "1");
        }
        let mut child = cmd
            .args([
                "crash::crash_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("RILL_CRASH_DIR", dir.path())
            .env(
                "RILL_CRASH_SEED",
                seed.wrapping_mul(31).wrapping_add(round).to_string(),
            )
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // The kill comes a random while after the child's first acknowledgement, not after
        // its start: on a loaded machine the child can take longer than the whole window to
        // open the log and acknowledge anything.
        let (first_ack, first_acked) = std::sync::mpsc::channel::<()>();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            let mut r = std::io::BufReader::new(stdout);
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 0 {
                // Only whole lines count: a line cut by the kill was never acknowledged.
                if line.ends_with('\n') {
                    let f: Vec<&str> = line.split_whitespace().collect();
                    if f.len() == 4 && f[0] == "ack" {
                        let _ = first_ack.send(());
                        lines.push((
                            f[1].parse().unwrap(),
                            f[2].parse().unwrap(),
                            f[3].parse().unwrap(),
                        ));
                    }
                }
                line.clear();
            }
            lines
        });
        let _ = first_acked.recv_timeout(std::time::Duration::from_secs(30));
        std::thread::sleep(std::time::Duration::from_millis(rng.random_range(50..600)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let round_acks: Vec<(i64, i64, u32)> = reader.join().unwrap();
        assert!(
            !round_acks.is_empty(),
            "round {round}: child acknowledged nothing"
        );
        acked.extend(round_acks);
        let (log, report) = PartitionLog::open(dir.path(), config_for(recycle)).unwrap();
        cut_bytes += report.truncated_bytes;
        left_below_start += report
            .dropped
            .iter()
            .filter(|d| d.contains("below the log start"))
            .count();
        println!(
            "round {round}: {} acks so far, log end {}, report {report:?}",
            acked.len(),
            log.log_end_offset()
        );
        for &(base, last, crc) in &acked {
            if base < log.log_start_offset() {
                assert!(recycle, "seed {seed}: batch {base} below the log start");
                continue;
            }
            let mut buf = Vec::new();
            log.read_into(base, 1, i64::MAX, true, &mut buf).unwrap();
            let h =
                validate_batch(&buf).unwrap_or_else(|e| panic!("seed {seed}: batch {base}: {e}"));
            assert_eq!(
                (h.base_offset, h.last_offset(), h.crc),
                (base, last, crc),
                "seed {seed}"
            );
        }
        let max_last = acked.iter().map(|a| a.1).max().unwrap_or(-1);
        assert!(log.log_end_offset() > max_last);
        assert_whole_log_intact(&log, seed);
    }
    if recycle {
        // Spares (and files retention had yet to delete) the kills left behind.
        println!("retired segment files deleted on open: {left_below_start}");
        assert!(left_below_start > 0, "seed {seed}: nothing was retired");
    }
    println!("torn bytes cut by recovery over all rounds: {cut_bytes}");
}

/// Every batch from the log start to the log end reads back intact, offsets contiguous.
fn assert_whole_log_intact(log: &PartitionLog, seed: u64) {
    let mut next = log.log_start_offset();
    let mut buf = Vec::new();
    while next < log.log_end_offset() {
        buf.clear();
        log.read_into(next, 1 << 20, i64::MAX, true, &mut buf)
            .unwrap();
        assert!(!buf.is_empty(), "seed {seed}: nothing read at {next}");
        let batches = split_batches(&buf).unwrap_or_else(|e| panic!("seed {seed}: at {next}: {e}"));
        for (range, _) in batches {
            let h = validate_batch(&buf[range])
                .unwrap_or_else(|e| panic!("seed {seed}: at {next}: {e}"));
            assert!(
                h.base_offset <= next && h.last_offset() >= next,
                "seed {seed}: batch {}..={} read at {next}",
                h.base_offset,
                h.last_offset()
            );
            next = h.last_offset() + 1;
        }
    }
}
