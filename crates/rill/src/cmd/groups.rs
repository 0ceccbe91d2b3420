//! `rill groups`: list, describe (members, assignments, committed offset, end offset and lag
//! per partition), reset-offsets (dry run unless `--execute`) and delete, like
//! kafka-consumer-groups.sh.

use std::collections::{BTreeMap, BTreeSet};

use clap::{Args, Subcommand};
use rill_client::fetch::{EARLIEST, LATEST};
use rill_client::groups::{CommittedOffsets, GroupDescription};
use rill_client::Client;
use serde_json::json;

use super::output::{print_json, Table};
use super::Global;

/// `rill groups` subcommands.
#[derive(Debug, Subcommand)]
pub enum GroupsCmd {
    /// List groups.
    List,
    /// Describe a group: state, members, and per partition the committed offset, the log end
    /// offset and the lag.
    Describe {
        /// Group id.
        group: String,
    },
    /// Move a group's committed offsets (the group must have no active members). Prints the
    /// plan; applies it only with --execute.
    ResetOffsets {
        /// Group id.
        group: String,
        /// Topic whose offsets to move.
        #[arg(long, short = 't')]
        topic: String,
        /// Only this partition.
        #[arg(long, short = 'p')]
        partition: Option<i32>,
        /// To the log start offset.
        #[arg(long, group = "to")]
        to_earliest: bool,
        /// To the log end offset.
        #[arg(long, group = "to")]
        to_latest: bool,
        /// To this offset.
        #[arg(long, group = "to")]
        to_offset: Option<i64>,
        /// To the first offset with a timestamp at or after this time (ms since epoch).
        #[arg(long, group = "to")]
        to_timestamp: Option<i64>,
        /// Apply the plan (without it this is a dry run).
        #[arg(long)]
        execute: bool,
    },
    /// Delete groups (they must have no members).
    Delete {
        /// Group ids.
        #[arg(required = true)]
        groups: Vec<String>,
    },
}

/// `rill groups ...`.
#[derive(Debug, Args)]
pub struct GroupsArgs {
    /// What to do.
    #[command(subcommand)]
    pub cmd: GroupsCmd,
}

/// Runs `rill groups`.
///
/// # Errors
/// Connection and broker errors.
pub async fn run(args: GroupsArgs, g: Global) -> anyhow::Result<()> {
    let client = g.connect().await?;
    match args.cmd {
        GroupsCmd::List => {
            let groups = client.list_groups().await?;
            if g.json() {
                let list: Vec<_> = groups.iter().map(|x| json!({"group": x.group_id, "protocol_type": x.protocol_type, "state": x.state})).collect();
                print_json(&json!(list));
            } else {
                let mut t = Table::new(&["GROUP", "PROTOCOL-TYPE", "STATE"]);
                for x in groups {
                    t.row(vec![
                        x.group_id,
                        x.protocol_type,
                        x.state.unwrap_or_else(|| "-".into()),
                    ]);
                }
                t.print();
            }
        }
        GroupsCmd::Describe { group } => describe(&client, &group, &g).await?,
        GroupsCmd::ResetOffsets {
            group,
            topic,
            partition,
            to_earliest,
            to_latest,
            to_offset,
            to_timestamp,
            execute,
        } => {
            let spec = match (to_earliest, to_latest, to_offset, to_timestamp) {
                (true, _, _, _) => Target::Spec(EARLIEST),
                (_, true, _, _) => Target::Spec(LATEST),
                (_, _, Some(o), _) => Target::Offset(o),
                (_, _, _, Some(ts)) => Target::Spec(ts),
                _ => anyhow::bail!(
                    "say where to: --to-earliest, --to-latest, --to-offset N or --to-timestamp MS"
                ),
            };
            reset(&client, &group, &topic, partition, spec, execute, &g).await?;
        }
        GroupsCmd::Delete { groups } => {
            client.delete_groups(&groups).await?;
            if g.json() {
                print_json(&json!({"deleted": groups}));
            } else {
                for x in groups {
                    println!("deleted group {x}");
                }
            }
        }
    }
    Ok(())
}

/// Where reset-offsets moves to.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// A ListOffsets spec: EARLIEST, LATEST or a timestamp.
    Spec(i64),
    /// A fixed offset (clamped into the log).
    Offset(i64),
}

async fn describe(client: &Client, group: &str, g: &Global) -> anyhow::Result<()> {
    let desc = client.describe_group(group).await?;
    let committed = client.committed_offsets(group, None).await?;
    if desc.state == "Dead" && committed.is_empty() {
        return Err(rill_client::ClientError::Kafka {
            context: format!("describe group '{group}'"),
            code: 69,
            message: Some("no such group (no members, no committed offsets)".into()),
        }
        .into());
    }
    let mut owner: BTreeMap<(String, i32), String> = BTreeMap::new();
    for m in &desc.members {
        for (t, ps) in &m.assignment {
            for p in ps {
                owner.insert((t.clone(), *p), m.member_id.clone());
            }
        }
    }
    let keys: BTreeSet<(String, i32)> = committed
        .keys()
        .cloned()
        .chain(owner.keys().cloned())
        .collect();
    let ends = end_offsets(client, &keys).await?;
    let rows: Vec<_> = keys
        .iter()
        .map(|k| {
            let current = committed.get(k).copied();
            let end = ends.get(k).copied();
            let lag = match (current, end) {
                (Some(c), Some(e)) => Some((e - c).max(0)),
                _ => None,
            };
            (k, current, end, lag, owner.get(k).cloned())
        })
        .collect();
    if g.json() {
        print_json(&json!({
            "group": desc.group_id, "state": desc.state, "protocol_type": desc.protocol_type, "protocol": desc.protocol,
            "members": desc.members.iter().map(|m| json!({"member_id": m.member_id, "client_id": m.client_id, "host": m.client_host, "assignment": m.assignment})).collect::<Vec<_>>(),
            "offsets": rows.iter().map(|(k, c, e, l, o)| json!({"topic": k.0, "partition": k.1, "committed_offset": c, "log_end_offset": e, "lag": l, "member_id": o})).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    print_members(&desc);
    let mut t = Table::new(&[
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
    ]);
    let dash = |v: Option<i64>| v.map_or("-".into(), |x| x.to_string());
    for (k, c, e, l, o) in rows {
        t.row(vec![
            k.0.clone(),
            k.1.to_string(),
            dash(c),
            dash(e),
            dash(l),
            o.unwrap_or_else(|| "-".into()),
        ]);
    }
    t.print();
    Ok(())
}

fn print_members(desc: &GroupDescription) {
    println!(
        "Group: {}  State: {}  Protocol: {} {}  Members: {}",
        desc.group_id,
        desc.state,
        desc.protocol_type,
        desc.protocol,
        desc.members.len()
    );
    if desc.members.is_empty() {
        return;
    }
    let mut t = Table::new(&["MEMBER-ID", "CLIENT-ID", "HOST", "ASSIGNMENT"]);
    for m in &desc.members {
        let a = m
            .assignment
            .iter()
            .map(|(t, ps)| format!("{t}:{}", super::output::ids(ps)))
            .collect::<Vec<_>>()
            .join(" ");
        t.row(vec![
            m.member_id.clone(),
            m.client_id.clone(),
            m.client_host.clone(),
            a,
        ]);
    }
    t.print();
    println!();
}

async fn end_offsets(
    client: &Client,
    keys: &BTreeSet<(String, i32)>,
) -> anyhow::Result<BTreeMap<(String, i32), i64>> {
    let mut by_topic: BTreeMap<&str, Vec<(i32, i64)>> = BTreeMap::new();
    for (t, p) in keys {
        by_topic.entry(t).or_default().push((*p, LATEST));
    }
    let mut out = BTreeMap::new();
    for (t, specs) in by_topic {
        match client.list_offsets(t, &specs).await {
            Ok(m) => out.extend(m.into_iter().map(|(p, o)| ((t.to_string(), p), o))),
            Err(e) => eprintln!("rill: warning: end offsets of {t}: {e}"),
        }
    }
    Ok(out)
}

async fn reset(
    client: &Client,
    group: &str,
    topic: &str,
    partition: Option<i32>,
    target: Target,
    execute: bool,
    g: &Global,
) -> anyhow::Result<()> {
    let desc = client.describe_group(group).await?;
    if execute && !desc.members.is_empty() {
        anyhow::bail!("group '{group}' has {} active members (state {}); stop its consumers before resetting offsets", desc.members.len(), desc.state);
    }
    let t = client.topic(topic, true).await?;
    let parts: Vec<i32> = match partition {
        Some(p) => vec![client.partition(topic, p, false).await?.partition],
        None => t.partitions.iter().map(|p| p.partition).collect(),
    };
    let starts = client
        .list_offsets(
            topic,
            &parts.iter().map(|&p| (p, EARLIEST)).collect::<Vec<_>>(),
        )
        .await?;
    let ends = client
        .list_offsets(
            topic,
            &parts.iter().map(|&p| (p, LATEST)).collect::<Vec<_>>(),
        )
        .await?;
    let chosen = match target {
        Target::Spec(spec) => {
            client
                .list_offsets(topic, &parts.iter().map(|&p| (p, spec)).collect::<Vec<_>>())
                .await?
        }
        Target::Offset(o) => parts.iter().map(|&p| (p, o)).collect(),
    };
    let current = client
        .committed_offsets(group, Some(&[(topic.to_string(), parts.clone())]))
        .await?;
    let mut plan: CommittedOffsets = BTreeMap::new();
    for p in &parts {
        let start = starts.get(p).copied().unwrap_or(0);
        let end = ends.get(p).copied().unwrap_or(start);
        // A timestamp after the last record resolves to -1: Kafka's tool then uses the end.
        let want = chosen.get(p).copied().filter(|o| *o >= 0).unwrap_or(end);
        plan.insert((topic.to_string(), *p), want.clamp(start, end));
    }
    if execute {
        client.commit_offsets(group, -1, "", &plan).await?;
    }
    if g.json() {
        let rows: Vec<_> = plan.iter().map(|((t, p), o)| json!({"topic": t, "partition": p, "previous_offset": current.get(&(t.clone(), *p)), "new_offset": o})).collect();
        print_json(&json!({"group": group, "executed": execute, "offsets": rows}));
    } else {
        let mut table = Table::new(&["TOPIC", "PARTITION", "PREVIOUS-OFFSET", "NEW-OFFSET"]);
        for ((t, p), o) in &plan {
            let prev = current
                .get(&(t.clone(), *p))
                .map_or("-".into(), i64::to_string);
            table.row(vec![t.clone(), p.to_string(), prev, o.to_string()]);
        }
        table.print();
        if !execute {
            println!("(dry run: nothing changed; add --execute to apply)");
        }
    }
    Ok(())
}
