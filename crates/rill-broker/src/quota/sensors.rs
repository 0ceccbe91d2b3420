//! Usage per quota sensor and the throttle time it earns (Kafka's `ClientQuotaManager` and
//! `ControllerMutationQuotaManager`, without their clocks and threads). Pure: every call
//! takes the current time in milliseconds.
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
    /// The token bucket's size for a mutation rate (KIP-599: rate x samples x window).
    pub fn burst(&self, rate: f64) -> f64 {
        rate * f64::from(self.mutation_samples) * self.mutation_window_ms as f64 / 1000.0
    }

    /// The most a byte quota allows in one quota window (Kafka's
    /// `getMaxValueInQuotaWindow`): a fetch is never asked for more than this, or it could
    /// never be answered within the quota.
    pub fn max_in_window(&self, limit: f64) -> f64 {
        limit * f64::from(self.samples.saturating_sub(1).max(1)) * self.window_ms as f64 / 1000.0
    }
}

/// How a sensor measures.
#[derive(Debug, Clone)]
enum Measure {
    /// A windowed rate (byte rates, request time).
    Rate(SampledRate),
    /// A token bucket (controller mutations).
    Bucket(TokenBucket),
}

/// One sensor: usage of one (kind, user, client id).
#[derive(Debug, Clone)]
struct Sensor {
    measure: Measure,
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
    /// The measured rate (byte rates: bytes/s; request: percent; mutations: tokens left).
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

    /// Whether a sensor idle since `last_ms` holds nothing at `now_ms`.
    fn idle(&self, kind: QuotaKind, last_ms: u64, now_ms: u64) -> bool {
        let span = match kind {
            QuotaKind::ControllerMutation => {
                self.windows.mutation_window_ms * u64::from(self.windows.mutation_samples)
            }
            _ => self.windows.window_ms * u64::from(self.windows.samples),
        };
        now_ms.saturating_sub(last_ms) >= span
    }

    /// The sensor for `bound` of `kind`, made if needed within [`MAX_SENSORS`].
    fn sensor(&mut self, kind: QuotaKind, bound: &Bound, now_ms: u64) -> &mut Sensor {
        let mut key = (kind, bound.sensor.clone());
        if !self.map.contains_key(&key) && self.map.len() >= MAX_SENSORS {
            let stale: Vec<(QuotaKind, SensorKey)> = self
                .map
                .iter()
                .filter(|((k, _), s)| self.idle(*k, s.last_ms, now_ms))
                .map(|(k, _)| k.clone())
                .collect();
            for k in stale {
                self.map.remove(&k);
            }
            if self.map.len() >= MAX_SENSORS {
                key = (kind, (OVERFLOW_SENSOR.to_string(), String::new()));
            }
        }
        let windows = self.windows;
        let s = self.map.entry(key).or_insert_with(|| Sensor {
            measure: match kind {
                QuotaKind::ControllerMutation => {
                    Measure::Bucket(TokenBucket::full(windows.burst(bound.limit), now_ms))
                }
                _ => Measure::Rate(SampledRate::new(windows.samples, windows.window_ms, now_ms)),
            },
            limit: bound.limit,
            last_ms: now_ms,
            throttle_ms_total: 0,
            throttled: 0,
        });
        s.limit = bound.limit;
        s.last_ms = now_ms;
        s
    }

    /// Records `value` against a rate quota and returns the throttle time it earns (ms).
    pub fn record(&mut self, kind: QuotaKind, bound: &Bound, value: f64, now_ms: u64) -> u64 {
        let s = self.sensor(kind, bound, now_ms);
        let Measure::Rate(rate) = &mut s.measure else {
            return 0;
        };
        rate.record(value, now_ms);
        let ms = rate.throttle_ms(bound.limit, now_ms);
        if ms > 0 {
            s.throttle_ms_total += ms;
            s.throttled += 1;
        }
        ms
    }

    /// Takes back `value` recorded earlier (a fetch answered empty because it was
    /// throttled: its bytes were not sent).
    pub fn unrecord(&mut self, kind: QuotaKind, bound: &Bound, value: f64, now_ms: u64) {
        if let Measure::Rate(rate) = &mut self.sensor(kind, bound, now_ms).measure {
            rate.record(-value, now_ms);
        }
    }

    /// Whether the mutation bucket of `bound` is in debt (a strict mutation is refused).
    pub fn mutation_in_debt(&mut self, bound: &Bound, now_ms: u64) -> bool {
        let burst = self.windows.burst(bound.limit);
        match &mut self
            .sensor(QuotaKind::ControllerMutation, bound, now_ms)
            .measure
        {
            Measure::Bucket(b) => b.in_debt(bound.limit, burst, now_ms),
            Measure::Rate(_) => false,
        }
    }

    /// Takes `partitions` mutations from the bucket of `bound`.
    pub fn mutation_take(&mut self, bound: &Bound, partitions: f64, now_ms: u64) {
        let burst = self.windows.burst(bound.limit);
        if let Measure::Bucket(b) = &mut self
            .sensor(QuotaKind::ControllerMutation, bound, now_ms)
            .measure
        {
            b.take(partitions, bound.limit, burst, now_ms);
        }
    }

    /// The throttle time the mutation bucket of `bound` earns now (ms), counted as handed
    /// out when positive.
    pub fn mutation_throttle(&mut self, bound: &Bound, now_ms: u64) -> u64 {
        let burst = self.windows.burst(bound.limit);
        let s = self.sensor(QuotaKind::ControllerMutation, bound, now_ms);
        let ms = match &mut s.measure {
            Measure::Bucket(b) => b.throttle_ms(bound.limit, burst, now_ms),
            Measure::Rate(_) => 0,
        };
        if ms > 0 {
            s.throttle_ms_total += ms;
            s.throttled += 1;
        }
        ms
    }

    /// Every sensor not idle at `now_ms` (idle ones are dropped), sorted.
    pub fn views(&mut self, now_ms: u64) -> Vec<SensorView> {
        let windows = self.windows;
        let stale: Vec<(QuotaKind, SensorKey)> = self
            .map
            .iter()
            .filter(|((k, _), s)| self.idle(*k, s.last_ms, now_ms))
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            self.map.remove(&k);
        }
        let mut out: Vec<SensorView> = self
            .map
            .iter_mut()
            .map(|((kind, (user, client_id)), s)| SensorView {
                kind: *kind,
                user: user.clone(),
                client_id: client_id.clone(),
                limit: s.limit,
                value: match &mut s.measure {
                    Measure::Rate(r) => r.measure(now_ms),
                    Measure::Bucket(b) => b.tokens(s.limit, windows.burst(s.limit), now_ms),
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
    fn one_sensor_per_key_and_throttle_is_counted() {
        let mut s = Sensors::new(QuotaWindows::default());
        let alice = bound("alice", "", 1000.0);
        assert_eq!(s.record(QuotaKind::Produce, &alice, 10_000.0, 0), 0);
        let ms = s.record(QuotaKind::Produce, &alice, 10_000.0, 0);
        assert_eq!(ms, 10_000, "twice the allowance: a whole window");
        // Another key is measured apart.
        assert_eq!(
            s.record(QuotaKind::Produce, &bound("bob", "", 1000.0), 1.0, 0),
            0
        );
        let v = s.views(0);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].user, "alice");
        assert_eq!((v[0].throttled, v[0].throttle_ms_total), (1, 10_000));
        // A whole quota window later the sensors are idle and go.
        assert!(s.views(11_000).is_empty());
    }

    #[test]
    fn unrecording_takes_back_a_throttled_fetch() {
        let mut s = Sensors::new(QuotaWindows::default());
        let b = bound("", "c", 100.0);
        assert!(s.record(QuotaKind::Fetch, &b, 5000.0, 0) > 0);
        s.unrecord(QuotaKind::Fetch, &b, 5000.0, 0);
        assert_eq!(s.record(QuotaKind::Fetch, &b, 10.0, 0), 0);
        assert_eq!(QuotaWindows::default().max_in_window(100.0), 1000.0);
    }

    #[test]
    fn mutations_are_admitted_until_the_bucket_is_in_debt() {
        let mut s = Sensors::new(QuotaWindows::default());
        let b = bound("alice", "", 2.0);
        // Burst: 2/s x 11 x 1 s = 22 partitions.
        assert!(!s.mutation_in_debt(&b, 0));
        s.mutation_take(&b, 30.0, 0);
        assert!(s.mutation_in_debt(&b, 0));
        assert_eq!(s.mutation_throttle(&b, 0), 4000);
        assert!(!s.mutation_in_debt(&b, 4000));
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
