//! Hosts the `rill-group` state machine: one lock around it, the `__consumer_offsets` log
//! under it, parked JoinGroup/SyncGroup requests waiting on oneshots, and the timer task.
//!
//! Order of one operation ([`GroupService::run`], blocking): lock; call the handler with the
//! time; append its records (so log order is state order); unlock; wait until the records
//! are durable and, in a cluster, on every in-sync replica of the offsets partition (as
//! acks=all); then answer parked requests. An acknowledged commit therefore survives the
//! loss of the coordinator.
//!
//! This node coordinates the groups of the `__consumer_offsets` partitions it leads
//! ([`GroupService::sync_ownership`]): on becoming leader it loads a partition's groups from
//! its log, on losing leadership it forgets them; requests for other groups get
//! NOT_COORDINATOR so clients look the coordinator up again.
//!
//! Transactions: a TxnOffsetCommit ([`GroupService::commit_txn_offsets`]) is checked, its
//! batch appended as the producer's, and only then applied (pending), all under the lock, so
//! a fenced producer's offsets never enter the state. The WriteTxnMarkers path calls
//! [`GroupService::complete_txn`] once a marker is in an offsets partition led here.
//!
//! Thread-safety: the coordinator mutex is held for the handler and the page-cache append
//! only, never for an fsync wait.

pub mod deleted_topics;
pub mod storage;
pub mod timer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use rill_group::{
    GroupConfig, GroupCoordinator, GroupError, Output, Reply, RequestId, TxnOffsetCommit,
};
use tokio::sync::oneshot;

use crate::clock::now_ms;
use crate::config::{parse_int, BrokerConfig};
use crate::error::{BrokerError, Result};
use crate::replica::ReplicaManager;

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
    /// The `__consumer_offsets` partitions this node coordinates, with the leader epoch
    /// they were loaded in.
    owned: Mutex<HashMap<i32, i32>>,
    /// Topic deletions seen in the metadata, whose offsets are still to be removed.
    deleted_topics: deleted_topics::DeletedTopics,
    /// `offsets.topic.compression.codec`.
    compression: kafka_protocol::records::Compression,
}

/// How long a coordinator write waits for the offsets partition's ISR
/// (Kafka's `offsets.commit.timeout.ms` default).
const COMMIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The codec of the coordinator's batches (`offsets.topic.compression.codec`).
///
/// # Errors
/// A bad value.
pub fn offsets_compression(config: &BrokerConfig) -> Result<kafka_protocol::records::Compression> {
    let key = "offsets.topic.compression.codec";
    storage::compression_codec(parse_int(key, config.value(key).unwrap_or_default(), 0, 4)?)
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
        let mut coordinator = GroupCoordinator::new(config);
        // Nothing is served until sync_ownership finds the partitions this node leads.
        coordinator.set_owned(Some(std::collections::HashSet::new()));
        GroupService {
            state: Mutex::new(coordinator),
            waiters: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            owned: Mutex::new(HashMap::new()),
            deleted_topics: deleted_topics::DeletedTopics::default(),
            compression: kafka_protocol::records::Compression::None,
        }
    }

    /// Sets the codec of the coordinator's batches (`offsets.topic.compression.codec`).
    pub fn with_compression(mut self, compression: kafka_protocol::records::Compression) -> Self {
        self.compression = compression;
        self
    }

    fn lock(&self) -> MutexGuard<'_, GroupCoordinator> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The number of `__consumer_offsets` partitions (`offsets.topic.num.partitions`).
    pub fn offsets_partitions(&self) -> i32 {
        self.lock().config.offsets_partitions
    }

    /// Loads the groups of offsets partitions this node now leads (in a new leader epoch)
    /// and forgets those of partitions it no longer leads. Blocking; after every metadata
    /// change.
    ///
    /// # Errors
    /// Storage errors reading a partition.
    pub fn sync_ownership(&self, replicas: &ReplicaManager) -> Result<()> {
        let partitions = self.lock().config.offsets_partitions;
        let mut owned = self.owned.lock().unwrap_or_else(|p| p.into_inner());
        let started = std::time::Instant::now();
        let (mut loaded, mut replayed) = (0usize, 0usize);
        for index in 0..partitions {
            let leading = replicas
                .get(OFFSETS_TOPIC, index)
                .filter(|p| p.is_leader())
                .map(|p| (p.leader_epoch(), p));
            match (leading, owned.get(&index).copied()) {
                (Some((epoch, _)), Some(loaded)) if loaded == epoch => {}
                (Some((epoch, p)), _) => {
                    let load_started = std::time::Instant::now();
                    let mut c = self.lock();
                    c.unload_partition(index);
                    let n = storage::load_partition(&p, &mut c)?;
                    c.finish_load_partition(index, now_ms());
                    drop(c);
                    let took = load_started.elapsed();
                    crate::observe::group_load::partition_loaded(n, took);
                    loaded += 1;
                    replayed += n;
                    owned.insert(index, epoch);
                    // A lone node's fresh partitions are not news; a takeover is.
                    if n > 0 || p.replica_state().replicas.len() > 1 {
                        tracing::info!(
                            partition = index,
                            leader_epoch = epoch,
                            records = n,
                            load_ms = took.as_millis() as u64,
                            "coordinating the groups of {OFFSETS_TOPIC}-{index}"
                        );
                    }
                }
                (None, Some(_)) => {
                    self.lock().unload_partition(index);
                    owned.remove(&index);
                    tracing::info!(
                        partition = index,
                        "no longer coordinating the groups of {OFFSETS_TOPIC}-{index}"
                    );
                }
                (None, None) => {}
            }
        }
        self.lock().set_owned(Some(owned.keys().copied().collect()));
        if replayed > 0 {
            tracing::info!(
                partitions = loaded,
                records = replayed,
                load_ms = started.elapsed().as_millis() as u64,
                "loaded groups from {OFFSETS_TOPIC}"
            );
        }
        Ok(())
    }

    /// Notes the topics deleted since the previous metadata image (cheap; after every
    /// metadata change). [`GroupService::forget_deleted_topics`] writes their tombstones.
    pub fn observe_image(&self, image: &rill_meta::MetadataImage) {
        self.deleted_topics.observe(image);
    }

    /// Whether deleted topics wait for their offsets to be removed.
    pub fn has_deleted_topics(&self) -> bool {
        self.deleted_topics.any()
    }

    /// Removes the committed offsets of topics deleted since the last call from every group
    /// served here, writing a tombstone for each. Blocking.
    ///
    /// # Errors
    /// Storage errors appending the tombstones.
    pub fn forget_deleted_topics(&self, replicas: &ReplicaManager) -> Result<usize> {
        let topics = self.deleted_topics.take();
        if topics.is_empty() {
            return Ok(0);
        }
        self.run(replicas, |c, _| {
            let out = c.delete_topic_offsets(&topics);
            (out.records.len(), out)
        })
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
        replicas: &ReplicaManager,
        f: impl FnOnce(&mut GroupCoordinator, i64) -> (T, Output),
    ) -> Result<T> {
        let now = now_ms();
        let (value, out, appended) = {
            let mut c = self.lock();
            let (value, out) = f(&mut c, now);
            let appended = if out.records.is_empty() {
                Ok(Vec::new())
            } else {
                storage::append(replicas, &out.records, now, self.compression)
            };
            (value, out, appended)
        };
        let durable = appended.and_then(|ends| wait_replicated(&ends));
        if let Err(e) = &durable {
            tracing::error!(error = %e, "writing {OFFSETS_TOPIC} failed");
        }
        self.deliver(out.replies);
        durable.map(|()| value)
    }

    /// TxnOffsetCommit (KIP-98): checks the request, appends its offsets as one
    /// transactional batch of the producer to the group's offsets partition (the log fences
    /// an older producer epoch), applies them as pending once appended, then waits until the
    /// batch is durable and on the ISR. Blocking. Per-partition results in request order.
    ///
    /// Not done here: KIP-890's check that the transaction coordinator added the offsets
    /// partition to the transaction (Kafka 3.6+ asks it before appending); that needs the
    /// transaction coordinator's verification API.
    ///
    /// # Errors
    /// The append's or the wait's error (see `api::errors::coordinator_write_error_code`);
    /// nothing was applied when the append failed.
    pub fn commit_txn_offsets(
        &self,
        replicas: &ReplicaManager,
        req: &TxnOffsetCommit,
    ) -> Result<Vec<std::result::Result<(), GroupError>>> {
        let now = now_ms();
        let (results, appended) = {
            let mut c = self.lock();
            let (results, write) = c.txn_commit_offsets(req, now);
            let appended = match write {
                None => Ok(Vec::new()),
                Some(write) => {
                    storage::append_txn(replicas, &write, now, self.compression).map(|end| {
                        c.apply_txn_offsets(&write);
                        vec![end]
                    })
                }
            };
            (results, appended)
        };
        if let Err(e) = &appended {
            tracing::debug!(
                group = %req.group_id,
                producer_id = req.producer_id,
                producer_epoch = req.producer_epoch,
                error = %e,
                "transactional offset commit refused"
            );
        }
        let durable = appended.and_then(|ends| wait_replicated(&ends));
        if let Err(e) = &durable {
            tracing::warn!(error = %e, "transactional offset commit to {OFFSETS_TOPIC} not acknowledged");
        }
        durable.map(|()| results)
    }

    /// Ends producer `producer_id`'s transaction in the groups of `__consumer_offsets`
    /// partition `offsets_partition`: with `commit` its pending offsets become the committed
    /// ones (each unless a later plain commit of the same partition is in the log), else
    /// they are dropped (Kafka's `onTransactionCompleted`). Cheap; takes the coordinator
    /// lock.
    ///
    /// Contract for the WriteTxnMarkers handler: call this after the marker for
    /// `producer_id` was appended to `__consumer_offsets-{offsets_partition}` on this node as
    /// its leader and is committed (durable and on the ISR, as Kafka calls it from the
    /// append's acks=-1 callback), and before answering WriteTxnMarkers, so the producer
    /// cannot start its next transaction's offset commits first. Calling it for a partition
    /// not coordinated here, or twice, is harmless: a coordinator that loads the partition
    /// later replays the marker from the log.
    pub fn complete_txn(&self, offsets_partition: i32, producer_id: i64, commit: bool) {
        self.lock()
            .complete_txn(offsets_partition, producer_id, commit);
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

/// Waits until each appended partition has its records durable and on its ISR (blocking).
fn wait_replicated(ends: &[(std::sync::Arc<crate::replica::Partition>, i64)]) -> Result<()> {
    for (p, end) in ends {
        let epoch = p.leader_epoch();
        p.wait_durable(*end).map_err(BrokerError::from)?;
        wait_committed(p, *end, epoch)?;
    }
    Ok(())
}

/// Waits until the offsets partition's ISR has everything below `end` (blocking; a lone
/// leader has it as soon as it is durable).
fn wait_committed(p: &crate::replica::Partition, end: i64, epoch: i32) -> Result<()> {
    if p.high_watermark() >= end {
        return Ok(());
    }
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return Err(BrokerError::Internal(
            "no runtime to wait for replication".into(),
        ));
    };
    let deadline = tokio::time::Instant::now() + COMMIT_TIMEOUT;
    handle
        .block_on(p.wait_committed(end, epoch, deadline))
        .map_err(|e| BrokerError::Internal(format!("{OFFSETS_TOPIC} write not replicated: {e:?}")))
}
