//! Transactions of the whole cluster, asked over the Kafka protocol (ListTransactions on
//! every broker, DescribeTransactions at each unfinished one's coordinator), so every node
//! shows every transactional id wherever it is coordinated.
//!
//! - `GET /api/v1/transactions`: every transactional id with its state and coordinator; the
//!   unfinished ones (Ongoing, PrepareCommit, PrepareAbort) with their producer epoch,
//!   timeout, start time and partitions.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::error::ApiResult;
use super::state::AppState;

/// Unfinished transactions described in the list; more are listed without details.
const MAX_DESCRIBED: usize = 200;

/// One transactional id.
#[derive(Debug, Serialize)]
pub struct TransactionRow {
    /// The transactional id.
    pub transactional_id: String,
    /// Producer id.
    pub producer_id: i64,
    /// State (Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort).
    pub state: String,
    /// The broker coordinating it.
    pub coordinator: i32,
    /// Producer epoch (unfinished transactions).
    pub producer_epoch: Option<i16>,
    /// `transaction.timeout.ms` (unfinished transactions).
    pub timeout_ms: Option<i32>,
    /// When the open transaction began, ms since epoch (unfinished transactions).
    pub start_time_ms: Option<i64>,
    /// Its partitions as `topic-partition` (unfinished transactions).
    pub partitions: Option<Vec<String>>,
}

fn unfinished(state: &str) -> bool {
    matches!(state, "Ongoing" | "PrepareCommit" | "PrepareAbort")
}

/// `GET /api/v1/transactions`: the transactional ids the caller may DESCRIBE (as
/// ListTransactions).
pub async fn list(
    State(state): State<Arc<AppState>>,
    axum::Extension(caller): axum::Extension<super::auth::Caller>,
) -> ApiResult<Json<Vec<TransactionRow>>> {
    use super::access::{authorize, AdminCall};
    let broker = state.broker()?;
    let auth = authorize(&caller, &broker, AdminCall::ListTransactions)?;
    let client = state.client().await?;
    let mut listed = client.list_transactions(&[]).await?;
    listed.retain(|t| {
        auth.allows(
            rill_auth::acl::AclOperation::Describe,
            rill_auth::acl::ResourceType::TransactionalId,
            &t.transactional_id,
        )
    });
    let mut described = 0;
    let mut out = Vec::with_capacity(listed.len());
    for t in listed {
        let detail = if unfinished(&t.state) && described < MAX_DESCRIBED {
            described += 1;
            client.describe_transaction(&t.transactional_id).await.ok()
        } else {
            None
        };
        out.push(TransactionRow {
            state: detail.as_ref().map_or(t.state, |d| d.state.clone()),
            producer_epoch: detail.as_ref().map(|d| d.producer_epoch),
            timeout_ms: detail.as_ref().map(|d| d.timeout_ms),
            start_time_ms: detail.as_ref().map(|d| d.start_time_ms),
            partitions: detail.as_ref().map(|d| {
                d.topics
                    .iter()
                    .flat_map(|(topic, ps)| ps.iter().map(move |p| format!("{topic}-{p}")))
                    .collect()
            }),
            producer_id: t.producer_id,
            coordinator: t.coordinator,
            transactional_id: t.transactional_id,
        });
    }
    Ok(Json(out))
}
