//! An image as the records that rebuild it: the content of a metadata snapshot.
//!
//! Invariant (tested): applying `image.to_records()` to an empty image gives an equal image.
//! Every field the image gains must be covered here, or snapshots lose it.

use crate::{MetadataImage, MetadataRecord};

impl MetadataImage {
    /// The shortest record sequence that rebuilds this image from empty.
    pub fn to_records(&self) -> Vec<MetadataRecord> {
        let mut out = Vec::new();
        if let Some(cluster_id) = &self.cluster_id {
            out.push(MetadataRecord::ClusterCreated {
                cluster_id: cluster_id.clone(),
            });
        }
        for b in self.brokers() {
            out.push(MetadataRecord::BrokerRegistered {
                broker_id: b.broker_id,
                incarnation_id: b.incarnation_id,
                host: b.host.clone(),
                port: b.port,
                rack: b.rack.clone(),
                endpoints: b.endpoints.clone(),
            });
            if !b.fenced {
                out.push(MetadataRecord::BrokerUnfenced {
                    broker_id: b.broker_id,
                });
            }
        }
        for t in self.topics() {
            out.push(MetadataRecord::TopicCreated {
                topic_id: t.topic_id,
                name: t.name.clone(),
                partitions: t.partitions,
                replication_factor: t.replication_factor,
                configs: t.configs.clone(),
            });
            for (i, p) in t.partition_states.iter().enumerate() {
                if p.replicas.is_empty() && p.isr.is_empty() && p.leader == -1 {
                    continue;
                }
                out.push(MetadataRecord::PartitionRestored {
                    topic_id: t.topic_id,
                    partition: i as u32,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                    leader: p.leader,
                    leader_epoch: p.leader_epoch,
                    partition_epoch: p.partition_epoch,
                    adding_replicas: p.adding_replicas.clone(),
                    removing_replicas: p.removing_replicas.clone(),
                });
            }
        }
        for ((resource_type, resource_name), configs) in self.all_resource_configs() {
            for (key, value) in configs {
                out.push(MetadataRecord::ResourceConfigChanged {
                    resource_type: *resource_type,
                    resource_name: resource_name.clone(),
                    key: key.clone(),
                    value: Some(value.clone()),
                });
            }
        }
        if self.next_producer_id > 0 {
            out.push(MetadataRecord::ProducerIdsAllocated {
                next_producer_id: self.next_producer_id,
            });
        }
        out.extend(self.scram_records());
        out.extend(self.acl_records());
        out.extend(self.client_quota_records());
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::{MetadataImage, MetadataRecord, Uuid};

    #[test]
    fn records_rebuild_an_equal_image_epochs_included() {
        let mut image = MetadataImage::new();
        let t = Uuid::from_u128(5);
        let recs = vec![
            MetadataRecord::ClusterCreated {
                cluster_id: "c".into(),
            },
            MetadataRecord::BrokerRegistered {
                broker_id: 1,
                incarnation_id: Uuid::from_u128(1),
                host: "h".into(),
                port: 1,
                rack: Some("r".into()),
                endpoints: vec![crate::BrokerEndpoint {
                    name: "EXTERNAL".into(),
                    host: "e".into(),
                    port: 9,
                    security_protocol: 3,
                }],
            },
            MetadataRecord::BrokerRegistered {
                broker_id: 2,
                incarnation_id: Uuid::from_u128(2),
                host: "h".into(),
                port: 2,
                rack: None,
                endpoints: vec![],
            },
            MetadataRecord::BrokerUnfenced { broker_id: 1 },
            MetadataRecord::TopicCreated {
                topic_id: t,
                name: "t".into(),
                partitions: 2,
                replication_factor: 2,
                configs: BTreeMap::from([("retention.ms".to_string(), "5".to_string())]),
            },
            MetadataRecord::PartitionChanged {
                topic_id: t,
                partition: 0,
                replicas: Some(vec![1, 2]),
                isr: Some(vec![1, 2]),
                leader: Some(1),
            },
            MetadataRecord::PartitionChanged {
                topic_id: t,
                partition: 0,
                replicas: None,
                isr: Some(vec![2]),
                leader: Some(2),
            },
            MetadataRecord::ProducerIdsAllocated {
                next_producer_id: 3000,
            },
            MetadataRecord::ResourceConfigChanged {
                resource_type: 4,
                resource_name: "".into(),
                key: "log.retention.ms".into(),
                value: Some("7".into()),
            },
            MetadataRecord::ResourceConfigChanged {
                resource_type: 32,
                resource_name: "g".into(),
                key: "consumer.session.timeout.ms".into(),
                value: Some("50000".into()),
            },
            MetadataRecord::ResourceConfigChanged {
                resource_type: 32,
                resource_name: "g2".into(),
                key: "consumer.session.timeout.ms".into(),
                value: Some("50000".into()),
            },
            MetadataRecord::ResourceConfigChanged {
                resource_type: 32,
                resource_name: "g2".into(),
                key: "consumer.session.timeout.ms".into(),
                value: None,
            },
            MetadataRecord::UserScramCredentialUpserted {
                name: "alice".into(),
                mechanism: 1,
                salt: vec![1, 2].into(),
                stored_key: vec![3; 32].into(),
                server_key: vec![4; 32].into(),
                iterations: 4096,
            },
            MetadataRecord::UserScramCredentialUpserted {
                name: "alice".into(),
                mechanism: 2,
                salt: vec![5].into(),
                stored_key: vec![6; 64].into(),
                server_key: vec![7; 64].into(),
                iterations: 8192,
            },
            MetadataRecord::UserScramCredentialUpserted {
                name: "bob".into(),
                mechanism: 1,
                salt: vec![8].into(),
                stored_key: vec![9; 32].into(),
                server_key: vec![10; 32].into(),
                iterations: 4096,
            },
            MetadataRecord::UserScramCredentialRemoved {
                name: "alice".into(),
                mechanism: 1,
            },
        ];
        for r in &recs {
            image.apply(r).unwrap();
        }
        assert_eq!(
            image.topic("t").unwrap().partition_states[0].leader_epoch,
            1
        );
        assert_eq!(
            image.resource_configs(4, "").unwrap()["log.retention.ms"],
            "7"
        );
        assert!(
            image.resource_configs(32, "g2").is_none(),
            "emptied maps go away"
        );
        assert_eq!(
            image.scram_credentials().count(),
            2,
            "alice SHA-512 and bob"
        );
        let mut rebuilt = MetadataImage::new();
        for r in image.to_records() {
            rebuilt.apply(&r).unwrap();
        }
        assert_eq!(rebuilt, image);
    }
}
