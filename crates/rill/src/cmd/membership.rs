//! How `rill consume` relates to a consumer group: none; a simple member (`--group` with
//! `--partition`: manual assignment, commits with generation -1 like Kafka's `assign()`
//! consumers); or a joined member (`--group` alone: JoinGroup/SyncGroup with the range
//! assignor, heartbeats, commits in its generation, LeaveGroup on exit).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rill_client::member::{GroupMember, MemberConfig};
use rill_client::Client;

/// The consumer's group role.
pub enum Membership {
    /// No group.
    None,
    /// Manual assignment; commits with generation -1.
    Simple {
        /// Group id.
        group: String,
    },
    /// A joined member.
    Joined {
        /// The membership.
        member: Box<GroupMember>,
        /// When the last heartbeat went out.
        last_heartbeat: Instant,
    },
}

/// The partitions of `topic` in a member's assignment.
fn assigned(member: &GroupMember, topic: &str) -> Vec<i32> {
    member.assignment().get(topic).cloned().unwrap_or_default()
}

impl Membership {
    /// Sets up the role; returns it with the partitions to read.
    ///
    /// # Errors
    /// Join errors.
    pub async fn start(
        client: &Client,
        group: Option<&str>,
        fixed_partition: Option<i32>,
        topic: &str,
        all: Vec<i32>,
    ) -> anyhow::Result<(Membership, Vec<i32>)> {
        match (group, fixed_partition) {
            (None, _) => Ok((Membership::None, all)),
            (Some(g), Some(_)) => Ok((
                Membership::Simple {
                    group: g.to_string(),
                },
                all,
            )),
            (Some(g), None) => {
                let member = GroupMember::join(
                    client.clone(),
                    g,
                    vec![topic.to_string()],
                    MemberConfig::default(),
                )
                .await?;
                let parts = assigned(&member, topic);
                let (id, generation) = member.identity();
                eprintln!("rill: joined group {g} as {id} (generation {generation}); assigned {topic} partitions {parts:?}");
                Ok((
                    Membership::Joined {
                        member: Box::new(member),
                        last_heartbeat: Instant::now(),
                    },
                    parts,
                ))
            }
        }
    }

    /// Heartbeats when due; after a rebalance commits `positions`, rejoins and returns the new
    /// partitions.
    ///
    /// # Errors
    /// Heartbeat, commit or join errors.
    pub async fn tick(
        &mut self,
        topic: &str,
        positions: &BTreeMap<i32, i64>,
    ) -> anyhow::Result<Option<Vec<i32>>> {
        let Membership::Joined {
            member,
            last_heartbeat,
        } = self
        else {
            return Ok(None);
        };
        if last_heartbeat.elapsed() < member.heartbeat_interval() {
            return Ok(None);
        }
        *last_heartbeat = Instant::now();
        if !member.heartbeat().await? {
            return Ok(None);
        }
        if let Err(e) = member.commit(&offsets(topic, positions)).await {
            eprintln!("rill: warning: commit before rebalance failed: {e}");
        }
        member.rejoin().await?;
        let parts = assigned(member, topic);
        eprintln!(
            "rill: rebalanced (generation {}); assigned {topic} partitions {parts:?}",
            member.identity().1
        );
        Ok(Some(parts))
    }

    /// Commits `positions` in the group (nothing without one).
    ///
    /// # Errors
    /// Commit errors.
    pub async fn commit(
        &self,
        client: &Client,
        topic: &str,
        positions: &BTreeMap<i32, i64>,
    ) -> anyhow::Result<()> {
        match self {
            Membership::None => {}
            Membership::Simple { group } => {
                client
                    .commit_offsets(group, -1, "", &offsets(topic, positions))
                    .await?
            }
            Membership::Joined { member, .. } => member.commit(&offsets(topic, positions)).await?,
        }
        Ok(())
    }

    /// Leaves a joined group.
    pub async fn finish(&self) {
        if let Membership::Joined { member, .. } = self {
            if let Err(e) = member.leave().await {
                eprintln!("rill: warning: leaving the group failed: {e}");
            }
        }
    }

    /// How long to wait when there is nothing to read.
    pub fn idle_pause() -> Duration {
        Duration::from_millis(100)
    }
}

fn offsets(topic: &str, positions: &BTreeMap<i32, i64>) -> rill_client::groups::CommittedOffsets {
    positions
        .iter()
        .map(|(p, o)| ((topic.to_string(), *p), *o))
        .collect()
}
