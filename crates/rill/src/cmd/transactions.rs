//! `rill transactions`: list the transactional ids every broker coordinates, and describe
//! one (state, producer id and epoch, timeout, start time, partitions of the ongoing
//! transaction), like kafka-transactions.sh.

use clap::{Args, Subcommand};
use serde_json::json;

use super::output::{print_json, Table};
use super::Global;

/// `rill transactions` subcommands.
#[derive(Debug, Subcommand)]
pub enum TransactionsCmd {
    /// List transactional ids with their producer id, state and coordinator.
    List {
        /// Only these states (Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit,
        /// CompleteAbort, PrepareEpochFence, Dead); repeatable.
        #[arg(long = "state")]
        states: Vec<String>,
    },
    /// Describe one transactional id.
    Describe {
        /// The transactional id.
        transactional_id: String,
    },
}

/// `rill transactions ...`.
#[derive(Debug, Args)]
pub struct TransactionsArgs {
    /// What to do.
    #[command(subcommand)]
    pub cmd: TransactionsCmd,
}

/// Runs `rill transactions`.
///
/// # Errors
/// Connection and broker errors.
pub async fn run(args: TransactionsArgs, g: Global) -> anyhow::Result<()> {
    let client = g.connect().await?;
    match args.cmd {
        TransactionsCmd::List { states } => {
            let list = client.list_transactions(&states).await?;
            if g.json() {
                let rows: Vec<_> = list
                    .iter()
                    .map(|t| json!({"transactional_id": t.transactional_id, "producer_id": t.producer_id, "state": t.state, "coordinator": t.coordinator}))
                    .collect();
                print_json(&json!(rows));
            } else {
                let mut t =
                    Table::new(&["TRANSACTIONAL-ID", "PRODUCER-ID", "STATE", "COORDINATOR"]);
                for x in list {
                    t.row(vec![
                        x.transactional_id,
                        x.producer_id.to_string(),
                        x.state,
                        x.coordinator.to_string(),
                    ]);
                }
                t.print();
            }
        }
        TransactionsCmd::Describe { transactional_id } => {
            let d = client.describe_transaction(&transactional_id).await?;
            if g.json() {
                let topics: Vec<_> = d
                    .topics
                    .iter()
                    .map(|(t, p)| json!({"topic": t, "partitions": p}))
                    .collect();
                print_json(&json!({
                    "transactional_id": d.transactional_id,
                    "state": d.state,
                    "producer_id": d.producer_id,
                    "producer_epoch": d.producer_epoch,
                    "timeout_ms": d.timeout_ms,
                    "start_time_ms": d.start_time_ms,
                    "topics": topics,
                }));
            } else {
                let parts: Vec<String> = d
                    .topics
                    .iter()
                    .flat_map(|(t, ps)| ps.iter().map(move |p| format!("{t}-{p}")))
                    .collect();
                let mut t = Table::new(&[
                    "TRANSACTIONAL-ID",
                    "STATE",
                    "PRODUCER-ID",
                    "EPOCH",
                    "TIMEOUT-MS",
                    "START-MS",
                    "PARTITIONS",
                ]);
                t.row(vec![
                    d.transactional_id,
                    d.state,
                    d.producer_id.to_string(),
                    d.producer_epoch.to_string(),
                    d.timeout_ms.to_string(),
                    d.start_time_ms.to_string(),
                    if parts.is_empty() {
                        "-".into()
                    } else {
                        parts.join(",")
                    },
                ]);
                t.print();
            }
        }
    }
    Ok(())
}
