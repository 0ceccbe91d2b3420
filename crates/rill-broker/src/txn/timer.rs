//! The transaction coordinator's clock: every 100 ms, the records partition loads asked for
//! and the coordinator's deadlines (timed-out transactions aborted, idle ids expired, failed
//! writes retried), on the blocking pool.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::markers::TxnHost;

/// How often deadlines are checked (transaction timeouts are seconds long).
const TICK: Duration = Duration::from_millis(100);

/// Runs until shutdown.
pub async fn run<H: TxnHost>(host: Arc<H>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {
                let h = host.clone();
                let _ = tokio::task::spawn_blocking(move || h.txns().tick(h.replicas())).await;
            }
        }
    }
}
