//! KRaft-style cluster settings: `process.roles`, `controller.quorum.voters`, the controller
//! listener, `broker.rack`, heartbeat and session timeouts, and the cluster id for a new
//! multi-node cluster.
//!
//! Without `controller.quorum.voters` a node runs alone with a local metadata log (the
//! default single node). With it, the node is a voter of a Raft metadata quorum; every node
//! of a Rill cluster today runs broker and controller together.

use crate::config::{parse_int, ConfigError, Listener};

/// How this node takes part in a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `controller.quorum.voters`, parsed later by the quorum (`None`: single node, local log).
    pub quorum_voters: Option<String>,
    /// Where this node serves its controller peers (the `CONTROLLER` listener).
    pub controller_listener: Option<Listener>,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// `broker.heartbeat.interval.ms`: how often the controller loop checks liveness.
    pub heartbeat_interval_ms: u64,
    /// `broker.session.timeout.ms`: a broker silent this long is fenced.
    pub session_timeout_ms: u64,
    /// `cluster.id`: the id to format a fresh multi-node data directory with.
    pub cluster_id: Option<String>,
}

impl ClusterConfig {
    /// True when this node is a member of a Raft metadata quorum.
    pub fn is_quorum(&self) -> bool {
        self.quorum_voters.is_some()
    }
}

fn invalid(key: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// Reads the cluster settings; `get` returns a key's effective value ("" when unset) and
/// `listeners` are all entries of `listeners`.
///
/// # Errors
/// Unsupported roles, a missing controller listener, bad numbers.
pub fn parse_cluster_config(
    get: impl Fn(&str) -> String,
    listeners: &[Listener],
) -> Result<ClusterConfig, ConfigError> {
    let roles = get("process.roles");
    let mut parts: Vec<&str> = roles.split(',').map(str::trim).collect();
    parts.sort_unstable();
    if parts != ["broker", "controller"] {
        return Err(invalid(
            "process.roles",
            &roles,
            "Rill runs every node as broker and controller: use broker,controller",
        ));
    }
    let names = get("controller.listener.names");
    let controller_name = names
        .split(',')
        .next()
        .unwrap_or("CONTROLLER")
        .trim()
        .to_string();
    let controller_listener = listeners
        .iter()
        .find(|l| l.name == controller_name)
        .cloned();
    let voters = get("controller.quorum.voters");
    let quorum_voters = (!voters.trim().is_empty()).then(|| voters.trim().to_string());
    if quorum_voters.is_some() && controller_listener.is_none() {
        return Err(invalid(
            "listeners",
            &get("listeners"),
            "controller.quorum.voters is set, so listeners needs a CONTROLLER://host:port entry",
        ));
    }
    let opt = |k: &str| {
        let v = get(k);
        (!v.trim().is_empty()).then(|| v.trim().to_string())
    };
    Ok(ClusterConfig {
        quorum_voters,
        controller_listener,
        rack: opt("broker.rack"),
        heartbeat_interval_ms: parse_int(
            "broker.heartbeat.interval.ms",
            &get("broker.heartbeat.interval.ms"),
            10,
            i64::MAX,
        )? as u64,
        session_timeout_ms: parse_int(
            "broker.session.timeout.ms",
            &get("broker.session.timeout.ms"),
            100,
            i64::MAX,
        )? as u64,
        cluster_id: opt("cluster.id"),
    })
}
