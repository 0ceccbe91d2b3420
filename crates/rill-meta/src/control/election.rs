//! Leader election and ISR changes when brokers are fenced or come back.
//!
//! Clean election only: a new leader comes from the ISR and is unfenced. When no such
//! replica exists the partition has no leader (-1) and its ISR keeps its last member, so the
//! replica that has every acknowledged record is the one that can lead again.

use crate::{MetadataImage, MetadataRecord};

fn usable(image: &MetadataImage, broker_id: i32) -> bool {
    image.broker(broker_id).is_some_and(|b| !b.fenced)
}

/// Records that take `broker_id` out of every ISR and move its leaderships to other
/// in-sync, unfenced replicas.
pub fn on_broker_fenced(image: &MetadataImage, broker_id: i32) -> Vec<MetadataRecord> {
    let mut out = Vec::new();
    for topic in image.topics() {
        for (i, p) in topic.partition_states.iter().enumerate() {
            if !p.isr.contains(&broker_id) && p.leader != broker_id {
                continue;
            }
            let mut isr: Vec<i32> = p.isr.iter().copied().filter(|b| *b != broker_id).collect();
            if isr.is_empty() {
                // Keep the last in-sync replica recorded: it must lead again, not a stale one.
                isr = vec![broker_id];
            }
            let leader = if p.leader == broker_id || p.leader == -1 {
                p.replicas
                    .iter()
                    .copied()
                    .find(|b| *b != broker_id && isr.contains(b) && usable(image, *b))
                    .unwrap_or(-1)
            } else {
                p.leader
            };
            out.push(MetadataRecord::PartitionChanged {
                topic_id: topic.topic_id,
                partition: i as u32,
                replicas: None,
                isr: Some(isr),
                leader: Some(leader),
            });
        }
    }
    out
}

/// Records that give leaderless partitions whose ISR holds `broker_id` back their leader.
pub fn on_broker_unfenced(image: &MetadataImage, broker_id: i32) -> Vec<MetadataRecord> {
    let mut out = Vec::new();
    for topic in image.topics() {
        for (i, p) in topic.partition_states.iter().enumerate() {
            if p.leader == -1 && p.isr.contains(&broker_id) {
                out.push(MetadataRecord::PartitionChanged {
                    topic_id: topic.topic_id,
                    partition: i as u32,
                    replicas: None,
                    isr: None,
                    leader: Some(broker_id),
                });
            }
        }
    }
    out
}

/// Why ElectLeaders cannot elect (Kafka's error codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionRefusal {
    /// The wanted leader leads already (ELECTION_NOT_NEEDED).
    NotNeeded,
    /// The preferred replica is not in the ISR or not live (PREFERRED_LEADER_NOT_AVAILABLE).
    PreferredNotAvailable,
    /// No live replica can lead (ELIGIBLE_LEADERS_NOT_AVAILABLE).
    EligibleNotAvailable,
}

/// Preferred leader election for one partition: its first replica leads again, if it is
/// in the ISR and unfenced.
///
/// # Errors
/// [`ElectionRefusal`] as above.
pub fn elect_preferred(
    image: &MetadataImage,
    topic_id: crate::Uuid,
    partition: u32,
    p: &crate::PartitionImage,
) -> Result<MetadataRecord, ElectionRefusal> {
    let preferred = *p
        .replicas
        .first()
        .ok_or(ElectionRefusal::PreferredNotAvailable)?;
    if p.leader == preferred {
        return Err(ElectionRefusal::NotNeeded);
    }
    if !p.isr.contains(&preferred) || !usable(image, preferred) {
        return Err(ElectionRefusal::PreferredNotAvailable);
    }
    Ok(MetadataRecord::PartitionChanged {
        topic_id,
        partition,
        replicas: None,
        isr: None,
        leader: Some(preferred),
    })
}

/// Unclean election for one leaderless partition: an in-sync replica if one is live,
/// otherwise any live replica, which becomes the whole ISR (records it lacks are lost).
///
/// # Errors
/// [`ElectionRefusal::NotNeeded`] when a live leader exists,
/// [`ElectionRefusal::EligibleNotAvailable`] when no replica is live.
pub fn elect_unclean(
    image: &MetadataImage,
    topic_id: crate::Uuid,
    partition: u32,
    p: &crate::PartitionImage,
) -> Result<MetadataRecord, ElectionRefusal> {
    if p.leader >= 0 && usable(image, p.leader) {
        return Err(ElectionRefusal::NotNeeded);
    }
    let clean = p
        .replicas
        .iter()
        .copied()
        .find(|b| p.isr.contains(b) && usable(image, *b));
    let any = p.replicas.iter().copied().find(|b| usable(image, *b));
    let leader = clean.or(any).ok_or(ElectionRefusal::EligibleNotAvailable)?;
    let isr = if clean.is_some() {
        None
    } else {
        Some(vec![leader])
    };
    Ok(MetadataRecord::PartitionChanged {
        topic_id,
        partition,
        replicas: None,
        isr,
        leader: Some(leader),
    })
}

/// The automatic leader rebalance: every partition whose preferred replica is in the ISR
/// and unfenced but does not lead gets it back as leader.
pub fn preferred_rebalance(image: &MetadataImage) -> Vec<MetadataRecord> {
    image
        .topics()
        .flat_map(|t| {
            t.partition_states
                .iter()
                .enumerate()
                .filter_map(|(i, p)| elect_preferred(image, t.topic_id, i as u32, p).ok())
        })
        .collect()
}

/// Unclean elections for every leaderless partition of topics for which `allowed` says
/// `unclean.leader.election.enable` is on.
pub fn unclean_recovery(
    image: &MetadataImage,
    allowed: impl Fn(&crate::TopicImage) -> bool,
) -> Vec<MetadataRecord> {
    image
        .topics()
        .filter(|t| allowed(t))
        .flat_map(|t| {
            t.partition_states
                .iter()
                .enumerate()
                .filter(|(_, p)| p.leader < 0 && !p.replicas.is_empty())
                .filter_map(|(i, p)| elect_unclean(image, t.topic_id, i as u32, p).ok())
        })
        .collect()
}

/// Records that leave every partition with a usable leader when its ISR has one: fenced or
/// unregistered brokers leave ISRs that still hold a usable broker (an ISR of only unusable
/// brokers is kept, so whoever of them returns first leads again with every acknowledged
/// record), and a partition whose leader is unusable (or -1, or outside the ISR) gets the
/// first in-sync, usable replica, or -1. Empty when the image needs nothing.
pub fn repair(image: &MetadataImage) -> Vec<MetadataRecord> {
    let mut out = Vec::new();
    for topic in image.topics() {
        for (i, p) in topic.partition_states.iter().enumerate() {
            if p.replicas.is_empty() {
                continue;
            }
            let usable_isr: Vec<i32> = p
                .isr
                .iter()
                .copied()
                .filter(|b| usable(image, *b))
                .collect();
            let isr = if usable_isr.is_empty() {
                p.isr.clone()
            } else {
                usable_isr
            };
            let leader = if isr.contains(&p.leader) && usable(image, p.leader) {
                p.leader
            } else {
                p.replicas
                    .iter()
                    .copied()
                    .find(|b| isr.contains(b) && usable(image, *b))
                    .unwrap_or(-1)
            };
            if isr != p.isr || leader != p.leader {
                out.push(MetadataRecord::PartitionChanged {
                    topic_id: topic.topic_id,
                    partition: i as u32,
                    replicas: None,
                    isr: (isr != p.isr).then_some(isr),
                    leader: (leader != p.leader).then_some(leader),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Uuid;

    fn cluster() -> MetadataImage {
        let mut image = crate::control::testkit::live_brokers(3);
        crate::control::testkit::add_topic(&mut image, Uuid::from_u128(77), &[1, 2, 3], 1);
        image
    }

    fn apply_all(image: &mut MetadataImage, records: Vec<MetadataRecord>) {
        for r in records {
            image.apply(&r).unwrap();
        }
    }

    #[test]
    fn fencing_the_leader_elects_from_the_isr_and_bumps_the_epoch() {
        let mut image = cluster();
        image
            .apply(&MetadataRecord::BrokerFenced { broker_id: 1 })
            .unwrap();
        let recs = on_broker_fenced(&image, 1);
        apply_all(&mut image, recs);
        let p = &image.topic("t").unwrap().partition_states[0];
        assert_eq!(
            (p.leader, p.isr.clone(), p.leader_epoch),
            (2, vec![2, 3], 1)
        );
    }

    #[test]
    fn the_last_isr_member_is_kept_and_leads_again_when_back() {
        let mut image = cluster();
        for b in [2, 3, 1] {
            image
                .apply(&MetadataRecord::BrokerFenced { broker_id: b })
                .unwrap();
            let recs = on_broker_fenced(&image, b);
            apply_all(&mut image, recs);
        }
        let p = image.topic("t").unwrap().partition_states[0].clone();
        assert_eq!((p.leader, p.isr.clone()), (-1, vec![1]));
        // Broker 2 coming back cannot lead (not in the ISR); broker 1 can.
        image
            .apply(&MetadataRecord::BrokerUnfenced { broker_id: 2 })
            .unwrap();
        assert!(on_broker_unfenced(&image, 2).is_empty());
        image
            .apply(&MetadataRecord::BrokerUnfenced { broker_id: 1 })
            .unwrap();
        let recs = on_broker_unfenced(&image, 1);
        apply_all(&mut image, recs);
        assert_eq!(image.topic("t").unwrap().partition_states[0].leader, 1);
    }

    fn isr_change(leader_epoch: i32, partition_epoch: i32, isr: Vec<i32>) -> MetadataRecord {
        MetadataRecord::IsrChanged {
            topic_id: Uuid::from_u128(77),
            partition: 0,
            leader: 1,
            leader_epoch,
            partition_epoch,
            isr,
        }
    }

    #[test]
    fn isr_changes_apply_only_on_current_epochs() {
        let mut image = cluster();
        let p = image.topic("t").unwrap().partition_states[0].clone();
        image
            .apply(&isr_change(p.leader_epoch, p.partition_epoch, vec![1, 3]))
            .unwrap();
        let after = image.topic("t").unwrap().partition_states[0].clone();
        assert_eq!(after.isr, vec![1, 3]);
        assert_eq!(after.partition_epoch, p.partition_epoch + 1);
        assert_eq!(after.leader_epoch, p.leader_epoch);
        // The same request again is stale now.
        let stale = image.apply(&isr_change(p.leader_epoch, p.partition_epoch, vec![1]));
        assert!(matches!(
            stale,
            Err(crate::MetaError::StalePartitionState { .. })
        ));
        // A request of an old leader epoch is refused too.
        image
            .apply(&MetadataRecord::BrokerFenced { broker_id: 1 })
            .unwrap();
        let recs = on_broker_fenced(&image, 1);
        apply_all(&mut image, recs);
        let now = image.topic("t").unwrap().partition_states[0].clone();
        assert_eq!(now.leader, 3);
        assert!(image
            .apply(&isr_change(p.leader_epoch, now.partition_epoch, vec![1, 3]))
            .is_err());
    }

    #[test]
    fn isr_changes_keep_the_leader_and_refuse_fenced_newcomers() {
        let mut image = cluster();
        let p = image.topic("t").unwrap().partition_states[0].clone();
        let (le, pe) = (p.leader_epoch, p.partition_epoch);
        assert!(image.apply(&isr_change(le, pe, vec![2, 3])).is_err());
        assert!(image.apply(&isr_change(le, pe, vec![1, 4])).is_err());
        image.apply(&isr_change(le, pe, vec![1])).unwrap();
        image
            .apply(&MetadataRecord::BrokerFenced { broker_id: 2 })
            .unwrap();
        assert!(image.apply(&isr_change(le, pe + 1, vec![1, 2])).is_err());
        image.apply(&isr_change(le, pe + 1, vec![1, 3])).unwrap();
    }

    #[test]
    fn preferred_and_unclean_elections() {
        let mut image = cluster();
        let t = Uuid::from_u128(77);
        image
            .apply(&MetadataRecord::BrokerFenced { broker_id: 1 })
            .unwrap();
        let recs = on_broker_fenced(&image, 1);
        apply_all(&mut image, recs);
        let p = image.topic("t").unwrap().partition_states[0].clone();
        assert_eq!(p.leader, 2);
        // Broker 1 is back and in sync again: the rebalance hands leadership back.
        image
            .apply(&MetadataRecord::BrokerUnfenced { broker_id: 1 })
            .unwrap();
        assert_eq!(
            elect_preferred(&image, t, 0, &p),
            Err(ElectionRefusal::PreferredNotAvailable)
        );
        image
            .apply(&MetadataRecord::PartitionChanged {
                topic_id: t,
                partition: 0,
                replicas: None,
                isr: Some(vec![2, 3, 1]),
                leader: None,
            })
            .unwrap();
        let recs = preferred_rebalance(&image);
        assert_eq!(recs.len(), 1);
        apply_all(&mut image, recs);
        let p = image.topic("t").unwrap().partition_states[0].clone();
        assert_eq!(p.leader, 1);
        assert_eq!(
            elect_preferred(&image, t, 0, &p),
            Err(ElectionRefusal::NotNeeded)
        );
        // Everyone in the ISR dies but 3, which was not in sync: unclean election only.
        image
            .apply(&MetadataRecord::PartitionChanged {
                topic_id: t,
                partition: 0,
                replicas: None,
                isr: Some(vec![1, 2]),
                leader: None,
            })
            .unwrap();
        for b in [1, 2] {
            image
                .apply(&MetadataRecord::BrokerFenced { broker_id: b })
                .unwrap();
            let recs = on_broker_fenced(&image, b);
            apply_all(&mut image, recs);
        }
        let p = image.topic("t").unwrap().partition_states[0].clone();
        assert_eq!(p.leader, -1);
        assert!(unclean_recovery(&image, |_| false).is_empty());
        let recs = unclean_recovery(&image, |_| true);
        apply_all(&mut image, recs);
        let p = image.topic("t").unwrap().partition_states[0].clone();
        assert_eq!((p.leader, p.isr.clone()), (3, vec![3]));
    }
}
