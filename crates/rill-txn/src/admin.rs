//! The admin views of the coordinator: DescribeTransactions and ListTransactions (KIP-664),
//! answered from memory as Kafka's `handleDescribeTransactions` and `listTransactionStates`
//! answer them. Both read; neither writes.

use crate::coordinator::{validate_transactional_id, TxnCoordinator};
use crate::error::TxnError;
use crate::state::TxnState;

/// One transactional id as DescribeTransactions shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnDescription {
    /// The transactional id.
    pub transactional_id: String,
    /// State (its Kafka name is [`TxnState::name`], e.g. "Ongoing", "CompleteCommit").
    pub state: TxnState,
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch: the one requests are checked against (a fence in flight shows its
    /// bumped epoch, as Kafka bumps it in memory first).
    pub producer_epoch: i16,
    /// The producer's `transaction.timeout.ms`.
    pub txn_timeout_ms: i32,
    /// When the transaction began, -1 if none did.
    pub txn_start_timestamp_ms: i64,
    /// The partitions in the transaction grouped by topic, sorted; while markers are being
    /// written, only the partitions whose marker is not written yet (as Kafka removes them
    /// one by one).
    pub topics: Vec<(String, Vec<i32>)>,
}

impl TxnDescription {
    /// The state as Kafka names it in DescribeTransactions.
    pub fn state_name(&self) -> &'static str {
        self.state.name()
    }
}

/// The filters of a ListTransactions request. Empty lists and a negative duration filter
/// nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListTransactionsFilter {
    /// State names (`StateFilters`); names Kafka does not know are returned in
    /// [`TxnListing::unknown_state_filters`] and otherwise ignored (as in Kafka, a request
    /// whose every name is unknown filters no state).
    pub states: Vec<String>,
    /// Producer ids (`ProducerIdFilters`).
    pub producer_ids: Vec<i64>,
    /// `DurationFilter` (v1+): when >= 0, only transactions whose start is more than this
    /// many ms before `now` (Kafka's `now - txnStartTimestamp > duration`; ids that never
    /// began a transaction have start -1 and so pass).
    pub duration_filter_ms: i64,
}

impl ListTransactionsFilter {
    /// No filter: every transaction.
    pub fn all() -> Self {
        ListTransactionsFilter {
            duration_filter_ms: -1,
            ..Default::default()
        }
    }
}

/// One transaction in a ListTransactions answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTxn {
    /// The transactional id.
    pub transactional_id: String,
    /// Producer id.
    pub producer_id: i64,
    /// State (named with [`TxnState::name`]).
    pub state: TxnState,
}

/// A ListTransactions answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxnListing {
    /// Matching transactions of every owned partition, sorted by transactional id.
    pub transactions: Vec<ListedTxn>,
    /// State filters that name no state, in request order.
    pub unknown_state_filters: Vec<String>,
}

impl TxnCoordinator {
    /// DescribeTransactions for one id.
    ///
    /// # Errors
    /// INVALID_REQUEST (empty id), NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS,
    /// TRANSACTIONAL_ID_NOT_FOUND.
    pub fn describe_transaction(&self, transactional_id: &str) -> Result<TxnDescription, TxnError> {
        validate_transactional_id(transactional_id)?;
        let partition = self.owner_of(transactional_id)?;
        let meta = self
            .meta(partition, transactional_id)
            .filter(|m| m.state != TxnState::Dead)
            .ok_or_else(|| TxnError::TransactionalIdNotFound(transactional_id.to_string()))?;
        let mut topics: Vec<(String, Vec<i32>)> = Vec::new();
        for tp in meta.partitions_without_markers() {
            match topics.last_mut() {
                Some((topic, ids)) if *topic == tp.topic => ids.push(tp.partition),
                _ => topics.push((tp.topic.clone(), vec![tp.partition])),
            }
        }
        Ok(TxnDescription {
            transactional_id: transactional_id.to_string(),
            state: meta.state,
            producer_id: meta.producer_id,
            producer_epoch: meta.epoch(),
            txn_timeout_ms: meta.txn_timeout_ms,
            txn_start_timestamp_ms: meta.txn_start_timestamp_ms,
            topics,
        })
    }

    /// ListTransactions over every owned partition (v0-v1 filters).
    ///
    /// # Errors
    /// COORDINATOR_LOAD_IN_PROGRESS while any partition is loading, as Kafka answers.
    pub fn list_transactions(
        &self,
        filter: &ListTransactionsFilter,
        now_ms: i64,
    ) -> Result<TxnListing, TxnError> {
        self.list_transactions_matching(filter, now_ms, &|_| true)
    }

    /// ListTransactions with a predicate on the transactional id as well: the shell passes
    /// the v2 `TransactionalIdPattern` regular expression compiled (Kafka matches it against
    /// the whole id); this crate does no regex.
    ///
    /// # Errors
    /// COORDINATOR_LOAD_IN_PROGRESS while any partition is loading.
    pub fn list_transactions_matching(
        &self,
        filter: &ListTransactionsFilter,
        now_ms: i64,
        id_matches: &dyn Fn(&str) -> bool,
    ) -> Result<TxnListing, TxnError> {
        if let Some((partition, _)) = self.partitions.iter().find(|(_, p)| p.loading) {
            return Err(TxnError::CoordinatorLoadInProgress {
                partition: *partition,
            });
        }
        let mut states: Vec<TxnState> = Vec::new();
        let mut unknown_state_filters = Vec::new();
        for name in &filter.states {
            match TxnState::from_name(name) {
                Some(s) => states.push(s),
                None => unknown_state_filters.push(name.clone()),
            }
        }
        let mut transactions: Vec<ListedTxn> = self
            .partitions
            .values()
            .flat_map(|p| p.txns.values())
            .filter(|m| {
                m.state != TxnState::Dead
                    && (filter.producer_ids.is_empty()
                        || filter.producer_ids.contains(&m.producer_id))
                    && (states.is_empty() || states.contains(&m.state))
                    && (filter.duration_filter_ms < 0
                        || now_ms.saturating_sub(m.txn_start_timestamp_ms)
                            > filter.duration_filter_ms)
                    && id_matches(&m.transactional_id)
            })
            .map(|m| ListedTxn {
                transactional_id: m.transactional_id.clone(),
                producer_id: m.producer_id,
                state: m.state,
            })
            .collect();
        transactions.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        Ok(TxnListing {
            transactions,
            unknown_state_filters,
        })
    }
}
