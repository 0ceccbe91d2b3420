//! Pacing of the cleaner's I/O (`log.cleaner.io.max.bytes.per.second`) without a clock.
//!
//! The cleaner calls [`Throttle::on_io`] after each read or write with the bytes moved; the
//! broker's implementation reads its clock, asks a [`TokenBucket`] how long to wait and
//! sleeps, and may stop the pass (shutdown, partition deleted) by returning an error. The
//! bucket itself is pure arithmetic on times the caller passes in.
//! Thread-safety: plain owned data.

use crate::error::{LogError, Result};
use std::time::Duration;

/// Called by a cleaning pass after every chunk of I/O.
pub trait Throttle {
    /// `bytes` were just read or written. Waiting here slows the pass down.
    ///
    /// # Errors
    /// Any error stops the pass (its `.cleaned` files are removed); use
    /// [`LogError::CleanerAborted`] to ask for a stop.
    fn on_io(&mut self, bytes: u64) -> Result<()>;
}

/// No pacing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoThrottle;

impl Throttle for NoThrottle {
    fn on_io(&mut self, _bytes: u64) -> Result<()> {
        Ok(())
    }
}

impl<F: FnMut(u64) -> Result<()>> Throttle for F {
    fn on_io(&mut self, bytes: u64) -> Result<()> {
        self(bytes)
    }
}

/// A token bucket of `rate` bytes per second with one second of burst, fed with the
/// caller's clock readings.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    /// Bytes per second; `f64::INFINITY` for no limit.
    rate: f64,
    /// Tokens available (may go negative: a debt to wait for).
    tokens: f64,
    /// The clock reading of the last refill.
    last: Option<Duration>,
}

impl TokenBucket {
    /// A bucket of `bytes_per_second` (Kafka's default is unlimited: `f64::INFINITY`).
    pub fn new(bytes_per_second: f64) -> TokenBucket {
        TokenBucket {
            rate: bytes_per_second.max(1.0),
            tokens: bytes_per_second.max(1.0),
            last: None,
        }
    }

    /// Takes `bytes` at clock reading `now` (any monotonic clock) and returns how long the
    /// caller must wait before going on.
    pub fn take(&mut self, bytes: u64, now: Duration) -> Duration {
        if self.rate.is_infinite() {
            return Duration::ZERO;
        }
        if let Some(last) = self.last {
            let secs = now.saturating_sub(last).as_secs_f64();
            self.tokens = (self.tokens + secs * self.rate).min(self.rate);
        }
        self.last = Some(now);
        self.tokens -= bytes as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// An error asking a pass to stop (for [`Throttle`] implementations).
pub fn aborted(reason: &str) -> LogError {
    LogError::CleanerAborted {
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_waits_for_the_debt_and_refills_with_time() {
        let mut b = TokenBucket::new(1000.0);
        let t0 = Duration::from_secs(10);
        assert_eq!(b.take(1000, t0), Duration::ZERO);
        assert_eq!(b.take(500, t0), Duration::from_millis(500));
        assert_eq!(b.take(0, t0 + Duration::from_millis(500)), Duration::ZERO);
        assert_eq!(
            TokenBucket::new(f64::INFINITY).take(1 << 40, t0),
            Duration::ZERO
        );
    }
}
