//! Observability: Prometheus metrics and the structured log lines of significant events.
//!
//! Metrics go through the `metrics` facade into one process-wide Prometheus recorder
//! ([`install`], called by [`crate::Server::bind`] before anything is counted). Two kinds:
//! - event metrics (counters and histograms) recorded where things happen, through the small
//!   functions of this module so hot files keep one-line call sites: [`topic`] (bytes and
//!   records in/out per topic), [`requests`] (requests, errors, latency per API),
//!   [`gauges`] (connections, purgatories), [`log_flush`] (fsync latency), [`group_load`]
//!   (the group coordinator's loads of `__consumer_offsets`), [`events`]
//!   (leader elections, ISR changes, observed from the metadata image);
//! - state metrics computed at scrape time from the broker ([`collect`]: partition health,
//!   log sizes, the Raft quorum, consumer group lag), written as Prometheus text by
//!   [`prom_text`] after the recorder's own output.
//!
//! Every metric name, its labels and its Kafka counterpart are listed in [`names`] and in
//! ARCHITECTURE.md. Hot paths allocate nothing for metrics: per-topic and per-API handles are
//! created once and cached.
//!
//! Thread-safety: everything here may be called from any thread.

pub mod collect;
pub mod events;
pub mod gauges;
pub mod group_load;
pub mod log_flush;
pub mod names;
pub mod prom_text;
pub mod recorder;
pub mod requests;
pub mod throughput;
pub mod topic;
pub mod view;

pub use events::{record_isr_change, record_leader_election, ImageObserver};
pub use recorder::{install, render};

/// Installs the recorder and registers the metrics that must be exported from the start
/// (at zero) even before anything happens: connections, purgatories, ISR and election
/// counters, the fsync histogram, the group coordinator's load figures.
pub fn init() {
    install();
    gauges::register();
    events::register();
    log_flush::register();
    group_load::register();
}
