//! Consumer-group administration over the classic group APIs: FindCoordinator, ListGroups,
//! DescribeGroups (with the "consumer" protocol's assignments decoded), OffsetFetch,
//! OffsetCommit and DeleteGroups. Each call finds the group's coordinator first and retries
//! COORDINATOR_LOAD_IN_PROGRESS / COORDINATOR_NOT_AVAILABLE / NOT_COORDINATOR with backoff.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{
    ApiKey, ConsumerProtocolAssignment, DeleteGroupsRequest, DescribeGroupsRequest,
    FindCoordinatorRequest, GroupId, ListGroupsRequest, OffsetCommitRequest, OffsetFetchRequest,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};

use crate::connection::Connection;
use crate::error::{ClientError, Result};
use crate::Client;

/// A group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    /// Group id.
    pub group_id: String,
    /// Protocol type ("consumer" for consumer groups).
    pub protocol_type: String,
    /// State, when the broker sends it (ListGroups v4+).
    pub state: Option<String>,
}

/// One member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// Member id.
    pub member_id: String,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Assigned partitions (topic -> partitions), decoded for the "consumer" protocol.
    pub assignment: BTreeMap<String, Vec<i32>>,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// Group id.
    pub group_id: String,
    /// State (Empty, Stable, PreparingRebalance, CompletingRebalance, Dead).
    pub state: String,
    /// Protocol type.
    pub protocol_type: String,
    /// Chosen protocol (the assignor, e.g. "range").
    pub protocol: String,
    /// Members.
    pub members: Vec<GroupMember>,
}

/// Committed offsets by (topic, partition).
pub type CommittedOffsets = BTreeMap<(String, i32), i64>;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// Decodes a "consumer" protocol assignment (version i16 prefix, then the body).
pub fn decode_assignment(bytes: &Bytes) -> Option<BTreeMap<String, Vec<i32>>> {
    if bytes.len() < 2 {
        return None;
    }
    let mut b = bytes.clone();
    let version = b.get_i16();
    let a = ConsumerProtocolAssignment::decode(&mut b, version.clamp(0, 3)).ok()?;
    Some(
        a.assigned_partitions
            .into_iter()
            .map(|tp| (tp.topic.0.to_string(), tp.partitions))
            .collect(),
    )
}

impl Client {
    /// The coordinator of `group`.
    ///
    /// # Errors
    /// Connection errors; the broker's error after retries.
    pub async fn coordinator(&self, group: &str) -> Result<Arc<Connection>> {
        self.coordinator_of(0, group).await
    }

    /// A connection to the coordinator of `key`: a group (`key_type` 0) or a transactional
    /// id (1).
    ///
    /// # Errors
    /// Connection errors; the broker's FindCoordinator error once retries are spent.
    pub async fn coordinator_of(&self, key_type: i8, key: &str) -> Result<Arc<Connection>> {
        let group = key;
        self.retry(|_| async {
            let conn = self.any_connection().await?;
            let version = conn.version(ApiKey::FindCoordinator)?;
            let mut req = FindCoordinatorRequest::default();
            req.key_type = key_type;
            if version >= 4 {
                req.coordinator_keys = vec![s(group)];
            } else {
                req.key = s(group);
            }
            let resp = conn.call(&req, version).await?;
            let what = if key_type == 1 {
                "transactional id"
            } else {
                "group"
            };
            let context = || format!("find coordinator of {what} '{group}'");
            let (host, port) = if version >= 4 {
                let c = resp
                    .coordinators
                    .first()
                    .ok_or_else(|| ClientError::Protocol {
                        addr: conn.addr().into(),
                        reason: "FindCoordinator answer has no coordinator".into(),
                    })?;
                ClientError::check(c.error_code, context, c.error_message.as_deref())?;
                (c.host.to_string(), c.port)
            } else {
                ClientError::check(resp.error_code, context, resp.error_message.as_deref())?;
                (resp.host.to_string(), resp.port)
            };
            self.connection_to_addr(&format!("{host}:{port}")).await
        })
        .await
    }

    /// Every group on every broker.
    ///
    /// # Errors
    /// Connection errors; a broker's error.
    pub async fn list_groups(&self) -> Result<Vec<ListedGroup>> {
        let brokers = self.refresh_metadata(Some(&[])).await?.brokers;
        let mut out = Vec::new();
        for b in brokers.values() {
            let conn = self.connection_to_addr(&b.addr()).await?;
            let version = conn.version(ApiKey::ListGroups)?;
            let resp = conn.call(&ListGroupsRequest::default(), version).await?;
            ClientError::check(
                resp.error_code,
                || format!("list groups on broker {}", b.node_id),
                None,
            )?;
            out.extend(resp.groups.into_iter().map(|g| ListedGroup {
                group_id: g.group_id.0.to_string(),
                protocol_type: g.protocol_type.to_string(),
                state: (version >= 4).then(|| g.group_state.to_string()),
            }));
        }
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out.dedup();
        Ok(out)
    }

    /// Describes one group (state Dead means it does not exist).
    ///
    /// # Errors
    /// Connection errors; the group's error.
    pub async fn describe_group(&self, group: &str) -> Result<GroupDescription> {
        self.retry(|_| async {
            let conn = self.coordinator(group).await?;
            let version = conn.version(ApiKey::DescribeGroups)?;
            let mut req = DescribeGroupsRequest::default();
            req.groups = vec![GroupId(s(group))];
            let resp = conn.call(&req, version).await?;
            let g = resp
                .groups
                .into_iter()
                .next()
                .ok_or_else(|| ClientError::Protocol {
                    addr: conn.addr().into(),
                    reason: "DescribeGroups answer is empty".into(),
                })?;
            ClientError::check(
                g.error_code,
                || format!("describe group '{group}'"),
                g.error_message.as_deref(),
            )?;
            let consumer = g.protocol_type.as_str() == "consumer";
            Ok(GroupDescription {
                group_id: g.group_id.0.to_string(),
                state: g.group_state.to_string(),
                protocol_type: g.protocol_type.to_string(),
                protocol: g.protocol_data.to_string(),
                members: g
                    .members
                    .into_iter()
                    .map(|m| GroupMember {
                        member_id: m.member_id.to_string(),
                        client_id: m.client_id.to_string(),
                        client_host: m.client_host.to_string(),
                        assignment: if consumer {
                            decode_assignment(&m.member_assignment).unwrap_or_default()
                        } else {
                            BTreeMap::new()
                        },
                    })
                    .collect(),
            })
        })
        .await
    }

    /// Committed offsets of `group` (`topics`: `None` for every topic the group has
    /// offsets for). Partitions without a committed offset are left out.
    ///
    /// # Errors
    /// Connection errors; the group's error.
    pub async fn committed_offsets(
        &self,
        group: &str,
        topics: Option<&[(String, Vec<i32>)]>,
    ) -> Result<CommittedOffsets> {
        self.retry(|_| async {
            let conn = self.coordinator(group).await?;
            let version = conn.version(ApiKey::OffsetFetch)?;
            let mut req = OffsetFetchRequest::default();
            let context = || format!("fetch committed offsets of group '{group}'");
            let mut out = BTreeMap::new();
            if version >= 8 {
                let mut g = OffsetFetchRequestGroup::default();
                g.group_id = GroupId(s(group));
                g.topics = topics.map(|ts| {
                    ts.iter()
                        .map(|(t, ps)| {
                            let mut rt = OffsetFetchRequestTopics::default();
                            rt.name = TopicName(s(t));
                            rt.partition_indexes = ps.clone();
                            rt
                        })
                        .collect()
                });
                req.groups = vec![g];
                let resp = conn.call(&req, version).await?;
                for g in resp.groups {
                    ClientError::check(g.error_code, context, None)?;
                    for t in g.topics {
                        for p in t.partitions {
                            ClientError::check(p.error_code, context, None)?;
                            if p.committed_offset >= 0 {
                                out.insert(
                                    (t.name.0.to_string(), p.partition_index),
                                    p.committed_offset,
                                );
                            }
                        }
                    }
                }
            } else {
                req.group_id = GroupId(s(group));
                req.topics = topics.map(|ts| {
                    ts.iter()
                        .map(|(t, ps)| {
                            let mut rt = OffsetFetchRequestTopic::default();
                            rt.name = TopicName(s(t));
                            rt.partition_indexes = ps.clone();
                            rt
                        })
                        .collect()
                });
                let resp = conn.call(&req, version).await?;
                ClientError::check(resp.error_code, context, None)?;
                for t in resp.topics {
                    for p in t.partitions {
                        ClientError::check(p.error_code, context, None)?;
                        if p.committed_offset >= 0 {
                            out.insert(
                                (t.name.0.to_string(), p.partition_index),
                                p.committed_offset,
                            );
                        }
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    /// Commits offsets for `group`. `generation` -1 with an empty `member_id` is Kafka's
    /// "simple consumer" commit (no membership; the group must be empty).
    ///
    /// # Errors
    /// The first partition's error (e.g. UNKNOWN_MEMBER_ID while the group has members).
    pub async fn commit_offsets(
        &self,
        group: &str,
        generation: i32,
        member_id: &str,
        offsets: &CommittedOffsets,
    ) -> Result<()> {
        self.retry(|_| async {
            let conn = self.coordinator(group).await?;
            let version = conn.version(ApiKey::OffsetCommit)?;
            let mut by_topic: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
            for ((t, p), o) in offsets {
                let mut rp = OffsetCommitRequestPartition::default();
                rp.partition_index = *p;
                rp.committed_offset = *o;
                by_topic.entry(t.as_str()).or_default().push(rp);
            }
            let mut req = OffsetCommitRequest::default();
            req.group_id = GroupId(s(group));
            req.generation_id_or_member_epoch = generation;
            req.member_id = s(member_id);
            req.topics = by_topic
                .into_iter()
                .map(|(t, ps)| {
                    let mut rt = OffsetCommitRequestTopic::default();
                    rt.name = TopicName(s(t));
                    rt.partitions = ps;
                    rt
                })
                .collect();
            let resp = conn.call(&req, version).await?;
            for t in resp.topics {
                for p in t.partitions {
                    let context = || {
                        format!(
                            "commit offset of {}-{} for group '{group}'",
                            t.name.0, p.partition_index
                        )
                    };
                    ClientError::check(p.error_code, context, None)?;
                }
            }
            Ok(())
        })
        .await
    }

    /// Deletes groups (each must be empty).
    ///
    /// # Errors
    /// The first group's error (NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND, ...).
    pub async fn delete_groups(&self, groups: &[String]) -> Result<()> {
        for group in groups {
            self.retry(|_| async {
                let conn = self.coordinator(group).await?;
                let version = conn.version(ApiKey::DeleteGroups)?;
                let mut req = DeleteGroupsRequest::default();
                req.groups_names = vec![GroupId(s(group))];
                let resp = conn.call(&req, version).await?;
                for r in resp.results {
                    ClientError::check(r.error_code, || format!("delete group '{group}'"), None)?;
                }
                Ok(())
            })
            .await?;
        }
        Ok(())
    }
}
