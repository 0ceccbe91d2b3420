//! Images for the control tests: live brokers and a one-partition topic.

use std::collections::BTreeMap;

use crate::{MetadataImage, MetadataRecord, Uuid};

/// An image with brokers 1..=n registered and unfenced.
pub fn live_brokers(n: i32) -> MetadataImage {
    let mut image = MetadataImage::new();
    for b in 1..=n {
        image
            .apply(&MetadataRecord::BrokerRegistered {
                broker_id: b,
                incarnation_id: Uuid::from_u128(b as u128),
                host: "127.0.0.1".into(),
                port: 9000 + b as u16,
                rack: None,
                endpoints: vec![],
            })
            .unwrap();
        image
            .apply(&MetadataRecord::BrokerUnfenced { broker_id: b })
            .unwrap();
    }
    image
}

/// Adds topic "t" (id `topic_id`) with one partition on `replicas`, all in sync, led by
/// `leader`.
pub fn add_topic(image: &mut MetadataImage, topic_id: Uuid, replicas: &[i32], leader: i32) {
    image
        .apply(&MetadataRecord::TopicCreated {
            topic_id,
            name: "t".into(),
            partitions: 1,
            replication_factor: replicas.len() as u16,
            configs: BTreeMap::new(),
        })
        .unwrap();
    image
        .apply(&MetadataRecord::PartitionChanged {
            topic_id,
            partition: 0,
            replicas: Some(replicas.to_vec()),
            isr: Some(replicas.to_vec()),
            leader: Some(leader),
        })
        .unwrap();
}
