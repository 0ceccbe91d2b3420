//! DescribeQuorum: the metadata quorum's leader, epoch, high watermark and voters.
//!
//! On a lone node (local metadata log) the node is the only voter and leader.

use std::sync::Arc;

use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};
use kafka_protocol::ResponseError;

use super::{str_bytes, RequestContext};
use crate::broker::Broker;
use crate::clock::now_ms;

/// The metadata log's topic name, as Kafka's KRaft names it.
const METADATA_TOPIC: &str = "__cluster_metadata";

/// Answers DescribeQuorum.
pub fn describe_quorum(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    // Kafka: DESCRIBE on the cluster.
    if !ctx.auth.cluster(rill_auth::acl::AclOperation::Describe) {
        let mut refused = DescribeQuorumResponse::default();
        refused.error_code = kafka_protocol::ResponseError::ClusterAuthorizationFailed.code();
        return refused;
    }
    let mut r = DescribeQuorumResponse::default();
    let asked = req.topics.iter().any(|t| {
        t.topic_name.0.as_str() == METADATA_TOPIC
            && t.partitions.iter().any(|p| p.partition_index == 0)
    });
    if !asked {
        r.error_code = ResponseError::InvalidRequest.code();
        return r;
    }
    let me = broker.config.node_id;
    let now = now_ms();
    let mut p = PartitionData::default();
    p.partition_index = 0;
    match broker.metadata.quorum_status() {
        None => {
            p.leader_id = BrokerId(me);
            p.leader_epoch = 1;
            p.high_watermark = -1;
            let mut v = ReplicaState::default();
            v.replica_id = BrokerId(me);
            v.log_end_offset = -1;
            v.last_fetch_timestamp = now;
            v.last_caught_up_timestamp = now;
            p.current_voters = vec![v];
        }
        Some(status) => {
            if status.leader != Some(me as u64) {
                // Kafka answers DescribeQuorum from the leader only.
                p.error_code = ResponseError::NotLeaderOrFollower.code();
            }
            p.leader_id = BrokerId(status.leader.map_or(-1, |l| l as i32));
            p.leader_epoch = status.term as i32;
            p.high_watermark = status.high_watermark.map_or(-1, |h| h as i64);
            p.current_voters = status
                .voters
                .iter()
                .map(|v| {
                    let mut s = ReplicaState::default();
                    s.replica_id = BrokerId(v.node_id as i32);
                    s.log_end_offset = v.log_end_offset.map_or(-1, |o| o as i64);
                    let seen = v
                        .last_fetch_ago
                        .map_or(-1, |ago| now - ago.as_millis() as i64);
                    if ctx.version >= 1 {
                        s.last_fetch_timestamp = seen;
                        s.last_caught_up_timestamp = seen;
                    }
                    s
                })
                .collect();
        }
    }
    if ctx.version < 1 {
        for v in &mut p.current_voters {
            v.last_fetch_timestamp = -1;
            v.last_caught_up_timestamp = -1;
        }
    }
    let mut t = TopicData::default();
    t.topic_name = TopicName(str_bytes(METADATA_TOPIC));
    t.partitions = vec![p];
    r.topics = vec![t];
    if ctx.version >= 2 {
        if let Some(l) = &broker.config.cluster.controller_listener {
            let mut node = Node::default();
            node.node_id = BrokerId(me);
            let mut listener = Listener::default();
            listener.name = str_bytes(l.name.clone());
            listener.host = str_bytes(l.host.clone());
            listener.port = l.port;
            node.listeners = vec![listener];
            r.nodes = vec![node];
        }
    }
    r
}
