//! Hosts the `rill-group` state machine: one lock around it, the `__consumer_offsets` log
//! under it, parked JoinGroup/SyncGroup requests waiting on oneshots, and the timer task.
//!
//! Order of one operation ([`GroupService::run`], blocking): lock; call the handler with the
//! time; append its records (so log order is state order); unlock; wait until the records
//! are durable; then answer parked requests. An acknowledged commit is therefore on disk.
//!
//! Thread-safety: the coordinator mutex is held for the handler and the page-cache append
//! only, never for an fsync wait.

pub mod storage;
pub mod timer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use rill_group::{GroupConfig, GroupCoordinator, Output, Reply, RequestId};
use tokio::sync::oneshot;

use crate::broker::Broker;
use crate::clock::now_ms;
use crate::config::{parse_int, BrokerConfig};
use crate::error::{BrokerError, Result};

pub use storage::OFFSETS_TOPIC;

/// The group coordinator service of this broker.
#[derive(Debug)]
pub struct GroupService {
    /// The state machine.
    state: Mutex<GroupCoordinator>,
    /// Parked requests by id.
    waiters: Mutex<HashMap<RequestId, oneshot::Sender<Reply>>>,
    /// Next parked-request id.
    next_id: AtomicU64,
}

/// Reads the coordinator's settings from the broker config.
///
/// # Errors
/// A bad value.
pub fn group_config(config: &BrokerConfig) -> Result<GroupConfig> {
    let int = |key: &str, min: i64, max: i64| -> Result<i64> {
        let v = config.value(key).unwrap_or_default();
        Ok(parse_int(key, v, min, max)?)
    };
    Ok(GroupConfig {
        offsets_partitions: int("offsets.topic.num.partitions", 1, 10_000)? as i32,
        initial_rebalance_delay_ms: int(
            "group.initial.rebalance.delay.ms",
            0,
            i64::from(i32::MAX),
        )?,
        min_session_timeout_ms: int("group.min.session.timeout.ms", 0, i64::from(i32::MAX))? as i32,
        max_session_timeout_ms: int("group.max.session.timeout.ms", 0, i64::from(i32::MAX))? as i32,
        max_group_size: int("group.max.size", 1, i64::from(i32::MAX))? as usize,
        offsets_retention_ms: int("offsets.retention.minutes", 1, i64::from(i32::MAX))? * 60_000,
        offset_metadata_max_bytes: int("offset.metadata.max.bytes", 0, i64::from(i32::MAX))?
            as usize,
    })
}

impl GroupService {
    /// A coordinator with nothing loaded.
    pub fn new(config: GroupConfig) -> Self {
        GroupService {
            state: Mutex::new(GroupCoordinator::new(config)),
            waiters: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, GroupCoordinator> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates `__consumer_offsets` if missing and replays it. Blocking; at startup.
    ///
    /// # Errors
    /// Storage and metadata errors.
    pub fn start(&self, broker: &Broker) -> Result<()> {
        let partitions = self.lock().config.offsets_partitions;
        storage::ensure_offsets_topic(broker, partitions)?;
        let mut c = self.lock();
        let n = storage::load(broker, &mut c)?;
        c.finish_load(now_ms());
        tracing::info!(
            records = n,
            groups = c.list().len(),
            "group coordinator loaded"
        );
        Ok(())
    }

    /// Reads the state without changing it.
    pub fn read<T>(&self, f: impl FnOnce(&GroupCoordinator) -> T) -> T {
        f(&self.lock())
    }

    /// Registers a parked request; its answer arrives on the receiver.
    pub fn park(&self) -> (RequestId, oneshot::Receiver<Reply>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        (id, rx)
    }

    /// Runs a handler, persists its records, waits for durability, answers parked requests.
    /// Blocking. The handler's own result is returned only when its records are durable.
    ///
    /// # Errors
    /// Storage errors appending or syncing the records.
    pub fn run<T>(
        &self,
        broker: &Broker,
        f: impl FnOnce(&mut GroupCoordinator, i64) -> (T, Output),
    ) -> Result<T> {
        let now = now_ms();
        let (value, out, appended) = {
            let mut c = self.lock();
            let (value, out) = f(&mut c, now);
            let appended = if out.records.is_empty() {
                Ok(Vec::new())
            } else {
                storage::append(broker, &out.records, now)
            };
            (value, out, appended)
        };
        let durable = appended.and_then(|ends| {
            for (p, end) in ends {
                p.wait_durable(end).map_err(BrokerError::from)?;
            }
            Ok(())
        });
        if let Err(e) = &durable {
            tracing::error!(error = %e, "writing {OFFSETS_TOPIC} failed");
        }
        self.deliver(out.replies);
        durable.map(|()| value)
    }

    fn deliver(&self, replies: Vec<Reply>) {
        if replies.is_empty() {
            return;
        }
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        for reply in replies {
            let id = match &reply {
                Reply::Join(id, _) | Reply::Sync(id, _) => *id,
            };
            if let Some(tx) = waiters.remove(&id) {
                let _ = tx.send(reply);
            }
        }
    }

    /// Forgets a parked request whose handler failed before parking it.
    pub fn unpark(&self, id: RequestId) {
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }
}
