//! Metrics computed at scrape time from the broker's state, as Prometheus text: the node and
//! its controller role, the Raft quorum, partition health, per-partition log figures and the
//! consumer group lag of the groups this node coordinates.
//!
//! Computed fresh on every scrape, so a deleted topic's or group's series disappear at once.
//! Partition health follows Kafka's split: under-replicated and under-min-ISR partitions are
//! reported by their leader (sum over the nodes for the cluster), offline partitions by the
//! active controller only.

use std::collections::HashMap;

use super::prom_text::PromText;
use super::view::{self, HealthCounts};
use crate::broker::Broker;

/// Picks one figure out of a partition's log stats.
type StatFn = fn(&crate::replica::LogStats) -> f64;

/// (topic, partition) -> end offset (high watermark) for partitions hosted elsewhere.
pub type RemoteEnds = HashMap<(String, i32), i64>;

/// The partitions that groups coordinated here have committed offsets for and that this
/// node does not host: their end offsets must come from their leaders.
pub fn remote_group_partitions(broker: &Broker) -> Vec<(String, i32)> {
    let mut out: Vec<(String, i32)> = view::local_group_offsets(broker)
        .into_values()
        .flat_map(|(_, offsets)| offsets.into_keys())
        .filter(|(t, p)| broker.replicas.get(t, *p).is_none())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Every scrape-time metric as Prometheus text. Blocking (partition locks, briefly).
pub fn collect(broker: &Broker, remote_ends: &RemoteEnds) -> String {
    let mut t = PromText::new();
    node(broker, &mut t);
    quorum(broker, &mut t);
    partitions(broker, &mut t);
    groups(broker, remote_ends, &mut t);
    transactions(broker, &mut t);
    cleaner(&broker.cleaner.snapshot(), &mut t);
    quotas(broker, &mut t);
    t.finish()
}

/// Client quota sensors in use (Kafka's per-entity `Produce`/`Fetch`/`Request` and
/// `ControllerMutation` quota metrics): the limit, the measured value and the throttle time
/// handed out, per quota kind, user and client id. Idle sensors are dropped, so their series
/// go with them.
fn quotas(broker: &Broker, t: &mut PromText) {
    /// A family: name, type, help, and the figure it shows.
    type Family = (
        &'static str,
        &'static str,
        &'static str,
        fn(&crate::quota::sensors::SensorView) -> f64,
    );
    let views = broker.quotas.views();
    let families: [Family; 4] = [
        (
            "rill_client_quota_limit",
            "gauge",
            "The quota in force per sensor (bytes/s; percent of a thread; partition mutations/s).",
            |v| v.limit,
        ),
        (
            "rill_client_quota_value",
            "gauge",
            "Measured usage per sensor (bytes/s; percent; mutation tokens left).",
            |v| v.value,
        ),
        (
            "rill_client_quota_throttle_time_ms_total",
            "counter",
            "Throttle time handed out per sensor, in ms (Kafka: throttle-time).",
            |v| v.throttle_ms_total as f64,
        ),
        (
            "rill_client_quota_throttled_requests_total",
            "counter",
            "Requests throttled per sensor.",
            |v| v.throttled as f64,
        ),
    ];
    for (name, kind, help, value) in families {
        t.family(name, kind, help);
        for v in &views {
            t.sample(
                name,
                &[
                    ("quota", v.kind.label()),
                    ("user", &v.user),
                    ("client_id", &v.client_id),
                ],
                value(v),
            );
        }
    }
}

/// The transaction coordinator of this node: the `__transaction_state` partitions it owns
/// and its transactional ids by state (Kafka has no per-state gauge; these are what
/// `kafka-transactions.sh list` would count).
fn transactions(broker: &Broker, t: &mut PromText) {
    let (owned, listing) = broker.txns.read(|c| {
        (
            c.owned_partitions().len(),
            c.list_transactions(
                &rill_txn::ListTransactionsFilter::all(),
                crate::clock::now_ms(),
            ),
        )
    });
    t.single(
        "rill_transaction_coordinator_partitions",
        "gauge",
        "__transaction_state partitions this node coordinates.",
        owned as f64,
    );
    let mut by_state: std::collections::BTreeMap<&'static str, usize> = [
        "Empty",
        "Ongoing",
        "PrepareCommit",
        "PrepareAbort",
        "CompleteCommit",
        "CompleteAbort",
    ]
    .into_iter()
    .map(|s| (s, 0))
    .collect();
    for txn in listing.map(|l| l.transactions).unwrap_or_default() {
        *by_state.entry(txn.state.name()).or_default() += 1;
    }
    t.family(
        "rill_transactions",
        "gauge",
        "Transactional ids this node coordinates, by state.",
    );
    for (state, n) in by_state {
        t.sample("rill_transactions", &[("state", state)], n as f64);
    }
}

/// The log cleaner's figures, named after Kafka's `kafka.log:type=LogCleaner` and
/// `type=LogCleanerManager` metrics.
pub fn cleaner(s: &crate::cleaner::CleanerSnapshot, t: &mut PromText) {
    let gauges: [(&str, &str, f64); 8] = [
        ("rill_log_cleaner_recopy_percent", "LogCleaner cleaner-recopy-percent: bytes written over bytes read of each thread's last pass, averaged over the threads.", s.recopy_percent),
        ("rill_log_cleaner_max_buffer_utilization_percent", "LogCleaner max-buffer-utilization-percent: the fullest offset map of the threads' last passes.", s.max_buffer_utilization_percent),
        ("rill_log_cleaner_max_clean_time_secs", "LogCleaner max-clean-time-secs: the longest of the threads' last passes.", s.max_clean_time_secs),
        ("rill_log_cleaner_max_compaction_delay_secs", "LogCleaner max-compaction-delay-secs: the most a log's max.compaction.lag.ms is overrun.", s.max_compaction_delay_secs),
        ("rill_log_cleaner_dead_thread_count", "LogCleaner DeadThreadCount: cleaner threads that died.", s.dead_threads as f64),
        ("rill_log_cleaner_manager_max_dirty_percent", "LogCleanerManager max-dirty-percent: the dirtiest compacted log at the last check.", s.max_dirty_percent),
        ("rill_log_cleaner_manager_time_since_last_run_ms", "LogCleanerManager time-since-last-run-ms: since a cleaner thread last looked for work.", s.time_since_last_run_ms),
        ("rill_log_cleaner_manager_uncleanable_partitions_count", "LogCleanerManager uncleanable-partitions-count: partitions given up on after a cleaning error.", s.uncleanable_partitions as f64),
    ];
    for (name, help, v) in gauges {
        t.single(name, "gauge", help, v);
    }
    let counters: [(&str, &str, u64); 5] = [
        (
            "rill_log_cleaner_bytes_read_total",
            "Bytes the log cleaner read (offset map and rewrite).",
            s.bytes_read,
        ),
        (
            "rill_log_cleaner_bytes_written_total",
            "Bytes the log cleaner wrote.",
            s.bytes_written,
        ),
        (
            "rill_log_cleaner_passes_total",
            "Cleaning passes swapped in.",
            s.passes,
        ),
        (
            "rill_log_cleaner_passes_abandoned_total",
            "Cleaning passes abandoned (log changed) or aborted (shutdown, partition removed).",
            s.passes_abandoned,
        ),
        (
            "rill_log_cleaner_records_removed_total",
            "Records the log cleaner removed.",
            s.records_removed,
        ),
    ];
    for (name, help, v) in counters {
        t.single(name, "counter", help, v as f64);
    }
}

fn node(broker: &Broker, t: &mut PromText) {
    let node_id = broker.config.node_id.to_string();
    t.family(
        "rill_broker_info",
        "gauge",
        "This node: id, cluster id and version (always 1).",
    );
    t.sample(
        "rill_broker_info",
        &[
            ("node_id", &node_id),
            ("cluster_id", &broker.cluster_id),
            ("version", env!("CARGO_PKG_VERSION")),
        ],
        1.0,
    );
    let controller = broker.controller_id();
    t.single(
        "rill_active_controller_count",
        "gauge",
        "1 on the active controller, else 0 (Kafka: KafkaController ActiveControllerCount).",
        f64::from(u8::from(controller == broker.config.node_id)),
    );
    let image = broker.image();
    let (mut active, mut fenced) = (0usize, 0usize);
    for b in image.brokers() {
        if b.fenced {
            fenced += 1;
        } else {
            active += 1;
        }
    }
    if active + fenced == 0 {
        active = broker.live_brokers().len();
    }
    t.family(
        "rill_brokers",
        "gauge",
        "Registered brokers by state (Kafka: ActiveBrokerCount, FencedBrokerCount).",
    );
    t.sample("rill_brokers", &[("state", "active")], active as f64);
    t.sample("rill_brokers", &[("state", "fenced")], fenced as f64);
}

fn quorum(broker: &Broker, t: &mut PromText) {
    let Some(s) = broker.metadata.quorum_status() else {
        return;
    };
    t.single(
        "rill_raft_term",
        "gauge",
        "Current Raft term of the metadata quorum (Kafka: raft-metrics current-epoch).",
        s.term as f64,
    );
    t.single(
        "rill_raft_commit_index",
        "gauge",
        "Last metadata log index committed and applied here (Kafka: raft-metrics high-watermark).",
        s.high_watermark.map_or(-1.0, |o| o as f64),
    );
    t.single(
        "rill_raft_log_end_index",
        "gauge",
        "Last index in this node's metadata log (Kafka: raft-metrics log-end-offset).",
        s.log_end_offset.map_or(-1.0, |o| o as f64),
    );
    t.single(
        "rill_raft_leader_id",
        "gauge",
        "The metadata quorum's leader as this node knows it, -1 for none (Kafka: current-leader).",
        s.leader.map_or(-1.0, |l| l as f64),
    );
}

fn partitions(broker: &Broker, t: &mut PromText) {
    let node = broker.config.node_id;
    let image = broker.image();
    let all = view::partitions(broker, &image, None);
    let mut led = HealthCounts::default();
    let mut hosted = 0usize;
    for p in &all {
        hosted += usize::from(p.hosted_here);
        if p.leader == node {
            led.add(p.health);
        }
    }
    let is_controller = broker.controller_id() == node;
    let offline = if is_controller {
        view::cluster_health(broker, &image).offline
    } else {
        0
    };
    t.single(
        "rill_partitions",
        "gauge",
        "Partitions with a replica on this node (Kafka: PartitionCount).",
        hosted as f64,
    );
    t.single(
        "rill_leader_partitions",
        "gauge",
        "Partitions this node leads (Kafka: LeaderCount).",
        led.partitions as f64,
    );
    t.single(
        "rill_under_replicated_partitions",
        "gauge",
        "Partitions led here whose ISR is smaller than their replica set (Kafka: UnderReplicatedPartitions).",
        led.under_replicated as f64,
    );
    t.single(
        "rill_under_min_isr_partitions",
        "gauge",
        "Partitions led here whose ISR is smaller than min.insync.replicas (Kafka: UnderMinIsrPartitionCount).",
        led.under_min_isr as f64,
    );
    t.single(
        "rill_offline_partitions_count",
        "gauge",
        "Partitions without a leader, reported by the active controller (Kafka: OfflinePartitionsCount).",
        offline as f64,
    );
    let locals: Vec<_> = all
        .iter()
        .filter_map(|p| p.local.map(|s| (p, s, p.partition.to_string())))
        .collect();
    let families: [(&str, &str, StatFn); 8] = [
        (
            "rill_log_size_bytes",
            "Bytes of the partition's log on disk (Kafka: Log Size).",
            |s| s.size_bytes as f64,
        ),
        (
            "rill_log_segments",
            "Segments of the partition's log (Kafka: Log NumLogSegments).",
            |s| s.segments as f64,
        ),
        (
            "rill_log_start_offset",
            "First offset of the partition's log (Kafka: Log LogStartOffset).",
            |s| s.log_start_offset as f64,
        ),
        (
            "rill_log_end_offset",
            "Offset after the partition's last record (Kafka: Log LogEndOffset).",
            |s| s.log_end_offset as f64,
        ),
        (
            "rill_log_high_watermark",
            "Offsets below this are committed and readable by consumers.",
            |s| s.high_watermark as f64,
        ),
        (
            "rill_log_last_stable_offset",
            "Offsets below this hold no open transaction: what read_committed consumers read up to.",
            |s| s.last_stable_offset as f64,
        ),
        (
            "rill_log_spare_segments",
            "Segment files retention retired and kept for rolls to write over.",
            |s| s.spare_segments as f64,
        ),
        (
            "rill_log_segments_recycled",
            "Rolls of the partition's log that wrote over a retired segment file since it was opened.",
            |s| s.segments_recycled as f64,
        ),
    ];
    for (name, help, value) in families {
        t.family(name, "gauge", help);
        for (p, s, index) in &locals {
            t.sample(name, &[("topic", &p.topic), ("partition", index)], value(s));
        }
    }
    // Kafka reports it on the leader and 0 elsewhere.
    let lag = "rill_partition_last_stable_offset_lag";
    t.family(
        lag,
        "gauge",
        "High watermark minus last stable offset on partitions led here, 0 elsewhere: offsets held back from read_committed consumers by open transactions (Kafka: Partition LastStableOffsetLag).",
    );
    for (p, s, index) in &locals {
        let value = if p.leader == node {
            (s.high_watermark - s.last_stable_offset).max(0)
        } else {
            0
        };
        t.sample(
            lag,
            &[("topic", &p.topic), ("partition", index)],
            value as f64,
        );
    }
}

fn groups(broker: &Broker, remote_ends: &RemoteEnds, t: &mut PromText) {
    let groups = view::local_group_offsets(broker);
    t.family(
        "rill_consumer_group_members",
        "gauge",
        "Members of each consumer group this node coordinates.",
    );
    for (g, (members, _)) in &groups {
        t.sample(
            "rill_consumer_group_members",
            &[("group", g)],
            *members as f64,
        );
    }
    let mut rows = Vec::new();
    for (g, (_, offsets)) in &groups {
        for ((topic, partition), committed) in offsets {
            let end = match broker.replicas.get(topic, *partition) {
                Some(p) => Some(p.high_watermark()),
                None => remote_ends.get(&(topic.clone(), *partition)).copied(),
            };
            rows.push((g, topic, partition.to_string(), *committed, end));
        }
    }
    t.family(
        "rill_consumer_group_committed_offset",
        "gauge",
        "Committed offset per group and partition, for groups this node coordinates.",
    );
    for (g, topic, p, committed, _) in &rows {
        t.sample(
            "rill_consumer_group_committed_offset",
            &[("group", g), ("topic", topic), ("partition", p)],
            *committed as f64,
        );
    }
    t.family(
        "rill_consumer_group_lag",
        "gauge",
        "High watermark minus committed offset per group and partition, for groups this node coordinates.",
    );
    for (g, topic, p, committed, end) in &rows {
        if let Some(end) = end {
            t.sample(
                "rill_consumer_group_lag",
                &[("group", g), ("topic", topic), ("partition", p)],
                (end - committed).max(0) as f64,
            );
        }
    }
}
