//! Figures shared by the Kafka benchmark: latency percentiles over recorded samples, throughput
//! of a run, and the ratio of a figure to its limit. Pure functions, no I/O.

/// Latency percentiles of one run, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
}

impl Latency {
    /// Percentiles of `samples_us` (microseconds; sorted in place). Empty input gives zeros.
    pub fn from_micros(samples_us: &mut [u32]) -> Self {
        samples_us.sort_unstable();
        Self {
            p50_ms: percentile(samples_us, 0.50) / 1000.0,
            p99_ms: percentile(samples_us, 0.99) / 1000.0,
            p999_ms: percentile(samples_us, 0.999) / 1000.0,
        }
    }
}

/// The nearest-rank percentile `q` (0 < q <= 1) of `sorted`: the smallest sample with at least
/// `q` of all samples at or below it. Zero for an empty slice.
pub fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (sorted.len() as f64 * q).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Throughput of a run that moved `bytes` in `secs`, in MiB/s (zero for a zero-length run).
pub fn mib_per_sec(bytes: u64, secs: f64) -> f64 {
    if secs <= 0.0 {
        return 0.0;
    }
    bytes as f64 / (1024.0 * 1024.0) / secs
}

/// `figure / limit`, or `None` when the limit is unknown or zero.
pub fn ratio(figure: f64, limit: Option<f64>) -> Option<f64> {
    limit.filter(|l| *l > 0.0).map(|l| figure / l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<u32> = (1..=1000).rev().collect();
        let l = Latency::from_micros(&mut v);
        assert_eq!(l.p50_ms, 0.5);
        assert_eq!(l.p99_ms, 0.99);
        assert_eq!(l.p999_ms, 0.999);
        assert_eq!(percentile(&[7], 0.999), 7.0);
        assert_eq!(percentile(&[1, 2], 0.5), 1.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(Latency::from_micros(&mut []), Latency::default());
    }

    #[test]
    fn ratios_and_rates() {
        assert_eq!(ratio(80.0, Some(100.0)), Some(0.8));
        assert_eq!(ratio(80.0, Some(0.0)), None);
        assert_eq!(ratio(80.0, None), None);
        assert_eq!(mib_per_sec(3 << 20, 1.5), 2.0);
        assert_eq!(mib_per_sec(1, 0.0), 0.0);
    }
}
