//! DescribeCluster and DescribeLogDirs.

use std::sync::Arc;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, DescribeLogDirsRequest,
    DescribeLogDirsResponse, TopicName,
};
use kafka_protocol::ResponseError;

use super::{blocking, str_bytes, RequestContext};
use crate::broker::Broker;

/// Answers DescribeCluster.
pub fn describe_cluster(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let mut r = DescribeClusterResponse::default();
    // endpoint_type 1 = brokers; 2 = controllers (same node here).
    if !matches!(req.endpoint_type, 1 | 2) {
        r.error_code = ResponseError::UnsupportedEndpointType.code();
        return r;
    }
    r.endpoint_type = req.endpoint_type;
    r.cluster_id = str_bytes(broker.cluster_id.clone());
    r.controller_id = BrokerId(broker.client_controller_id());
    if req.include_cluster_authorized_operations {
        r.cluster_authorized_operations = ctx.auth.operations(
            rill_auth::acl::ResourceType::Cluster,
            crate::authz::CLUSTER_NAME,
            super::CLUSTER_AUTHORIZED_OPERATIONS,
        );
    }
    r.brokers = broker
        .live_brokers_on(&ctx.listener.name)
        .into_iter()
        .map(|(id, host, port, rack)| {
            let mut b = DescribeClusterBroker::default();
            b.broker_id = BrokerId(id);
            b.host = str_bytes(host);
            b.port = i32::from(port);
            b.rack = rack.map(str_bytes);
            b
        })
        .collect();
    r
}

/// Answers DescribeLogDirs: the data directory, its partitions' sizes, and its disk space.
pub async fn describe_log_dirs(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    // Kafka: DESCRIBE on the cluster (v3+ say so; older versions get no directories).
    if !ctx.auth.cluster(rill_auth::acl::AclOperation::Describe) {
        let mut r = DescribeLogDirsResponse::default();
        r.error_code = ResponseError::ClusterAuthorizationFailed.code();
        return r;
    }
    let b = broker.clone();
    blocking(move || {
        let mut dir = DescribeLogDirsResult::default();
        dir.log_dir = str_bytes(b.config.log_dir.display().to_string());
        match rustix::fs::statvfs(&b.config.log_dir) {
            Ok(s) => {
                dir.total_bytes = (s.f_blocks.saturating_mul(s.f_frsize)) as i64;
                dir.usable_bytes = (s.f_bavail.saturating_mul(s.f_frsize)) as i64;
            }
            Err(_) => {
                dir.total_bytes = -1;
                dir.usable_bytes = -1;
            }
        }
        let mut parts = b.replicas.all();
        parts.sort_by(|x, y| (&x.topic, x.index).cmp(&(&y.topic, y.index)));
        let wanted = |topic: &str, index: i32| match &req.topics {
            None => true,
            Some(ts) => ts
                .iter()
                .any(|t| t.topic.0.as_str() == topic && t.partitions.contains(&index)),
        };
        for p in parts.iter().filter(|p| wanted(&p.topic, p.index)) {
            let mut dp = DescribeLogDirsPartition::default();
            dp.partition_index = p.index;
            dp.partition_size = p.size_bytes().map_or(-1, |s| s as i64);
            dp.offset_lag = p.offset_lag();
            match dir.topics.last_mut() {
                Some(t) if t.name.0.as_str() == p.topic => t.partitions.push(dp),
                _ => {
                    let mut t = DescribeLogDirsTopic::default();
                    t.name = TopicName(str_bytes(p.topic.clone()));
                    t.partitions.push(dp);
                    dir.topics.push(t);
                }
            }
        }
        let mut r = DescribeLogDirsResponse::default();
        r.results = vec![dir];
        r
    })
    .await
    .unwrap_or_default()
}
