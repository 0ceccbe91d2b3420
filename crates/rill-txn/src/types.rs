//! Small value types shared by the coordinator's API: a topic partition, a producer id with
//! its epoch, the ids the shell uses to match answers and writes, and the `partition_for`
//! hash that places a transactional id (or a group id) on an internal topic partition.

/// Kafka's "no producer id" (`RecordBatch.NO_PRODUCER_ID`).
pub const NO_PRODUCER_ID: i64 = -1;

/// Kafka's "no producer epoch" (`RecordBatch.NO_PRODUCER_EPOCH`).
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// The internal topic the coordinator writes its state to.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// The internal topic of committed offsets (AddOffsetsToTxn adds one of its partitions).
pub const CONSUMER_OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Id the shell gives a request it parks until the coordinator answers it (see
/// [`crate::Reply`]). Unique among requests in flight; the coordinator only echoes it.
pub type RequestId = u64;

/// Id of one record the coordinator asked the shell to append (see [`crate::TxnRecord`]); the
/// shell reports its fate with [`crate::TxnCoordinator::on_append_complete`] or
/// [`crate::TxnCoordinator::on_append_failed`].
pub type WriteId = u64;

/// A partition of a topic, ordered by topic then partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic partition.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

/// A producer id and the epoch that goes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProducerIdAndEpoch {
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub epoch: i16,
}

impl ProducerIdAndEpoch {
    /// The pair.
    pub fn new(producer_id: i64, epoch: i16) -> Self {
        ProducerIdAndEpoch { producer_id, epoch }
    }

    /// The KIP-360 "expected" producer of an InitProducerId request (v3+): both fields -1
    /// means none was sent; exactly one of them -1 is INVALID_REQUEST, as Kafka's KafkaApis
    /// answers.
    ///
    /// # Errors
    /// [`crate::TxnError::InvalidRequest`] when only one of the two is -1.
    pub fn expected_from_request(
        producer_id: i64,
        epoch: i16,
    ) -> Result<Option<Self>, crate::TxnError> {
        match (producer_id == NO_PRODUCER_ID, epoch == NO_PRODUCER_EPOCH) {
            (true, true) => Ok(None),
            (false, false) => Ok(Some(ProducerIdAndEpoch::new(producer_id, epoch))),
            _ => Err(crate::TxnError::InvalidRequest(
                "producer id and epoch must both be set or both be -1".into(),
            )),
        }
    }
}

/// The outcome a transaction ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnResult {
    /// COMMIT markers.
    Commit,
    /// ABORT markers.
    Abort,
}

impl TxnResult {
    /// `Commit` when `commit` is true (EndTxn's `committed` field).
    pub fn from_commit(commit: bool) -> Self {
        if commit {
            TxnResult::Commit
        } else {
            TxnResult::Abort
        }
    }
}

/// The internal-topic partition of a key: Kafka's `Utils.abs(key.hashCode) % partitions`
/// with Java's `String.hashCode` over UTF-16 code units and `Utils.abs` (MIN_VALUE -> 0).
/// The same function places transactional ids on `__transaction_state` and group ids on
/// `__consumer_offsets` (rill-group's `partition_for` computes the same value).
pub fn partition_for(key: &str, partitions: i32) -> i32 {
    let hash = key
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_matches_java_hash_code() {
        // "abc".hashCode() == 96354; "".hashCode() == 0; "polygenelubricants" == MIN_VALUE.
        assert_eq!(partition_for("abc", 50), 96354 % 50);
        assert_eq!(partition_for("", 50), 0);
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        // "Aa" and "BB" collide in Java; a negative hash ("hello world!!" ...) is made positive.
        assert_eq!(partition_for("Aa", 50), partition_for("BB", 50));
        // "€" is one UTF-16 unit 0x20AC; "𝄞" is a surrogate pair 0xD834 0xDD1E.
        assert_eq!(partition_for("€", 50), 0x20AC % 50);
        assert_eq!(partition_for("𝄞", 1000), (0xD834 * 31 + 0xDD1E) % 1000);
        assert!((0..50).contains(&partition_for("some-transactional-id", 50)));
    }

    #[test]
    fn expected_producer_from_request() {
        assert_eq!(ProducerIdAndEpoch::expected_from_request(-1, -1), Ok(None));
        assert_eq!(
            ProducerIdAndEpoch::expected_from_request(5, 2),
            Ok(Some(ProducerIdAndEpoch::new(5, 2)))
        );
        assert!(ProducerIdAndEpoch::expected_from_request(5, -1).is_err());
        assert!(ProducerIdAndEpoch::expected_from_request(-1, 3).is_err());
    }
}
