//! Scripted runs: exact fault schedules for histories random faults reach too rarely, run
//! through the same simulated cluster (real replication code, same checker).

use rill_meta::MetadataRecord;

use crate::replication_sim::config::SimConfig;
use crate::replication_sim::faults::both_ways;
use crate::replication_sim::msg::{NodeId, CONTROLLER};
use crate::replication_sim::world::{ctx, Script, World, FAULTS, TOPIC, TOPIC_ID};

/// Partition 0's leader, then its other replicas in the order an election tries them.
fn roles(w: &World) -> (NodeId, NodeId, NodeId) {
    let p = w
        .controller
        .image
        .topic(TOPIC)
        .map(|t| t.partition_states[0].clone())
        .expect("partition 0");
    let others: Vec<NodeId> = p
        .replicas
        .iter()
        .copied()
        .filter(|r| *r != p.leader)
        .collect();
    (p.leader, others[0], others[1])
}

/// Cuts `links` until [`heal`] (or the calm phase).
fn cut(w: &mut World, what: String, links: Vec<(NodeId, NodeId)>) {
    let id = w.faults.id();
    ctx!(w).log(FAULTS, format!("script: {what}"));
    w.net.cut(id, links);
}

fn heal(w: &mut World) {
    ctx!(w).log(FAULTS, "script: every link restored");
    w.net.heal();
}

fn mark(w: &World, name: &str) -> NodeId {
    w.marks[name]
}

fn one_partition(c: &mut SimConfig) {
    c.brokers = 3;
    c.partitions = 1;
    c.lag_max_ms = 1000;
    c.session_ms = 1500;
    c.heartbeat_ms = 100;
    c.fetch_max_wait_ms = 100;
    c.request_timeout_ms = 1000;
    c.fetch_backoff_ms = 100;
    c.propose_wait_ms = 1000;
    c.produce_timeout_ms = 1500;
    c.chaos_ms = 12_000;
}

/// Not the replication rules: partition 0's first follower is cut off from the other
/// brokers; once it left the ISR and more was acknowledged, it is made leader anyway (an
/// unclean election). The checker must report lost acknowledged batches.
pub static UNCLEAN_ELECTION: Script = Script {
    name: "unclean election (sabotage)",
    config: one_partition,
    steps: &[
        (1_000, |w| {
            let (_, f1, _) = roles(w);
            w.marks.insert("victim", f1);
            let all: Vec<NodeId> = w.brokers.keys().copied().collect();
            cut(
                w,
                format!("b{f1} cut off from the other brokers"),
                both_ways(f1, &all),
            );
        }),
        (5_000, |w| {
            let victim = mark(w, "victim");
            ctx!(w).log(FAULTS, format!("script: unclean election of b{victim}"));
            let records = vec![MetadataRecord::PartitionChanged {
                topic_id: TOPIC_ID,
                partition: 0,
                replicas: None,
                isr: Some(vec![victim]),
                leader: Some(victim),
            }];
            w.controller.commit(records, ctx!(w));
            heal(w);
        }),
    ],
};

/// The leader's ISR expansion commits but the answer never reaches it (the controller's
/// link to it is cut): the new member must keep holding the high watermark back, or the
/// leader acknowledges batches the new member lacks, and the new member, first in line at
/// the next election, loses them.
pub static EXPANSION_UNANSWERED: Script = Script {
    name: "ISR expansion committed but unanswered",
    config: one_partition,
    steps: &[
        (1_000, |w| {
            let (l, f1, f2) = roles(w);
            w.marks.insert("leader", l);
            w.marks.insert("joiner", f1);
            w.marks.insert("other", f2);
            cut(
                w,
                format!("b{f1} cut off from the leader b{l}"),
                both_ways(f1, &[l]),
            );
        }),
        (3_000, |w| {
            let (l, f1) = (mark(w, "leader"), mark(w, "joiner"));
            heal(w);
            cut(
                w,
                format!("b{f1} back; the controller's link to b{l} cut (one way)"),
                vec![(CONTROLLER, l)],
            );
        }),
        (5_000, |w| {
            let (l, f1) = (mark(w, "leader"), mark(w, "joiner"));
            cut(
                w,
                format!("b{f1} cut off from the leader again"),
                both_ways(f1, &[l]),
            );
        }),
        (5_500, |w| {
            let l = mark(w, "leader");
            cut(
                w,
                format!("b{l} cut off from the controller"),
                vec![(l, CONTROLLER)],
            );
        }),
        (10_000, heal),
    ],
};
