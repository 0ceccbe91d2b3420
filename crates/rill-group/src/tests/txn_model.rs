//! Transactional offset commits, seeded model test: random commits, transactional commits,
//! markers, OffsetDeletes and topic deletions; the coordinator is checked after every step
//! against a reference that applies Kafka's rule to log positions, and a coordinator that
//! replays the written log answers the same.

use super::txn::{Logged, Node};
use super::*;
use crate::records::CoordinatorRecord;

/// splitmix64: a deterministic generator for the seeded model test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// (group, topic) -> (offset, log position).
type Positioned = std::collections::BTreeMap<(String, String), (i64, usize)>;

/// The reference: Kafka's rule over the log positions, written directly.
#[derive(Default)]
struct Reference {
    /// Committed offsets.
    committed: Positioned,
    /// Pending offsets by producer.
    pending: std::collections::BTreeMap<i64, Positioned>,
}

impl Reference {
    fn apply(&mut self, pos: usize, l: &Logged, c: &GroupCoordinator) {
        let key = |r: &CoordinatorRecord| match crate::records::decode_key(&r.key).unwrap() {
            crate::records::RecordKey::Offset { group, topic, .. } => Some((group, topic)),
            crate::records::RecordKey::Group { .. } => None,
        };
        let value = |r: &CoordinatorRecord| {
            r.value
                .as_deref()
                .map(|v| crate::records::decode_offset_value(v).unwrap().offset)
        };
        match l {
            Logged::Plain(r) => {
                let Some(k) = key(r) else { return };
                match value(r) {
                    Some(v) => {
                        self.committed.insert(k, (v, pos));
                    }
                    None => {
                        self.committed.remove(&k);
                        for p in self.pending.values_mut() {
                            p.remove(&k);
                        }
                    }
                }
            }
            Logged::Txn(pid, r) => {
                let k = key(r).unwrap();
                let v = value(r).unwrap();
                self.pending.entry(*pid).or_default().insert(k, (v, pos));
            }
            Logged::Marker(partition, pid, commit) => {
                let Some(p) = self.pending.get_mut(pid) else {
                    return;
                };
                let here: Vec<_> = p
                    .keys()
                    .filter(|(g, _)| c.partition_for(g) == *partition)
                    .cloned()
                    .collect();
                for k in here {
                    let (v, at) = p.remove(&k).unwrap();
                    let newer = self.committed.get(&k).is_none_or(|(_, c)| at > *c);
                    if *commit && newer {
                        self.committed.insert(k, (v, at));
                    }
                }
            }
        }
    }
}

/// Random commits, transactional commits, markers, OffsetDeletes and deletions of topics
/// by four producers over three groups: after every step the coordinator answers as the
/// reference computes from the log, and a fresh coordinator replaying the log answers the
/// same (open transactions at the end stay pending).
#[test]
fn model_live_reference_and_replay_agree() {
    let groups = ["g1", "g2", "g3"];
    let topics = ["a", "b", "c"];
    for seed in 0..300u64 {
        let mut rng = Rng(seed);
        let mut n = Node::new();
        let mut reference = Reference::default();
        for _ in 0..60 {
            let g = groups[rng.below(3) as usize];
            let t = topics[rng.below(3) as usize];
            let pid = rng.below(4) as i64;
            let offset = rng.below(1000) as i64;
            let before = n.log.len();
            match rng.below(10) {
                0..=2 => n.commit(g, t, offset),
                3..=5 => n.txn(g, pid, t, offset),
                6 | 7 => n.marker(g, pid, true),
                8 => n.marker(g, pid, false),
                _ => {
                    if rng.below(2) == 0 {
                        if let Ok((_, out)) = n.c.delete_offsets(g, &[(t.into(), 0)]) {
                            n.plain(out);
                        }
                    } else {
                        let gone = [t.to_string()].into_iter().collect();
                        let out = n.c.delete_topic_offsets(&gone);
                        n.plain(out);
                    }
                }
            }
            for (i, l) in n.log.iter().enumerate().skip(before) {
                reference.apply(i, l, &n.c);
            }
            for g in groups {
                for t in topics {
                    let want = reference
                        .committed
                        .get(&(g.to_string(), t.to_string()))
                        .map_or(-1, |(v, _)| *v);
                    assert_eq!(n.offset(g, t), want, "seed {seed}: {g}/{t}");
                    let pending = reference
                        .pending
                        .values()
                        .any(|p| p.contains_key(&(g.to_string(), t.to_string())));
                    assert_eq!(
                        n.c.has_pending_txn_offset(g, t, 0),
                        pending,
                        "seed {seed}: {g}/{t} pending"
                    );
                }
            }
        }
        let r = n.replayed();
        for g in groups {
            assert_eq!(
                r.fetch_offsets_stable(g, None).unwrap(),
                n.c.fetch_offsets_stable(g, None).unwrap(),
                "seed {seed}: {g} replayed"
            );
            assert_eq!(
                r.open_txn_producers(g),
                n.c.open_txn_producers(g),
                "seed {seed}: {g}"
            );
            for t in topics {
                assert_eq!(
                    r.has_pending_txn_offset(g, t, 0),
                    n.c.has_pending_txn_offset(g, t, 0),
                    "seed {seed}: {g}/{t} pending after replay"
                );
            }
        }
    }
}
