//! The coordinator's clock: fires the state machine's deadlines (rebalance phases, sessions)
//! every 100 ms and expires old offsets every `offsets.retention.check.interval.ms`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::broker::Broker;

/// How often deadlines are checked; session and rebalance timeouts are seconds long.
const TICK: Duration = Duration::from_millis(100);

/// Runs until shutdown.
pub async fn run(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let check_ms = broker
        .config
        .value("offsets.retention.check.interval.ms")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(600_000)
        .max(1);
    let mut tick = tokio::time::interval(TICK);
    let mut expire = tokio::time::interval(Duration::from_millis(check_ms));
    let mut create = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = create.tick(), if broker.image().topic(super::OFFSETS_TOPIC).is_none() => {
                let b = broker.clone();
                let partitions = broker.groups.read(|c| c.config.offsets_partitions);
                let made = tokio::task::spawn_blocking(move || super::storage::ensure_offsets_topic(&b, partitions)).await;
                if let Ok(Err(e)) = made {
                    tracing::debug!(error = %e, "cannot create the offsets topic yet");
                }
            }
            _ = tick.tick() => {
                let now = crate::clock::now_ms();
                let due = broker.groups.read(|c| c.next_deadline().is_some_and(|d| d <= now));
                if due {
                    let b = broker.clone();
                    let _ = tokio::task::spawn_blocking(move || b.groups.run(&b, |c, now| ((), c.tick(now)))).await;
                }
            }
            _ = expire.tick() => {
                let b = broker.clone();
                let _ = tokio::task::spawn_blocking(move || b.groups.run(&b, |c, now| ((), c.expire_offsets(now)))).await;
            }
        }
    }
}
