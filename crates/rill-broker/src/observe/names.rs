//! Names of the metrics the recorder holds (the scrape-time ones are in [`super::collect`]),
//! with their help text. Kafka's JMX names are given beside each for operators who know them.

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

/// Bytes appended by producers, per `topic` (Kafka: BrokerTopicMetrics BytesInPerSec).
pub const TOPIC_BYTES_IN: &str = "rill_topic_bytes_in_total";
/// Records appended by producers, per `topic` (Kafka: MessagesInPerSec).
pub const TOPIC_RECORDS_IN: &str = "rill_topic_records_in_total";
/// Bytes sent to consumers, per `topic` (Kafka: BytesOutPerSec).
pub const TOPIC_BYTES_OUT: &str = "rill_topic_bytes_out_total";
/// Records in the batches sent to consumers, per `topic`.
pub const TOPIC_RECORDS_OUT: &str = "rill_topic_records_out_total";
/// Bytes sent to follower replicas (Kafka: ReplicationBytesOutPerSec).
pub const REPLICATION_BYTES_OUT: &str = "rill_replication_bytes_out_total";
/// Requests answered, per `request` (Kafka: RequestMetrics RequestsPerSec).
pub const REQUESTS: &str = "rill_requests_total";
/// Error codes sent, per `request` and `error` (Kafka: RequestMetrics ErrorsPerSec).
pub const REQUEST_ERRORS: &str = "rill_request_errors_total";
/// Time from a request's arrival to its response, per `request` (Kafka: TotalTimeMs).
pub const REQUEST_DURATION: &str = "rill_request_duration_seconds";
/// Requests parked, per `delayed_operation` (Kafka: DelayedOperationPurgatory PurgatorySize).
pub const PURGATORY_SIZE: &str = "rill_purgatory_size";
/// Open client connections (Kafka: socket-server-metrics connection-count).
pub const CONNECTIONS_ACTIVE: &str = "rill_connections_active";
/// Connections accepted (Kafka: connection-creation-total).
pub const CONNECTIONS_CREATED: &str = "rill_connections_created_total";
/// Connections closed (Kafka: connection-close-total).
pub const CONNECTIONS_CLOSED: &str = "rill_connections_closed_total";
/// Counter: client TLS handshakes completed.
pub const TLS_HANDSHAKES: &str = "rill_tls_handshakes_total";
/// Counter: client TLS handshakes that failed or timed out.
pub const TLS_HANDSHAKE_FAILURES: &str = "rill_tls_handshake_failures_total";
/// Counter: SASL authentications, by `result` (success, failure).
pub const AUTHENTICATIONS: &str = "rill_authentications_total";
/// Counter: KIP-368 re-authentications that succeeded.
pub const REAUTHENTICATIONS: &str = "rill_reauthentications_total";
/// ISR shrinks of partitions led here (Kafka: ReplicaManager IsrShrinksPerSec).
pub const ISR_SHRINKS: &str = "rill_isr_shrinks_total";
/// ISR expansions of partitions led here (Kafka: ReplicaManager IsrExpandsPerSec).
pub const ISR_EXPANDS: &str = "rill_isr_expands_total";
/// Leader elections won by this node (Kafka: ControllerStats LeaderElectionRateAndTimeMs).
pub const LEADER_ELECTIONS: &str = "rill_leader_elections_total";
/// Duration of the log's group-commit fsyncs (Kafka: LogFlushStats LogFlushRateAndTimeMs).
pub const LOG_FLUSH_DURATION: &str = "rill_log_flush_duration_seconds";
/// Time to load one `__consumer_offsets` partition into the group coordinator (on start and
/// on every leadership gained; Kafka: group-coordinator-metrics partition-load-time-max/avg).
pub const GROUP_LOAD_DURATION: &str = "rill_group_coordinator_partition_load_seconds";
/// Records of `__consumer_offsets` replayed by those loads.
pub const GROUP_LOAD_RECORDS: &str = "rill_group_coordinator_load_records_total";

/// Registers help text and units for every recorder metric.
pub fn describe_all() {
    describe_counter!(
        TOPIC_BYTES_IN,
        Unit::Bytes,
        "Bytes appended by producers, per topic."
    );
    describe_counter!(
        TOPIC_RECORDS_IN,
        "Records appended by producers, per topic."
    );
    describe_counter!(
        TOPIC_BYTES_OUT,
        Unit::Bytes,
        "Bytes sent to consumers, per topic."
    );
    describe_counter!(
        TOPIC_RECORDS_OUT,
        "Records in the batches sent to consumers, per topic."
    );
    describe_counter!(
        REPLICATION_BYTES_OUT,
        Unit::Bytes,
        "Bytes sent to follower replicas."
    );
    describe_counter!(REQUESTS, "Kafka requests answered, per API.");
    describe_counter!(
        REQUEST_ERRORS,
        "Kafka error codes sent in responses, per API and error."
    );
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Time from a request's arrival to its response being ready, per API."
    );
    describe_gauge!(
        PURGATORY_SIZE,
        "Requests parked waiting: Produce for durability, Fetch for data."
    );
    describe_gauge!(CONNECTIONS_ACTIVE, "Open Kafka client connections.");
    describe_counter!(CONNECTIONS_CREATED, "Kafka client connections accepted.");
    describe_counter!(CONNECTIONS_CLOSED, "Kafka client connections closed.");
    describe_counter!(ISR_SHRINKS, "ISR shrinks of partitions led by this node.");
    describe_counter!(
        ISR_EXPANDS,
        "ISR expansions of partitions led by this node."
    );
    describe_counter!(
        LEADER_ELECTIONS,
        "Partition leaderships this node gained (new leader epochs naming it)."
    );
    describe_histogram!(
        LOG_FLUSH_DURATION,
        Unit::Seconds,
        "Duration of the partition logs' group-commit fsyncs."
    );
    describe_histogram!(
        GROUP_LOAD_DURATION,
        Unit::Seconds,
        "Time the group coordinator took to load one __consumer_offsets partition."
    );
    describe_counter!(
        GROUP_LOAD_RECORDS,
        "Records of __consumer_offsets the group coordinator replayed loading partitions."
    );
}
