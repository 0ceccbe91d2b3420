//! The process-wide Prometheus recorder behind the `metrics` facade.
//!
//! Installed once per process (the first [`install`] wins; later calls return the same
//! handle). Histograms use fixed buckets (see [`LATENCY_BUCKETS_S`]) so Prometheus can
//! aggregate them across nodes. [`render`] also runs the recorder's upkeep, which folds
//! recorded histogram samples into their buckets; [`crate::admin_http`] calls
//! [`upkeep`] every few seconds so samples never pile up between scrapes.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Bucket bounds (seconds) of every `*_seconds` histogram: 0.1 ms to 30 s.
pub const LATENCY_BUCKETS_S: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder as the process's `metrics` recorder (once) and returns
/// its handle. Metric handles created before this are no-ops, so the server calls it first.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        let builder = match builder
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS_S)
        {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "histogram buckets refused; using summaries");
                PrometheusBuilder::new()
            }
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if let Err(e) = metrics::set_global_recorder(recorder) {
            tracing::warn!(error = %e, "another metrics recorder is installed; /metrics shows only Rill's scrape-time state");
        }
        super::names::describe_all();
        handle
    })
}

/// The recorder's metrics in the Prometheus text format (installs the recorder if needed).
pub fn render() -> String {
    install().render()
}

/// Folds recorded histogram samples into their buckets (bounded memory between scrapes).
pub fn upkeep() {
    install().run_upkeep();
}
