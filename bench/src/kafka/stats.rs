//! Figures shared by the Kafka benchmark: latency percentiles over recorded samples, throughput
//! of a run, the ratio of a figure to its limit, and the CPU time the host took from this VM
//! during a measurement ([`Steal`], the only one that reads a file: `/proc/stat`).

/// CPU time the host took from this machine (the `steal` column of `/proc/stat`): on a shared
/// VM it makes the same run slower by as much, so the table prints it beside each figure.
#[derive(Debug, Clone, Copy)]
pub struct Steal {
    steal: u64,
    total: u64,
}

impl Steal {
    /// The counters now; `None` where `/proc/stat` cannot be read.
    pub fn start() -> Option<Steal> {
        Steal::parse(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// The counters in the text of `/proc/stat` (its first, all-CPU line).
    fn parse(stat: &str) -> Option<Steal> {
        let cpu: Vec<u64> = stat
            .lines()
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .map(|v| v.parse().ok())
            .collect::<Option<_>>()?;
        // user nice system idle iowait irq softirq steal (guest time is inside user).
        Some(Steal {
            steal: *cpu.get(7)?,
            total: cpu.iter().take(8).sum(),
        })
    }

    /// Percent of all CPU time since `self` that the host took.
    pub fn pct(&self) -> Option<f64> {
        self.pct_at(Steal::start()?)
    }

    fn pct_at(&self, now: Steal) -> Option<f64> {
        let total = now.total.checked_sub(self.total)?;
        (total > 0).then(|| 100.0 * now.steal.saturating_sub(self.steal) as f64 / total as f64)
    }
}

/// `N%` or `-`.
pub fn fmt_pct(p: Option<f64>) -> String {
    p.map_or_else(|| "-".into(), |p| format!("{p:.0}%"))
}

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
    fn steal_is_a_share_of_all_cpu_time_between_two_samples() {
        let a = Steal::parse("cpu  100 0 50 800 10 0 5 35 0 0\ncpu0 1 2 3\n").unwrap();
        let b = Steal::parse("cpu  160 0 70 880 10 0 5 75 99 0\n").unwrap();
        // 200 ticks passed (guest time is already inside user), 40 of them stolen.
        assert_eq!(a.pct_at(b), Some(20.0));
        assert_eq!(b.pct_at(a), None, "counters never run backwards");
        assert_eq!(a.pct_at(a), None, "no time passed");
        assert!(Steal::parse("intr 1 2 3\n").is_none());
        assert!(Steal::parse("cpu  1 2 x\n").is_none());
    }

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
