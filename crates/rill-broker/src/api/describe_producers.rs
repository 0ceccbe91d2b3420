//! DescribeProducers (KIP-664, v0): the producer state of each partition's log (`kafka-transactions
//! describe-producers`, `Admin.describeProducers`), to find a producer that holds a
//! transaction open and keeps read_committed consumers behind.
//!
//! As Kafka's `ReplicaManager.activeProducerState`: every replica hosting the partition
//! answers (leader or follower: both keep the producer state of their log), a partition the
//! metadata has but this broker does not host gets NOT_LEADER_OR_FOLLOWER, one the metadata
//! does not have UNKNOWN_TOPIC_OR_PARTITION. Per producer: id, epoch, last sequence and
//! timestamp (-1 before any data batch), coordinator epoch of its last marker (-1 before any)
//! and the first offset of its open transaction (-1 when none), in producer id order.

use std::sync::Arc;

use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};
use kafka_protocol::ResponseError;
use rill_meta::MetadataImage;

use super::errors::log_error_code;
use super::{blocking, RequestContext};
use crate::broker::Broker;
use crate::replica::ReplicaManager;

/// Answers DescribeProducers (reads each log's producer state under its lock: on the
/// blocking pool, as an append may hold the lock through an fsync).
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let b = broker.clone();
    let auth = ctx.auth.clone();
    blocking(move || {
        let image = b.image();
        let mut r = DescribeProducersResponse::default();
        for t in req.topics {
            let mut tr = TopicResponse::default();
            tr.name = t.name.clone();
            // Kafka: READ on the topic.
            let allowed = auth.topic(rill_auth::acl::AclOperation::Read, t.name.0.as_str());
            tr.partitions = t
                .partition_indexes
                .iter()
                .map(|&i| {
                    if allowed {
                        partition(&b.replicas, &image, &t.name.0, i)
                    } else {
                        let mut pr = PartitionResponse::default();
                        pr.partition_index = i;
                        pr.error_code =
                            kafka_protocol::ResponseError::TopicAuthorizationFailed.code();
                        pr
                    }
                })
                .collect();
            r.topics.push(tr);
        }
        r
    })
    .await
    .unwrap_or_default()
}

/// One partition's answer.
fn partition(
    replicas: &ReplicaManager,
    image: &MetadataImage,
    topic: &str,
    index: i32,
) -> PartitionResponse {
    let mut pr = PartitionResponse::default();
    pr.partition_index = index;
    let known = image
        .topic(topic)
        .is_some_and(|t| index >= 0 && (index as u32) < t.partitions);
    if !known {
        pr.error_code = ResponseError::UnknownTopicOrPartition.code();
        return pr;
    }
    let Some(part) = replicas.get(topic, index) else {
        pr.error_code = ResponseError::NotLeaderOrFollower.code();
        return pr;
    };
    match part.producers_view() {
        Ok(view) => {
            pr.active_producers = view
                .into_iter()
                .map(|p| {
                    let mut s = ProducerState::default();
                    s.producer_id = ProducerId(p.producer_id);
                    s.producer_epoch = i32::from(p.epoch);
                    s.last_sequence = p.last_sequence;
                    s.last_timestamp = p.last_timestamp;
                    s.coordinator_epoch = p.coordinator_epoch;
                    s.current_txn_start_offset = p.current_txn_start_offset;
                    s
                })
                .collect();
        }
        Err(e) => pr.error_code = log_error_code(&e),
    }
    pr
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rill_log::testutil::{build_batch, BatchSpec};
    use rill_meta::MetadataRecord;

    use super::*;
    use crate::config::BrokerConfig;

    fn create(image: &mut MetadataImage, name: &str) {
        image
            .apply(&MetadataRecord::TopicCreated {
                topic_id: uuid::Uuid::new_v4(),
                name: name.to_string(),
                partitions: 1,
                replication_factor: 1,
                configs: BTreeMap::new(),
            })
            .expect("create topic");
    }

    #[test]
    fn hosted_partitions_answer_others_get_kafkas_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pairs = [("log.dirs".to_string(), dir.path().display().to_string())];
        let config = BrokerConfig::from_pairs(pairs, |_| {}).expect("config");
        let replicas = ReplicaManager::new(dir.path(), &config);
        let mut image = MetadataImage::new();
        create(&mut image, "here");
        replicas.reconcile(&image, &config).expect("reconcile");
        // A topic the image has and this broker does not host.
        create(&mut image, "elsewhere");
        let p = replicas.get("here", 0).expect("hosted");
        let mut b = build_batch(&BatchSpec {
            records: 2,
            producer_id: 42,
            producer_epoch: 1,
            base_sequence: 0,
            ..BatchSpec::default()
        });
        p.append(&mut b, 1_000).expect("append");
        let here = partition(&replicas, &image, "here", 0);
        assert_eq!(here.error_code, 0);
        let got: Vec<(i64, i32, i32, i64)> = here
            .active_producers
            .iter()
            .map(|s| {
                let id = s.producer_id.0;
                (
                    id,
                    s.producer_epoch,
                    s.last_sequence,
                    s.current_txn_start_offset,
                )
            })
            .collect();
        assert_eq!(got, [(42, 1, 1, -1)]);
        let code = |t: &str, i: i32| partition(&replicas, &image, t, i).error_code;
        assert_eq!(
            code("elsewhere", 0),
            ResponseError::NotLeaderOrFollower.code()
        );
        let unknown = ResponseError::UnknownTopicOrPartition.code();
        assert_eq!(code("here", 1), unknown);
        assert_eq!(code("here", -1), unknown);
        assert_eq!(code("nowhere", 0), unknown);
    }
}
