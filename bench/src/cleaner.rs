//! `rill-bench cleaner`: the log cleaner's throughput (MiB of dirty log cleaned per second)
//! beside the disk's sequential write rate measured in the same run (a file of the same size
//! written and fdatasynced), and the memory of its offset map (configured budget and use).
//!
//! The log: 1 KiB records (keys drawn from `--keys`, updates and 5% tombstones, values cut
//! from a random pool so codecs compress little) in 16 KiB batches, written in page-cache mode, then flushed, so the whole log but the active
//! segment is dirty. Passes run (plan, clean, commit, delete replaced files) until the
//! cleaner checkpoint reaches the active segment; a map smaller than the key count makes
//! several passes. The disk limit is measured right after, on the same file system.

use crate::storage::{append_raw, settle};
use anyhow::{Context, Result};
use rill_log::cleaner::NoThrottle;
use rill_log::{
    BatchBuilder, BatchTemplate, Cleaner, CleanerConfig, CleanupPolicy, Codec, CommitOutcome,
    FlushPolicy, Headers, LogConfig, NewRecord, PartitionLog,
};
use std::path::PathBuf;
use std::time::Instant;

/// Options of the cleaner benchmark.
#[derive(clap::Args)]
pub struct CleanerArgs {
    /// MiB of dirty log to clean.
    #[arg(long, default_value_t = 512)]
    size_mib: u64,
    /// Distinct keys.
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    /// Offset map memory (`log.cleaner.dedupe.buffer.size`), MiB.
    #[arg(long, default_value_t = 128)]
    dedupe_mib: usize,
    /// Codec of the batches: none, gzip, snappy, lz4, zstd.
    #[arg(long, default_value = "none")]
    codec: String,
    /// Directory for the files (default: the system temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
}

const MIB: f64 = 1024.0 * 1024.0;
const RECORD_VALUE: usize = 1000;
const RECORDS_PER_BATCH: usize = 16;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 128 << 20,
        segment_ms: None,
        retention_ms: None,
        max_message_bytes: 2 << 20,
        flush: FlushPolicy::Interval {
            messages: None,
            ms: None,
        },
        cleanup_policy: CleanupPolicy::COMPACT,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    }
}

/// Writes `total` bytes of keyed batches; returns the log and its size.
fn fill(dir: &std::path::Path, total: u64, keys: u64, codec: Codec) -> Result<PartitionLog> {
    let (mut log, _) = PartitionLog::open(dir, config())?;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    // Values are slices of a random pool: codecs get no unrealistic ratio.
    let pool: Vec<u8> = (0..1 << 16)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut records = Vec::new();
    while log.size_bytes() < total {
        let mut b = BatchBuilder::new(
            BatchTemplate::plain(0),
            codec,
            None,
            std::mem::take(&mut records),
        );
        let mut key_bufs = [[0u8; 8]; RECORDS_PER_BATCH];
        for kb in key_bufs.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *kb = (x % keys).to_be_bytes();
        }
        for (i, kb) in key_bufs.iter().enumerate() {
            let at = ((x >> 20) as usize + i * 4099) % (pool.len() - RECORD_VALUE);
            let value = &pool[at..at + RECORD_VALUE];
            let tombstone = (x >> 8).wrapping_add(i as u64).is_multiple_of(20);
            b.push(&NewRecord {
                offset: i as i64,
                timestamp: 1_700_000_000_000,
                key: Some(kb),
                value: (!tombstone).then_some(value),
                headers: Headers::default(),
            })?;
        }
        let mut batch = Vec::new();
        records = b.finish_into(&mut batch)?;
        log.append(&mut batch, 0, 1_700_000_000_000)?;
    }
    log.roll(1_700_000_000_000)?;
    log.flush()?;
    Ok(log)
}

/// Seconds one core spends on the least codec work a pass over compressed batches does:
/// compress `retained` bytes (16-record batches of the same random-pool values, at the
/// codec's default level) and decompress `dirty` bytes of such batches. The cleaner cannot be
/// faster than this on one thread; for gzip it is the limit, not the disk.
fn codec_work(codec: Codec, dirty: u64, retained: u64) -> Result<f64> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let body: Vec<u8> = (0..RECORDS_PER_BATCH * (RECORD_VALUE + 24))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut packed = Vec::new();
    rill_log::compression::compress_into(codec, None, &body, &mut packed)?;
    let mut out = Vec::with_capacity(packed.len() * 2);
    let start = Instant::now();
    let mut done = 0u64;
    while done < retained {
        out.clear();
        rill_log::compression::compress_into(codec, None, &body, &mut out)?;
        done += out.len() as u64;
    }
    let mut plain = Vec::with_capacity(body.len());
    done = 0;
    while done < dirty {
        rill_log::compression::decompress_into(codec, &packed, &mut plain, body.len() * 2)?;
        done += packed.len() as u64;
    }
    Ok(start.elapsed().as_secs_f64())
}

/// Runs the cleaner benchmark and prints the figures.
pub fn run(args: &CleanerArgs) -> Result<()> {
    let codec = Codec::from_name(&args.codec).context("unknown codec")?;
    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let root = tempfile::Builder::new()
        .prefix("rill-bench-cleaner-")
        .tempdir_in(&base)?;
    let total = args.size_mib << 20;
    let dir = root.path().join("compacted-0");
    println!(
        "rill-bench cleaner: {} MiB of dirty log, {} keys, 1 KiB records in {RECORDS_PER_BATCH}-record batches ({}), map {} MiB, dir {}",
        args.size_mib,
        args.keys,
        codec.name(),
        args.dedupe_mib,
        root.path().display()
    );
    let mut log = fill(&dir, total, args.keys, codec)?;
    settle()?;
    let dirty = log.cleanable_info(1_700_000_000_000, i64::MAX)?.dirty_bytes;
    let mut cleaner = Cleaner::new(CleanerConfig {
        dedupe_buffer_bytes: args.dedupe_mib << 20,
        ..CleanerConfig::default()
    });
    let (start, mut passes, mut written, mut max_entries, mut max_util) =
        (Instant::now(), 0, 0u64, 0usize, 0f64);
    let mut map_bytes = 0usize;
    while let Some(plan) = log.plan_clean(1_700_000_000_000, i64::MAX)? {
        let first_uncleanable = plan.info.first_uncleanable_offset;
        let cleaned = cleaner.clean(plan, &mut NoThrottle)?;
        let end = cleaned.end_offset;
        match log.commit_clean(cleaned)? {
            CommitOutcome::Swapped { stats, obsolete } => {
                written += stats.bytes_written;
                max_entries = max_entries.max(stats.map_entries);
                max_util = max_util.max(stats.map_utilization);
                map_bytes = stats.map_memory_bytes;
                obsolete.delete(std::time::Duration::ZERO)?;
            }
            CommitOutcome::Abandoned { reason } => anyhow::bail!("pass abandoned: {reason}"),
        }
        passes += 1;
        if end >= first_uncleanable {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    drop(log);
    settle()?;
    let raw_path = root.path().join("raw");
    let raw_secs = append_raw(&raw_path, 1 << 20, dirty, Some(dirty))?;
    let clean_rate = dirty as f64 / MIB / secs;
    let disk_rate = dirty as f64 / MIB / raw_secs;
    println!(
        "cleaned {:.0} MiB in {passes} passes: {secs:.2} s, {clean_rate:.0} MiB/s of dirty log ({:.0} MiB written)",
        dirty as f64 / MIB,
        written as f64 / MIB
    );
    println!(
        "disk sequential write + fdatasync of {:.0} MiB: {raw_secs:.2} s, {disk_rate:.0} MiB/s",
        dirty as f64 / MIB
    );
    println!(
        "cleaner / disk: {:.2}x (target >= 0.5x)",
        clean_rate / disk_rate
    );
    if codec != Codec::None {
        let codec_secs = codec_work(codec, dirty, written)?;
        println!(
            "{} codec work alone (decompress {:.0} MiB of dirty batches, compress {:.0} MiB retained, one core): {codec_secs:.2} s; cleaner / codec: {:.2}x",
            codec.name(),
            dirty as f64 / MIB,
            written as f64 / MIB,
            codec_secs / secs
        );
    }
    println!(
        "offset map: budget {} MiB, allocated {:.1} MiB, at most {max_entries} keys ({:.0}% of slots)",
        args.dedupe_mib,
        map_bytes as f64 / MIB,
        max_util * 100.0
    );
    Ok(())
}
