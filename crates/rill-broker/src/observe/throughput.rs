//! This node's total traffic (all topics) and a bounded history of it for the console's
//! throughput chart, with the cluster's records-in rate when known (from the sum of every
//! partition's high watermark).
//!
//! Totals are four relaxed atomic counters bumped beside the per-topic metrics. A sampler
//! (the admin HTTP server's upkeep task) calls [`History::sample`] every few seconds; the
//! history keeps the newest [`HISTORY_SAMPLES`] samples, so its memory is fixed.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

static BYTES_IN: AtomicU64 = AtomicU64::new(0);
static RECORDS_IN: AtomicU64 = AtomicU64::new(0);
static BYTES_OUT: AtomicU64 = AtomicU64::new(0);
static RECORDS_OUT: AtomicU64 = AtomicU64::new(0);

/// Samples kept: 15 minutes at one sample per 5 s.
pub const HISTORY_SAMPLES: usize = 180;

/// Counts producer traffic.
pub fn add_in(bytes: u64, records: u64) {
    BYTES_IN.fetch_add(bytes, Ordering::Relaxed);
    RECORDS_IN.fetch_add(records, Ordering::Relaxed);
}

/// Counts consumer traffic.
pub fn add_out(bytes: u64, records: u64) {
    BYTES_OUT.fetch_add(bytes, Ordering::Relaxed);
    RECORDS_OUT.fetch_add(records, Ordering::Relaxed);
}

/// Traffic since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Bytes appended by producers.
    pub bytes_in: u64,
    /// Records appended by producers.
    pub records_in: u64,
    /// Bytes sent to consumers.
    pub bytes_out: u64,
    /// Records sent to consumers.
    pub records_out: u64,
}

/// The totals now.
pub fn totals() -> Totals {
    Totals {
        bytes_in: BYTES_IN.load(Ordering::Relaxed),
        records_in: RECORDS_IN.load(Ordering::Relaxed),
        bytes_out: BYTES_OUT.load(Ordering::Relaxed),
        records_out: RECORDS_OUT.load(Ordering::Relaxed),
    }
}

/// Rates over one sampling interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RatePoint {
    /// End of the interval, ms since the epoch.
    pub at_ms: i64,
    /// Length of the interval in ms (rate x span = what happened in it).
    pub span_ms: i64,
    /// Producer bytes per second.
    pub bytes_in_per_s: f64,
    /// Producer records per second.
    pub records_in_per_s: f64,
    /// Consumer bytes per second.
    pub bytes_out_per_s: f64,
    /// Consumer records per second.
    pub records_out_per_s: f64,
    /// Records appended per second in the whole cluster (growth of the sum of all
    /// partitions' high watermarks), when both samples knew it.
    pub cluster_records_in_per_s: Option<f64>,
}

/// The newest samples of the totals.
#[derive(Debug, Default)]
pub struct History {
    /// (time in ms, totals then, cluster's summed high watermarks then), oldest first, at
    /// most [`HISTORY_SAMPLES`] + 1.
    samples: Mutex<VecDeque<(i64, Totals, Option<u64>)>>,
}

impl History {
    /// Records the totals at `now_ms`, and the cluster's summed high watermarks if known.
    pub fn sample(&self, now_ms: i64, totals: Totals, cluster_end: Option<u64>) {
        let mut s = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if s.back().is_some_and(|(t, _, _)| *t >= now_ms) {
            return;
        }
        s.push_back((now_ms, totals, cluster_end));
        while s.len() > HISTORY_SAMPLES + 1 {
            s.pop_front();
        }
    }

    /// The newest sample's summed high watermarks of the cluster, if it knew them.
    pub fn latest_cluster_end(&self) -> Option<u64> {
        let s = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        s.back().and_then(|(_, _, c)| *c)
    }

    /// Rates between consecutive samples, oldest first.
    pub fn rates(&self) -> Vec<RatePoint> {
        let s = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        s.iter()
            .zip(s.iter().skip(1))
            .map(|((t0, a, ca), (t1, b, cb))| {
                let secs = (t1 - t0) as f64 / 1000.0;
                let rate = |x: u64, y: u64| y.saturating_sub(x) as f64 / secs;
                RatePoint {
                    at_ms: *t1,
                    span_ms: t1 - t0,
                    bytes_in_per_s: rate(a.bytes_in, b.bytes_in),
                    records_in_per_s: rate(a.records_in, b.records_in),
                    bytes_out_per_s: rate(a.bytes_out, b.bytes_out),
                    records_out_per_s: rate(a.records_out, b.records_out),
                    cluster_records_in_per_s: ca.zip(*cb).map(|(x, y)| rate(x, y)),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(bytes_in: u64) -> Totals {
        Totals {
            bytes_in,
            records_in: bytes_in / 10,
            ..Totals::default()
        }
    }

    #[test]
    fn rates_between_samples_and_bounded_history() {
        let h = History::default();
        h.sample(1_000, t(0), Some(10));
        h.sample(3_000, t(2_000), Some(50));
        h.sample(3_000, t(9_999), None); // same instant: ignored
        h.sample(4_000, t(2_000), None);
        let r = h.rates();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].at_ms, 3_000);
        assert!((r[0].bytes_in_per_s - 1_000.0).abs() < 1e-9);
        assert!((r[0].records_in_per_s - 100.0).abs() < 1e-9);
        assert_eq!(r[0].cluster_records_in_per_s, Some(20.0));
        assert_eq!(r[1].cluster_records_in_per_s, None, "unknown in one sample");
        assert_eq!(h.latest_cluster_end(), None);
        for i in 0..1_000 {
            h.sample(5_000 + i * 1_000, t(2_000 + i as u64), None);
        }
        assert_eq!(h.rates().len(), HISTORY_SAMPLES);
    }
}
