//! Section 3 of `rill-bench kafka`: three `rill serve` nodes on this machine (each broker and
//! controller), topics with replication factor 3, produce at acks=all on 1 and 12 partitions
//! (unlimited, then at half the peak), one consumer, and each node's memory. A broker that
//! refuses replication factor 3 (INVALID_REPLICATION_FACTOR, before replication exists) makes
//! the section print "skipped" with the reason.

use super::broker_proc::BrokerProc;
use super::produce::{self, CreateError};
use super::report::{Results, Rss, CLUSTER};
use super::{fill_and_consume, produce_pair, progress, topic_name, Plan};
use anyhow::{Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use std::path::Path;
use std::time::{Duration, Instant};

/// Nodes in the cluster.
const NODES: usize = 3;

/// Labels of the nodes' memory rows.
const NODE_LABELS: [&str; NODES] = ["cluster node 1", "cluster node 2", "cluster node 3"];

/// Runs section 3 into `res.cluster` and `res.produce` (rows labelled [`CLUSTER`]).
pub fn run(res: &mut Results, plan: &Plan, rill: &Path, base: &Path) -> Result<()> {
    progress("starting 3 rill nodes (rf=3)");
    let nodes = match BrokerProc::start_cluster(rill, base, NODES, &[]) {
        Ok(nodes) => nodes,
        Err(e) => {
            res.cluster.skipped = Some(format!("the cluster did not start: {e:#}"));
            return Ok(());
        }
    };
    let bootstrap = nodes
        .iter()
        .map(|n| n.bootstrap.as_str())
        .collect::<Vec<_>>()
        .join(",");
    if let Err(e) = wait_for_brokers(&bootstrap, NODES, Duration::from_secs(60)) {
        res.cluster.skipped = Some(format!("the cluster did not form: {e:#}"));
        return Ok(());
    }
    let idle: Vec<f64> = nodes
        .iter()
        .map(BrokerProc::peak_rss_mib)
        .collect::<Result<_>>()?;
    for parts in [1, 12] {
        let topic = topic_name("rf3", parts);
        match produce::create_replicated_topic(&bootstrap, &topic, parts, NODES as i32) {
            Ok(()) => {}
            Err(CreateError::ReplicationFactor(why)) => {
                res.cluster.skipped = Some(why);
                return Ok(());
            }
            Err(CreateError::Other(e)) => return Err(e),
        }
        produce_pair(
            res,
            plan,
            CLUSTER,
            &bootstrap,
            &topic,
            "group commit",
            "all",
            parts,
        )?;
    }
    let topic = topic_name("rf3-consume", 1);
    match produce::create_consume_topic(&bootstrap, &topic, NODES as i32) {
        Ok(()) => {
            res.cluster.consume = Some(fill_and_consume(res, plan, &bootstrap, &topic, true)?)
        }
        Err(CreateError::ReplicationFactor(why)) => res.cluster.skipped = Some(why),
        Err(CreateError::Other(e)) => return Err(e),
    }
    for ((node, idle_mib), label) in nodes.iter().zip(idle).zip(NODE_LABELS) {
        res.cluster.rss.push(Rss {
            label,
            idle_mib,
            after_mib: node.peak_rss_mib()?,
        });
    }
    Ok(())
}

/// Waits until the cluster's metadata lists `n` brokers.
fn wait_for_brokers(bootstrap: &str, n: usize, limit: Duration) -> Result<()> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .context("create a metadata client")?;
    let deadline = Instant::now() + limit;
    let mut seen = 0;
    while Instant::now() < deadline {
        if let Ok(m) = consumer.fetch_metadata(None, Duration::from_secs(5)) {
            seen = m.brokers().len();
            if seen >= n {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    anyhow::bail!("metadata lists {seen} of {n} brokers after {limit:?}")
}
