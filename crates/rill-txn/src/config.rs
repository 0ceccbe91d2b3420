//! The coordinator's settings, with Kafka's broker config names and defaults.

/// Settings of the transaction coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms`: the largest `transaction.timeout.ms` a producer may ask
    /// for (default 900000, 15 minutes).
    pub max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`: how long an id may stay idle in Empty,
    /// CompleteCommit or CompleteAbort before it is expired (default 604800000, 7 days).
    pub transactional_id_expiration_ms: i64,
    /// `transaction.state.log.num.partitions`: partitions of `__transaction_state`
    /// (default 50). Fixed for the life of the cluster: ids are placed by hash.
    pub num_partitions: i32,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`: how often
    /// [`crate::TxnCoordinator::tick`] looks for transactions past their timeout
    /// (default 10000).
    pub abort_timed_out_interval_ms: i64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`: how often
    /// [`crate::TxnCoordinator::tick`] expires idle ids (default 3600000).
    pub remove_expired_interval_ms: i64,
    /// Version of the `TransactionLogValue` records written: 1 (flexible, keeps the previous
    /// producer id in a tagged field; what Kafka writes with `transaction.version` >= 1) or
    /// 0 (what Kafka writes with `transaction.version` 0, readable by Kafka before 4.0).
    /// Both are read.
    pub log_value_version: i16,
    /// How long after a failed CompleteCommit/CompleteAbort record
    /// [`crate::TxnCoordinator::tick`] writes it again (Rill's; Kafka's marker channel
    /// retries on its next poll). Default 100.
    pub append_retry_backoff_ms: i64,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            max_timeout_ms: 900_000,
            transactional_id_expiration_ms: 604_800_000,
            num_partitions: 50,
            abort_timed_out_interval_ms: 10_000,
            remove_expired_interval_ms: 3_600_000,
            log_value_version: 1,
            append_retry_backoff_ms: 100,
        }
    }
}

impl TxnConfig {
    /// Whether a producer's `transaction.timeout.ms` is acceptable: positive and at most
    /// `transaction.max.timeout.ms` (Kafka's `validateTransactionTimeoutMs`).
    pub fn valid_timeout(&self, timeout_ms: i32) -> bool {
        timeout_ms > 0 && timeout_ms <= self.max_timeout_ms
    }
}
