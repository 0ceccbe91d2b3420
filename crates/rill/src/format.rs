//! `rill format`: write `meta.properties` (cluster id and node id) into a node's data
//! directory before its first start, like `kafka-storage.sh format`, so a multi-node cluster
//! starts without `cluster.id` in any config. `rill format --random-uuid` prints a new
//! cluster id (`kafka-storage.sh random-uuid`). `--add-scram` adds SCRAM users that exist from
//! the first start ([`rill_broker::metadata::bootstrap`] says where they are kept).
//!
//! A directory already formatted for the same cluster and node is an error unless
//! `--ignore-formatted`; one formatted for another cluster or node is always an error (the
//! same check `rill serve` makes at start).

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use rill_broker::metadata::bootstrap::write_format_records;
use rill_broker::metadata::{
    new_cluster_id, read_meta_properties, validate_cluster_id, write_meta_properties,
};
use rill_broker::BrokerConfig;

/// Flags of `rill format`.
#[derive(Debug, Args)]
pub struct FormatArgs {
    /// The cluster's id (22 characters; `rill format --random-uuid` makes one).
    #[arg(
        long,
        short = 't',
        value_name = "ID",
        required_unless_present = "random_uuid",
        allow_hyphen_values = true
    )]
    cluster_id: Option<String>,
    /// Print a new random cluster id and exit.
    #[arg(long, conflicts_with_all = ["cluster_id", "node_id", "config", "overrides", "data_dir"])]
    random_uuid: bool,
    /// This node's id (default: `node.id` of the config).
    #[arg(long, value_name = "N")]
    node_id: Option<i32>,
    /// The node's server.properties (its `log.dirs` is formatted).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Set a config with Kafka's name (repeatable; wins over the file).
    #[arg(long = "override", short = 'o', value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Shortcut for `--override log.dirs=DIR`.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Succeed when the directory is already formatted for this cluster and node.
    #[arg(long, short = 'g')]
    ignore_formatted: bool,
    /// A SCRAM user that exists from the first start, Kafka's syntax:
    /// `SCRAM-SHA-256=[name=alice,password=alice-secret]` (also `iterations=`, `salt=`);
    /// repeatable.
    #[arg(
        long = "add-scram",
        short = 'S',
        value_name = "MECHANISM=[name=...,password=...]"
    )]
    add_scram: Vec<String>,
}

/// Runs `rill format`.
///
/// # Errors
/// A bad cluster id or config, a directory formatted already (for another cluster or node,
/// or at all without `--ignore-formatted`), I/O errors.
pub fn run(args: FormatArgs) -> anyhow::Result<()> {
    if args.random_uuid {
        println!("{}", new_cluster_id());
        return Ok(());
    }
    let Some(cluster_id) = args.cluster_id else {
        bail!("--cluster-id is required (or --random-uuid to make one)");
    };
    validate_cluster_id(&cluster_id).map_err(|e| anyhow::anyhow!("--cluster-id: {e}"))?;
    let mut pairs = crate::serve::config_pairs_of(
        args.config.as_deref(),
        &args.overrides,
        None,
        args.data_dir.as_deref(),
    )?;
    if let Some(n) = args.node_id {
        pairs.push(("node.id".into(), n.to_string()));
    }
    let config = BrokerConfig::from_pairs(pairs, |w| eprintln!("rill: warning: {w}"))?;
    let users = args
        .add_scram
        .iter()
        .map(|a| crate::format_scram::parse_add_scram(a))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let Some(configured) = &config.cluster.cluster_id {
        if *configured != cluster_id {
            bail!("the config says cluster.id={configured} but --cluster-id is {cluster_id}");
        }
    }
    let dir = &config.log_dir;
    let node_id = config.node_id;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    match read_meta_properties(dir)? {
        Some(p) if p.cluster_id == cluster_id && p.node_id == node_id => {
            if !args.ignore_formatted {
                bail!(
                    "{} is already formatted for cluster {cluster_id}, node {node_id} \
                     (--ignore-formatted accepts that)",
                    dir.display()
                );
            }
            println!(
                "{} already formatted for cluster {cluster_id}, node {node_id}",
                dir.display()
            );
            return Ok(());
        }
        Some(p) => bail!(
            "{} is already formatted for cluster {}, node {}; refusing to format it for \
             cluster {cluster_id}, node {node_id} (use an empty directory)",
            dir.display(),
            p.cluster_id,
            p.node_id
        ),
        None => {}
    }
    // Records first: meta.properties marks the directory formatted.
    let quorum = config.cluster.is_quorum();
    let user_count = users.len();
    write_format_records(dir, quorum, users)?;
    write_meta_properties(dir, &cluster_id, node_id)?;
    if user_count > 0 {
        let place = if quorum {
            "proposed with the cluster's creation"
        } else {
            "in the metadata log"
        };
        println!("{user_count} SCRAM credential(s) {place}");
    }
    println!(
        "formatted {} for cluster {cluster_id}, node {node_id}",
        dir.display()
    );
    Ok(())
}
