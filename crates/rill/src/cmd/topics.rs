//! `rill topics`: create, list, describe, delete, alter-config, add-partitions (like
//! kafka-topics.sh and kafka-configs.sh for topics).

use clap::{Args, Subcommand};
use rill_client::admin::{NewTopic, RESOURCE_TOPIC};
use rill_client::fetch::{EARLIEST, LATEST};
use rill_client::Client;
use serde_json::json;

use super::output::{ids, print_json, Table};
use super::{key_value, Global};

/// `rill topics` subcommands.
#[derive(Debug, Subcommand)]
pub enum TopicsCmd {
    /// Create a topic.
    Create {
        /// Topic name.
        topic: String,
        /// Number of partitions (default: the broker's num.partitions).
        #[arg(long, short = 'p', default_value_t = -1)]
        partitions: i32,
        /// Replication factor (default: the broker's default.replication.factor).
        #[arg(long, short = 'r', default_value_t = -1)]
        replication_factor: i16,
        /// Topic config `KEY=VALUE` (repeatable), e.g. `-c retention.ms=60000`.
        #[arg(long = "config", short = 'c')]
        configs: Vec<String>,
        /// Succeed when the topic exists already.
        #[arg(long)]
        if_not_exists: bool,
    },
    /// List topics.
    List {
        /// Include internal topics (`__consumer_offsets`).
        #[arg(long)]
        internal: bool,
    },
    /// Describe topics: configs that differ from defaults, and every partition's leader,
    /// replicas, ISR, log start and end offsets, and last stable offset (read_committed
    /// consumers read below it).
    Describe {
        /// Topics (default: all).
        topics: Vec<String>,
    },
    /// Delete topics.
    Delete {
        /// Topics.
        #[arg(required = true)]
        topics: Vec<String>,
    },
    /// Set or remove topic configs.
    AlterConfig {
        /// Topic.
        topic: String,
        /// `KEY=VALUE` to set (repeatable).
        #[arg(long = "set", short = 's')]
        set: Vec<String>,
        /// Config to delete, back to its default (repeatable).
        #[arg(long = "delete", short = 'd')]
        delete: Vec<String>,
    },
    /// Grow a topic to a total number of partitions.
    AddPartitions {
        /// Topic.
        topic: String,
        /// The new total partition count.
        #[arg(long, short = 'p')]
        partitions: i32,
    },
}

/// `rill topics ...`.
#[derive(Debug, Args)]
pub struct TopicsArgs {
    /// What to do.
    #[command(subcommand)]
    pub cmd: TopicsCmd,
}

/// Runs `rill topics`.
///
/// # Errors
/// Connection and broker errors.
pub async fn run(args: TopicsArgs, g: Global) -> anyhow::Result<()> {
    let client = g.connect().await?;
    let timeout_ms = g.request_timeout_ms as i32;
    match args.cmd {
        TopicsCmd::Create {
            topic,
            partitions,
            replication_factor,
            configs,
            if_not_exists,
        } => {
            let configs = configs
                .iter()
                .map(|c| key_value(c, "--config"))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let new = NewTopic {
                name: topic.clone(),
                partitions,
                replication_factor,
                configs,
            };
            match client.create_topic(&new, timeout_ms).await {
                Err(e) if if_not_exists && e.kafka_code() == Some(36) => {}
                r => r?,
            }
            let t = created_topic(&client, &topic).await?;
            if g.json() {
                print_json(&json!({"created": topic, "partitions": t.partitions.len()}));
            } else {
                println!(
                    "created topic {topic} with {} partitions",
                    t.partitions.len()
                );
            }
        }
        TopicsCmd::List { internal } => {
            let m = client.refresh_metadata(None).await?;
            let topics: Vec<_> = m
                .topics
                .values()
                .filter(|t| internal || !t.is_internal)
                .collect();
            if g.json() {
                let list: Vec<_> = topics
                    .iter()
                    .map(|t| json!({"name": t.name, "partitions": t.partitions.len(), "replication_factor": t.partitions.first().map_or(0, |p| p.replicas.len()), "internal": t.is_internal}))
                    .collect();
                print_json(&json!(list));
            } else {
                let mut table = Table::new(&["TOPIC", "PARTITIONS", "REPLICAS"]);
                for t in topics {
                    let rf = t.partitions.first().map_or(0, |p| p.replicas.len());
                    table.row(vec![
                        t.name.clone(),
                        t.partitions.len().to_string(),
                        rf.to_string(),
                    ]);
                }
                table.print();
            }
        }
        TopicsCmd::Describe { topics } => describe(&client, topics, &g).await?,
        TopicsCmd::Delete { topics } => {
            client.delete_topics(&topics, timeout_ms).await?;
            if g.json() {
                print_json(&json!({"deleted": topics}));
            } else {
                for t in topics {
                    println!("deleted topic {t}");
                }
            }
        }
        TopicsCmd::AlterConfig { topic, set, delete } => {
            if set.is_empty() && delete.is_empty() {
                anyhow::bail!("nothing to change: give --set KEY=VALUE and/or --delete KEY");
            }
            let set = set
                .iter()
                .map(|c| key_value(c, "--set"))
                .collect::<anyhow::Result<Vec<_>>>()?;
            client.alter_topic_configs(&topic, &set, &delete).await?;
            if g.json() {
                print_json(&json!({"altered": topic}));
            } else {
                println!("altered configs of topic {topic}");
            }
        }
        TopicsCmd::AddPartitions { topic, partitions } => {
            client
                .create_partitions(&topic, partitions, timeout_ms)
                .await?;
            if g.json() {
                print_json(&json!({"topic": topic, "partitions": partitions}));
            } else {
                println!("topic {topic} now has {partitions} partitions");
            }
        }
    }
    Ok(())
}

/// The topic just created: in a cluster the broker asked may not have applied the creation
/// yet, so an unknown topic is asked for again for a few seconds.
async fn created_topic(
    client: &Client,
    topic: &str,
) -> anyhow::Result<rill_client::metadata::TopicInfo> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match client.topic(topic, true).await {
            Err(rill_client::ClientError::UnknownTopic { .. })
                if tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            r => return Ok(r?),
        }
    }
}

async fn describe(client: &Client, topics: Vec<String>, g: &Global) -> anyhow::Result<()> {
    let names = if topics.is_empty() {
        client
            .refresh_metadata(None)
            .await?
            .topics
            .into_values()
            .filter(|t| !t.is_internal)
            .map(|t| t.name)
            .collect()
    } else {
        topics
    };
    let mut docs = Vec::new();
    for name in names {
        let t = client.topic(&name, true).await?;
        let parts: Vec<i32> = t.partitions.iter().map(|p| p.partition).collect();
        let starts = client
            .list_offsets(
                &name,
                &parts.iter().map(|&p| (p, EARLIEST)).collect::<Vec<_>>(),
            )
            .await?;
        let latest: Vec<(i32, i64)> = parts.iter().map(|&p| (p, LATEST)).collect();
        let ends = client.list_offsets(&name, &latest).await?;
        // The last stable offset: read_committed consumers read below it.
        let stable = client.list_offsets_committed(&name, &latest).await?;
        let configs = shown_configs(client.describe_configs(RESOURCE_TOPIC, &name).await?);
        if g.json() {
            docs.push(json!({
                "name": name,
                "internal": t.is_internal,
                "configs": configs.iter().map(|c| (c.name.clone(), json!(c.value))).collect::<serde_json::Map<_, _>>(),
                "partitions": t.partitions.iter().map(|p| json!({
                    "partition": p.partition, "leader": p.leader, "leader_epoch": p.leader_epoch,
                    "replicas": p.replicas, "isr": p.isr,
                    "log_start_offset": starts.get(&p.partition), "log_end_offset": ends.get(&p.partition),
                    "last_stable_offset": stable.get(&p.partition),
                })).collect::<Vec<_>>(),
            }));
            continue;
        }
        let cfg = configs
            .iter()
            .map(|c| format!("{}={}", c.name, c.value.as_deref().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(",");
        println!(
            "Topic: {name}  Partitions: {}  ReplicationFactor: {}  Configs: {cfg}",
            t.partitions.len(),
            t.partitions.first().map_or(0, |p| p.replicas.len())
        );
        let mut table = Table::new(&[
            "PARTITION",
            "LEADER",
            "REPLICAS",
            "ISR",
            "LOG-START",
            "LOG-END",
            "LAST-STABLE",
        ]);
        for p in &t.partitions {
            let off = |m: &std::collections::BTreeMap<i32, i64>| {
                m.get(&p.partition).map_or("-".into(), i64::to_string)
            };
            table.row(vec![
                p.partition.to_string(),
                p.leader.to_string(),
                ids(&p.replicas),
                ids(&p.isr),
                off(&starts),
                off(&ends),
                off(&stable),
            ]);
        }
        table.print();
    }
    if g.json() {
        print_json(&json!(docs));
    }
    Ok(())
}

/// The configs `describe` shows: those set on the topic, and always the cleanup policy (with
/// the dirty ratio that starts cleaning when the topic is compacted).
fn shown_configs(
    all: Vec<rill_client::admin::ConfigEntry>,
) -> Vec<rill_client::admin::ConfigEntry> {
    let compacted = all.iter().any(|c| {
        c.name == "cleanup.policy" && c.value.as_deref().is_some_and(|v| v.contains("compact"))
    });
    all.into_iter()
        .filter(|c| {
            c.source == "DYNAMIC_TOPIC_CONFIG"
                || c.name == "cleanup.policy"
                || (compacted && c.name == "min.cleanable.dirty.ratio")
        })
        .collect()
}
