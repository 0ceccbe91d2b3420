//! The controller loop as the simulation runs it: the shape of
//! `rill_broker::cluster::run_controller_loop` (which this crate cannot depend on) around the
//! same decision code, [`rill_meta::control::tick`], and the same heartbeat table and
//! leadership test ([`RaftQuorum::heartbeats`], [`RaftQuorum::may_decide`]).

use std::sync::Arc;
use std::time::Duration;

use rill_meta::control::tick;
use rill_quorum::{MetadataQuorum, RaftQuorum};
use tokio::time::Instant;

/// How often the loop looks when no heartbeat wakes it (as in the broker).
const TICK: Duration = Duration::from_millis(200);

/// Runs the controller loop of `q` until aborted.
pub async fn drive(q: Arc<RaftQuorum>, session_ms: u64) {
    let table = q.heartbeats().clone();
    let mut active_since: Option<Instant> = None;
    loop {
        tokio::select! {
            () = tokio::time::sleep(TICK) => {}
            () = table.arrived() => {}
        }
        let active = q.may_decide();
        active_since = if active {
            active_since.or(Some(Instant::now()))
        } else {
            None
        };
        let Some(since) = active_since else {
            continue;
        };
        let live = table.liveness(since, session_ms);
        let records = tick(&q.image(), &live, table.millis(Instant::now()));
        if records.is_empty() {
            continue;
        }
        // Rejected (the image moved) or not committed: the next tick decides again.
        let _ = tokio::time::timeout(Duration::from_secs(3), q.propose(records)).await;
    }
}
