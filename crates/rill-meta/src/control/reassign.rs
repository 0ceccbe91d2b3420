//! Partition reassignment (KIP-455): a partition moves to a target replica list by first
//! being hosted by the old and the new replicas together; once every added replica is in
//! the ISR (it has copied the data), the old ones are dropped, and a leader outside the
//! target hands over to an in-sync target replica.

use crate::{MetaError, MetadataImage, MetadataRecord, PartitionImage, Result, Uuid};

fn usable(image: &MetadataImage, broker_id: i32) -> bool {
    image.broker(broker_id).is_some_and(|b| !b.fenced)
}

/// The replicas before the running reassignment (all of them when none runs).
fn original(p: &PartitionImage) -> Vec<i32> {
    p.replicas
        .iter()
        .copied()
        .filter(|r| !p.adding_replicas.contains(r))
        .collect()
}

/// The record that leaves `p` with exactly `replicas`, keeping the ISR members among them
/// and a leader from them (the current one if it stays, else an in-sync live one).
fn ended(
    image: &MetadataImage,
    topic_id: Uuid,
    partition: u32,
    p: &PartitionImage,
    replicas: Vec<i32>,
) -> MetadataRecord {
    let isr: Vec<i32> = p
        .isr
        .iter()
        .copied()
        .filter(|r| replicas.contains(r))
        .collect();
    let leader = if replicas.contains(&p.leader) {
        p.leader
    } else {
        replicas
            .iter()
            .copied()
            .find(|r| isr.contains(r) && usable(image, *r))
            .unwrap_or(-1)
    };
    let isr = if isr.is_empty() && leader >= 0 {
        vec![leader]
    } else {
        isr
    };
    MetadataRecord::ReassignmentEnded {
        topic_id,
        partition,
        replicas,
        isr,
        leader,
    }
}

/// Records that start moving partition `partition` of topic `topic_id` to `target`
/// (replacing a running reassignment's target). Nothing when it has that target already.
///
/// # Errors
/// [`MetaError::InvalidReplicaAssignment`] for an empty list, duplicates or unregistered
/// brokers; unknown topic or partition.
pub fn start_reassignment(
    image: &MetadataImage,
    topic_id: Uuid,
    partition: u32,
    target: &[i32],
) -> Result<Vec<MetadataRecord>> {
    let p = image.partition(&topic_id, partition)?;
    if target.is_empty() {
        return Err(MetaError::InvalidReplicaAssignment(
            "the replica list is empty".into(),
        ));
    }
    let mut sorted = target.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != target.len() {
        return Err(MetaError::InvalidReplicaAssignment(format!(
            "duplicate brokers in {target:?}"
        )));
    }
    if let Some(b) = target.iter().find(|b| image.broker(**b).is_none()) {
        return Err(MetaError::InvalidReplicaAssignment(format!(
            "broker {b} is not registered"
        )));
    }
    let before = original(p);
    let adding: Vec<i32> = target
        .iter()
        .copied()
        .filter(|r| !before.contains(r))
        .collect();
    let removing: Vec<i32> = before
        .iter()
        .copied()
        .filter(|r| !target.contains(r))
        .collect();
    if adding.is_empty() {
        if p.adding_replicas.is_empty() && removing.is_empty() && before == target {
            return Ok(Vec::new());
        }
        // Only removals or a reorder: nothing to copy.
        return Ok(vec![ended(image, topic_id, partition, p, target.to_vec())]);
    }
    let mut replicas = target.to_vec();
    replicas.extend(removing.iter().copied());
    Ok(vec![MetadataRecord::ReassignmentStarted {
        topic_id,
        partition,
        replicas,
        adding,
        removing,
    }])
}

/// Records that cancel the running reassignment: back to the original replicas.
///
/// # Errors
/// [`MetaError::NoReassignmentInProgress`]; unknown topic or partition.
pub fn cancel_reassignment(
    image: &MetadataImage,
    topic_id: Uuid,
    partition: u32,
) -> Result<Vec<MetadataRecord>> {
    let p = image.partition(&topic_id, partition)?;
    if p.adding_replicas.is_empty() && p.removing_replicas.is_empty() {
        return Err(MetaError::NoReassignmentInProgress {
            topic: topic_name(image, topic_id),
            partition,
        });
    }
    Ok(vec![ended(image, topic_id, partition, p, original(p))])
}

/// Records that finish every reassignment whose added replicas are all in the ISR.
pub fn complete_reassignments(image: &MetadataImage) -> Vec<MetadataRecord> {
    let mut out = Vec::new();
    for t in image.topics() {
        for (i, p) in t.partition_states.iter().enumerate() {
            let running = !p.adding_replicas.is_empty() || !p.removing_replicas.is_empty();
            if running && p.adding_replicas.iter().all(|r| p.isr.contains(r)) {
                let target: Vec<i32> = p
                    .replicas
                    .iter()
                    .copied()
                    .filter(|r| !p.removing_replicas.contains(r))
                    .collect();
                out.push(ended(image, t.topic_id, i as u32, p, target));
            }
        }
    }
    out
}

fn topic_name(image: &MetadataImage, topic_id: Uuid) -> String {
    image
        .topic_by_id(&topic_id)
        .map_or_else(|| topic_id.to_string(), |t| t.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> (MetadataImage, Uuid) {
        let mut image = crate::control::testkit::live_brokers(4);
        let t = Uuid::from_u128(5);
        crate::control::testkit::add_topic(&mut image, t, &[1, 2], 1);
        (image, t)
    }

    fn apply(image: &mut MetadataImage, recs: Vec<MetadataRecord>) {
        for r in recs {
            image.apply(&r).unwrap();
        }
    }

    #[test]
    fn a_move_adds_first_and_drops_the_old_replicas_once_the_new_ones_are_in_sync() {
        let (mut image, t) = cluster();
        let recs = start_reassignment(&image, t, 0, &[3, 4]).unwrap();
        apply(&mut image, recs);
        let p = image.topic("t").unwrap().partition_states[0].clone();
        assert_eq!(p.replicas, vec![3, 4, 1, 2]);
        assert_eq!(
            (p.adding_replicas.clone(), p.removing_replicas.clone()),
            (vec![3, 4], vec![1, 2])
        );
        assert_eq!(
            p.leader, 1,
            "the old leader keeps serving while data is copied"
        );
        assert!(
            complete_reassignments(&image).is_empty(),
            "3 and 4 have not caught up"
        );
        image
            .apply(&MetadataRecord::IsrChanged {
                topic_id: t,
                partition: 0,
                leader: 1,
                leader_epoch: p.leader_epoch,
                partition_epoch: p.partition_epoch,
                isr: vec![1, 2, 3, 4],
            })
            .unwrap();
        let recs = complete_reassignments(&image);
        apply(&mut image, recs);
        let p = image.topic("t").unwrap().partition_states[0].clone();
        assert_eq!(
            (p.replicas.clone(), p.isr.clone(), p.leader),
            (vec![3, 4], vec![3, 4], 3)
        );
        assert!(p.adding_replicas.is_empty() && p.removing_replicas.is_empty());
    }

    #[test]
    fn cancel_goes_back_and_bad_targets_are_refused() {
        let (mut image, t) = cluster();
        assert!(matches!(
            cancel_reassignment(&image, t, 0),
            Err(MetaError::NoReassignmentInProgress { .. })
        ));
        assert!(start_reassignment(&image, t, 0, &[]).is_err());
        assert!(start_reassignment(&image, t, 0, &[3, 3]).is_err());
        assert!(start_reassignment(&image, t, 0, &[9]).is_err());
        assert!(start_reassignment(&image, t, 0, &[1, 2])
            .unwrap()
            .is_empty());
        let recs = start_reassignment(&image, t, 0, &[1, 3]).unwrap();
        apply(&mut image, recs);
        let recs = cancel_reassignment(&image, t, 0).unwrap();
        apply(&mut image, recs);
        let p = image.topic("t").unwrap().partition_states[0].clone();
        assert_eq!(
            (p.replicas.clone(), p.isr.clone(), p.leader),
            (vec![1, 2], vec![1, 2], 1)
        );
    }
}
