//! Partition duties of the active controller, besides fencing (cluster.rs): finishing
//! reassignments whose new replicas caught up, unclean elections for leaderless partitions
//! of topics that allow them (`unclean.leader.election.enable`), and the automatic
//! preferred-leader rebalance (`auto.leader.rebalance.enable`, every
//! `leader.imbalance.check.interval.seconds`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rill_meta::control::{complete_reassignments, preferred_rebalance, unclean_recovery};
use rill_meta::MetadataRecord;
use tokio::sync::watch;

use crate::cluster::Controller;

/// How often the duties run.
const TICK: Duration = Duration::from_millis(500);

/// Runs until shutdown; acts only while this node is the active controller (on a
/// controller-only node as on a combined one).
pub async fn run(ctrl: Arc<Controller>, mut shutdown: watch::Receiver<bool>) {
    let flag = |key: &str| ctrl.config.value(key).is_some_and(|v| v == "true");
    let auto_rebalance = flag("auto.leader.rebalance.enable");
    let unclean_default = flag("unclean.leader.election.enable");
    let rebalance_every = Duration::from_secs(
        ctrl.config
            .value("leader.imbalance.check.interval.seconds")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(300)
            .max(1),
    );
    let mut last_rebalance = Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(TICK) => {}
        }
        if !ctrl.quorum.may_decide() {
            continue;
        }
        let image = ctrl.metadata.image();
        let mut batches: Vec<(&str, Vec<MetadataRecord>)> = vec![
            ("reassignment completion", complete_reassignments(&image)),
            (
                "unclean leader election",
                unclean_recovery(&image, |t| {
                    t.configs
                        .get("unclean.leader.election.enable")
                        .map_or(unclean_default, |v| v == "true")
                }),
            ),
        ];
        if auto_rebalance && last_rebalance.elapsed() >= rebalance_every {
            last_rebalance = Instant::now();
            batches.push(("preferred leader rebalance", preferred_rebalance(&image)));
        }
        for (what, records) in batches {
            if records.is_empty() {
                continue;
            }
            tracing::info!(changes = records.len(), "{what}");
            let metadata = ctrl.metadata.clone();
            match tokio::task::spawn_blocking(move || metadata.commit(records)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "{what} failed"),
                Err(e) => tracing::error!(error = %e, "{what} task failed"),
            }
        }
    }
}
