//! fsync latency: the partition logs' group-commit fsyncs, timed by rill-log's
//! [`rill_log::SyncObserver`] hook (rill-log itself keeps no global state or metrics).

use std::sync::LazyLock;
use std::time::Instant;

use metrics::{histogram, Histogram};
use rill_log::{Durability, SyncObserver};

use super::names;

static FLUSH: LazyLock<Histogram> = LazyLock::new(|| {
    super::install();
    histogram!(names::LOG_FLUSH_DURATION)
});

/// Registers the histogram (exported empty until the first fsync).
pub fn register() {
    LazyLock::force(&FLUSH);
}

/// Times every group-commit fsync of this log into `rill_log_flush_duration_seconds`.
pub fn watch(durability: &Durability) {
    durability.set_sync_observer(SyncObserver::new(Instant::now, |d| {
        FLUSH.record(d.as_secs_f64())
    }));
}
