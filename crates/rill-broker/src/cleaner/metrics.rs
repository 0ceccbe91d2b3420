//! The cleaner's figures with Kafka's metric names (`kafka.log:type=LogCleaner` and
//! `type=LogCleanerManager`), written by the cleaner threads and read at scrape time.
//!
//! Thread-safety: counters are atomics; the per-thread "last pass" figures sit behind a mutex
//! held only to copy a few numbers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use rill_log::CleanStats;

/// The last pass of one cleaner thread.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LastPass {
    /// Bytes read rewriting segments.
    pub bytes_read: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Offset map fill, 0..1.
    pub buffer_utilization: f64,
    /// Seconds the pass took.
    pub elapsed_secs: f64,
}

/// What the last check of the cleaner manager saw.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LastCheck {
    /// The highest dirty ratio among compacted logs (0..1).
    pub max_dirty_ratio: f64,
    /// The most a log's `max.compaction.lag.ms` was overrun, in ms.
    pub max_compaction_delay_ms: i64,
}

#[derive(Debug, Default)]
struct Figures {
    /// Per thread, its last pass.
    last_pass: Vec<LastPass>,
    /// Per thread, its last check.
    last_check: Vec<LastCheck>,
    /// When a thread last looked for work.
    last_run: Option<Instant>,
    /// Partitions given up on after an error.
    uncleanable: usize,
}

/// Everything `/metrics` shows about the cleaner.
#[derive(Debug, Default)]
pub struct CleanerMetrics {
    figures: Mutex<Figures>,
    /// Bytes read (map building and rewriting).
    bytes_read: AtomicU64,
    /// Bytes written.
    bytes_written: AtomicU64,
    /// Passes swapped in.
    passes: AtomicU64,
    /// Passes abandoned or aborted.
    passes_abandoned: AtomicU64,
    /// Records removed.
    records_removed: AtomicU64,
    /// Cleaner threads that died (Kafka's `DeadThreadCount`).
    dead_threads: AtomicU64,
}

/// A copy of the figures, as `/metrics` renders them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CleanerSnapshot {
    /// `cleaner-recopy-percent`: bytes written over bytes read of the threads' last passes.
    pub recopy_percent: f64,
    /// `max-buffer-utilization-percent`.
    pub max_buffer_utilization_percent: f64,
    /// `max-clean-time-secs`.
    pub max_clean_time_secs: f64,
    /// `max-compaction-delay-secs`.
    pub max_compaction_delay_secs: f64,
    /// `DeadThreadCount`.
    pub dead_threads: u64,
    /// `max-dirty-percent` (LogCleanerManager).
    pub max_dirty_percent: f64,
    /// `time-since-last-run-ms` (LogCleanerManager; 0 before the first run).
    pub time_since_last_run_ms: f64,
    /// `uncleanable-partitions-count` (LogCleanerManager).
    pub uncleanable_partitions: u64,
    /// Bytes read since start.
    pub bytes_read: u64,
    /// Bytes written since start.
    pub bytes_written: u64,
    /// Passes swapped in since start.
    pub passes: u64,
    /// Passes abandoned or aborted since start.
    pub passes_abandoned: u64,
    /// Records removed since start.
    pub records_removed: u64,
}

impl CleanerMetrics {
    fn figures(&self) -> std::sync::MutexGuard<'_, Figures> {
        self.figures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sizes the per-thread figures.
    pub fn set_threads(&self, n: usize) {
        let mut f = self.figures();
        f.last_pass = vec![LastPass::default(); n];
        f.last_check = vec![LastCheck::default(); n];
    }

    /// Thread `thread` looked for work and saw `check`.
    pub fn record_check(&self, thread: usize, check: LastCheck) {
        let mut f = self.figures();
        f.last_run = Some(Instant::now());
        if let Some(c) = f.last_check.get_mut(thread) {
            *c = check;
        }
    }

    /// Thread `thread` swapped a pass in.
    pub fn record_pass(&self, thread: usize, stats: &CleanStats, elapsed_secs: f64) {
        self.bytes_read
            .fetch_add(stats.bytes_read + stats.map_bytes_read, Ordering::Relaxed);
        self.bytes_written
            .fetch_add(stats.bytes_written, Ordering::Relaxed);
        self.records_removed
            .fetch_add(stats.records_removed, Ordering::Relaxed);
        self.passes.fetch_add(1, Ordering::Relaxed);
        let mut f = self.figures();
        f.last_run = Some(Instant::now());
        if let Some(p) = f.last_pass.get_mut(thread) {
            *p = LastPass {
                bytes_read: stats.bytes_read,
                bytes_written: stats.bytes_written,
                buffer_utilization: stats.map_utilization,
                elapsed_secs,
            };
        }
    }

    /// A pass was abandoned (the log changed) or aborted.
    pub fn record_abandoned(&self) {
        self.passes_abandoned.fetch_add(1, Ordering::Relaxed);
    }

    /// The number of partitions given up on.
    pub fn set_uncleanable(&self, n: usize) {
        self.figures().uncleanable = n;
    }

    /// A cleaner thread died.
    pub fn record_dead_thread(&self) {
        self.dead_threads.fetch_add(1, Ordering::Relaxed);
    }

    /// The figures now, computed as Kafka's `LogCleaner` gauges are.
    pub fn snapshot(&self) -> CleanerSnapshot {
        let f = self.figures();
        let n = f.last_pass.len().max(1) as f64;
        let recopy = f
            .last_pass
            .iter()
            .map(|p| {
                if p.bytes_read == 0 {
                    0.0
                } else {
                    100.0 * p.bytes_written as f64 / p.bytes_read as f64
                }
            })
            .sum::<f64>()
            / n;
        let max_f = |it: &mut dyn Iterator<Item = f64>| it.fold(0.0f64, f64::max);
        CleanerSnapshot {
            recopy_percent: recopy,
            max_buffer_utilization_percent: max_f(
                &mut f.last_pass.iter().map(|p| 100.0 * p.buffer_utilization),
            ),
            max_clean_time_secs: max_f(&mut f.last_pass.iter().map(|p| p.elapsed_secs)),
            max_compaction_delay_secs: max_f(
                &mut f
                    .last_check
                    .iter()
                    .map(|c| c.max_compaction_delay_ms as f64 / 1000.0),
            ),
            dead_threads: self.dead_threads.load(Ordering::Relaxed),
            max_dirty_percent: max_f(&mut f.last_check.iter().map(|c| 100.0 * c.max_dirty_ratio)),
            time_since_last_run_ms: f
                .last_run
                .map_or(0.0, |t| t.elapsed().as_secs_f64() * 1000.0),
            uncleanable_partitions: f.uncleanable as u64,
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
            passes: self.passes.load(Ordering::Relaxed),
            passes_abandoned: self.passes_abandoned.load(Ordering::Relaxed),
            records_removed: self.records_removed.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_follow_kafkas_definitions() {
        let m = CleanerMetrics::default();
        m.set_threads(2);
        let stats = CleanStats {
            bytes_read: 1000,
            map_bytes_read: 1000,
            bytes_written: 250,
            map_utilization: 0.5,
            records_removed: 7,
            ..CleanStats::default()
        };
        m.record_pass(0, &stats, 2.0);
        m.record_check(
            1,
            LastCheck {
                max_dirty_ratio: 0.75,
                max_compaction_delay_ms: 3000,
            },
        );
        let s = m.snapshot();
        // Average over the threads of each thread's last recopy ratio.
        assert_eq!(s.recopy_percent, 12.5);
        assert_eq!(s.max_buffer_utilization_percent, 50.0);
        assert_eq!(s.max_clean_time_secs, 2.0);
        assert_eq!(s.max_dirty_percent, 75.0);
        assert_eq!(s.max_compaction_delay_secs, 3.0);
        assert_eq!(
            (s.bytes_read, s.bytes_written, s.records_removed, s.passes),
            (2000, 250, 7, 1)
        );
    }
}
