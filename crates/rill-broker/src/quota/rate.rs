//! The two measures quotas are checked against, as Kafka's metrics library computes them:
//! a rate over a ring of time windows ([`SampledRate`], Kafka's `Rate` with
//! `quota.window.num` samples of `quota.window.size.seconds`) and a token bucket
//! ([`TokenBucket`], KIP-599's measure of controller mutations). Pure: every call takes the
//! current time in milliseconds.

/// One window of a [`SampledRate`].
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    /// When the window began (ms).
    start_ms: u64,
    /// What was recorded in it.
    value: f64,
}

/// A rate per second over the last `samples` windows of `window_ms` each.
#[derive(Debug, Clone)]
pub struct SampledRate {
    /// The ring of windows.
    samples: Vec<Sample>,
    /// The window being recorded into.
    current: usize,
    /// Length of one window.
    window_ms: u64,
}

impl SampledRate {
    /// A rate over `samples` (at least 2) windows of `window_ms` (at least 1), starting at
    /// `now_ms`.
    pub fn new(samples: u32, window_ms: u64, now_ms: u64) -> Self {
        let n = samples.max(2) as usize;
        SampledRate {
            samples: vec![
                Sample {
                    start_ms: now_ms,
                    value: 0.0
                };
                n
            ],
            current: 0,
            window_ms: window_ms.max(1),
        }
    }

    /// Forgets windows that ended longer ago than the whole ring covers (Kafka's
    /// `purgeObsoleteSamples`: they restart empty at `now_ms`).
    fn purge(&mut self, now_ms: u64) {
        let expire = self.window_ms * self.samples.len() as u64;
        for s in &mut self.samples {
            if now_ms.saturating_sub(s.start_ms) >= expire {
                *s = Sample {
                    start_ms: now_ms,
                    value: 0.0,
                };
            }
        }
    }

    /// Adds `value` (negative to take back what was recorded) at `now_ms`.
    pub fn record(&mut self, value: f64, now_ms: u64) {
        let cur = self.samples[self.current];
        if now_ms.saturating_sub(cur.start_ms) >= self.window_ms {
            self.current = (self.current + 1) % self.samples.len();
            self.samples[self.current] = Sample {
                start_ms: now_ms,
                value: 0.0,
            };
        }
        self.samples[self.current].value += value;
    }

    /// The span the rate is measured over at `now_ms` (Kafka's `Rate.windowSize`): from the
    /// oldest window's start, but never less than `samples - 1` whole windows, so a new
    /// sensor does not see a burst as a huge rate.
    pub fn window_size_ms(&mut self, now_ms: u64) -> u64 {
        self.purge(now_ms);
        let oldest = self
            .samples
            .iter()
            .map(|s| s.start_ms)
            .min()
            .unwrap_or(now_ms);
        let mut elapsed = now_ms.saturating_sub(oldest);
        let full = elapsed / self.window_ms;
        let min_full = self.samples.len() as u64 - 1;
        if full < min_full {
            elapsed += (min_full - full) * self.window_ms;
        }
        elapsed
    }

    /// The rate per second at `now_ms`.
    pub fn measure(&mut self, now_ms: u64) -> f64 {
        let span = self.window_size_ms(now_ms);
        let total: f64 = self.samples.iter().map(|s| s.value).sum();
        total / (span as f64 / 1000.0)
    }

    /// The throttle time, in ms, that brings the rate back to `limit` (Kafka's
    /// `QuotaUtils.throttleTime`: the excess as a share of the limit, times the window), or
    /// 0 when the rate is within it.
    pub fn throttle_ms(&mut self, limit: f64, now_ms: u64) -> u64 {
        let rate = self.measure(now_ms);
        if limit.is_nan() || limit <= 0.0 || rate <= limit {
            return 0;
        }
        let span = self.window_size_ms(now_ms) as f64;
        ((rate - limit) / limit * span).round().min(u32::MAX as f64) as u64
    }
}

/// A token bucket: `rate` tokens per second up to `burst`; recording takes tokens and may
/// leave the bucket in debt (KIP-599: a mutation is accepted while the bucket is not in debt,
/// whatever its size).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// Tokens now (negative: in debt).
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at_ms: u64,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens at `now_ms`.
    pub fn full(burst: f64, now_ms: u64) -> Self {
        TokenBucket {
            tokens: burst,
            at_ms: now_ms,
        }
    }

    /// Refills at `rate` per second up to `burst`.
    fn refill(&mut self, rate: f64, burst: f64, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.at_ms) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.at_ms = now_ms.max(self.at_ms);
    }

    /// Whether the bucket is in debt at `now_ms` (a strict mutation is then refused).
    pub fn in_debt(&mut self, rate: f64, burst: f64, now_ms: u64) -> bool {
        self.refill(rate, burst, now_ms);
        self.tokens < 0.0
    }

    /// Takes `amount` tokens at `now_ms`.
    pub fn take(&mut self, amount: f64, rate: f64, burst: f64, now_ms: u64) {
        self.refill(rate, burst, now_ms);
        self.tokens -= amount;
    }

    /// How long, in ms, until the bucket is out of debt at `rate` (0 when it is not).
    pub fn throttle_ms(&mut self, rate: f64, burst: f64, now_ms: u64) -> u64 {
        self.refill(rate, burst, now_ms);
        if self.tokens >= 0.0 || rate.is_nan() || rate <= 0.0 {
            return 0;
        }
        (-self.tokens / rate * 1000.0).ceil().min(u32::MAX as f64) as u64
    }

    /// Tokens now (for metrics).
    pub fn tokens(&mut self, rate: f64, burst: f64, now_ms: u64) -> f64 {
        self.refill(rate, burst, now_ms);
        self.tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_rate_spreads_a_burst_over_the_minimum_window() {
        // Kafka's defaults: 11 windows of 1 s; a fresh sensor measures over at least 10 s.
        let mut r = SampledRate::new(11, 1000, 0);
        r.record(10_000.0, 0);
        assert_eq!(r.window_size_ms(0), 10_000);
        assert!((r.measure(0) - 1000.0).abs() < 1e-9);
        // Within a 1000/s limit: no throttle.
        assert_eq!(r.throttle_ms(1000.0, 0), 0);
        r.record(5_000.0, 500);
        // The span: 500 ms elapsed in the first window, plus the 10 whole windows assumed.
        assert_eq!(r.window_size_ms(500), 10_500);
        // 15,000 over 10.5 s is 1428.6/s: (1428.6 - 1000) / 1000 x 10,500 ms.
        assert_eq!(r.throttle_ms(1000.0, 500), 4_500);
    }

    #[test]
    fn old_windows_are_forgotten() {
        let mut r = SampledRate::new(3, 1000, 0);
        r.record(3000.0, 0);
        assert!(r.measure(1500) > 0.0);
        // 3 windows of 1 s: at 3 s the first is obsolete.
        assert_eq!(r.measure(3000), 0.0);
        r.record(-10.0, 3000);
        assert!(r.measure(3000) < 0.0, "unrecording takes back");
    }

    #[test]
    fn a_steady_load_under_the_limit_is_not_throttled_and_over_it_is_by_the_excess() {
        let mut r = SampledRate::new(11, 1000, 0);
        let mut throttled = 0;
        for t in 0..30_000u64 {
            if t % 100 == 0 {
                r.record(90.0, t);
                throttled += r.throttle_ms(1000.0, t);
            }
        }
        assert_eq!(throttled, 0, "under the limit");
        let mut r = SampledRate::new(11, 1000, 0);
        for t in (0..30_000u64).step_by(100) {
            r.record(200.0, t);
        }
        // Twice the limit over the last 11 s: throttled for about a window's length.
        let ms = r.throttle_ms(1000.0, 30_000);
        assert!((9_000..=12_000).contains(&ms), "{ms}");
    }

    #[test]
    fn the_bucket_admits_until_in_debt_and_refills() {
        let (rate, burst) = (2.0, 22.0);
        let mut b = TokenBucket::full(burst, 0);
        assert!(!b.in_debt(rate, burst, 0));
        b.take(30.0, rate, burst, 0);
        assert!(b.in_debt(rate, burst, 0));
        // 8 tokens of debt at 2 per second: 4 s.
        assert_eq!(b.throttle_ms(rate, burst, 0), 4000);
        assert_eq!(b.throttle_ms(rate, burst, 3000), 1000);
        assert!(!b.in_debt(rate, burst, 4000));
        assert_eq!(
            b.tokens(rate, burst, 1_000_000),
            burst,
            "capped at the burst"
        );
    }
}
