//! The second phase of a transaction's end: writing its markers (Kafka's
//! `TransactionMarkerChannelManager`). The coordinator hands over a [`MarkerBatch`]; a task
//! per batch writes the marker to every partition, on this node through the partition
//! (`write_local`, which the WriteTxnMarkers handler uses too) and on other nodes with a
//! WriteTxnMarkers request to the partition's leader, retrying with fresh metadata until
//! each partition has it. A partition whose topic was deleted counts as written. Progress
//! goes back to the coordinator ([`rill_txn::TxnCoordinator::markers_written`]), which then
//! writes the Complete record. A batch whose coordinator epoch is no longer this node's is
//! abandoned: the new coordinator writes the markers again (they are idempotent).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{ProducerId, TopicName, WriteTxnMarkersRequest};
use kafka_protocol::ResponseError;
use rill_client::connection::Connection;
use rill_log::{MarkerSpec, TxnOutcome};
use rill_meta::MetadataImage;
use rill_txn::{MarkerBatch, TopicPartition, TxnResult};
use tokio::sync::watch;

use super::TxnService;
use crate::clock::now_ms;
use crate::replica::ReplicaManager;

/// How long a marker waits for its partition's ISR (Kafka's `request.timeout.ms`).
const MARKER_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause before writing the markers that failed again.
const RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// What the marker writer (and the WriteTxnMarkers handler) need from the broker.
pub trait TxnHost: Send + Sync + 'static {
    /// The transaction coordinator.
    fn txns(&self) -> &TxnService;
    /// The hosted partitions.
    fn replicas(&self) -> &ReplicaManager;
    /// The current metadata image.
    fn image(&self) -> Arc<MetadataImage>;
    /// This node's id.
    fn node_id(&self) -> i32;
    /// `host:port` of a live broker.
    fn broker_address(&self, id: i32) -> Option<String>;
    /// A marker was written (and replicated) to the `__consumer_offsets` partition
    /// `partition` led here: the group coordinator makes the producer's pending
    /// transactional offsets visible (commit) or drops them (abort).
    fn offsets_marker_written(&self, partition: i32, producer_id: i64, commit: bool);
}

/// Connections to other brokers, by node id.
#[derive(Debug, Default)]
pub struct Peers {
    conns: tokio::sync::Mutex<HashMap<i32, Arc<Connection>>>,
    /// How to connect (the inter-broker listener's security).
    security: rill_client::security::ClientSecurity,
}

impl Peers {
    /// Connections made with `security`.
    pub fn with_security(security: rill_client::security::ClientSecurity) -> Self {
        Peers {
            conns: Default::default(),
            security,
        }
    }

    /// A connection to node `id` at `addr`, reusing an open one.
    ///
    /// # Errors
    /// Connection failures.
    pub async fn get(&self, id: i32, addr: &str) -> rill_client::Result<Arc<Connection>> {
        let mut conns = self.conns.lock().await;
        if let Some(c) = conns
            .get(&id)
            .filter(|c| !c.is_closed() && c.addr() == addr)
        {
            return Ok(c.clone());
        }
        let c =
            Connection::connect_with(addr, "rill-txn-coordinator", MARKER_TIMEOUT, &self.security)
                .await?;
        conns.insert(id, c.clone());
        Ok(c)
    }

    /// Forgets node `id`'s connection (after an error).
    pub async fn drop_conn(&self, id: i32) {
        self.conns.lock().await.remove(&id);
    }
}

/// Runs until shutdown: one task per marker batch.
pub async fn run<H: TxnHost>(host: Arc<H>, mut shutdown: watch::Receiver<bool>) {
    let Some(mut rx) = host.txns().take_marker_receiver() else {
        return;
    };
    let peers = Arc::new(Peers::with_security(host.txns().peers().security.clone()));
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            batch = rx.recv() => match batch {
                None => return,
                Some(batch) => {
                    tokio::spawn(write_batch(host.clone(), peers.clone(), batch, shutdown.clone()));
                }
            },
        }
    }
}

/// The marker of `batch` as the log writes it.
fn spec_of(batch: &MarkerBatch) -> MarkerSpec {
    MarkerSpec {
        producer_id: batch.producer_id,
        producer_epoch: batch.producer_epoch,
        coordinator_epoch: batch.coordinator_epoch,
        outcome: match batch.result {
            TxnResult::Commit => TxnOutcome::Commit,
            TxnResult::Abort => TxnOutcome::Abort,
        },
        timestamp_ms: now_ms(),
    }
}

/// Whether the coordinator still waits for this batch's markers in its epoch.
fn still_ours(txns: &TxnService, batch: &MarkerBatch) -> bool {
    txns.read(|c| {
        c.coordinator_epoch(c.partition_for(&batch.transactional_id))
            == Some(batch.coordinator_epoch)
    })
}

/// Writes one batch's markers until every partition has one.
async fn write_batch<H: TxnHost>(
    host: Arc<H>,
    peers: Arc<Peers>,
    batch: MarkerBatch,
    shutdown: watch::Receiver<bool>,
) {
    let spec = spec_of(&batch);
    let mut remaining = batch.partitions.clone();
    while !remaining.is_empty() {
        if *shutdown.borrow() || !still_ours(host.txns(), &batch) {
            return;
        }
        let image = host.image();
        let mut done = Vec::new();
        let mut by_leader: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
        for tp in &remaining {
            let Some(topic) = image.topic(&tp.topic) else {
                done.push(tp.clone()); // deleted: nothing to mark
                continue;
            };
            match topic.partition_states.get(tp.partition as usize) {
                None => done.push(tp.clone()),
                Some(s) if s.leader >= 0 => by_leader.entry(s.leader).or_default().push(tp.clone()),
                Some(_) => {} // no leader now: next round
            }
        }
        let mut abandon = false;
        for (leader, tps) in by_leader {
            let results = if leader == host.node_id() {
                write_local(&*host, &spec, &tps).await
            } else {
                write_remote(&*host, &peers, leader, &spec, &tps).await
            };
            for (tp, code) in results {
                if code == 0 {
                    done.push(tp);
                } else if code == ResponseError::InvalidProducerEpoch.code()
                    || code == ResponseError::TransactionCoordinatorFenced.code()
                {
                    // A newer producer epoch or coordinator wrote there: this coordinator is
                    // stale (Kafka abandons the batch too).
                    tracing::warn!(transactional_id = %batch.transactional_id, topic = %tp.topic, partition = tp.partition, code, "marker refused; abandoning the batch");
                    abandon = true;
                } else {
                    tracing::debug!(transactional_id = %batch.transactional_id, topic = %tp.topic, partition = tp.partition, code, "marker not written; retrying");
                }
            }
        }
        if abandon {
            return;
        }
        if !done.is_empty() {
            remaining.retain(|tp| !done.contains(tp));
            let h = host.clone();
            let (id, epoch) = (batch.transactional_id.clone(), batch.coordinator_epoch);
            let reported = tokio::task::spawn_blocking(move || {
                h.txns().apply(h.replicas(), |c, now| {
                    c.markers_written(&id, epoch, &done, now)
                });
            })
            .await;
            if reported.is_err() {
                return;
            }
        }
        if !remaining.is_empty() {
            tokio::time::sleep(RETRY_BACKOFF).await;
        }
    }
}

/// Writes a marker to each partition of `tps` this node leads and waits until each is on
/// the partition's ISR (acks=all); one Kafka error code per partition. After a marker on a
/// `__consumer_offsets` partition, the group coordinator completes the producer's
/// transactional offsets.
pub async fn write_local<H: TxnHost + ?Sized>(
    host: &H,
    spec: &MarkerSpec,
    tps: &[TopicPartition],
) -> Vec<(TopicPartition, i16)> {
    let image = host.image();
    let mut out = Vec::with_capacity(tps.len());
    for tp in tps {
        let partition = match host
            .replicas()
            .leader_partition(&image, &tp.topic, tp.partition)
        {
            Ok(p) => p,
            Err(e) => {
                out.push((tp.clone(), e.code()));
                continue;
            }
        };
        let epoch = partition.leader_epoch();
        let (p, s) = (partition.clone(), *spec);
        let appended = tokio::task::spawn_blocking(move || {
            let info = p.append_txn_marker(&s, now_ms())?;
            p.wait_durable(info.last_offset + 1)?;
            Ok::<_, rill_log::LogError>(info)
        })
        .await;
        let code = match appended {
            Ok(Ok(info)) => {
                let deadline = tokio::time::Instant::now() + MARKER_TIMEOUT;
                match partition
                    .wait_committed(info.last_offset + 1, epoch, deadline)
                    .await
                {
                    Ok(()) => 0,
                    Err(e) => crate::replica::append::commit_error_code(e),
                }
            }
            Ok(Err(e)) => crate::api::errors::log_error_code(&e),
            Err(_) => ResponseError::UnknownServerError.code(),
        };
        if code == 0 && tp.topic == rill_txn::CONSUMER_OFFSETS_TOPIC {
            host.offsets_marker_written(
                tp.partition,
                spec.producer_id,
                spec.outcome == TxnOutcome::Commit,
            );
        }
        out.push((tp.clone(), code));
    }
    out
}

/// Sends the markers of `tps` to node `leader` with WriteTxnMarkers v1.
async fn write_remote<H: TxnHost + ?Sized>(
    host: &H,
    peers: &Peers,
    leader: i32,
    spec: &MarkerSpec,
    tps: &[TopicPartition],
) -> Vec<(TopicPartition, i16)> {
    let failed = |code: i16| tps.iter().map(|tp| (tp.clone(), code)).collect::<Vec<_>>();
    let Some(addr) = host.broker_address(leader) else {
        return failed(ResponseError::NotLeaderOrFollower.code());
    };
    let conn = match peers.get(leader, &addr).await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(leader, error = %e, "cannot reach a partition leader for markers");
            return failed(ResponseError::NetworkException.code());
        }
    };
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in tps {
        topics
            .entry(tp.topic.as_str())
            .or_default()
            .push(tp.partition);
    }
    let mut marker = WritableTxnMarker::default();
    marker.producer_id = ProducerId(spec.producer_id);
    marker.producer_epoch = spec.producer_epoch;
    marker.transaction_result = spec.outcome == TxnOutcome::Commit;
    marker.coordinator_epoch = spec.coordinator_epoch;
    marker.topics = topics
        .into_iter()
        .map(|(name, parts)| {
            WritableTxnMarkerTopic::default()
                .with_name(TopicName(crate::api::str_bytes(name)))
                .with_partition_indexes(parts)
        })
        .collect();
    let req = WriteTxnMarkersRequest::default().with_markers(vec![marker]);
    let resp = match conn.call(&req, 1).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(leader, error = %e, "WriteTxnMarkers failed");
            peers.drop_conn(leader).await;
            return failed(ResponseError::NetworkException.code());
        }
    };
    let mut codes: HashMap<(String, i32), i16> = HashMap::new();
    for m in resp.markers {
        for t in m.topics {
            for p in t.partitions {
                codes.insert((t.name.0.to_string(), p.partition_index), p.error_code);
            }
        }
    }
    tps.iter()
        .map(|tp| {
            let code = codes
                .get(&(tp.topic.clone(), tp.partition))
                .copied()
                .unwrap_or(ResponseError::UnknownServerError.code());
            (tp.clone(), code)
        })
        .collect()
}
