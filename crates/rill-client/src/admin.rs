//! Administration: create, delete and grow topics; describe and alter configs; describe the
//! cluster. Requests go to the controller when the metadata names one (any broker of a KRaft
//! cluster forwards them). Creation and deletion are not retried blindly: a retry after a lost
//! answer would report TOPIC_ALREADY_EXISTS / UNKNOWN_TOPIC for work that was done.

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    ApiKey, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeClusterRequest, DescribeConfigsRequest, IncrementalAlterConfigsRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::error::{ClientError, Result};
use crate::metadata::BrokerInfo;
use crate::Client;

/// Kafka's config resource type for topics.
pub const RESOURCE_TOPIC: i8 = 2;
/// Kafka's config resource type for brokers.
pub const RESOURCE_BROKER: i8 = 4;

/// A topic to create.
#[derive(Debug, Clone)]
pub struct NewTopic {
    /// Name.
    pub name: String,
    /// Partitions (-1: the broker's num.partitions).
    pub partitions: i32,
    /// Replication factor (-1: the broker's default).
    pub replication_factor: i16,
    /// Topic configs (Kafka names).
    pub configs: Vec<(String, String)>,
}

/// One config entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Kafka's name.
    pub name: String,
    /// Value (`None`: sensitive or unset).
    pub value: Option<String>,
    /// Where it comes from, Kafka's enum names (DYNAMIC_TOPIC_CONFIG, DEFAULT_CONFIG, ...).
    pub source: String,
    /// Read-only.
    pub read_only: bool,
    /// Sensitive.
    pub sensitive: bool,
}

/// The cluster as DescribeCluster (or Metadata) tells it.
#[derive(Debug, Clone)]
pub struct ClusterDescription {
    /// Cluster id.
    pub cluster_id: String,
    /// Controller node id.
    pub controller_id: i32,
    /// Brokers.
    pub brokers: Vec<BrokerInfo>,
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn source_name(source: i8) -> &'static str {
    match source {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        7 => "CLIENT_METRICS_CONFIG",
        8 => "GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}

impl Client {
    /// Creates a topic and waits until its metadata shows leaders.
    ///
    /// # Errors
    /// The broker's error (TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS, ...).
    pub async fn create_topic(&self, topic: &NewTopic, timeout_ms: i32) -> Result<()> {
        let conn = self.controller_connection().await?;
        let version = conn.version(ApiKey::CreateTopics)?;
        let mut ct = CreatableTopic::default();
        ct.name = TopicName(s(&topic.name));
        ct.num_partitions = topic.partitions;
        ct.replication_factor = topic.replication_factor;
        ct.configs = topic
            .configs
            .iter()
            .map(|(k, v)| {
                let mut c = CreatableTopicConfig::default();
                c.name = s(k);
                c.value = Some(s(v));
                c
            })
            .collect();
        let mut req = CreateTopicsRequest::default();
        req.topics = vec![ct];
        req.timeout_ms = timeout_ms;
        let resp = conn.call(&req, version).await?;
        for r in &resp.topics {
            let context = || format!("create topic '{}'", topic.name);
            ClientError::check(r.error_code, context, r.error_message.as_deref())?;
        }
        // Wait for leaders so the next command can use the topic at once.
        self.retry(|_| async {
            let t = self.topic(&topic.name, true).await?;
            match t.partitions.iter().find(|p| p.leader < 0) {
                Some(p) => Err(ClientError::Kafka {
                    context: format!("partition {}-{}", t.name, p.partition),
                    code: 5,
                    message: None,
                }),
                None => Ok(()),
            }
        })
        .await
    }

    /// Deletes topics.
    ///
    /// # Errors
    /// The first topic's error (UNKNOWN_TOPIC_OR_PARTITION, ...).
    pub async fn delete_topics(&self, names: &[String], timeout_ms: i32) -> Result<()> {
        let conn = self.controller_connection().await?;
        let version = conn.version(ApiKey::DeleteTopics)?;
        let mut req = DeleteTopicsRequest::default();
        req.timeout_ms = timeout_ms;
        if version >= 6 {
            req.topics = names
                .iter()
                .map(|n| {
                    let mut t = DeleteTopicState::default();
                    t.name = Some(TopicName(s(n)));
                    t
                })
                .collect();
        } else {
            req.topic_names = names.iter().map(|n| TopicName(s(n))).collect();
        }
        let resp = conn.call(&req, version).await?;
        for r in &resp.responses {
            let name = r.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
            if r.error_code == 3 {
                return Err(ClientError::UnknownTopic { topic: name });
            }
            ClientError::check(
                r.error_code,
                || format!("delete topic '{name}'"),
                r.error_message.as_deref(),
            )?;
        }
        Ok(())
    }

    /// Grows a topic to `count` partitions.
    ///
    /// # Errors
    /// The broker's error (INVALID_PARTITIONS when not larger, ...).
    pub async fn create_partitions(&self, topic: &str, count: i32, timeout_ms: i32) -> Result<()> {
        let conn = self.controller_connection().await?;
        let version = conn.version(ApiKey::CreatePartitions)?;
        let mut t = CreatePartitionsTopic::default();
        t.name = TopicName(s(topic));
        t.count = count;
        t.assignments = None;
        let mut req = CreatePartitionsRequest::default();
        req.topics = vec![t];
        req.timeout_ms = timeout_ms;
        let resp = conn.call(&req, version).await?;
        for r in &resp.results {
            ClientError::check(
                r.error_code,
                || format!("add partitions to '{topic}'"),
                r.error_message.as_deref(),
            )?;
        }
        self.topic(topic, true).await?;
        Ok(())
    }

    /// Describes the configs of a resource ([`RESOURCE_TOPIC`] or [`RESOURCE_BROKER`]).
    ///
    /// # Errors
    /// The broker's error for the resource.
    pub async fn describe_configs(
        &self,
        resource_type: i8,
        name: &str,
    ) -> Result<Vec<ConfigEntry>> {
        let conn = self.controller_connection().await?;
        let version = conn.version(ApiKey::DescribeConfigs)?;
        let mut r = DescribeConfigsResource::default();
        r.resource_type = resource_type;
        r.resource_name = s(name);
        r.configuration_keys = None;
        let mut req = DescribeConfigsRequest::default();
        req.resources = vec![r];
        let resp = conn.call(&req, version).await?;
        let mut out = Vec::new();
        for res in resp.results {
            if res.error_code == 3 {
                return Err(ClientError::UnknownTopic { topic: name.into() });
            }
            ClientError::check(
                res.error_code,
                || format!("describe configs of '{name}'"),
                res.error_message.as_deref(),
            )?;
            for c in res.configs {
                out.push(ConfigEntry {
                    name: c.name.to_string(),
                    value: c.value.map(|v| v.to_string()),
                    source: source_name(c.config_source).to_string(),
                    read_only: c.read_only,
                    sensitive: c.is_sensitive,
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Sets and deletes (back to default) configs of a topic (IncrementalAlterConfigs).
    ///
    /// # Errors
    /// The broker's error (INVALID_CONFIG, ...).
    pub async fn alter_topic_configs(
        &self,
        topic: &str,
        set: &[(String, String)],
        delete: &[String],
    ) -> Result<()> {
        let conn = self.controller_connection().await?;
        let version = conn.version(ApiKey::IncrementalAlterConfigs)?;
        let mut configs: Vec<AlterableConfig> = set
            .iter()
            .map(|(k, v)| {
                let mut c = AlterableConfig::default();
                c.name = s(k);
                c.config_operation = 0;
                c.value = Some(s(v));
                c
            })
            .collect();
        configs.extend(delete.iter().map(|k| {
            let mut c = AlterableConfig::default();
            c.name = s(k);
            c.config_operation = 1;
            c.value = None;
            c
        }));
        let mut res = AlterConfigsResource::default();
        res.resource_type = RESOURCE_TOPIC;
        res.resource_name = s(topic);
        res.configs = configs;
        let mut req = IncrementalAlterConfigsRequest::default();
        req.resources = vec![res];
        let resp = conn.call(&req, version).await?;
        for r in &resp.responses {
            if r.error_code == 3 {
                return Err(ClientError::UnknownTopic {
                    topic: topic.into(),
                });
            }
            ClientError::check(
                r.error_code,
                || format!("alter configs of '{topic}'"),
                r.error_message.as_deref(),
            )?;
        }
        Ok(())
    }

    /// Describes the cluster (DescribeCluster, or Metadata when the broker lacks it).
    ///
    /// # Errors
    /// Connection errors.
    pub async fn describe_cluster(&self) -> Result<ClusterDescription> {
        let conn = self.any_connection().await?;
        if conn.versions().serves(ApiKey::DescribeCluster) {
            let version = conn.version(ApiKey::DescribeCluster)?;
            let req = DescribeClusterRequest::default();
            let resp = conn.call(&req, version).await?;
            ClientError::check(
                resp.error_code,
                || "describe cluster".into(),
                resp.error_message.as_deref(),
            )?;
            return Ok(ClusterDescription {
                cluster_id: resp.cluster_id.to_string(),
                controller_id: resp.controller_id.0,
                brokers: resp
                    .brokers
                    .iter()
                    .map(|b| BrokerInfo {
                        node_id: b.broker_id.0,
                        host: b.host.to_string(),
                        port: b.port,
                        rack: b.rack.as_ref().map(|r| r.to_string()),
                    })
                    .collect(),
            });
        }
        let m = self.refresh_metadata(Some(&[])).await?;
        Ok(ClusterDescription {
            cluster_id: m.cluster_id.unwrap_or_default(),
            controller_id: m.controller_id,
            brokers: m.brokers.into_values().collect(),
        })
    }
}
