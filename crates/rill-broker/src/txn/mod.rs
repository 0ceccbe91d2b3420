//! Hosts the `rill-txn` transaction coordinator: one lock around the state machine, its
//! records in `__transaction_state`, parked requests waiting on oneshots, the marker writer
//! (`markers`) and the timer (`timer`).
//!
//! Order of one operation ([`TxnService::apply`], blocking): lock; call the coordinator with
//! the time; append each record it asks for (so log order is state order; an append that
//! fails at once is reported back to it under the same lock); unlock; then, record by
//! record, wait until it is durable and on every in-sync replica of its partition (as
//! acks=all), and report its fate ([`rill_txn::TxnCoordinator::on_append_complete`] or
//! `_failed`), which may ask for more records. Answers go to parked requests as they come;
//! markers to write go to the marker writer.
//!
//! This node coordinates the transactional ids of the `__transaction_state` partitions it
//! leads ([`TxnService::sync_ownership`], after every metadata change): it loads a
//! partition's ids from its log on becoming leader (a new coordinator epoch), finishing
//! what the previous coordinator left in PrepareCommit/PrepareAbort, and forgets them on
//! losing leadership.
//!
//! Thread-safety: the coordinator mutex is held for the state machine and page-cache appends
//! only, never for an fsync or replication wait.

pub mod markers;
pub mod storage;
pub mod timer;
pub mod verify;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use rill_txn::{
    Answer, MarkerBatch, Output, RequestId, TxnConfig, TxnCoordinator, TxnError,
    TRANSACTION_STATE_TOPIC,
};
use tokio::sync::{mpsc, oneshot};

use crate::clock::now_ms;
use crate::config::{parse_int, BrokerConfig};
use crate::error::Result;
use crate::replica::ReplicaManager;

/// How long a coordinator write waits for its partition's ISR (Kafka's
/// `transaction.state.log` writes use the request timeout; 30 s).
const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads the coordinator's settings from the broker config.
///
/// # Errors
/// A bad value.
pub fn txn_config(config: &BrokerConfig) -> Result<TxnConfig> {
    let int = |key: &str, min: i64, max: i64| -> Result<i64> {
        let v = config.value(key).unwrap_or_default();
        Ok(parse_int(key, v, min, max)?)
    };
    let max = i64::from(i32::MAX);
    Ok(TxnConfig {
        max_timeout_ms: int("transaction.max.timeout.ms", 1, max)? as i32,
        transactional_id_expiration_ms: int("transactional.id.expiration.ms", 1, max)?,
        num_partitions: int("transaction.state.log.num.partitions", 1, 10_000)? as i32,
        abort_timed_out_interval_ms: int(
            "transaction.abort.timed.out.transaction.cleanup.interval.ms",
            1,
            max,
        )?,
        remove_expired_interval_ms: int(
            "transaction.remove.expired.transaction.cleanup.interval.ms",
            1,
            max,
        )?,
        ..TxnConfig::default()
    })
}

/// A record appended, waiting for its fate.
struct Written {
    write_id: rill_txn::WriteId,
    index: i32,
    appended: storage::Appended,
}

/// The transaction coordinator service of this broker.
#[derive(Debug)]
pub struct TxnService {
    /// The state machine.
    state: Mutex<TxnCoordinator>,
    /// Parked requests by id.
    waiters: Mutex<HashMap<RequestId, oneshot::Sender<Answer>>>,
    /// Next parked-request id.
    next_id: AtomicU64,
    /// The `__transaction_state` partitions this node coordinates, with the leader epoch
    /// (coordinator epoch) they were loaded in.
    owned: Mutex<HashMap<i32, i32>>,
    /// Markers for the marker writer.
    markers: mpsc::UnboundedSender<MarkerBatch>,
    /// The marker writer's end, taken when it starts.
    marker_rx: Mutex<Option<mpsc::UnboundedReceiver<MarkerBatch>>>,
    /// Records a partition load asked for, awaited by the timer ([`TxnService::tick`]).
    loaded_writes: Mutex<Vec<Written>>,
    /// Connections to other brokers (markers, produce verification).
    peers: markers::Peers,
    /// `transaction.partition.verification.enable`.
    verification: bool,
    /// Signalled after every coordinator step (for EndTxn, which waits for its markers).
    stepped: tokio::sync::Notify,
}

impl std::fmt::Debug for Written {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "write {} to partition {} up to {}",
            self.write_id, self.index, self.appended.end
        )
    }
}

impl TxnService {
    /// A coordinator with nothing loaded.
    pub fn new(config: TxnConfig) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        TxnService {
            state: Mutex::new(TxnCoordinator::new(config)),
            waiters: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            owned: Mutex::new(HashMap::new()),
            markers: tx,
            marker_rx: Mutex::new(Some(rx)),
            loaded_writes: Mutex::new(Vec::new()),
            peers: markers::Peers::default(),
            verification: true,
            stepped: tokio::sync::Notify::new(),
        }
    }

    /// Connects to other brokers with `security` (the inter-broker listener's).
    pub fn with_peer_security(mut self, security: rill_client::security::ClientSecurity) -> Self {
        self.peers = markers::Peers::with_security(security);
        self
    }

    /// Sets `transaction.partition.verification.enable` (KIP-890 part 1; on by default).
    pub fn with_verification(mut self, on: bool) -> Self {
        self.verification = on;
        self
    }

    /// Whether partition leaders verify a transaction's first batch with the coordinator.
    pub fn verification_enabled(&self) -> bool {
        self.verification
    }

    /// Connections to other brokers.
    pub fn peers(&self) -> &markers::Peers {
        &self.peers
    }

    fn lock(&self) -> MutexGuard<'_, TxnCoordinator> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The number of `__transaction_state` partitions.
    pub fn num_partitions(&self) -> i32 {
        self.lock().config().num_partitions
    }

    /// The `__transaction_state` partition of a transactional id.
    pub fn partition_for(&self, transactional_id: &str) -> i32 {
        rill_txn::partition_for(transactional_id, self.num_partitions())
    }

    /// Reads the state without changing it.
    pub fn read<T>(&self, f: impl FnOnce(&TxnCoordinator) -> T) -> T {
        f(&self.lock())
    }

    /// The marker writer's queue (once: the writer task owns it).
    pub fn take_marker_receiver(&self) -> Option<mpsc::UnboundedReceiver<MarkerBatch>> {
        self.marker_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Registers a parked request; its answer arrives on the receiver.
    pub fn park(&self) -> (RequestId, oneshot::Receiver<Answer>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        (id, rx)
    }

    /// Forgets a parked request (its handler gave up waiting).
    pub fn unpark(&self, id: RequestId) {
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    /// Loads the ids of `__transaction_state` partitions this node now leads (in a new
    /// leader epoch) and forgets those of partitions it no longer leads. Blocking; after
    /// every metadata change.
    ///
    /// # Errors
    /// Storage errors reading a partition.
    pub fn sync_ownership(&self, replicas: &ReplicaManager) -> Result<()> {
        let partitions = self.num_partitions();
        let mut owned = self.owned.lock().unwrap_or_else(|p| p.into_inner());
        for index in 0..partitions {
            let leading = replicas
                .get(TRANSACTION_STATE_TOPIC, index)
                .filter(|p| p.is_leader())
                .map(|p| (p.leader_epoch(), p));
            match (leading, owned.get(&index).copied()) {
                (Some((epoch, _)), Some(loaded)) if loaded == epoch => {}
                (Some((epoch, p)), _) => {
                    let now = now_ms();
                    let mut c = self.lock();
                    let mut out = c.begin_load(index, epoch);
                    let n = match storage::load_partition(&p, &mut c) {
                        Ok(n) => n,
                        Err(e) => {
                            out.extend(c.unload_partition(index));
                            drop(c);
                            self.dispatch(out);
                            return Err(e);
                        }
                    };
                    out.extend(c.loaded_partition(index, epoch, now));
                    let written = self.persist(&mut c, replicas, out, now);
                    drop(c);
                    owned.insert(index, epoch);
                    if n > 0 || p.replica_state().replicas.len() > 1 {
                        tracing::info!(
                            partition = index,
                            coordinator_epoch = epoch,
                            records = n,
                            "coordinating the transactions of {TRANSACTION_STATE_TOPIC}-{index}"
                        );
                    }
                    // Records the load asked for (aborts of fenced epochs) are awaited by
                    // the timer: metadata changes must not wait for replication.
                    self.loaded_writes
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .extend(written);
                }
                (None, Some(_)) => {
                    let out = self.lock().unload_partition(index);
                    self.dispatch(out);
                    owned.remove(&index);
                    tracing::info!(
                        partition = index,
                        "no longer coordinating the transactions of {TRANSACTION_STATE_TOPIC}-{index}"
                    );
                }
                (None, None) => {}
            }
        }
        Ok(())
    }

    /// Runs a coordinator call, persists the records it asks for, waits until they are
    /// replicated and reports their fate, delivering answers and markers on the way.
    /// Blocking.
    pub fn apply(
        &self,
        replicas: &ReplicaManager,
        f: impl FnOnce(&mut TxnCoordinator, i64) -> Output,
    ) {
        let now = now_ms();
        let written = {
            let mut c = self.lock();
            let out = f(&mut c, now);
            self.persist(&mut c, replicas, out, now)
        };
        self.finish(replicas, written);
        self.stepped.notify_waiters();
    }

    /// Waits (at most `limit`) until the transaction of `transactional_id` has ended: its
    /// markers written and its Complete record durable. EndTxn answers after this, as
    /// Redpanda does, rather than right after the Prepare record as Kafka does: a producer
    /// that begins its next transaction at once would otherwise get CONCURRENT_TRANSACTIONS
    /// and wait out its retry backoff (100 ms in librdkafka) for every transaction.
    pub async fn wait_ended(&self, transactional_id: &str, limit: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let stepped = self.stepped.notified();
            tokio::pin!(stepped);
            stepped.as_mut().enable();
            let ended = self.read(|c| {
                c.get(transactional_id).is_none_or(|m| {
                    !m.is_pending()
                        && !matches!(
                            m.state,
                            rill_txn::TxnState::PrepareCommit | rill_txn::TxnState::PrepareAbort
                        )
                })
            });
            if ended || tokio::time::timeout_at(deadline, stepped).await.is_err() {
                return;
            }
        }
    }

    /// Appends an output's records (under the coordinator lock), feeding immediate failures
    /// back; delivers its answers and markers. Returns the records to wait for.
    fn persist(
        &self,
        c: &mut TxnCoordinator,
        replicas: &ReplicaManager,
        out: Output,
        now: i64,
    ) -> Vec<Written> {
        let mut queue = VecDeque::from([out]);
        let mut written = Vec::new();
        while let Some(out) = queue.pop_front() {
            let Output {
                records,
                replies,
                markers,
            } = out;
            self.dispatch(Output {
                records: Vec::new(),
                replies,
                markers,
            });
            for record in records {
                match storage::append(replicas, &record, now) {
                    Ok(appended) => written.push(Written {
                        write_id: record.write_id,
                        index: record.partition,
                        appended,
                    }),
                    Err(code) => {
                        let e = TxnError::from_append_error_code(code, record.partition);
                        queue.push_back(c.on_append_failed(record.write_id, e, now));
                    }
                }
            }
        }
        written
    }

    /// Waits for each written record and reports its fate, until nothing more is written.
    fn finish(&self, replicas: &ReplicaManager, mut written: Vec<Written>) {
        while !written.is_empty() {
            let mut next = Vec::new();
            for w in written {
                let outcome = wait_replicated(&w.appended);
                let now = now_ms();
                let mut c = self.lock();
                let out = match outcome {
                    Ok(()) => c.on_append_complete(w.write_id, now),
                    Err(code) => {
                        let e = TxnError::from_append_error_code(code, w.index);
                        c.on_append_failed(w.write_id, e, now)
                    }
                };
                next.extend(self.persist(&mut c, replicas, out, now));
            }
            written = next;
        }
    }

    /// Time-driven work (blocking; the timer calls it every 100 ms): the records partition
    /// loads asked for, then the coordinator's deadlines (timed-out transactions, expired
    /// ids, retries) when due.
    pub fn tick(&self, replicas: &ReplicaManager) {
        let loaded =
            std::mem::take(&mut *self.loaded_writes.lock().unwrap_or_else(|p| p.into_inner()));
        if !loaded.is_empty() {
            self.finish(replicas, loaded);
        }
        let now = now_ms();
        if self.lock().next_deadline().is_some_and(|d| d <= now) {
            self.apply(replicas, |c, now| c.tick(now));
        }
    }

    /// Sends answers to parked requests and markers to the writer.
    fn dispatch(&self, out: Output) {
        if !out.replies.is_empty() {
            let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            for reply in out.replies {
                if let Some(tx) = waiters.remove(&reply.request) {
                    let _ = tx.send(reply.answer);
                }
            }
        }
        for m in out.markers {
            if self.markers.send(m).is_err() {
                tracing::warn!("transaction marker writer stopped; markers dropped until restart");
            }
        }
    }
}

/// Waits until a record is durable and on the ISR of its partition; the Kafka error code
/// otherwise.
fn wait_replicated(a: &storage::Appended) -> std::result::Result<(), i16> {
    if let Err(e) = a.partition.wait_durable(a.end) {
        return Err(crate::api::errors::log_error_code(&e));
    }
    if a.partition.high_watermark() >= a.end {
        return Ok(());
    }
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return Err(kafka_protocol::ResponseError::RequestTimedOut.code());
    };
    let deadline = tokio::time::Instant::now() + WRITE_TIMEOUT;
    handle
        .block_on(a.partition.wait_committed(a.end, a.leader_epoch, deadline))
        .map_err(crate::replica::append::commit_error_code)
}
