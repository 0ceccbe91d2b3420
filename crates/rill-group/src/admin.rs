//! Group administration on the state machine: DescribeGroups, ListGroups, DeleteGroups.

use crate::classic::GroupState;
use crate::coordinator::{GroupCoordinator, Output};
use crate::error::GroupError;
use crate::records::{group_key, offset_key, CoordinatorRecord};

/// One member as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberDescription {
    /// Member id.
    pub member_id: String,
    /// Static id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Metadata of the selected protocol (empty unless Stable).
    pub metadata: bytes::Bytes,
    /// Assignment (empty unless Stable).
    pub assignment: bytes::Bytes,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupDescription {
    /// State name.
    pub state: GroupState,
    /// Protocol type ("" when none).
    pub protocol_type: String,
    /// Selected protocol ("" unless Stable).
    pub protocol: String,
    /// Members.
    pub members: Vec<MemberDescription>,
}

impl GroupCoordinator {
    /// DescribeGroups for one group; `None` when unknown.
    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let g = self.group(group_id)?;
        let stable = g.state == GroupState::Stable;
        let protocol = g.protocol_name.clone().unwrap_or_default();
        Some(GroupDescription {
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if stable {
                protocol.clone()
            } else {
                String::new()
            },
            members: g
                .members
                .values()
                .map(|m| MemberDescription {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata(&protocol)
                    } else {
                        Default::default()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Default::default()
                    },
                })
                .collect(),
        })
    }

    /// ListGroups: (group id, protocol type, state) of every live group, sorted by id.
    pub fn list(&self) -> Vec<(String, String, GroupState)> {
        let mut v: Vec<_> = self
            .groups
            .values()
            .filter(|g| g.state != GroupState::Dead)
            .map(|g| {
                (
                    g.group_id.clone(),
                    g.protocol_type.clone().unwrap_or_default(),
                    g.state,
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// DeleteGroups for one group: only empty groups; writes tombstones for its offsets
    /// (committed, or only pending in a transaction, as Kafka 4's `deleteAllOffsets`) and
    /// its metadata.
    ///
    /// # Errors
    /// GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, INVALID_GROUP_ID.
    pub fn delete_group(&mut self, group_id: &str) -> Result<Output, GroupError> {
        self.check_group(group_id)?;
        let g = self
            .group(group_id)
            .ok_or_else(|| GroupError::GroupIdNotFound(group_id.to_string()))?;
        if g.state != GroupState::Empty {
            return Err(GroupError::NonEmptyGroup(group_id.to_string()));
        }
        let partition = self.partition_for(group_id);
        let mut out = Output::default();
        for (topic, p) in g.offset_keys() {
            out.records.push(CoordinatorRecord {
                partition,
                key: offset_key(group_id, &topic, p),
                value: None,
            });
        }
        out.records.push(CoordinatorRecord {
            partition,
            key: group_key(group_id),
            value: None,
        });
        self.groups.remove(group_id);
        Ok(out)
    }
}
