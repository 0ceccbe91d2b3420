//! Usage per quota sensor and the throttle time it earns (Kafka's `ClientQuotaManager` and
//! `ControllerMutationQuotaManager`, without their clocks and threads). Pure: every call
//! takes the current time in milliseconds.
//!
//! Every sensor enforces with a token bucket filled at the quota's rate and throttles a
//! client for as long as its bucket is in debt. For controller mutations this is KIP-599's
//! measure (burst: `controller.quota.window.num` x `controller.quota.window.size.seconds`).
//! For byte rates and request time Kafka throttles by the average over `quota.window.num`
//! windows, which lets a client burst ten windows' worth (10 MiB at once under 1 MiB/s) and
//! then swing around the quota as old windows expire; Rill's bucket holds one window
//! (`quota.window.size.seconds`) instead, so the long-run rate is the same and any 30 s
//! holds within a few percent of it. The windowed average is still kept, for the metrics.
//!
//! Sensors are keyed by what clients send (their client id), so the map is bounded: at
//! [`MAX_SENSORS`] a new key first clears sensors idle for a whole quota window (they hold
//! nothing any more) and, if the map is still full, records in one shared overflow sensor per
//! kind, which is stricter, never looser, than a sensor of its own.

use std::collections::HashMap;

use super::entity::{Bound, QuotaKind, SensorKey};
use super::rate::{SampledRate, TokenBucket};

/// Sensors held at most (plus one overflow sensor per kind).
pub const MAX_SENSORS: usize = 10_000;

/// The user tag of the shared overflow sensors.
pub const OVERFLOW_SENSOR: &str = "<overflow>";

/// The windows quotas are measured over (Kafka's `quota.window.num`,
/// `quota.window.size.seconds`, `controller.quota.window.num`,
/// `controller.quota.window.size.seconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaWindows {
    /// Windows of the byte-rate and request-time quotas.
    pub samples: u32,
    /// Length of one of them.
    pub window_ms: u64,
    /// Windows of the controller mutation quota.
    pub mutation_samples: u32,
    /// Length of one of them.
    pub mutation_window_ms: u64,
}

impl Default for QuotaWindows {
    /// Kafka's defaults: 11 windows of 1 s for both.
    fn default() -> Self {
        QuotaWindows {
            samples: 11,
            window_ms: 1000,
            mutation_samples: 11,
            mutation_window_ms: 1000,
        }
    }
}

impl QuotaWindows {
    /// The token bucket's size for a quota of `kind` at `rate`: KIP-599's rate x samples x
    /// window for mutations, one quota window's worth for the others.
    pub fn burst(&self, kind: QuotaKind, rate: f64) -> f64 {
        match kind {
            QuotaKind::ControllerMutation => {
                rate * f64::from(self.mutation_samples) * self.mutation_window_ms as f64 / 1000.0
            }
            _ => rate * self.window_ms as f64 / 1000.0,
        }
    }
}

/// One sensor: usage of one (kind, user, client id).
#[derive(Debug, Clone)]
struct Sensor {
    /// What enforces the quota.
    bucket: TokenBucket,
    /// The windowed rate shown by metrics (byte rates and request time).
    rate: SampledRate,
    /// The limit last applied.
    limit: f64,
    /// Last use.
    last_ms: u64,
    /// Throttle time handed out, in total.
    throttle_ms_total: u64,
    /// Requests throttled.
    throttled: u64,
}

/// A sensor as metrics and the admin API show it.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorView {
    /// Its kind.
    pub kind: QuotaKind,
    /// Its user tag ("" when the quota is not per user).
    pub user: String,
    /// Its client id tag ("" when the quota is not per client id).
    pub client_id: String,
    /// The limit.
    pub limit: f64,
    /// The measured rate (byte rates: bytes/s over the quota windows; request: percent;
    /// mutations: tokens left).
    pub value: f64,
    /// Throttle time handed out, in ms.
    pub throttle_ms_total: u64,
    /// Requests throttled.
    pub throttled: u64,
}

/// Every sensor of the broker.
#[derive(Debug)]
pub struct Sensors {
    windows: QuotaWindows,
    map: HashMap<(QuotaKind, SensorKey), Sensor>,
}

impl Sensors {
    /// No sensors yet.
    pub fn new(windows: QuotaWindows) -> Self {
        Sensors {
            windows,
            map: HashMap::new(),
        }
    }

    /// The windows in force.
    pub fn windows(&self) -> QuotaWindows {
        self.windows
    }

    /// How many sensors exist.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether a sensor holds nothing at `now_ms`: its windows are all over and its bucket
    /// is full again (dropping it forgets no usage).
    fn idle(windows: &QuotaWindows, kind: QuotaKind, s: &mut Sensor, now_ms: u64) -> bool {
        let span = windows.window_ms * u64::from(windows.samples);
        let burst = windows.burst(kind, s.limit);
        now_ms.saturating_sub(s.last_ms) >= span && s.bucket.tokens(s.limit, burst, now_ms) >= burst
    }

    /// Drops the idle sensors.
    fn purge(&mut self, now_ms: u64) {
        let windows = self.windows;
        self.map
            .retain(|(kind, _), s| !Self::idle(&windows, *kind, s, now_ms));
    }

    /// The sensor for `bound` of `kind`, made if needed within [`MAX_SENSORS`].
    fn sensor(&mut self, kind: QuotaKind, bound: &Bound, now_ms: u64) -> &mut Sensor {
        let mut key = (kind, bound.sensor.clone());
        if !self.map.contains_key(&key) && self.map.len() >= MAX_SENSORS {
            self.purge(now_ms);
            if self.map.len() >= MAX_SENSORS {
                key = (kind, (OVERFLOW_SENSOR.to_string(), String::new()));
            }
        }
        let windows = self.windows;
        let s = self.map.entry(key).or_insert_with(|| Sensor {
            bucket: TokenBucket::full(windows.burst(kind, bound.limit), now_ms),
            rate: SampledRate::new(windows.samples, windows.window_ms, now_ms),
            limit: bound.limit,
            last_ms: now_ms,
            throttle_ms_total: 0,
            throttled: 0,
        });
        s.limit = bound.limit;
        s.last_ms = now_ms;
        s
    }

    /// Records `value` (bytes, percent-seconds of handling, partitions) against the quota
    /// and returns the throttle time it earns: how long the bucket stays in debt (ms).
    pub fn record(&mut self, kind: QuotaKind, bound: &Bound, value: f64, now_ms: u64) -> u64 {
        let burst = self.windows.burst(kind, bound.limit);
        let s = self.sensor(kind, bound, now_ms);
        s.rate.record(value, now_ms);
        s.bucket.take(value, bound.limit, burst, now_ms);
        let ms = s.bucket.throttle_ms(bound.limit, burst, now_ms);
        if ms > 0 {
            s.throttle_ms_total += ms;
            s.throttled += 1;
        }
        ms
    }

    /// How long the quota's bucket stays in debt (ms; 0 when it is not): a fetch is then
    /// answered without data and a strict mutation refused, without recording anything.
    pub fn debt_ms(&mut self, kind: QuotaKind, bound: &Bound, now_ms: u64) -> u64 {
        let burst = self.windows.burst(kind, bound.limit);
        let key = (kind, bound.sensor.clone());
        let Some(s) = self.map.get_mut(&key) else {
            return 0;
        };
        s.bucket.throttle_ms(bound.limit, burst, now_ms)
    }

    /// Counts throttle time handed out without a new record (a refused request).
    pub fn count_throttle(&mut self, kind: QuotaKind, bound: &Bound, ms: u64, now_ms: u64) {
        if ms > 0 {
            let s = self.sensor(kind, bound, now_ms);
            s.throttle_ms_total += ms;
            s.throttled += 1;
        }
    }

    /// Every sensor not idle at `now_ms` (idle ones are dropped), sorted.
    pub fn views(&mut self, now_ms: u64) -> Vec<SensorView> {
        let windows = self.windows;
        self.purge(now_ms);
        let mut out: Vec<SensorView> = self
            .map
            .iter_mut()
            .map(|((kind, (user, client_id)), s)| SensorView {
                kind: *kind,
                user: user.clone(),
                client_id: client_id.clone(),
                limit: s.limit,
                value: match kind {
                    QuotaKind::ControllerMutation => {
                        s.bucket
                            .tokens(s.limit, windows.burst(*kind, s.limit), now_ms)
                    }
                    _ => s.rate.measure(now_ms),
                },
                throttle_ms_total: s.throttle_ms_total,
                throttled: s.throttled,
            })
            .collect();
        out.sort_by(|a, b| (a.kind, &a.user, &a.client_id).cmp(&(b.kind, &b.user, &b.client_id)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(user: &str, client: &str, limit: f64) -> Bound {
        Bound {
            sensor: (user.into(), client.into()),
            limit,
        }
    }

    #[test]
    fn usage_beyond_one_window_is_throttled_for_the_debt() {
        let mut s = Sensors::new(QuotaWindows::default());
        let alice = bound("alice", "", 1000.0);
        // One window (1 s) of burst: 1000 bytes pass unthrottled.
        assert_eq!(s.record(QuotaKind::Produce, &alice, 1000.0, 0), 0);
        // 3000 more: 3000 bytes of debt at 1000/s.
        assert_eq!(s.record(QuotaKind::Produce, &alice, 3000.0, 0), 3000);
        assert_eq!(s.debt_ms(QuotaKind::Produce, &alice, 1000), 2000);
        // Another key is measured apart.
        assert_eq!(
            s.record(QuotaKind::Produce, &bound("bob", "", 1000.0), 1.0, 0),
            0
        );
        let v = s.views(0);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].user, "alice");
        assert_eq!((v[0].throttled, v[0].throttle_ms_total), (1, 3000));
        // The windowed rate the metrics show: 4000 bytes over at least 10 s.
        assert!((v[0].value - 400.0).abs() < 1e-6, "{}", v[0].value);
        // Once the windows are over and the bucket full, the sensors go.
        assert!(s.views(11_000).is_empty());
    }

    #[test]
    fn a_steady_client_is_held_to_the_quota() {
        let mut s = Sensors::new(QuotaWindows::default());
        let b = bound("", "c", 1_048_576.0);
        // A client sending 256 KiB requests as soon as it is let.
        let (mut now, mut sent) = (0u64, 0f64);
        while now < 40_000 {
            let ms = s.record(QuotaKind::Produce, &b, 262_144.0, now);
            if now >= 10_000 {
                sent += 262_144.0;
            }
            now += ms.max(1);
        }
        let rate = sent / 30.0;
        assert!((rate / 1_048_576.0 - 1.0).abs() < 0.03, "{rate}");
    }

    #[test]
    fn mutations_are_admitted_until_the_bucket_is_in_debt() {
        let mut s = Sensors::new(QuotaWindows::default());
        let b = bound("alice", "", 2.0);
        // Burst: 2/s x 11 x 1 s = 22 partitions.
        assert_eq!(s.debt_ms(QuotaKind::ControllerMutation, &b, 0), 0);
        assert_eq!(s.record(QuotaKind::ControllerMutation, &b, 30.0, 0), 4000);
        assert_eq!(s.debt_ms(QuotaKind::ControllerMutation, &b, 1000), 3000);
        assert_eq!(s.debt_ms(QuotaKind::ControllerMutation, &b, 4000), 0);
    }

    #[test]
    fn the_map_is_bounded_and_overflows_into_a_shared_sensor() {
        let mut s = Sensors::new(QuotaWindows::default());
        for i in 0..MAX_SENSORS {
            s.record(QuotaKind::Produce, &bound("", &i.to_string(), 1e9), 1.0, 0);
        }
        assert_eq!(s.len(), MAX_SENSORS);
        s.record(QuotaKind::Produce, &bound("", "new", 1e9), 1.0, 5);
        s.record(QuotaKind::Produce, &bound("", "newer", 1e9), 1.0, 5);
        assert_eq!(s.len(), MAX_SENSORS + 1, "one overflow sensor");
        assert!(s.views(5).iter().any(|v| v.user == OVERFLOW_SENSOR));
        // Once the old ones are idle a new key gets its own sensor again.
        s.record(QuotaKind::Produce, &bound("", "late", 1e9), 1.0, 20_000);
        assert!(s.len() <= 2);
    }
}
