//! KRaft-style cluster settings: `process.roles`, `controller.quorum.voters`, the controller
//! listener, `broker.rack`, heartbeat and session timeouts, and the cluster id for a new
//! multi-node cluster.
//!
//! Without `controller.quorum.voters` a node runs alone with a local metadata log (the
//! default single node, broker and controller in one). With it, `process.roles` says what the
//! node is: `controller` (a voter of the Raft metadata quorum, never a broker), `broker` (serves
//! clients and hosts partitions, follows the committed metadata log without voting), or
//! `broker,controller` (both, the default).

use crate::config_value::{parse_int, ConfigError, Listener};

/// `process.roles`: what this node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// Serves Kafka clients, hosts partitions, registers and heartbeats.
    pub broker: bool,
    /// A voter of the metadata quorum that can become the active controller.
    pub controller: bool,
}

/// How this node takes part in a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `process.roles`.
    pub roles: Roles,
    /// `controller.quorum.voters`, parsed later by the quorum (`None`: single node, local log).
    pub quorum_voters: Option<String>,
    /// Where this node serves its controller peers (the `CONTROLLER` listener).
    pub controller_listener: Option<Listener>,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// `broker.heartbeat.interval.ms`: how often a broker heartbeats to the active controller.
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

    /// True for a broker-only node of a cluster: it follows the metadata log without voting.
    pub fn is_observer(&self) -> bool {
        self.is_quorum() && !self.roles.controller
    }
}

/// Parses `process.roles`: `broker`, `controller` or both, comma-separated, each once.
fn parse_roles(value: &str) -> Result<Roles, ConfigError> {
    let mut roles = Roles {
        broker: false,
        controller: false,
    };
    for part in value.split(',').map(str::trim) {
        let slot = match part {
            "broker" => &mut roles.broker,
            "controller" => &mut roles.controller,
            _ => {
                return Err(invalid(
                    "process.roles",
                    value,
                    "expected broker, controller, or broker,controller",
                ))
            }
        };
        if *slot {
            return Err(invalid(
                "process.roles",
                value,
                &format!("{part} is listed twice"),
            ));
        }
        *slot = true;
    }
    Ok(roles)
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
    let roles = parse_roles(&get("process.roles"))?;
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
    if quorum_voters.is_none()
        && roles
            != (Roles {
                broker: true,
                controller: true,
            })
    {
        return Err(invalid(
            "process.roles",
            &get("process.roles"),
            "a node with one role is part of a cluster: set controller.quorum.voters too \
             (a lone node runs broker,controller)",
        ));
    }
    if quorum_voters.is_some() && roles.controller && controller_listener.is_none() {
        return Err(invalid(
            "listeners",
            &get("listeners"),
            "this node is a controller, so listeners needs a CONTROLLER://host:port entry",
        ));
    }
    let opt = |k: &str| {
        let v = get(k);
        (!v.trim().is_empty()).then(|| v.trim().to_string())
    };
    Ok(ClusterConfig {
        roles,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_listeners;

    fn parse(pairs: &[(&str, &str)]) -> Result<ClusterConfig, ConfigError> {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
                .or_else(|| {
                    crate::config::BROKER_DEFAULTS
                        .iter()
                        .find(|(key, _)| *key == k)
                        .map(|(_, v)| v.to_string())
                })
                .unwrap_or_default()
        };
        let listeners = parse_listeners("listeners", &get("listeners"))?;
        parse_cluster_config(get, &listeners)
    }

    const VOTERS: (&str, &str) = ("controller.quorum.voters", "1@127.0.0.1:9093");
    const BOTH: (&str, &str) = (
        "listeners",
        "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
    );

    #[test]
    fn roles_parse_in_any_order_and_default_to_both() {
        let c = parse(&[]).unwrap();
        assert_eq!(
            c.roles,
            Roles {
                broker: true,
                controller: true
            }
        );
        assert!(!c.is_quorum());
        let c = parse(&[("process.roles", "controller, broker"), VOTERS, BOTH]).unwrap();
        assert_eq!(
            c.roles,
            Roles {
                broker: true,
                controller: true
            }
        );
        let c = parse(&[("process.roles", "broker"), VOTERS]).unwrap();
        assert!(c.is_observer() && c.controller_listener.is_none());
        let c = parse(&[
            ("process.roles", "controller"),
            VOTERS,
            ("listeners", "CONTROLLER://127.0.0.1:9093"),
        ])
        .unwrap();
        assert!(c.roles.controller && !c.roles.broker);
    }

    #[test]
    fn bad_roles_are_refused_with_the_reason() {
        for (roles, why) in [
            ("worker", "expected broker, controller"),
            ("broker,broker", "listed twice"),
            ("", "expected broker"),
        ] {
            let e = parse(&[("process.roles", roles), VOTERS, BOTH]).unwrap_err();
            assert!(e.to_string().contains(why), "{roles}: {e}");
        }
        let e = parse(&[("process.roles", "broker")]).unwrap_err();
        assert!(e.to_string().contains("controller.quorum.voters"), "{e}");
        let e = parse(&[("process.roles", "controller"), VOTERS]).unwrap_err();
        assert!(e.to_string().contains("CONTROLLER://"), "{e}");
    }
}
