//! Cluster metadata as the client sees it: brokers, topics, partitions with leader, replicas
//! and ISR; built from Metadata responses.

use std::collections::BTreeMap;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

/// One broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// Node id.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// Rack, if set.
    pub rack: Option<String>,
}

impl BrokerInfo {
    /// `host:port`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// One partition's placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Partition index.
    pub partition: i32,
    /// Leader node id (-1: none).
    pub leader: i32,
    /// Leader epoch (-1: unknown).
    pub leader_epoch: i32,
    /// Replica node ids.
    pub replicas: Vec<i32>,
    /// In-sync replica node ids.
    pub isr: Vec<i32>,
    /// Offline replica node ids.
    pub offline: Vec<i32>,
    /// Partition-level error code (e.g. LEADER_NOT_AVAILABLE).
    pub error_code: i16,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// Topic-level error code (3: unknown topic).
    pub error_code: i16,
    /// Whether Kafka marks it internal (`__consumer_offsets`).
    pub is_internal: bool,
    /// Partitions sorted by index.
    pub partitions: Vec<PartitionInfo>,
}

/// A snapshot of the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterMetadata {
    /// Cluster id, if the broker sent one.
    pub cluster_id: Option<String>,
    /// Controller node id (-1: unknown).
    pub controller_id: i32,
    /// Brokers by node id.
    pub brokers: BTreeMap<i32, BrokerInfo>,
    /// Topics by name (only those asked for, or all after a full refresh).
    pub topics: BTreeMap<String, TopicInfo>,
}

/// Builds a Metadata request: `None` asks for every topic, `Some(&[])` for brokers only.
pub fn request(topics: Option<&[String]>, version: i16) -> MetadataRequest {
    let mut req = MetadataRequest::default();
    req.topics = topics.map(|ts| {
        ts.iter()
            .map(|t| {
                let mut mt = MetadataRequestTopic::default();
                mt.name = Some(TopicName(StrBytes::from_string(t.clone())));
                mt
            })
            .collect()
    });
    if version >= 4 {
        req.allow_auto_topic_creation = false;
    }
    req
}

/// Converts a Metadata response.
pub fn from_response(resp: &MetadataResponse) -> ClusterMetadata {
    let brokers = resp
        .brokers
        .iter()
        .map(|b| {
            let info = BrokerInfo {
                node_id: b.node_id.0,
                host: b.host.to_string(),
                port: b.port,
                rack: b.rack.as_ref().map(|r| r.to_string()),
            };
            (info.node_id, info)
        })
        .collect();
    let topics = resp
        .topics
        .iter()
        .filter_map(|t| {
            let name = t.name.as_ref()?.0.to_string();
            let mut partitions: Vec<PartitionInfo> = t
                .partitions
                .iter()
                .map(|p| PartitionInfo {
                    partition: p.partition_index,
                    leader: p.leader_id.0,
                    leader_epoch: p.leader_epoch,
                    replicas: p.replica_nodes.iter().map(|n| n.0).collect(),
                    isr: p.isr_nodes.iter().map(|n| n.0).collect(),
                    offline: p.offline_replicas.iter().map(|n| n.0).collect(),
                    error_code: p.error_code,
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            Some((
                name.clone(),
                TopicInfo {
                    name,
                    error_code: t.error_code,
                    is_internal: t.is_internal,
                    partitions,
                },
            ))
        })
        .collect();
    ClusterMetadata {
        cluster_id: resp.cluster_id.as_ref().map(|c| c.to_string()),
        controller_id: resp.controller_id.0,
        brokers,
        topics,
    }
}
