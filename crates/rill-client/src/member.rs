//! [`GroupMember`]: membership in a classic consumer group (JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup) with protocol type "consumer" and the range assignor, as Kafka's
//! `RangeAssignor`: per topic, members sorted by id, partitions split into consecutive runs,
//! the first `partitions % members` members getting one more.
//!
//! Invariants: `assignment` is only valid for `generation`; after [`GroupMember::heartbeat`]
//! reports a rebalance the caller commits (still allowed in the old generation) and calls
//! [`GroupMember::rejoin`]. Subscriptions and assignments use the consumer protocol's v0
//! layout (an i16 version, then the body), which every Kafka client reads.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, ConsumerProtocolAssignment, ConsumerProtocolSubscription, GroupId, HeartbeatRequest,
    JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::connection::Connection;
use crate::error::{ClientError, Result};
use crate::groups::{decode_assignment, CommittedOffsets};
use crate::Client;

/// Error codes that mean "rejoin the group".
const REJOIN_CODES: [i16; 3] = [22, 25, 27];

/// Timeouts of a membership.
#[derive(Debug, Clone, Copy)]
pub struct MemberConfig {
    /// `session.timeout.ms`.
    pub session_timeout: Duration,
    /// `max.poll.interval.ms` (the rebalance timeout).
    pub rebalance_timeout: Duration,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
}

impl Default for MemberConfig {
    fn default() -> Self {
        MemberConfig {
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(3),
        }
    }
}

/// A member of a consumer group.
pub struct GroupMember {
    /// The client.
    client: Client,
    /// The group id.
    group: String,
    /// Subscribed topics.
    topics: Vec<String>,
    /// Timeouts.
    config: MemberConfig,
    /// Connection to the coordinator.
    coordinator: Arc<Connection>,
    /// Our member id (empty before the first join).
    member_id: String,
    /// Current generation.
    generation: i32,
    /// Partitions assigned in this generation.
    assignment: BTreeMap<String, Vec<i32>>,
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn encode_versioned<T: Encodable>(v: &T) -> Result<Bytes> {
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    v.encode(&mut buf, 0).map_err(|e| ClientError::Codec {
        what: "encode",
        api: "ConsumerProtocol".into(),
        version: 0,
        reason: e.to_string(),
    })?;
    Ok(buf.freeze())
}

/// Decodes a subscription's topics (any version).
fn subscribed_topics(metadata: &Bytes) -> Vec<String> {
    if metadata.len() < 2 {
        return Vec::new();
    }
    let mut b = metadata.clone();
    let version = b.get_i16().clamp(0, 3);
    ConsumerProtocolSubscription::decode(&mut b, version)
        .map(|sub| sub.topics.iter().map(|t| t.to_string()).collect())
        .unwrap_or_default()
}

/// Kafka's range assignment: member id -> topic -> partitions.
pub fn range_assign(
    subscriptions: &BTreeMap<String, Vec<String>>,
    partition_counts: &BTreeMap<String, usize>,
) -> BTreeMap<String, BTreeMap<String, Vec<i32>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<i32>>> = subscriptions
        .keys()
        .map(|m| (m.clone(), BTreeMap::new()))
        .collect();
    for (topic, &count) in partition_counts {
        let members: Vec<&String> = subscriptions
            .iter()
            .filter(|(_, ts)| ts.contains(topic))
            .map(|(m, _)| m)
            .collect();
        if members.is_empty() {
            continue;
        }
        let (per, extra) = (count / members.len(), count % members.len());
        let mut next = 0;
        for (i, m) in members.iter().enumerate() {
            let n = per + usize::from(i < extra);
            let parts: Vec<i32> = (next..next + n).map(|p| p as i32).collect();
            next += n;
            if let Some(a) = out.get_mut(*m) {
                a.insert(topic.clone(), parts);
            }
        }
    }
    out
}

impl GroupMember {
    /// Joins `group` subscribed to `topics` and waits for the first assignment.
    ///
    /// # Errors
    /// Coordinator or join errors.
    pub async fn join(
        client: Client,
        group: &str,
        topics: Vec<String>,
        config: MemberConfig,
    ) -> Result<GroupMember> {
        let coordinator = client.coordinator(group).await?;
        let mut m = GroupMember {
            client,
            group: group.to_string(),
            topics,
            config,
            coordinator,
            member_id: String::new(),
            generation: -1,
            assignment: BTreeMap::new(),
        };
        m.rejoin().await?;
        Ok(m)
    }

    /// Partitions assigned in the current generation.
    pub fn assignment(&self) -> &BTreeMap<String, Vec<i32>> {
        &self.assignment
    }

    /// Member id and generation.
    pub fn identity(&self) -> (&str, i32) {
        (&self.member_id, self.generation)
    }

    /// How often to heartbeat.
    pub fn heartbeat_interval(&self) -> Duration {
        self.config.heartbeat_interval
    }

    /// Joins again (after a rebalance was signalled): JoinGroup, assign if leader, SyncGroup.
    ///
    /// # Errors
    /// Coordinator or join errors (after retries).
    pub async fn rejoin(&mut self) -> Result<()> {
        for _ in 0..20 {
            match self.join_once().await {
                Ok(()) => return Ok(()),
                Err(e)
                    if e.kafka_code()
                        .is_some_and(|c| REJOIN_CODES.contains(&c) || c == 79) =>
                {
                    continue
                }
                Err(e) if e.is_retriable() => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    self.coordinator = self.client.coordinator(&self.group).await?;
                }
                Err(e) => return Err(e),
            }
        }
        Err(ClientError::Invalid(format!(
            "could not join group '{}' after 20 attempts",
            self.group
        )))
    }

    async fn join_once(&mut self) -> Result<()> {
        let conn = self.coordinator.clone();
        let version = conn.version(ApiKey::JoinGroup)?;
        let mut sub = ConsumerProtocolSubscription::default();
        sub.topics = self.topics.iter().map(|t| s(t)).collect();
        let mut proto = JoinGroupRequestProtocol::default();
        proto.name = s("range");
        proto.metadata = encode_versioned(&sub)?;
        let mut req = JoinGroupRequest::default();
        req.group_id = GroupId(s(&self.group));
        req.session_timeout_ms = self.config.session_timeout.as_millis() as i32;
        if version >= 1 {
            req.rebalance_timeout_ms = self.config.rebalance_timeout.as_millis() as i32;
        }
        req.member_id = s(&self.member_id);
        req.protocol_type = s("consumer");
        req.protocols = vec![proto];
        let resp = conn.call(&req, version).await?;
        if resp.error_code == 79 {
            // KIP-394: the coordinator hands out the member id; join again with it.
            self.member_id = resp.member_id.to_string();
        }
        if resp.error_code == 25 {
            self.member_id.clear();
        }
        ClientError::check(
            resp.error_code,
            || format!("join group '{}'", self.group),
            None,
        )?;
        self.member_id = resp.member_id.to_string();
        self.generation = resp.generation_id;
        let assignments = if resp.leader == resp.member_id {
            self.leader_assign(
                &resp
                    .members
                    .iter()
                    .map(|m| (m.member_id.to_string(), m.metadata.clone()))
                    .collect::<Vec<_>>(),
            )
            .await?
        } else {
            Vec::new()
        };
        let sync_version = conn.version(ApiKey::SyncGroup)?;
        let mut sync = SyncGroupRequest::default();
        sync.group_id = GroupId(s(&self.group));
        sync.generation_id = self.generation;
        sync.member_id = s(&self.member_id);
        if sync_version >= 5 {
            sync.protocol_type = Some(s("consumer"));
            sync.protocol_name = Some(s("range"));
        }
        sync.assignments = assignments;
        let sresp = conn.call(&sync, sync_version).await?;
        ClientError::check(
            sresp.error_code,
            || format!("sync group '{}'", self.group),
            None,
        )?;
        self.assignment = decode_assignment(&sresp.assignment).unwrap_or_default();
        Ok(())
    }

    async fn leader_assign(
        &self,
        members: &[(String, Bytes)],
    ) -> Result<Vec<SyncGroupRequestAssignment>> {
        let subscriptions: BTreeMap<String, Vec<String>> = members
            .iter()
            .map(|(id, meta)| (id.clone(), subscribed_topics(meta)))
            .collect();
        let mut topics: Vec<String> = subscriptions.values().flatten().cloned().collect();
        topics.sort();
        topics.dedup();
        let md = self.client.refresh_metadata(Some(&topics)).await?;
        let counts: BTreeMap<String, usize> = md
            .topics
            .iter()
            .filter(|(_, t)| t.error_code == 0)
            .map(|(n, t)| (n.clone(), t.partitions.len()))
            .collect();
        let plan = range_assign(&subscriptions, &counts);
        plan.into_iter()
            .map(|(member, parts)| {
                let mut a = ConsumerProtocolAssignment::default();
                a.assigned_partitions = parts
                    .into_iter()
                    .map(|(t, ps)| {
                        let mut tp = TopicPartition::default();
                        tp.topic = TopicName(s(&t));
                        tp.partitions = ps;
                        tp
                    })
                    .collect();
                let mut sa = SyncGroupRequestAssignment::default();
                sa.member_id = s(&member);
                sa.assignment = encode_versioned(&a)?;
                Ok(sa)
            })
            .collect()
    }

    /// Sends a heartbeat. `Ok(true)` means the group is rebalancing: commit, then
    /// [`GroupMember::rejoin`].
    ///
    /// # Errors
    /// Other heartbeat errors.
    pub async fn heartbeat(&mut self) -> Result<bool> {
        let version = self.coordinator.version(ApiKey::Heartbeat)?;
        let mut req = HeartbeatRequest::default();
        req.group_id = GroupId(s(&self.group));
        req.generation_id = self.generation;
        req.member_id = s(&self.member_id);
        let resp = self.coordinator.call(&req, version).await?;
        if REJOIN_CODES.contains(&resp.error_code) {
            return Ok(true);
        }
        ClientError::check(
            resp.error_code,
            || format!("heartbeat to group '{}'", self.group),
            None,
        )?;
        Ok(false)
    }

    /// Commits offsets in this member's generation.
    ///
    /// # Errors
    /// Commit errors (ILLEGAL_GENERATION after a rebalance, ...).
    pub async fn commit(&self, offsets: &CommittedOffsets) -> Result<()> {
        self.client
            .commit_offsets(&self.group, self.generation, &self.member_id, offsets)
            .await
    }

    /// Leaves the group so the others rebalance at once.
    ///
    /// # Errors
    /// LeaveGroup errors.
    pub async fn leave(&self) -> Result<()> {
        let version = self.coordinator.version(ApiKey::LeaveGroup)?;
        let mut req = LeaveGroupRequest::default();
        req.group_id = GroupId(s(&self.group));
        if version >= 3 {
            let mut mi = MemberIdentity::default();
            mi.member_id = s(&self.member_id);
            req.members = vec![mi];
        } else {
            req.member_id = s(&self.member_id);
        }
        let resp = self.coordinator.call(&req, version).await?;
        ClientError::check(
            resp.error_code,
            || format!("leave group '{}'", self.group),
            None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_matches_kafka() {
        // Kafka's RangeAssignorTest: 2 consumers, 2 topics of 3 partitions.
        let subs: BTreeMap<String, Vec<String>> =
            [("c0", vec!["t1", "t2"]), ("c1", vec!["t1", "t2"])]
                .into_iter()
                .map(|(m, ts)| (m.to_string(), ts.into_iter().map(String::from).collect()))
                .collect();
        let counts: BTreeMap<String, usize> = [("t1".to_string(), 3), ("t2".to_string(), 3)].into();
        let plan = range_assign(&subs, &counts);
        assert_eq!(plan["c0"]["t1"], vec![0, 1]);
        assert_eq!(plan["c1"]["t1"], vec![2]);
        assert_eq!(plan["c0"]["t2"], vec![0, 1]);
        assert_eq!(plan["c1"]["t2"], vec![2]);
        // More members than partitions: the last ones get nothing.
        let subs3: BTreeMap<String, Vec<String>> = ["a", "b", "c"]
            .iter()
            .map(|m| (m.to_string(), vec!["t".to_string()]))
            .collect();
        let plan = range_assign(&subs3, &[("t".to_string(), 2)].into());
        assert_eq!(
            (
                plan["a"]["t"].clone(),
                plan["b"]["t"].clone(),
                plan["c"]["t"].clone()
            ),
            (vec![0], vec![1], vec![])
        );
    }

    #[test]
    fn subscription_round_trip() {
        let mut sub = ConsumerProtocolSubscription::default();
        sub.topics = vec![s("x"), s("y")];
        let bytes = encode_versioned(&sub).unwrap();
        assert_eq!(
            subscribed_topics(&bytes),
            vec!["x".to_string(), "y".to_string()]
        );
        let mut a = ConsumerProtocolAssignment::default();
        let mut tp = TopicPartition::default();
        tp.topic = TopicName(s("x"));
        tp.partitions = vec![1, 2];
        a.assigned_partitions = vec![tp];
        let decoded = decode_assignment(&encode_versioned(&a).unwrap()).unwrap();
        assert_eq!(decoded["x"], vec![1, 2]);
    }
}
