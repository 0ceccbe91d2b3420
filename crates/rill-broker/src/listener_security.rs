//! Which security protocol each listener speaks (`listener.security.protocol.map`), checked at
//! start-up: Rill serves PLAINTEXT only until TLS and SASL land (the secure-listeners issue),
//! so a listener mapped to SSL, SASL_PLAINTEXT or SASL_SSL stops the start with a message
//! instead of being served as plaintext, and so does a second client listener instead of
//! being dropped. Pure functions.

use std::collections::BTreeMap;

use crate::config_value::{invalid, ConfigError, Listener};

/// Kafka's default `listener.security.protocol.map`.
pub const DEFAULT_PROTOCOL_MAP: &str =
    "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT";

/// The protocols Kafka knows.
const PROTOCOLS: &[&str] = &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];

/// Parses `NAME:PROTOCOL[,...]` (names upper-cased, as Kafka compares them).
///
/// # Errors
/// A malformed entry or an unknown protocol.
pub fn parse_protocol_map(key: &str, value: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut map = BTreeMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, protocol) = entry
            .split_once(':')
            .ok_or_else(|| invalid(key, value, format!("'{entry}' is not NAME:PROTOCOL")))?;
        let protocol = protocol.trim().to_ascii_uppercase();
        if !PROTOCOLS.contains(&protocol.as_str()) {
            return Err(invalid(
                key,
                value,
                format!("unknown security protocol '{protocol}' (Kafka's are {PROTOCOLS:?})"),
            ));
        }
        map.insert(name.trim().to_ascii_uppercase(), protocol);
    }
    Ok(map)
}

/// The protocol of listener `name`: from the map; a controller listener missing from a map
/// that was not set explicitly is PLAINTEXT (as Kafka's KRaft mode treats it).
///
/// # Errors
/// A listener without a protocol.
fn protocol_of(
    name: &str,
    map: &BTreeMap<String, String>,
    map_explicit: bool,
    is_controller: bool,
) -> Result<String, String> {
    match map.get(&name.to_ascii_uppercase()) {
        Some(p) => Ok(p.clone()),
        None if is_controller && !map_explicit => Ok("PLAINTEXT".into()),
        None => Err(format!(
            "no security protocol for listener {name} in listener.security.protocol.map"
        )),
    }
}

/// Checks (for config `key`) that every listener speaks PLAINTEXT and that one client listener is given
/// (controller listeners, named in `controller.listener.names`, are not client listeners).
///
/// # Errors
/// The first listener Rill cannot serve as configured.
pub fn check_listeners(
    key: &str,
    listeners_value: &str,
    listeners: &[Listener],
    controller_names: &[&str],
    map: &BTreeMap<String, String>,
    map_explicit: bool,
) -> Result<(), ConfigError> {
    let fail = |reason: String| Err(invalid(key, listeners_value, reason));
    let mut clients = Vec::new();
    for l in listeners {
        let is_controller = controller_names
            .iter()
            .any(|c| c.eq_ignore_ascii_case(&l.name));
        let protocol = match protocol_of(&l.name, map, map_explicit, is_controller) {
            Ok(p) => p,
            Err(reason) => return fail(reason),
        };
        if protocol != "PLAINTEXT" {
            return fail(format!(
                "listener {} is {protocol}: Rill serves PLAINTEXT only so far (TLS and SASL \
                 are not built yet) and will not serve it as plaintext",
                l.name
            ));
        }
        if !is_controller {
            clients.push(l.name.as_str());
        }
    }
    if clients.len() > 1 {
        return fail(format!(
            "Rill serves one client listener so far; {} are given",
            clients.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_value::parse_listeners;

    fn check(listeners: &str, map: Option<&str>) -> Result<(), ConfigError> {
        let parsed = parse_listeners("listeners", listeners)?;
        let m = parse_protocol_map(
            "listener.security.protocol.map",
            map.unwrap_or(DEFAULT_PROTOCOL_MAP),
        )?;
        check_listeners(
            "listeners",
            listeners,
            &parsed,
            &["CONTROLLER"],
            &m,
            map.is_some(),
        )
    }

    #[test]
    fn plaintext_listeners_pass_and_the_controller_defaults_to_plaintext() {
        assert!(check("PLAINTEXT://127.0.0.1:9092", None).is_ok());
        assert!(check("PLAINTEXT://:9092,CONTROLLER://:9093", None).is_ok());
        assert!(check(
            "CLIENT://:9092",
            Some("CLIENT:PLAINTEXT,CONTROLLER:PLAINTEXT")
        )
        .is_ok());
    }

    #[test]
    fn secure_protocols_and_a_second_client_listener_stop_the_start() {
        let msg = |r: Result<(), ConfigError>| r.unwrap_err().to_string();
        assert!(msg(check("SSL://:9093", None)).contains("listener SSL is SSL"));
        assert!(msg(check("SASL_SSL://:9093", None)).contains("SASL_SSL"));
        assert!(
            msg(check("CLIENT://:9092", Some("CLIENT:SASL_PLAINTEXT"))).contains("SASL_PLAINTEXT")
        );
        assert!(msg(check("PLAINTEXT://:9092,SSL://:9093", None)).contains("SSL"));
        assert!(msg(check(
            "PLAINTEXT://:9092,EXTERNAL://:9094",
            Some("PLAINTEXT:PLAINTEXT,EXTERNAL:PLAINTEXT")
        ))
        .contains("one client listener"));
        assert!(msg(check("CLIENT://:9092", None)).contains("no security protocol"));
        assert!(
            msg(check(
                "PLAINTEXT://:9092,CONTROLLER://:9093",
                Some("PLAINTEXT:PLAINTEXT")
            ))
            .contains("CONTROLLER"),
            "an explicit map must name the controller listener too"
        );
        assert!(parse_protocol_map("k", "PLAINTEXT:TLS").is_err());
        assert!(parse_protocol_map("k", "PLAINTEXT").is_err());
    }
}
