//! Table-style tests of [`tick`]: registration, session expiry, controlled shutdown, catch-up
//! before unfencing, a new controller's grace period, and leader repair.

use std::collections::BTreeMap;

use super::*;

const SESSION: u64 = 9000;

fn hb(id: i32, incarnation: u128) -> BrokerHeartbeat {
    BrokerHeartbeat {
        broker_id: id,
        incarnation_id: Uuid::from_u128(incarnation),
        host: "127.0.0.1".into(),
        port: 9000 + id as u16,
        rack: None,
        endpoints: vec![],
        metadata_offset: Some(1),
        caught_up: true,
        want_shutdown: false,
    }
}

fn live(active_since_ms: u64, heard: &[(u64, BrokerHeartbeat)]) -> Liveness {
    Liveness {
        active_since_ms,
        session_timeout_ms: SESSION,
        heard: heard
            .iter()
            .map(|(at, h)| (h.broker_id, (*at, h.clone())))
            .collect(),
    }
}

fn apply(image: &MetadataImage, records: &[MetadataRecord]) -> MetadataImage {
    let mut next = image.clone();
    for r in records {
        next.apply(r).unwrap();
    }
    next
}

/// Brokers 1..=n registered and unfenced (incarnation = id), one topic `t` whose partition
/// `p` has replicas `replicas[p]`, all in sync, the first leading.
fn cluster(n: i32, replicas: &[Vec<i32>]) -> MetadataImage {
    let mut image = MetadataImage::new();
    for b in 1..=n {
        let h = hb(b, b as u128);
        let recs = tick(&image, &live(0, &[(0, h)]), 0);
        image = apply(&image, &recs);
        // Registration first, then an unfence once caught up (here at once).
        let recs = tick(&image, &live(0, &[(0, hb(b, b as u128))]), 0);
        image = apply(&image, &recs);
    }
    let t = Uuid::from_u128(77);
    let mut recs = vec![MetadataRecord::TopicCreated {
        topic_id: t,
        name: "t".into(),
        partitions: replicas.len() as u32,
        replication_factor: replicas[0].len() as u16,
        configs: BTreeMap::new(),
    }];
    for (i, r) in replicas.iter().enumerate() {
        recs.push(MetadataRecord::PartitionChanged {
            topic_id: t,
            partition: i as u32,
            replicas: Some(r.clone()),
            isr: Some(r.clone()),
            leader: Some(r[0]),
        });
    }
    apply(&image, &recs)
}

fn state(image: &MetadataImage, p: usize) -> (i32, Vec<i32>) {
    let s = &image.topic("t").unwrap().partition_states[p];
    (s.leader, s.isr.clone())
}

fn fenced(image: &MetadataImage, id: i32) -> bool {
    image.broker(id).unwrap().fenced
}

#[test]
fn first_heartbeat_registers_fenced_then_unfences_once_caught_up() {
    let image = MetadataImage::new();
    let mut h = hb(4, 40);
    h.caught_up = false;
    let recs = tick(&image, &live(0, &[(100, h.clone())]), 200);
    assert!(matches!(
        recs.as_slice(),
        [MetadataRecord::BrokerRegistered { broker_id: 4, .. }]
    ));
    let image = apply(&image, &recs);
    assert!(fenced(&image, 4));
    // Still catching up: stays fenced, and nothing is proposed again.
    assert!(tick(&image, &live(0, &[(300, h.clone())]), 400).is_empty());
    h.caught_up = true;
    let recs = tick(&image, &live(0, &[(500, h)]), 600);
    assert_eq!(recs, vec![MetadataRecord::BrokerUnfenced { broker_id: 4 }]);
    assert!(!fenced(&apply(&image, &recs), 4));
}

#[test]
fn a_silent_broker_is_fenced_after_the_session_and_its_leaderships_move() {
    let image = cluster(3, &[vec![1, 2, 3], vec![2, 3, 1]]);
    let heard = [(1000, hb(1, 1)), (1000, hb(2, 2)), (1000, hb(3, 3))];
    assert!(tick(&image, &live(0, &heard), 1000 + SESSION).is_empty());
    // Broker 2 falls silent; the others keep heartbeating.
    let heard = [
        (1000 + SESSION, hb(1, 1)),
        (1000, hb(2, 2)),
        (1000 + SESSION, hb(3, 3)),
    ];
    let recs = tick(&image, &live(0, &heard), 1001 + SESSION);
    let image = apply(&image, &recs);
    assert!(fenced(&image, 2));
    assert_eq!(state(&image, 0), (1, vec![1, 3]));
    assert_eq!(state(&image, 1), (3, vec![3, 1]));
    assert!(tick(&image, &live(0, &heard), 1002 + SESSION).is_empty());
}

#[test]
fn a_fenced_broker_that_heartbeats_again_is_unfenced_and_leads_its_lone_partition() {
    let image = cluster(2, &[vec![2]]);
    let recs = tick(&image, &live(0, &[(SESSION, hb(1, 1))]), SESSION + 1);
    let image = apply(&image, &recs);
    assert!(fenced(&image, 2) && !fenced(&image, 1));
    assert_eq!(
        state(&image, 0),
        (-1, vec![2]),
        "rf=1: the ISR keeps its last member"
    );
    let t = 2 * SESSION;
    let recs = tick(&image, &live(0, &[(t, hb(1, 1)), (t, hb(2, 2))]), t);
    let image = apply(&image, &recs);
    assert!(!fenced(&image, 2));
    assert_eq!(state(&image, 0), (2, vec![2]));
}

#[test]
fn controlled_shutdown_fences_at_once_and_is_not_undone() {
    let image = cluster(3, &[vec![3, 1, 2]]);
    let mut bye = hb(3, 3);
    bye.want_shutdown = true;
    let heard = [(10, hb(1, 1)), (10, hb(2, 2)), (10, bye)];
    let recs = tick(&image, &live(0, &heard), 11);
    let image = apply(&image, &recs);
    assert!(fenced(&image, 3));
    assert_eq!(state(&image, 0), (1, vec![1, 2]));
    assert!(tick(&image, &live(0, &heard), 12).is_empty());
}

#[test]
fn a_restarted_broker_is_registered_again_and_gives_up_leadership_until_caught_up() {
    let image = cluster(2, &[vec![1, 2]]);
    let mut fresh = hb(1, 100);
    fresh.caught_up = false;
    let heard = [(10, fresh.clone()), (10, hb(2, 2))];
    let recs = tick(&image, &live(0, &heard), 10);
    let image = apply(&image, &recs);
    let b = image.broker(1).unwrap();
    assert_eq!((b.incarnation_id, b.fenced), (Uuid::from_u128(100), true));
    assert_eq!(state(&image, 0), (2, vec![2]));
    fresh.caught_up = true;
    let recs = tick(&image, &live(0, &[(20, fresh), (20, hb(2, 2))]), 20);
    let image = apply(&image, &recs);
    assert!(!fenced(&image, 1));
    // Broker 1 is not in the ISR any more (replication brings it back), so 2 keeps leading.
    assert_eq!(state(&image, 0), (2, vec![2]));
}

#[test]
fn a_new_controller_gives_every_broker_a_full_session() {
    let image = cluster(2, &[vec![1], vec![2]]);
    // Heard long ago by this node in an earlier term: ignored; the session runs from 50_000.
    let heard = [(10, hb(1, 1)), (10, hb(2, 2))];
    assert!(tick(&image, &live(50_000, &heard), 50_000 + SESSION).is_empty());
    let recs = tick(&image, &live(50_000, &heard), 50_001 + SESSION);
    let image = apply(&image, &recs);
    assert!(fenced(&image, 1) && fenced(&image, 2));
    assert_eq!((state(&image, 0).0, state(&image, 1).0), (-1, -1));
}

#[test]
fn heartbeats_of_an_old_incarnation_do_not_keep_the_new_one_alive() {
    let image = cluster(1, &[vec![1]]);
    // The image holds incarnation 1; only a heartbeat of another incarnation is heard, and it
    // is stale (older than the session), so it neither registers nor keeps broker 1 alive.
    let recs = tick(&image, &live(0, &[(0, hb(1, 99))]), SESSION + 1);
    assert_eq!(
        recs,
        vec![
            MetadataRecord::PartitionEpochIs {
                topic_id: Uuid::from_u128(77),
                partition: 0,
                partition_epoch: 0,
            },
            MetadataRecord::BrokerFenced { broker_id: 1 },
            MetadataRecord::PartitionChanged {
                topic_id: Uuid::from_u128(77),
                partition: 0,
                replicas: None,
                isr: Some(vec![1]),
                leader: Some(-1),
            }
        ]
    );
}

#[test]
fn repair_elects_for_a_partition_placed_on_a_broker_fenced_meanwhile() {
    let image = cluster(2, &[vec![1, 2]]);
    // Broker 1 fenced by a record that did not move its leadership (a creation racing it).
    let image = apply(&image, &[MetadataRecord::BrokerFenced { broker_id: 1 }]);
    let recs = tick(&image, &live(0, &[(5, hb(2, 2))]), 5);
    let image = apply(&image, &recs);
    assert_eq!(state(&image, 0), (2, vec![2]));
    assert!(fenced(&image, 1), "unheard, so it stays fenced");
}

#[test]
fn re_registering_a_fenced_broker_changes_no_partition() {
    let image = cluster(2, &[vec![2]]);
    let recs = tick(&image, &live(0, &[(SESSION, hb(1, 1))]), SESSION + 1);
    let image = apply(&image, &recs);
    let epoch = image.topic("t").unwrap().partition_states[0].partition_epoch;
    let mut back = hb(2, 200);
    back.caught_up = false;
    let t = 2 * SESSION;
    let recs = tick(&image, &live(0, &[(t, hb(1, 1)), (t, back)]), t);
    assert!(
        matches!(
            recs.as_slice(),
            [MetadataRecord::BrokerRegistered { broker_id: 2, .. }]
        ),
        "{recs:?}"
    );
    let image = apply(&image, &recs);
    assert_eq!(
        image.topic("t").unwrap().partition_states[0].partition_epoch,
        epoch
    );
}

#[test]
fn a_batch_decided_on_an_image_that_moved_on_is_refused_whole() {
    let image = cluster(3, &[vec![1, 2, 3]]);
    // Decided while broker 3 was silent: fence it, drop it from the ISR.
    let stale = tick(
        &image,
        &live(0, &[(SESSION, hb(1, 1)), (SESSION, hb(2, 2))]),
        SESSION + 1,
    );
    assert!(stale.contains(&MetadataRecord::BrokerFenced { broker_id: 3 }));
    // Meanwhile another change to the partition committed first (here: broker 1 fenced).
    let later = tick(
        &image,
        &live(0, &[(SESSION, hb(2, 2)), (SESSION, hb(3, 3))]),
        SESSION + 1,
    );
    let moved = apply(&image, &later);
    let mut attempt = moved.clone();
    let refused = stale.iter().try_for_each(|r| attempt.apply(r));
    assert!(
        matches!(refused, Err(crate::MetaError::StalePartitionState { .. })),
        "{refused:?}"
    );
}
