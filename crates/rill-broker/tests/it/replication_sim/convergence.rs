//! The end-of-run checks, after the calm phase (every broker running, every link healed,
//! the client stopped for the last 5 s): each partition has a leader, every replica is
//! back in the ISR with the leader's log byte for byte and the leader's high watermark at
//! the log end, every acknowledged batch is in the leader's log at its offset, and the
//! client was acknowledged something once the faults stopped.

use std::collections::BTreeMap;

use crate::replication_sim::checker::{batches, Checker};
use crate::replication_sim::world::{World, TOPIC};

/// Runs the checks; violations go to the checker.
pub fn check(w: &mut World, acked_calm: usize) {
    let image = w.controller.image.clone();
    let topic = image.topic(TOPIC).expect("the topic");
    let mut problems = Vec::new();
    if acked_calm == 0 {
        problems.push("nothing was acknowledged after the faults stopped".to_string());
    }
    for (i, state) in topic.partition_states.iter().enumerate() {
        let i = i as u32;
        let leader = w
            .brokers
            .get(&state.leader)
            .filter(|b| b.is_up())
            .and_then(|b| b.partitions.get(&i));
        let Some(leader) = leader else {
            problems.push(format!("p{i} has no serving leader: {state:?}"));
            continue;
        };
        if !leader.is_leader() {
            problems.push(format!("p{i}: b{} does not know it leads", state.leader));
        }
        let end = leader.log_end_offset().expect("log end");
        let log = leader
            .read_for_follower(0, u64::MAX)
            .expect("read the leader's log")
            .records;
        let (mut isr, mut replicas) = (state.isr.clone(), state.replicas.clone());
        isr.sort_unstable();
        replicas.sort_unstable();
        if isr != replicas {
            problems.push(format!(
                "p{i}: ISR {isr:?} is not every replica {replicas:?}"
            ));
        }
        for r in &state.replicas {
            let Some(p) = w.brokers.get(r).and_then(|b| b.partitions.get(&i)) else {
                problems.push(format!("p{i}: replica b{r} does not host it"));
                continue;
            };
            let (r_end, r_hw) = (p.log_end_offset().expect("log end"), p.high_watermark());
            if r_end != end || r_hw != end {
                problems.push(format!(
                    "p{i}: b{r} has log end {r_end} and high watermark {r_hw}, the leader b{} log end {end}",
                    state.leader
                ));
                continue;
            }
            let theirs = p.read_for_follower(0, u64::MAX).expect("read").records;
            if theirs != log {
                problems.push(format!("p{i}: b{r}'s log differs from the leader's"));
            }
        }
        let by_base: BTreeMap<i64, &[u8]> = batches(&log)
            .into_iter()
            .map(|(base, _, bytes)| (base, bytes))
            .collect();
        for ack in w.checker.acked.iter().filter(|a| a.partition == i) {
            if !Checker::ack_in(ack, &by_base) {
                problems.push(format!(
                    "p{i}: batch acknowledged at {} by b{} (at {} ms) is not in the final leader's log",
                    ack.base_offset, ack.leader, ack.at
                ));
            }
        }
    }
    for p in problems {
        w.checker.fail(p);
    }
}
