//! Crash test. Contract: every append whose `wait_durable` returned before the process was
//! killed with SIGKILL is present after reopening, at the same offsets, byte-intact (CRC).
//!
//! The test re-executes its own binary as the child (`crash_child`, enabled by
//! `RILL_CRASH_DIR`): three writer threads append random batches to one log behind a Mutex,
//! wait for durability outside the lock and print `ack <base> <last> <crc>` lines. The parent
//! kills the child at a random moment, reopens the log, checks every acknowledged batch, and
//! repeats on the same directory (so recovery of recovered logs is exercised too).
//! Odd rounds turn on torn writes (the crate's fault seam), so recovery has torn tails to cut.
//! Note: SIGKILL keeps the page cache, so this checks recovery of torn process state,
//! not power loss.
#![allow(clippy::unwrap_used)]

use rand::{Rng, SeedableRng};
use rill_log::testutil::{build_batch, BatchSpec};
use rill_log::{validate_batch, LogConfig, PartitionLog};
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

#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("RILL_CRASH_DIR") else {
        return;
    };
    let seed: u64 = std::env::var("RILL_CRASH_SEED").unwrap().parse().unwrap();
    // Odd rounds tear every write in two with a pause, so kills leave torn batches behind.
    rill_log::io::fault::set_torn_writes(seed % 2 == 1);
    let (log, _) = PartitionLog::open(std::path::Path::new(&dir), config()).unwrap();
    let log = Arc::new(Mutex::new(log));
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
    let dir = tempfile::tempdir().unwrap();
    let seed: u64 = std::env::var("RILL_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("crash test seed {seed} (set RILL_CRASH_SEED to replay)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let exe = std::env::current_exe().unwrap();
    let mut acked: Vec<(i64, i64, u32)> = Vec::new();
    let mut cut_bytes = 0;
    for round in 0..6u64 {
        let mut child = std::process::Command::new(&exe)
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env("RILL_CRASH_DIR", dir.path())
            .env(
                "RILL_CRASH_SEED",
                seed.wrapping_mul(31).wrapping_add(round).to_string(),
            )
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            let mut r = std::io::BufReader::new(stdout);
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 0 {
                // Only whole lines count: a line cut by the kill was never acknowledged.
                if line.ends_with('\n') {
                    let f: Vec<&str> = line.split_whitespace().collect();
                    if f.len() == 4 && f[0] == "ack" {
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
        std::thread::sleep(std::time::Duration::from_millis(rng.random_range(150..700)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let round_acks: Vec<(i64, i64, u32)> = reader.join().unwrap();
        assert!(
            !round_acks.is_empty(),
            "round {round}: child acknowledged nothing"
        );
        acked.extend(round_acks);
        let (log, report) = PartitionLog::open(dir.path(), config()).unwrap();
        cut_bytes += report.truncated_bytes;
        println!(
            "round {round}: {} acks so far, log end {}, report {report:?}",
            acked.len(),
            log.log_end_offset()
        );
        for &(base, last, crc) in &acked {
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
    }
    println!("torn bytes cut by recovery over all rounds: {cut_bytes}");
}
