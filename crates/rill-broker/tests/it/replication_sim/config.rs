//! One run's settings, drawn from its seed: cluster shape and the timings of the real
//! broker settings (scaled down so that failures, ISR changes and elections happen within a
//! few simulated seconds).

use rand::rngs::StdRng;
use rand::Rng;

/// The simulated cluster's settings.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Number of brokers (ids 1..=brokers).
    pub brokers: i32,
    /// Partitions of the one topic.
    pub partitions: u32,
    /// Replication factor.
    pub replication_factor: usize,
    /// `min.insync.replicas`.
    pub min_insync_replicas: u32,
    /// `replica.lag.time.max.ms`.
    pub lag_max_ms: i64,
    /// `broker.session.timeout.ms`: the controller fences a broker silent this long.
    pub session_ms: i64,
    /// How often brokers show the controller they are alive.
    pub heartbeat_ms: i64,
    /// `replica.fetch.wait.max.ms`: the leader parks an empty follower fetch this long.
    pub fetch_max_wait_ms: i64,
    /// How long a follower waits for an answer before it gives up on the connection.
    pub request_timeout_ms: i64,
    /// `replica.fetch.backoff.ms`.
    pub fetch_backoff_ms: i64,
    /// `replica.fetch.max.bytes` (per partition).
    pub partition_max_bytes: u64,
    /// How long a metadata commit (ISR change) may take before the leader gives up on it.
    pub propose_wait_ms: i64,
    /// How often leaders check their ISRs (the real loop: 250 ms).
    pub isr_tick_ms: i64,
    /// The produce request's timeout (acks=all wait).
    pub produce_timeout_ms: i64,
    /// `segment.bytes`, small so logs roll and truncation crosses segments.
    pub segment_bytes: u64,
    /// Simulated time with faults, then time healed (ms).
    pub chaos_ms: i64,
    /// Simulated time after every fault is healed, for the liveness checks.
    pub calm_ms: i64,
}

impl SimConfig {
    /// The settings of the run with this randomness.
    pub fn draw(rng: &mut StdRng) -> Self {
        let brokers = rng.random_range(3..=4);
        SimConfig {
            brokers,
            partitions: rng.random_range(1..=3),
            replication_factor: 3,
            min_insync_replicas: 2,
            lag_max_ms: rng.random_range(600..=3000),
            session_ms: rng.random_range(600..=3000),
            heartbeat_ms: rng.random_range(100..=300),
            fetch_max_wait_ms: rng.random_range(50..=500),
            request_timeout_ms: rng.random_range(600..=3000),
            fetch_backoff_ms: rng.random_range(50..=1000),
            partition_max_bytes: rng.random_range(1024..=16384),
            propose_wait_ms: rng.random_range(300..=3000),
            isr_tick_ms: 250,
            produce_timeout_ms: rng.random_range(500..=3000),
            segment_bytes: rng.random_range(2048..=32768),
            chaos_ms: rng.random_range(8_000..=16_000),
            calm_ms: 15_000,
        }
    }
}
