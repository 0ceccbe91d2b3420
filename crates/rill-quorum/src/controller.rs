//! The active controller's loops: what a controller node runs beside its quorum, and what the
//! quorum simulation runs too (the same code, not a copy).
//!
//! - [`run_liveness_loop`]: brokers' heartbeats ([`HeartbeatTable`]) turned into decisions by
//!   [`rill_meta::control::tick`] (register new incarnations, fence a broker silent for the
//!   session timeout or shutting down, so its leaderships move to in-sync replicas; unfence one
//!   that heartbeats and has caught up), at every heartbeat and at least every
//!   [`LIVENESS_TICK`]. A newly active controller gives every broker a full session.
//! - [`run_partition_duties`]: every [`DUTIES_TICK`], finish reassignments whose new replicas
//!   caught up, elect unclean leaders for leaderless partitions of topics that allow it, and
//!   (when enabled) move leaderships back to preferred replicas.
//!
//! Both act only while this node may decide ([`RaftQuorum::may_decide`]) and commit through
//! [`MetadataQuorum::propose`], which returns once the change is committed and applied here.
//! A proposal rejected because the image moved is decided again at the next tick. Both stop
//! when `shutdown` turns true (or is dropped), without waiting for a proposal in flight: a
//! leader cut off from its majority may never commit. Time is tokio's clock, so simulated
//! time drives them in tests.

use std::sync::Arc;
use std::time::Duration;

use rill_meta::control::{complete_reassignments, preferred_rebalance, tick, unclean_recovery};
use rill_meta::MetadataRecord;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::{MetadataQuorum, RaftQuorum};

/// How often the liveness loop looks when no heartbeat wakes it.
pub const LIVENESS_TICK: Duration = Duration::from_millis(200);

/// How often the partition duties run.
pub const DUTIES_TICK: Duration = Duration::from_millis(500);

/// What the controller loops take from the node's configuration.
#[derive(Debug, Clone)]
pub struct ControllerSettings {
    /// `broker.session.timeout.ms`: a broker silent this long is fenced.
    pub session_timeout_ms: u64,
    /// `auto.leader.rebalance.enable`.
    pub auto_leader_rebalance: bool,
    /// `leader.imbalance.check.interval.seconds`, as a duration (at least 1 s).
    pub leader_imbalance_check_interval: Duration,
    /// `unclean.leader.election.enable` for topics that do not set it.
    pub unclean_leader_election_default: bool,
    /// How long one proposal may wait for its commit before the loop decides again.
    pub propose_timeout: Duration,
}

impl ControllerSettings {
    /// Kafka's defaults with the given session timeout.
    pub fn with_session_timeout_ms(session_timeout_ms: u64) -> Self {
        ControllerSettings {
            session_timeout_ms,
            auto_leader_rebalance: true,
            leader_imbalance_check_interval: Duration::from_secs(300),
            unclean_leader_election_default: false,
            propose_timeout: Duration::from_secs(30),
        }
    }
}

/// Resolves when `shutdown` says stop (true, or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Commits `records` (one decision batch described by `what`), giving up when `shutdown`
/// comes first. Returns false when the loop must stop.
async fn commit(
    quorum: &RaftQuorum,
    records: Vec<MetadataRecord>,
    what: &str,
    settings: &ControllerSettings,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let proposal = tokio::time::timeout(settings.propose_timeout, quorum.propose(records));
    let outcome = tokio::select! {
        _ = stopped(shutdown) => return false,
        outcome = proposal => outcome,
    };
    match outcome {
        Ok(Ok(_)) => tracing::info!(decisions = %what, "controller committed"),
        Ok(Err(e)) => tracing::warn!(decisions = %what, error = %e, "controller change failed"),
        Err(_) => tracing::warn!(decisions = %what, "controller change not committed in time"),
    }
    true
}

/// One phrase per decision kind, for the log.
fn describe(records: &[MetadataRecord]) -> String {
    let mut parts = Vec::new();
    for r in records {
        match r {
            MetadataRecord::BrokerRegistered { broker_id, .. } => {
                parts.push(format!("register {broker_id}"))
            }
            MetadataRecord::BrokerFenced { broker_id } => parts.push(format!("fence {broker_id}")),
            MetadataRecord::BrokerUnfenced { broker_id } => {
                parts.push(format!("unfence {broker_id}"))
            }
            _ => {}
        }
    }
    let moves = records.len() - parts.len();
    if moves > 0 {
        parts.push(format!("{moves} partition change(s)"));
    }
    parts.join(", ")
}

/// The liveness loop (see the module docs); runs until `shutdown`.
pub async fn run_liveness_loop(
    quorum: Arc<RaftQuorum>,
    settings: ControllerSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    let table = quorum.heartbeats().clone();
    let mut active_since: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => return,
            () = tokio::time::sleep(LIVENESS_TICK) => {}
            () = table.arrived() => {}
        }
        active_since = if quorum.may_decide() {
            active_since.or(Some(Instant::now()))
        } else {
            None
        };
        let Some(since) = active_since else {
            continue;
        };
        let live = table.liveness(since, settings.session_timeout_ms);
        let records = tick(&quorum.image(), &live, table.millis(Instant::now()));
        if records.is_empty() {
            continue;
        }
        let what = describe(&records);
        if !commit(&quorum, records, &what, &settings, &mut shutdown).await {
            return;
        }
    }
}

/// The partition duties (see the module docs); runs until `shutdown`.
pub async fn run_partition_duties(
    quorum: Arc<RaftQuorum>,
    settings: ControllerSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    let rebalance_every = settings
        .leader_imbalance_check_interval
        .max(Duration::from_secs(1));
    let mut last_rebalance = Instant::now();
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => return,
            () = tokio::time::sleep(DUTIES_TICK) => {}
        }
        if !quorum.may_decide() {
            continue;
        }
        let image = quorum.image();
        let unclean_default = settings.unclean_leader_election_default;
        let mut batches: Vec<(&str, Vec<MetadataRecord>)> = vec![
            ("reassignment completion", complete_reassignments(&image)),
            (
                "unclean leader election",
                unclean_recovery(&image, |t| {
                    t.configs
                        .get("unclean.leader.election.enable")
                        .map_or(unclean_default, |v| v.trim().eq_ignore_ascii_case("true"))
                }),
            ),
        ];
        if settings.auto_leader_rebalance && last_rebalance.elapsed() >= rebalance_every {
            last_rebalance = Instant::now();
            batches.push(("preferred leader rebalance", preferred_rebalance(&image)));
        }
        for (what, records) in batches {
            if records.is_empty() {
                continue;
            }
            tracing::info!(changes = records.len(), "{what}");
            if !commit(&quorum, records, what, &settings, &mut shutdown).await {
                return;
            }
        }
    }
}
