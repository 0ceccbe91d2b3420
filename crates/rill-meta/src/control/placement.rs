//! Replica placement: spread partitions' replicas and preferred leaders evenly over the
//! usable brokers, alternating racks when brokers have `broker.rack` set.

use std::collections::BTreeMap;

use crate::{MetaError, Result};

/// Orders brokers so consecutive entries alternate racks (rack-a-1, rack-b-1, rack-a-2, ...),
/// as Kafka's rack-aware assignment does; brokers without a rack form one group.
fn rack_alternated(brokers: &[(i32, Option<String>)]) -> Vec<i32> {
    let mut by_rack: BTreeMap<Option<&str>, Vec<i32>> = BTreeMap::new();
    for (id, rack) in brokers {
        by_rack.entry(rack.as_deref()).or_default().push(*id);
    }
    for ids in by_rack.values_mut() {
        ids.sort_unstable();
    }
    let mut out = Vec::with_capacity(brokers.len());
    let mut round = 0;
    while out.len() < brokers.len() {
        for ids in by_rack.values() {
            if let Some(id) = ids.get(round) {
                out.push(*id);
            }
        }
        round += 1;
    }
    out
}

/// Replica lists for `partitions` partitions of `replication_factor` replicas over
/// `brokers` (usable brokers with their racks). Partition `p`'s preferred leader is broker
/// `(start + p) mod n` of the rack-alternated order and its followers the next ones, so
/// leaders and replicas spread evenly and, with racks, each partition spans racks.
///
/// # Errors
/// [`MetaError::InvalidReplicationFactor`] when there are fewer brokers than replicas.
pub fn place_replicas(
    brokers: &[(i32, Option<String>)],
    partitions: u32,
    replication_factor: u16,
    start: usize,
) -> Result<Vec<Vec<i32>>> {
    let order = rack_alternated(brokers);
    let n = order.len();
    if replication_factor == 0 || usize::from(replication_factor) > n {
        return Err(MetaError::InvalidReplicationFactor {
            requested: replication_factor,
            available: n,
        });
    }
    let rack_of = |id: i32| {
        brokers
            .iter()
            .find(|(b, _)| *b == id)
            .and_then(|(_, r)| r.clone())
    };
    let racks: std::collections::HashSet<Option<String>> =
        brokers.iter().map(|(_, r)| r.clone()).collect();
    let mut placed = Vec::with_capacity(partitions as usize);
    for p in 0..partitions as usize {
        let first = (start + p) % n;
        // Kafka's shift: followers start further away with each full round of leaders.
        let shift = (start + p) / n;
        let mut replicas = vec![order[first]];
        let mut used_racks = vec![rack_of(order[first])];
        for j in 0..usize::from(replication_factor) - 1 {
            let base = (first + 1 + (shift + j) % (n - 1)) % n;
            // Prefer a broker on a rack this partition does not use yet.
            let pick = (0..n)
                .map(|k| order[(base + k) % n])
                .filter(|b| !replicas.contains(b))
                .find(|b| used_racks.len() >= racks.len() || !used_racks.contains(&rack_of(*b)))
                .or_else(|| {
                    (0..n)
                        .map(|k| order[(base + k) % n])
                        .find(|b| !replicas.contains(b))
                });
            if let Some(b) = pick {
                used_racks.push(rack_of(b));
                replicas.push(b);
            }
        }
        placed.push(replicas);
    }
    Ok(placed)
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    fn brokers(n: i32) -> Vec<(i32, Option<String>)> {
        (1..=n).map(|i| (i, None)).collect()
    }

    #[test]
    fn replicas_are_distinct_and_leaders_even() {
        for n in 1..=5 {
            for rf in 1..=n as u16 {
                let placed = place_replicas(&brokers(n), 60, rf, 0).unwrap();
                let mut leaders: HashMap<i32, usize> = HashMap::new();
                for r in &placed {
                    assert_eq!(r.len(), rf as usize);
                    assert_eq!(r.iter().collect::<HashSet<_>>().len(), rf as usize, "{r:?}");
                    *leaders.entry(r[0]).or_default() += 1;
                }
                assert_eq!(leaders.len(), n as usize);
                assert!(
                    leaders.values().all(|c| *c == 60 / n as usize),
                    "n={n} rf={rf} {leaders:?}"
                );
            }
        }
    }

    #[test]
    fn too_few_brokers_is_invalid_replication_factor() {
        assert_eq!(
            place_replicas(&brokers(2), 1, 3, 0),
            Err(MetaError::InvalidReplicationFactor {
                requested: 3,
                available: 2
            })
        );
    }

    #[test]
    fn racks_alternate_within_a_partition() {
        let b = vec![
            (1, Some("a".to_string())),
            (2, Some("a".to_string())),
            (3, Some("b".to_string())),
            (4, Some("b".to_string())),
        ];
        for r in place_replicas(&b, 8, 2, 0).unwrap() {
            let rack = |id: i32| b.iter().find(|(i, _)| *i == id).unwrap().1.clone();
            assert_ne!(rack(r[0]), rack(r[1]), "{r:?} spans one rack");
        }
    }
}
