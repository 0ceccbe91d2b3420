//! What the simulated nodes say to each other: the fields of the Kafka requests the real
//! replication path uses (Fetch with a replica id, OffsetForLeaderEpoch, AlterPartition as
//! `IsrChanged` records, Produce, Metadata) and the controller's metadata pushes.

use std::sync::Arc;

use kafka_protocol::messages::fetch_response::PartitionData;
use rill_meta::{MetadataImage, MetadataRecord};

/// A node: brokers are 1.., the controller and the client have fixed ids.
pub type NodeId = i32;
/// The controller (the metadata quorum, seen as one node).
pub const CONTROLLER: NodeId = 0;
/// The producing client.
pub const CLIENT: NodeId = 100;

/// A follower's fetch of one partition (Fetch v12 fields the leader reads).
#[derive(Debug, Clone)]
pub struct FetchPart {
    /// Partition index.
    pub partition: u32,
    /// The leader epoch the follower follows in (KIP-320 check on the leader).
    pub current_leader_epoch: i32,
    /// The follower's log end offset.
    pub fetch_offset: i64,
    /// The follower's log start offset (Fetch v5+).
    pub log_start_offset: i64,
}

/// A follower's OffsetForLeaderEpoch question about one partition.
#[derive(Debug, Clone)]
pub struct EpochPart {
    /// Partition index.
    pub partition: u32,
    /// The leader epoch the follower follows in.
    pub current_leader_epoch: i32,
    /// The epoch whose end the follower asks for (its latest).
    pub asked_epoch: i32,
}

/// The leader's OffsetForLeaderEpoch answer for one partition.
#[derive(Debug, Clone)]
pub struct EpochAnswer {
    /// Partition index.
    pub partition: u32,
    /// Kafka error code (0: none).
    pub error_code: i16,
    /// The largest epoch `<=` the asked one the leader has (-1: none).
    pub leader_epoch: i32,
    /// Where that epoch ends in the leader's log (-1: unknown).
    pub end_offset: i64,
}

/// A message between nodes.
#[derive(Debug, Clone)]
pub enum Msg {
    /// Follower -> leader: Fetch with the follower's replica id.
    Fetch {
        /// Request id (answers carry it; a stale answer is ignored).
        req: u64,
        /// The partitions fetched.
        parts: Vec<FetchPart>,
    },
    /// Leader -> follower: the Fetch answer, one real `PartitionData` per partition.
    FetchReply {
        /// The request's id.
        req: u64,
        /// (partition, answer).
        parts: Vec<(u32, PartitionData)>,
    },
    /// Follower -> leader: OffsetForLeaderEpoch.
    EpochQuery {
        /// Request id.
        req: u64,
        /// The partitions asked about.
        parts: Vec<EpochPart>,
    },
    /// Leader -> follower: OffsetForLeaderEpoch answers.
    EpochReply {
        /// The request's id.
        req: u64,
        /// One answer per partition asked about.
        parts: Vec<EpochAnswer>,
    },
    /// Broker -> controller: alive (the quorum's liveness signal), and what it has applied.
    Heartbeat {
        /// Metadata offset the broker has applied.
        known_offset: u64,
    },
    /// Broker -> controller at start: BrokerRegistered with a new incarnation, then unfence.
    Register {
        /// Request id.
        req: u64,
    },
    /// Controller -> broker: the registration committed (the image comes as [`Msg::Metadata`]).
    Registered {
        /// The request's id.
        req: u64,
        /// The metadata offset of the registration.
        offset: u64,
    },
    /// Broker -> controller: this broker is fenced but alive; unfence it (and give it back
    /// leaderless partitions it has in sync).
    Unfence,
    /// Broker -> controller before a clean shutdown: fence me, move my leaderships.
    ControlledShutdown,
    /// Leader -> controller: ISR changes (AlterPartition).
    AlterIsr {
        /// Request id.
        req: u64,
        /// `IsrChanged` records, committed as one batch, or each alone if the batch is refused.
        records: Vec<MetadataRecord>,
    },
    /// Controller -> leader: which records were committed.
    AlterIsrReply {
        /// The request's id.
        req: u64,
        /// Per record: committed or refused.
        committed: Vec<bool>,
        /// The metadata offset after them (the broker waits until it applied it).
        offset: u64,
    },
    /// Controller -> broker: the image at a metadata offset.
    Metadata {
        /// The offset (number of committed changes).
        offset: u64,
        /// The image after it.
        image: Arc<MetadataImage>,
    },
    /// Client -> broker: Produce acks=all of one batch.
    Produce {
        /// Request id.
        req: u64,
        /// Partition index.
        partition: u32,
        /// RecordBatch v2 bytes as the client built them.
        batch: Vec<u8>,
    },
    /// Broker -> client: the produce answer.
    ProduceReply {
        /// The request's id.
        req: u64,
        /// Kafka error code.
        error_code: i16,
        /// Where the batch went (on success).
        base_offset: i64,
    },
    /// Client -> broker: a consumer's Fetch (read_uncommitted, no replica id).
    ConsumerFetch {
        /// Request id.
        req: u64,
        /// Partition index.
        partition: u32,
        /// The consumer's position.
        offset: i64,
    },
    /// Broker -> client: the consumer's Fetch answer.
    ConsumerFetchReply {
        /// The request's id.
        req: u64,
        /// Kafka error code.
        error_code: i16,
        /// Whole batches from the position up to the high watermark.
        records: Vec<u8>,
        /// The answering broker's log end then (not on the wire: for the checker).
        log_end: i64,
    },
    /// Client -> broker: Metadata (who leads each partition).
    LeaderQuery {
        /// Request id.
        req: u64,
    },
    /// Broker -> client: leader of each partition by the broker's image (-1: none).
    LeaderReply {
        /// The request's id.
        req: u64,
        /// Leader per partition index.
        leaders: Vec<i32>,
    },
}

/// A node's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Broker: the fetcher for this leader starts its next round.
    FetchRound(NodeId),
    /// Broker, controller, client: periodic housekeeping (timeouts, ISR checks, heartbeats).
    Tick,
    /// Broker: restart after a crash.
    Restart,
    /// Fault injector: undo fault n.
    Heal(u64),
}
