//! `rill quotas`: describe and alter client quotas (what `kafka-configs.sh --describe /
//! --alter --entity-type users|clients` does for `producer_byte_rate`, `consumer_byte_rate`,
//! `request_percentage` and `controller_mutation_rate`), through DescribeClientQuotas and
//! AlterClientQuotas.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use rill_client::client_quotas::{QuotaEntity, QuotaMatch};
use serde_json::json;

use super::output::{print_json, Table};
use super::Global;

/// The entity flags (a user, a client id, or both; each named or the default).
#[derive(Debug, Args, Default, Clone)]
pub struct EntityArgs {
    /// A user (the principal's name, `alice` for `User:alice`).
    #[arg(long, conflicts_with = "user_default")]
    user: Option<String>,
    /// The default user quota (every user without one of its own).
    #[arg(long)]
    user_default: bool,
    /// A client id.
    #[arg(long, conflicts_with = "client_default")]
    client_id: Option<String>,
    /// The default client-id quota.
    #[arg(long)]
    client_default: bool,
}

impl EntityArgs {
    /// The entity named, as (type, name) parts.
    fn entity(&self) -> QuotaEntity {
        let mut out = Vec::new();
        if self.user.is_some() || self.user_default {
            out.push(("user".to_string(), self.user.clone()));
        }
        if self.client_id.is_some() || self.client_default {
            out.push(("client-id".to_string(), self.client_id.clone()));
        }
        out
    }
}

/// `rill quotas` subcommands.
#[derive(Debug, Subcommand)]
pub enum QuotasCmd {
    /// Show quotas: every entity's, or those of the entity named (and the entities that
    /// include it, such as a user's per-client quotas).
    Describe {
        /// Which entity.
        #[command(flatten)]
        entity: EntityArgs,
    },
    /// Set or remove quotas of one entity.
    Alter {
        /// Which entity.
        #[command(flatten)]
        entity: EntityArgs,
        /// Quotas to set: `key=value[,key=value]` (producer_byte_rate=1048576).
        #[arg(long = "add")]
        add: Vec<String>,
        /// Quotas to remove: `key[,key]`.
        #[arg(long = "delete")]
        delete: Vec<String>,
        /// Check only; change nothing.
        #[arg(long)]
        validate_only: bool,
    },
}

/// `rill quotas ...`.
#[derive(Debug, Args)]
pub struct QuotasArgs {
    /// What to do.
    #[command(subcommand)]
    pub cmd: QuotasCmd,
}

/// An entity as `user=alice, client-id=<default>`.
fn entity_text(entity: &QuotaEntity) -> String {
    entity
        .iter()
        .map(|(t, n)| format!("{t}={}", n.as_deref().unwrap_or("<default>")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The operations of `--add` and `--delete`.
///
/// # Errors
/// A `--add` item without `=` or with a value that is not a number; nothing to do.
fn ops(add: &[String], delete: &[String]) -> anyhow::Result<Vec<(String, Option<f64>)>> {
    let mut out = Vec::new();
    for item in add.iter().flat_map(|a| a.split(',')) {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let Some((k, v)) = item.split_once('=') else {
            bail!("--add takes key=value, not '{item}'");
        };
        let value: f64 = v
            .trim()
            .parse()
            .with_context(|| format!("the value of {k} must be a number, not '{v}'"))?;
        out.push((k.trim().to_string(), Some(value)));
    }
    for k in delete.iter().flat_map(|d| d.split(',')) {
        if !k.trim().is_empty() {
            out.push((k.trim().to_string(), None));
        }
    }
    if out.is_empty() {
        bail!("nothing to change: give --add key=value or --delete key");
    }
    Ok(out)
}

/// Runs `rill quotas`.
///
/// # Errors
/// Bad flags, connection and broker errors (INVALID_REQUEST, CLUSTER_AUTHORIZATION_FAILED).
pub async fn run(args: QuotasArgs, g: Global) -> anyhow::Result<()> {
    match args.cmd {
        QuotasCmd::Describe { entity } => {
            let components: Vec<(String, QuotaMatch)> = entity
                .entity()
                .into_iter()
                .map(|(t, n)| {
                    let m = match n {
                        Some(n) => QuotaMatch::Exact(Some(n)),
                        None => QuotaMatch::Default,
                    };
                    (t, m)
                })
                .collect();
            let client = g.connect().await?;
            let entries = client.describe_client_quotas(&components, false).await?;
            if g.json() {
                let rows: Vec<_> = entries
                    .iter()
                    .map(|(e, values)| {
                        let entity: serde_json::Map<String, serde_json::Value> =
                            e.iter().map(|(t, n)| (t.clone(), json!(n))).collect();
                        let quotas: serde_json::Map<String, serde_json::Value> =
                            values.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                        json!({"entity": entity, "quotas": quotas})
                    })
                    .collect();
                print_json(&json!(rows));
            } else {
                let mut t = Table::new(&["ENTITY", "QUOTA", "VALUE"]);
                for (e, values) in entries {
                    for (k, v) in values {
                        t.row(vec![entity_text(&e), k, v.to_string()]);
                    }
                }
                t.print();
            }
        }
        QuotasCmd::Alter {
            entity,
            add,
            delete,
            validate_only,
        } => {
            let e = entity.entity();
            if e.is_empty() {
                bail!("name an entity: --user NAME, --user-default, --client-id ID or --client-default");
            }
            let ops = ops(&add, &delete)?;
            let client = g.connect().await?;
            client.alter_client_quotas(&e, &ops, validate_only).await?;
            if !g.json() {
                let verb = if validate_only {
                    "would alter"
                } else {
                    "altered"
                };
                println!("{verb} the quotas of {}", entity_text(&e));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_delete_items_become_ops() {
        let got = ops(
            &["producer_byte_rate=1048576,consumer_byte_rate=2e6".into()],
            &["request_percentage".into()],
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                ("producer_byte_rate".to_string(), Some(1_048_576.0)),
                ("consumer_byte_rate".to_string(), Some(2e6)),
                ("request_percentage".to_string(), None),
            ]
        );
        assert!(ops(&["producer_byte_rate".into()], &[]).is_err());
        assert!(ops(&["producer_byte_rate=fast".into()], &[]).is_err());
        assert!(ops(&[], &[]).is_err());
    }
}
