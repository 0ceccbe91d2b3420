//! Transactions as an admin sees them: ListTransactions on every broker (each lists the
//! transactional ids it coordinates) and DescribeTransactions at an id's coordinator, like
//! Kafka's `kafka-transactions.sh list|describe`.

use kafka_protocol::messages::{
    ApiKey, DescribeTransactionsRequest, ListTransactionsRequest, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;

use crate::error::{ClientError, Result};
use crate::Client;

/// One transactional id in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTransaction {
    /// The transactional id.
    pub transactional_id: String,
    /// Its producer id.
    pub producer_id: i64,
    /// Its state ("Ongoing", "CompleteCommit", ...).
    pub state: String,
    /// The broker coordinating it.
    pub coordinator: i32,
}

/// A transactional id described by its coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionDescription {
    /// The transactional id.
    pub transactional_id: String,
    /// State.
    pub state: String,
    /// Producer id and epoch.
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// `transaction.timeout.ms` of its producer.
    pub timeout_ms: i32,
    /// When the ongoing transaction began (ms since epoch; -1 when none).
    pub start_time_ms: i64,
    /// Partitions in the ongoing transaction: (topic, partitions).
    pub topics: Vec<(String, Vec<i32>)>,
}

impl Client {
    /// Every transactional id of every broker, sorted by id; `states` filters by state
    /// name (empty: all).
    ///
    /// # Errors
    /// Connection errors; a broker's error.
    pub async fn list_transactions(&self, states: &[String]) -> Result<Vec<ListedTransaction>> {
        let brokers = self.refresh_metadata(Some(&[])).await?.brokers;
        let mut out = Vec::new();
        for b in brokers.values() {
            let conn = self.connection_to_addr(&b.addr()).await?;
            let version = conn.version(ApiKey::ListTransactions)?;
            let mut req = ListTransactionsRequest::default();
            req.state_filters = states
                .iter()
                .map(|s| StrBytes::from_string(s.clone()))
                .collect();
            req.duration_filter = -1;
            let resp = conn.call(&req, version).await?;
            ClientError::check(
                resp.error_code,
                || format!("list transactions on broker {}", b.node_id),
                None,
            )?;
            out.extend(
                resp.transaction_states
                    .into_iter()
                    .map(|t| ListedTransaction {
                        transactional_id: t.transactional_id.0.to_string(),
                        producer_id: t.producer_id.0,
                        state: t.transaction_state.to_string(),
                        coordinator: b.node_id,
                    }),
            );
        }
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        Ok(out)
    }

    /// Describes one transactional id at its coordinator.
    ///
    /// # Errors
    /// Connection errors; the id's error (TRANSACTIONAL_ID_NOT_FOUND, ...).
    pub async fn describe_transaction(
        &self,
        transactional_id: &str,
    ) -> Result<TransactionDescription> {
        self.retry(|_| async {
            let conn = self.coordinator_of(1, transactional_id).await?;
            let version = conn.version(ApiKey::DescribeTransactions)?;
            let mut req = DescribeTransactionsRequest::default();
            req.transactional_ids = vec![TransactionalId(StrBytes::from_string(
                transactional_id.to_string(),
            ))];
            let resp = conn.call(&req, version).await?;
            let t = resp.transaction_states.into_iter().next().ok_or_else(|| {
                ClientError::Protocol {
                    addr: conn.addr().into(),
                    reason: "DescribeTransactions answer is empty".into(),
                }
            })?;
            ClientError::check(
                t.error_code,
                || format!("describe transactional id '{transactional_id}'"),
                None,
            )?;
            Ok(TransactionDescription {
                transactional_id: t.transactional_id.0.to_string(),
                state: t.transaction_state.to_string(),
                producer_id: t.producer_id.0,
                producer_epoch: t.producer_epoch,
                timeout_ms: t.transaction_timeout_ms,
                start_time_ms: t.transaction_start_time_ms,
                topics: t
                    .topics
                    .into_iter()
                    .map(|x| (x.topic.0.to_string(), x.partitions))
                    .collect(),
            })
        })
        .await
    }
}
