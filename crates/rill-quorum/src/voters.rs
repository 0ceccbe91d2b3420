//! Parsing `controller.quorum.voters`: `1@127.0.0.1:9093,2@host-b:9093,3@[::1]:9093`.
//!
//! Ids are unique; each address is `host:port` with a numeric port. Pure functions.

use std::collections::BTreeMap;

use crate::{NodeId, QuorumError, Result};

/// Parses `id@host:port` entries separated by commas into voter addresses by id.
///
/// # Errors
/// [`QuorumError::InvalidVoters`] for an empty list, a missing `@`, a bad id or port, or a
/// duplicate id.
pub fn parse_voters(input: &str) -> Result<BTreeMap<NodeId, String>> {
    let bad = |reason: String| QuorumError::InvalidVoters {
        input: input.to_string(),
        reason,
    };
    let mut voters = BTreeMap::new();
    for part in input.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addr) = part
            .split_once('@')
            .ok_or_else(|| bad(format!("{part:?} is not id@host:port")))?;
        let id: NodeId = id
            .trim()
            .parse()
            .map_err(|_| bad(format!("{id:?} is not a node id")))?;
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| bad(format!("{addr:?} has no port")))?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(bad(format!("{addr:?} is not host:port")));
        }
        if voters.insert(id, addr.to_string()).is_some() {
            return Err(bad(format!("node id {id} appears twice")));
        }
    }
    if voters.is_empty() {
        return Err(bad("no voters".into()));
    }
    Ok(voters)
}

/// Formats voters back into the `controller.quorum.voters` form.
pub fn format_voters(voters: &BTreeMap<NodeId, String>) -> String {
    let parts: Vec<String> = voters.iter().map(|(id, a)| format!("{id}@{a}")).collect();
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        let v = parse_voters("1@127.0.0.1:9093, 2@host-b:9094,3@[::1]:9095").unwrap();
        assert_eq!(v[&1], "127.0.0.1:9093");
        assert_eq!(v[&3], "[::1]:9095");
        assert_eq!(
            format_voters(&v),
            "1@127.0.0.1:9093,2@host-b:9094,3@[::1]:9095"
        );
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "1",
            "x@h:1",
            "1@h",
            "1@h:port",
            "1@:9",
            "1@a:1,1@b:2",
            "1@h:70000",
        ] {
            assert!(
                matches!(parse_voters(bad), Err(QuorumError::InvalidVoters { .. })),
                "{bad:?}"
            );
        }
    }
}
