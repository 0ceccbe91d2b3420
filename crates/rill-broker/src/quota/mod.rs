//! Client quotas (Kafka's client quota managers, KIP-13/KIP-124/KIP-219/KIP-599): byte rates
//! of producers and consumers, request handling time, and controller mutations, per user,
//! client id and their defaults, as set by AlterClientQuotas in the metadata image.
//!
//! The pure parts: [`entity`] (what may be set, which quota applies), [`rate`] (windowed
//! rates and token buckets), [`sensors`] (usage per sensor, bounded). This module is the thin
//! shell the request path calls: [`ClientQuotas`] holds the table built from the image
//! (rebuilt only when the image's quotas changed), the sensors behind a mutex, and the
//! monotonic clock; [`RequestQuota`] is one request's view (its user and client id, and the
//! throttle time it earned so far). Enforcement is KIP-219's: the response carries
//! `throttle_time_ms` and the connection handles nothing more from the client until that
//! time has passed (see [`crate::session::Session::throttle_for`]).

pub mod admin;
pub mod entity;
pub mod rate;
pub mod sensors;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, RwLock};
use std::time::Instant;

use rill_meta::MetadataImage;

use crate::config_value::{invalid, parse_int, ConfigError};
use entity::{Bound, QuotaKind, QuotaTable};
use sensors::{QuotaWindows, SensorView, Sensors};

/// The start of the quota clock.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Milliseconds of a monotonic clock (quota windows and connection mutes).
pub fn mono_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}

/// Runs `fut` and, when `measure` is set, sums the time spent inside its polls: the
/// request's handling time as `request_percentage` counts it (time spent waiting for data,
/// a group commit or a long poll is not handling).
pub async fn timed<F: std::future::Future>(measure: bool, fut: F) -> (F::Output, u64) {
    if !measure {
        return (fut.await, 0);
    }
    let mut fut = std::pin::pin!(fut);
    let mut spent = std::time::Duration::ZERO;
    let out = std::future::poll_fn(|cx| {
        let t = Instant::now();
        let polled = fut.as_mut().poll(cx);
        spent += t.elapsed();
        polled
    })
    .await;
    (out, spent.as_nanos().min(u128::from(u64::MAX)) as u64)
}

/// The broker's quota state.
#[derive(Debug)]
pub struct ClientQuotas {
    windows: QuotaWindows,
    /// The table and the image's `quota_changes` it was built at.
    table: RwLock<(u64, Arc<QuotaTable>)>,
    sensors: Mutex<Sensors>,
}

impl ClientQuotas {
    /// The quota windows `quota.window.*` and `controller.quota.window.*` ask for.
    ///
    /// # Errors
    /// A value out of range, or a `client.quota.callback.class` (Rill has no plug-in
    /// quota callbacks).
    pub fn from_config(get: &impl Fn(&str) -> String) -> Result<Self, ConfigError> {
        let callback = get("client.quota.callback.class");
        if !callback.trim().is_empty() {
            return Err(invalid(
                "client.quota.callback.class",
                callback.trim(),
                "Rill applies Kafka's default quota callback only; leave it empty",
            ));
        }
        let int = |key: &str, max: i64| parse_int(key, &get(key), 1, max);
        let windows = QuotaWindows {
            samples: int("quota.window.num", 1000)? as u32,
            window_ms: int("quota.window.size.seconds", 3600)? as u64 * 1000,
            mutation_samples: int("controller.quota.window.num", 1000)? as u32,
            mutation_window_ms: int("controller.quota.window.size.seconds", 3600)? as u64 * 1000,
        };
        Ok(Self::new(windows))
    }

    /// Quotas measured over `windows`.
    pub fn new(windows: QuotaWindows) -> Self {
        ClientQuotas {
            windows,
            table: RwLock::new((u64::MAX, Arc::new(QuotaTable::default()))),
            sensors: Mutex::new(Sensors::new(windows)),
        }
    }

    fn sensors(&self) -> MutexGuard<'_, Sensors> {
        self.sensors.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The table of `image`'s quotas (rebuilt when they changed since the last call).
    pub fn table(&self, image: &MetadataImage) -> Arc<QuotaTable> {
        let changes = image.quota_changes();
        {
            let g = self.table.read().unwrap_or_else(|p| p.into_inner());
            if g.0 == changes {
                return g.1.clone();
            }
        }
        let built = Arc::new(QuotaTable::from_image(image));
        let mut g = self.table.write().unwrap_or_else(|p| p.into_inner());
        *g = (changes, built.clone());
        built
    }

    /// One request's quota view: `None` when no quota is set at all (the request then does
    /// no quota work).
    pub fn for_request(
        &self,
        image: &MetadataImage,
        principal: impl FnOnce() -> String,
        client_id: &str,
    ) -> Option<Arc<RequestQuota>> {
        let table = self.table(image);
        if table.is_empty() {
            return None;
        }
        let principal = principal();
        // Kafka's user entity is the principal's name (`User:alice` is `alice`).
        let user = match principal.split_once(':') {
            Some((_, name)) => name.to_string(),
            None => principal,
        };
        Some(Arc::new(RequestQuota {
            table,
            user,
            client_id: client_id.to_string(),
            throttle_ms: AtomicU64::new(0),
        }))
    }

    /// Records `value` for `kind` of `q` and returns the throttle time it earned (also
    /// noted in `q`).
    pub fn record(&self, q: &RequestQuota, kind: QuotaKind, value: f64) -> u64 {
        let Some(bound) = q.bound(kind) else {
            return 0;
        };
        let ms = self.sensors().record(kind, &bound, value, mono_ms());
        q.note_throttle(ms);
        ms
    }

    /// When `q`'s quota of `kind` is in debt: the throttle time to answer with instead of
    /// serving (a fetch gets no data, a strict mutation THROTTLING_QUOTA_EXCEEDED), noted in
    /// `q` and counted. 0 when the request may be served.
    pub fn refuse_while_in_debt(&self, q: &RequestQuota, kind: QuotaKind) -> u64 {
        let Some(bound) = q.bound(kind) else {
            return 0;
        };
        let now = mono_ms();
        let mut s = self.sensors();
        let ms = s.debt_ms(kind, &bound, now);
        s.count_throttle(kind, &bound, ms, now);
        q.note_throttle(ms);
        ms
    }

    /// The most a fetch of `q` may ask for under its byte-rate quota (one burst), if it
    /// has one (Kafka caps it the same way, at what its measure allows in a window).
    pub fn fetch_cap(&self, q: &RequestQuota) -> Option<f64> {
        q.bound(QuotaKind::Fetch)
            .map(|b| self.windows.burst(QuotaKind::Fetch, b.limit))
    }

    /// Every active sensor (metrics, the admin API).
    pub fn views(&self) -> Vec<SensorView> {
        self.sensors().views(mono_ms())
    }
}

/// One request's quotas: who sent it, the table in force, and the throttle time earned.
#[derive(Debug)]
pub struct RequestQuota {
    table: Arc<QuotaTable>,
    /// The principal's name.
    pub user: String,
    /// The request's client id.
    pub client_id: String,
    /// The largest throttle time earned so far (ms).
    throttle_ms: AtomicU64,
}

impl RequestQuota {
    /// The quota of `kind` that applies, if any.
    pub fn bound(&self, kind: QuotaKind) -> Option<Bound> {
        self.table.resolve(kind, &self.user, &self.client_id)
    }

    /// Whether a quota of `kind` applies.
    pub fn has(&self, kind: QuotaKind) -> bool {
        self.bound(kind).is_some()
    }

    /// Notes a throttle time earned (the response carries the largest).
    pub fn note_throttle(&self, ms: u64) {
        self.throttle_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// The largest throttle time earned (ms), as the response's `throttle_time_ms`.
    pub fn throttle_ms(&self) -> i32 {
        self.throttle_ms
            .load(Ordering::Relaxed)
            .min(i32::MAX as u64) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let get = |over: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                over.iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_else(|| match k {
                        "client.quota.callback.class" => String::new(),
                        _ => "11".to_string(),
                    })
            }
        };
        assert!(ClientQuotas::from_config(&get(&[])).is_ok());
        assert!(ClientQuotas::from_config(&get(&[("quota.window.num", "0")])).is_err());
        assert!(ClientQuotas::from_config(&get(&[(
            "client.quota.callback.class",
            "com.example.Callback"
        )]))
        .is_err());
    }
}
