//! Breaking split votes. openraft 0.9 draws a node's election timeout once, when the node
//! starts, and a vote request resets the timers of the nodes that receive it; so voters whose
//! timeouts are nearly equal can become candidates together, split the vote and do it again
//! in every term (seen in the simulation: three voters at term 80 without a leader; and on
//! real processes: two survivors of an isolated leader asking for votes within a millisecond
//! of each other every 1.66 s for 17 s). This task watches for that: when no leader has been
//! known for the longest election timeout, the node waits a jitter of its own (different on
//! every node and every round, up to one election timeout) and calls an election; the node
//! with the shortest jitter asks first and wins.
//! Thread-safety: one task per controller, stopped with the quorum.

use std::time::Duration;

use openraft::ServerState;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::types::Raft;
use crate::NodeId;

/// A small deterministic mix (splitmix64), so jitters differ per node and round without an
/// RNG dependency and stay reproducible under a simulation's seed.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Runs until `stop` flips: calls an election after a jitter when this voter has seen no
/// leader for `election_timeout_max_ms`.
pub(crate) async fn run(
    raft: Raft,
    node_id: NodeId,
    election_timeout_max_ms: u64,
    mut stop: watch::Receiver<bool>,
) {
    let max = Duration::from_millis(election_timeout_max_ms.max(1));
    let mut metrics = raft.metrics();
    let mut leaderless_since: Option<Instant> = None;
    let mut round: u64 = 0;
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            () = tokio::time::sleep(max / 4) => {}
            changed = metrics.changed() => if changed.is_err() { return },
        }
        let (leader, state) = {
            let m = metrics.borrow();
            (m.current_leader, m.state)
        };
        if leader.is_some() || matches!(state, ServerState::Learner | ServerState::Shutdown) {
            leaderless_since = None;
            continue;
        }
        let since = *leaderless_since.get_or_insert_with(Instant::now);
        if since.elapsed() < max {
            continue;
        }
        round += 1;
        let jitter = mix(node_id ^ round.rotate_left(32)) % election_timeout_max_ms.max(1);
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            () = tokio::time::sleep(Duration::from_millis(jitter)) => {}
        }
        if raft.metrics().borrow().current_leader.is_none() {
            tracing::info!(node_id, round, "no leader for a while: calling an election");
            if raft.trigger().elect().await.is_err() {
                return;
            }
        }
        leaderless_since = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::mix;

    #[test]
    fn jitters_differ_between_nodes_and_rounds() {
        let j = |node: u64, round: u64| mix(node ^ round.rotate_left(32)) % 2000;
        assert_ne!(j(1, 1), j(2, 1));
        assert_ne!(j(2, 1), j(3, 1));
        assert_ne!(j(1, 1), j(1, 2));
    }
}
