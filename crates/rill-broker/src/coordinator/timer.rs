//! The coordinator's clock: fires the state machine's deadlines (rebalance phases, sessions)
//! every 100 ms, expires old offsets every `offsets.retention.check.interval.ms`, and creates
//! `__consumer_offsets` once enough brokers are live for it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::GroupService;
use crate::error::Result;
use crate::replica::ReplicaManager;

/// How often deadlines are checked; session and rebalance timeouts are seconds long.
const TICK: Duration = Duration::from_millis(100);

/// What the timer needs from the broker: the coordinator, the partitions it writes to, and
/// a way to create the offsets topic. The timer's narrow handle.
pub trait CoordinatorHost: Send + Sync + 'static {
    /// The group coordinator service.
    fn groups(&self) -> &GroupService;
    /// The hosted partitions (the coordinator appends to `__consumer_offsets`).
    fn replicas(&self) -> &ReplicaManager;
    /// Whether the metadata image has `__consumer_offsets`.
    fn offsets_topic_exists(&self) -> bool;
    /// Creates `__consumer_offsets` with `partitions` partitions if missing and possible.
    /// Blocking.
    ///
    /// # Errors
    /// Metadata or storage errors.
    fn create_offsets_topic(&self, partitions: i32) -> Result<()>;
}

/// Runs until shutdown; checks offset expiry every `expire_check_ms`.
pub async fn run<H: CoordinatorHost>(
    host: Arc<H>,
    expire_check_ms: u64,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(TICK);
    let mut expire = tokio::time::interval(Duration::from_millis(expire_check_ms.max(1)));
    let mut create = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = create.tick(), if !host.offsets_topic_exists() => {
                let h = host.clone();
                let partitions = host.groups().offsets_partitions();
                let made = tokio::task::spawn_blocking(move || h.create_offsets_topic(partitions)).await;
                if let Ok(Err(e)) = made {
                    tracing::debug!(error = %e, "cannot create the offsets topic yet");
                }
            }
            _ = tick.tick() => {
                let now = crate::clock::now_ms();
                let due = host.groups().read(|c| c.next_deadline().is_some_and(|d| d <= now));
                if host.groups().has_deleted_topics() {
                    let h = host.clone();
                    let done = tokio::task::spawn_blocking(move || h.groups().forget_deleted_topics(h.replicas())).await;
                    if let Ok(Err(e)) = done {
                        tracing::warn!(error = %e, "cannot remove the offsets of deleted topics");
                    }
                }
                if due {
                    let h = host.clone();
                    let _ = tokio::task::spawn_blocking(move || h.groups().run(h.replicas(), |c, now| ((), c.tick(now)))).await;
                }
            }
            _ = expire.tick() => {
                let h = host.clone();
                let _ = tokio::task::spawn_blocking(move || h.groups().run(h.replicas(), |c, now| ((), c.expire_offsets(now)))).await;
            }
        }
    }
}
