//! The group coordinator's loads of `__consumer_offsets` partitions (at start and whenever
//! this node becomes a partition's leader): how long each took and how many records it
//! replayed, so an operator can see a restart's cost follow the live offsets once the
//! partitions are compacted (Kafka: group-coordinator-metrics partition-load-time-max/avg).

use std::sync::LazyLock;
use std::time::Duration;

use metrics::{counter, histogram, Counter, Histogram};

use super::names;

/// The handles: `rill_group_coordinator_partition_load_seconds` and
/// `rill_group_coordinator_load_records_total`.
static LOAD: LazyLock<(Histogram, Counter)> = LazyLock::new(|| {
    super::install();
    (
        histogram!(names::GROUP_LOAD_DURATION),
        counter!(names::GROUP_LOAD_RECORDS),
    )
});

/// Registers the load metrics (exported at zero until the first load).
pub fn register() {
    LazyLock::force(&LOAD);
}

/// One `__consumer_offsets` partition was loaded: `records` replayed in `took`.
pub fn partition_loaded(records: usize, took: Duration) {
    LOAD.0.record(took.as_secs_f64());
    LOAD.1.increment(records as u64);
}
