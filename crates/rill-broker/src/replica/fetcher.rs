//! Followers pull: one replica fetcher task per leader broker fetches every partition this
//! broker follows from that leader, appends what it gets with the leader's offsets and
//! epochs, makes it durable, and takes the leader's high watermark. Before fetching a
//! partition whose leader or epoch changed it finds the divergence point with
//! OffsetForLeaderEpoch and truncates (KIP-101).
//!
//! The fetch offset a follower sends is its durable log end, so what the leader counts as
//! replicated (the high watermark, and therefore acks=all) is on this broker's disk.
//! Every append and truncation re-checks, under the partition's log lock, that this broker
//! still follows the same leader in the same epoch, so a response overtaken by a metadata
//! change is dropped instead of written.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, OffsetForLeaderEpochRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use rill_client::connection::Connection;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::state::divergence_offset;
use rill_meta::MetadataImage;

use super::{Partition, ReplicaManager};
use crate::config::FetcherConfig;

/// Fetch version used between brokers: topic names, leader epochs, replica id field.
const FETCH_VERSION: i16 = 12;
/// OffsetForLeaderEpoch version used between brokers.
const EPOCH_VERSION: i16 = 4;

/// Key of a followed partition.
type Key = (String, i32);

/// What one fetcher task works on.
#[derive(Debug, Default)]
struct Assignment {
    /// The partitions followed from this leader.
    partitions: Mutex<BTreeMap<Key, Arc<Partition>>>,
    /// The leader's address (`host:port`).
    addr: Mutex<String>,
    /// Woken when partitions or the address change.
    changed: Notify,
}

#[derive(Debug)]
struct Fetcher {
    assignment: Arc<Assignment>,
    task: JoinHandle<()>,
}

/// What every fetcher task of this broker needs to know about it: its id and the fetch
/// settings. The fetchers' narrow handle (they never see the whole broker).
#[derive(Debug, Clone)]
pub struct FetcherIdentity {
    /// This broker's id, sent as the replica id.
    pub node_id: i32,
    /// `replica.fetch.*` settings.
    pub config: FetcherConfig,
    /// How to connect to the leaders (the inter-broker listener's security).
    pub security: rill_client::security::ClientSecurity,
}

/// The replica fetchers of this broker, one per leader it follows.
#[derive(Debug)]
pub struct FetcherManager {
    /// This broker's identity and settings, copied into each fetcher task.
    me: FetcherIdentity,
    /// The running fetcher of each leader.
    fetchers: Mutex<HashMap<i32, Fetcher>>,
}

impl FetcherManager {
    /// No fetchers yet; tasks started by [`FetcherManager::update`] fetch as `me`.
    pub fn new(me: FetcherIdentity) -> FetcherManager {
        FetcherManager {
            me,
            fetchers: Mutex::new(HashMap::new()),
        }
    }

    /// Points every fetcher at the partitions this broker follows now (after the metadata
    /// image changed): starts fetchers for new leaders, stops those left without work.
    pub fn update(&self, replicas: &ReplicaManager, image: &MetadataImage) {
        let mut wanted: HashMap<i32, BTreeMap<Key, Arc<Partition>>> = HashMap::new();
        for p in replicas.all() {
            let st = p.replica_state();
            if st.is_follower() {
                wanted
                    .entry(st.leader)
                    .or_default()
                    .insert((p.topic.clone(), p.index), p);
            }
        }
        let mut fetchers = self.fetchers.lock().unwrap_or_else(|p| p.into_inner());
        fetchers.retain(|leader, f| {
            let keep = wanted.contains_key(leader);
            if !keep {
                f.task.abort();
            }
            keep
        });
        for (leader, partitions) in wanted {
            let addr = image
                .broker(leader)
                .map(|b| format!("{}:{}", b.host, b.port))
                .unwrap_or_default();
            let f = fetchers.entry(leader).or_insert_with(|| {
                let assignment = Arc::new(Assignment::default());
                let task = tokio::spawn(run(self.me.clone(), leader, assignment.clone()));
                Fetcher { assignment, task }
            });
            *f.assignment
                .partitions
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = partitions;
            *f.assignment.addr.lock().unwrap_or_else(|p| p.into_inner()) = addr;
            f.assignment.changed.notify_one();
        }
    }

    /// Stops every fetcher (shutdown).
    pub fn shutdown(&self) {
        let mut fetchers = self.fetchers.lock().unwrap_or_else(|p| p.into_inner());
        for (_, f) in fetchers.drain() {
            f.task.abort();
        }
    }
}

/// Why one round of fetching failed (the task backs off and retries).
#[derive(Debug, thiserror::Error)]
enum RoundError {
    #[error("{0}")]
    Client(#[from] rill_client::ClientError),
    #[error("the leader's address is unknown")]
    NoAddress,
    #[error("request to the leader failed: {0}")]
    Leader(String),
}

/// One fetcher task: follows `leader` for the partitions in `assignment` until aborted.
async fn run(me: FetcherIdentity, leader: i32, assignment: Arc<Assignment>) {
    let cfg = me.config;
    let mut conn: Option<Arc<Connection>> = None;
    loop {
        let partitions: Vec<Arc<Partition>> = assignment
            .partitions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        if partitions.is_empty() {
            assignment.changed.notified().await;
            continue;
        }
        let round = round(
            (me.node_id, &me.security),
            leader,
            &assignment,
            &mut conn,
            &partitions,
            cfg,
        );
        match round.await {
            Ok(()) => {}
            Err(e) => {
                tracing::debug!(leader, error = %e, "replica fetch failed; backing off");
                conn = None;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(cfg.backoff_ms)) => {}
                    _ = assignment.changed.notified() => {}
                }
            }
        }
    }
}

/// One round: connect if needed, truncate partitions that must, fetch once, apply.
async fn round(
    (node_id, security): (i32, &rill_client::security::ClientSecurity),
    leader: i32,
    assignment: &Assignment,
    conn: &mut Option<Arc<Connection>>,
    partitions: &[Arc<Partition>],
    cfg: FetcherConfig,
) -> Result<(), RoundError> {
    let c = match conn.as_ref().filter(|c| !c.is_closed()) {
        Some(c) => c.clone(),
        None => {
            let addr = assignment
                .addr
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            if addr.is_empty() {
                return Err(RoundError::NoAddress);
            }
            let timeout = Duration::from_millis(cfg.max_wait_ms.max(0) as u64 + 10_000);
            let client_id = format!("rill-replica-fetcher-{node_id}");
            let c = Connection::connect_with(&addr, &client_id, timeout, security).await?;
            *conn = Some(c.clone());
            c
        }
    };
    let diverged: Vec<Arc<Partition>> = partitions
        .iter()
        .filter(|p| p.needs_truncation())
        .cloned()
        .collect();
    if !diverged.is_empty() {
        truncate(node_id, leader, &c, &diverged).await?;
    }
    let ready: Vec<Arc<Partition>> = partitions
        .iter()
        .filter(|p| !p.needs_truncation())
        .cloned()
        .collect();
    if ready.is_empty() {
        return Ok(());
    }
    let (req, sent) = fetch_request(node_id, &ready, cfg)?;
    let resp = c.call(&req, FETCH_VERSION).await?;
    if resp.error_code != 0 {
        return Err(RoundError::Leader(format!(
            "fetch error code {}",
            resp.error_code
        )));
    }
    let mut answers = Vec::new();
    for topic in resp.responses {
        for pd in topic.partitions {
            let key = (topic.topic.0.to_string(), pd.partition_index);
            if let Some((p, epoch)) = sent.get(&key) {
                answers.push((p.clone(), *epoch, pd));
            }
        }
    }
    // A partition whose high watermark moved wakes its own parked fetches.
    let outcome = tokio::task::spawn_blocking(move || apply_fetch(leader, answers))
        .await
        .map_err(|e| RoundError::Leader(format!("applying a fetch failed: {e}")))?;
    if outcome.retry_later {
        tokio::time::sleep(Duration::from_millis(cfg.backoff_ms.min(200))).await;
    }
    Ok(())
}

/// The fetch request for `partitions`, and what was sent per partition (for the answer).
#[allow(clippy::type_complexity)]
fn fetch_request(
    me: i32,
    partitions: &[Arc<Partition>],
    cfg: FetcherConfig,
) -> Result<(FetchRequest, HashMap<Key, (Arc<Partition>, i32)>), RoundError> {
    let mut by_topic: BTreeMap<String, Vec<FetchPartition>> = BTreeMap::new();
    let mut sent = HashMap::new();
    for p in partitions {
        let epoch = p.replica_state().leader_epoch;
        let mut fp = FetchPartition::default();
        fp.partition = p.index;
        fp.current_leader_epoch = epoch;
        fp.fetch_offset = p
            .log_end_offset()
            .map_err(|e| RoundError::Leader(e.to_string()))?;
        fp.log_start_offset = p
            .log_start_offset()
            .map_err(|e| RoundError::Leader(e.to_string()))?;
        fp.partition_max_bytes = cfg.partition_max_bytes;
        fp.last_fetched_epoch = -1;
        by_topic.entry(p.topic.clone()).or_default().push(fp);
        sent.insert((p.topic.clone(), p.index), (p.clone(), epoch));
    }
    let mut req = FetchRequest::default();
    req.replica_id = BrokerId(me);
    req.max_wait_ms = cfg.max_wait_ms;
    req.min_bytes = 1;
    req.max_bytes = cfg.response_max_bytes;
    req.isolation_level = 0;
    req.session_id = 0;
    req.session_epoch = -1;
    req.topics = by_topic
        .into_iter()
        .map(|(name, partitions)| {
            let mut t = FetchTopic::default();
            t.topic = TopicName(StrBytes::from_string(name));
            t.partitions = partitions;
            t
        })
        .collect();
    Ok((req, sent))
}

/// What applying a fetch response did.
#[derive(Debug, Default)]
pub struct FetchOutcome {
    /// Some partition's high watermark moved (that partition has woken its own parked
    /// fetches already).
    pub high_watermark_moved: bool,
    /// Some partition got a retriable error: pause briefly before the next round.
    pub retry_later: bool,
}

/// Follower: applies the leader's fetch answer for each partition, fetched in the leader
/// epoch given beside it: appends and syncs the records and takes the leader's high
/// watermark, restarts the log past the leader's log start, or marks the partition
/// diverged. Blocking.
pub fn apply_fetch(
    leader: i32,
    answers: Vec<(Arc<Partition>, i32, PartitionData)>,
) -> FetchOutcome {
    let mut out = FetchOutcome::default();
    // Partitions appended to (or with nothing new), synced together after the loop.
    let mut to_sync: Vec<(Arc<Partition>, i64)> = Vec::new();
    // The leader's log start of each synced partition, taken once the data is durable.
    let mut starts: Vec<(i32, i64)> = Vec::new();
    for (p, epoch, pd) in answers {
        match ResponseError::try_from_code(pd.error_code) {
            None => {
                let records = pd.records.unwrap_or_else(Bytes::new);
                if !records.is_empty() {
                    if let Err(e) = p.append_from_leader(leader, epoch, &records) {
                        tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "replicated append failed");
                        if matches!(e, rill_log::LogError::NonContiguousReplicatedBatch { .. }) {
                            p.mark_diverged();
                        }
                        out.retry_later = true;
                        continue;
                    }
                }
                to_sync.push((p, pd.high_watermark));
                starts.push((epoch, pd.log_start_offset));
            }
            Some(ResponseError::OffsetOutOfRange) => {
                let end = p.log_end_offset().unwrap_or(-1);
                if pd.log_start_offset > end {
                    if let Err(e) =
                        p.truncate_fully_and_start_at(leader, epoch, pd.log_start_offset)
                    {
                        tracing::error!(topic = %p.topic, partition = p.index, error = %e, "restarting the log failed");
                    }
                } else {
                    p.mark_diverged();
                }
            }
            Some(e) => {
                tracing::debug!(topic = %p.topic, partition = p.index, leader, error = ?e, "replica fetch refused");
                out.retry_later = true;
            }
        }
    }
    // One group-commit round for every partition of the answer: the next fetch (which tells
    // the leader these offsets are replicated) goes out only after all of them are durable.
    let syncs: Vec<(&Partition, i64)> = to_sync.iter().map(|(p, hw)| (p.as_ref(), *hw)).collect();
    let synced_all = Partition::follower_sync_all(&syncs);
    for (((p, _), synced), (epoch, leader_start)) in syncs.iter().zip(synced_all).zip(starts) {
        match synced {
            Ok(moved) => {
                out.high_watermark_moved |= moved;
                if let Err(e) = p.follow_leader_log_start(leader, epoch, leader_start) {
                    tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "following the leader's log start failed");
                }
            }
            Err(e) => {
                tracing::error!(topic = %p.topic, partition = p.index, error = %e, "follower fsync failed");
                out.retry_later = true;
            }
        }
    }
    out
}

/// Finds each partition's divergence point with OffsetForLeaderEpoch and truncates to it.
async fn truncate(
    node_id: i32,
    leader: i32,
    conn: &Connection,
    partitions: &[Arc<Partition>],
) -> Result<(), RoundError> {
    let mut by_topic: BTreeMap<String, Vec<OffsetForLeaderPartition>> = BTreeMap::new();
    let mut asked = HashMap::new();
    for p in partitions {
        let st = p.replica_state();
        let latest = epoch_to_ask(p, leader, st.leader_epoch)
            .map_err(|e| RoundError::Leader(e.to_string()))?;
        let Some(latest) = latest else {
            continue;
        };
        let mut op = OffsetForLeaderPartition::default();
        op.partition = p.index;
        op.current_leader_epoch = st.leader_epoch;
        op.leader_epoch = latest;
        by_topic.entry(p.topic.clone()).or_default().push(op);
        asked.insert(
            (p.topic.clone(), p.index),
            (p.clone(), st.leader_epoch, latest),
        );
    }
    if asked.is_empty() {
        return Ok(());
    }
    let mut req = OffsetForLeaderEpochRequest::default();
    req.replica_id = BrokerId(node_id);
    req.topics = by_topic
        .into_iter()
        .map(|(name, partitions)| {
            let mut t = OffsetForLeaderTopic::default();
            t.topic = TopicName(StrBytes::from_string(name));
            t.partitions = partitions;
            t
        })
        .collect();
    let resp = conn.call(&req, EPOCH_VERSION).await?;
    let mut plan = Vec::new();
    for t in resp.topics {
        for r in t.partitions {
            let key = (t.topic.0.to_string(), r.partition);
            let Some((p, epoch, asked_epoch)) = asked.get(&key) else {
                continue;
            };
            if r.error_code != 0 {
                tracing::debug!(topic = %p.topic, partition = p.index, code = r.error_code, "OffsetForLeaderEpoch refused");
                continue;
            }
            plan.push((
                p.clone(),
                *epoch,
                *asked_epoch,
                r.leader_epoch,
                r.end_offset,
            ));
        }
    }
    tokio::task::spawn_blocking(move || {
        for (p, epoch, asked_epoch, leader_epoch, end_offset) in plan {
            let done =
                truncate_to_divergence(&p, leader, epoch, asked_epoch, leader_epoch, end_offset);
            if let Err(e) = done {
                tracing::error!(topic = %p.topic, partition = p.index, error = %e, "truncation failed");
            }
        }
    })
    .await
    .map_err(|e| RoundError::Leader(format!("truncation task failed: {e}")))?;
    Ok(())
}

/// Follower of `leader` in `leader_epoch`, before it fetches again: the epoch to ask the
/// leader about with OffsetForLeaderEpoch (the latest in this log's epoch cache), or `None`
/// when this log has no epochs: then only what is known committed may stay, and the log has
/// been truncated to its high watermark already. Blocking.
///
/// # Errors
/// Storage errors of the truncation.
pub fn epoch_to_ask(
    p: &Partition,
    leader: i32,
    leader_epoch: i32,
) -> Result<Option<i32>, rill_log::LogError> {
    let latest = p.latest_epoch()?;
    if latest.is_none() {
        p.truncate_to(leader, leader_epoch, p.high_watermark())?;
    }
    Ok(latest)
}

/// Follower of `leader` in `leader_epoch`: truncates to the divergence point
/// ([`divergence_offset`]) given the leader's answer (`answer_epoch`, `answer_end`) to
/// OffsetForLeaderEpoch for `asked_epoch`, and marks the truncation done, or, when this log
/// lacks the leader's epoch, truncates to the end of its own older epoch and leaves the
/// partition to ask again (KIP-279). Blocking.
///
/// # Errors
/// Storage errors.
pub fn truncate_to_divergence(
    p: &Partition,
    leader: i32,
    leader_epoch: i32,
    asked_epoch: i32,
    answer_epoch: i32,
    answer_end: i64,
) -> Result<(), rill_log::LogError> {
    let local_end = p.log_end_offset()?;
    let d = divergence_offset(
        asked_epoch,
        answer_epoch,
        answer_end,
        local_end,
        p.high_watermark(),
        p.end_offset_for_epoch(answer_epoch)?,
    );
    if d.found {
        p.truncate_to(leader, leader_epoch, d.offset)
    } else {
        p.truncate_and_search_on(leader, leader_epoch, d.offset)
    }
}
