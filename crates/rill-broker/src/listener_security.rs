//! The listeners a node serves, each with its security protocol
//! (`listener.security.protocol.map`) and the endpoint clients are told
//! (`advertised.listeners`), and the inter-broker listener, resolved and checked at start-up.
//! Pure functions: a listener Rill cannot serve as configured stops the start with a message.

use std::collections::BTreeMap;

use crate::config_value::{invalid, parse_listeners, ConfigError, Listener};

/// Kafka's default `listener.security.protocol.map`.
pub const DEFAULT_PROTOCOL_MAP: &str =
    "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT";

pub use rill_client::security::SecurityProtocol;

/// The protocol named `name` (case-insensitive), `None` for an empty or unknown name (the
/// client's parser takes empty as its PLAINTEXT default; a broker setting may not).
pub fn protocol_named(name: &str) -> Option<SecurityProtocol> {
    if name.trim().is_empty() {
        return None;
    }
    SecurityProtocol::parse(name).ok()
}

/// One listener of this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSpec {
    /// The listener's name as written in `listeners` (`PLAINTEXT`, `EXTERNAL`).
    pub name: String,
    /// Where it binds.
    pub bind: Listener,
    /// What clients are told (`advertised.listeners`, or the bind address).
    pub advertised: Listener,
    /// Its security protocol.
    pub protocol: SecurityProtocol,
    /// Whether it is a controller listener (`controller.listener.names`).
    pub is_controller: bool,
}

impl ListenerSpec {
    /// The lower-case name used in per-listener config keys (`listener.name.external.`).
    pub fn config_prefix(&self) -> String {
        format!("listener.name.{}.", self.name.to_ascii_lowercase())
    }
}

/// Every listener of the node and the one brokers use among themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSet {
    /// All listeners, in `listeners` order.
    pub all: Vec<ListenerSpec>,
    /// The name of the inter-broker listener (one of the client listeners), if the node
    /// has client listeners.
    pub inter_broker: Option<String>,
}

impl ListenerSet {
    /// The listeners that serve Kafka clients (not the controller's).
    pub fn clients(&self) -> impl Iterator<Item = &ListenerSpec> {
        self.all.iter().filter(|l| !l.is_controller)
    }

    /// The inter-broker listener.
    pub fn inter_broker_listener(&self) -> Option<&ListenerSpec> {
        let name = self.inter_broker.as_deref()?;
        self.all.iter().find(|l| l.name.eq_ignore_ascii_case(name))
    }

    /// The listener named `name`.
    pub fn get(&self, name: &str) -> Option<&ListenerSpec> {
        self.all.iter().find(|l| l.name.eq_ignore_ascii_case(name))
    }
}

/// Parses `NAME:PROTOCOL[,...]` (names upper-cased, as Kafka compares them).
///
/// # Errors
/// A malformed entry or an unknown protocol.
pub fn parse_protocol_map(
    key: &str,
    value: &str,
) -> Result<BTreeMap<String, SecurityProtocol>, ConfigError> {
    let mut map = BTreeMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, protocol) = entry
            .split_once(':')
            .ok_or_else(|| invalid(key, value, format!("'{entry}' is not NAME:PROTOCOL")))?;
        let protocol = protocol_named(protocol).ok_or_else(|| {
            invalid(
                key,
                value,
                format!(
                    "unknown security protocol '{}' (Kafka's are PLAINTEXT, SSL, \
                     SASL_PLAINTEXT, SASL_SSL)",
                    protocol.trim()
                ),
            )
        })?;
        map.insert(name.trim().to_ascii_uppercase(), protocol);
    }
    Ok(map)
}

/// Resolves `listeners`, `advertised.listeners`, `listener.security.protocol.map`,
/// `controller.listener.names`, `inter.broker.listener.name` and
/// `security.inter.broker.protocol` (`get` returns a key's effective value; `explicit`
/// whether it was set).
///
/// # Errors
/// A listener without a protocol, a name given twice, an advertised listener that is not a
/// listener, an inter-broker listener that does not exist or is a controller listener.
pub fn resolve_listeners(
    get: &impl Fn(&str) -> String,
    explicit: &impl Fn(&str) -> bool,
) -> Result<ListenerSet, ConfigError> {
    let map_key = "listener.security.protocol.map";
    let map = parse_protocol_map(map_key, &get(map_key))?;
    let map_explicit = explicit(map_key);
    let listeners_value = get("listeners");
    let bound = parse_listeners("listeners", &listeners_value)?;
    let controllers: Vec<String> = get("controller.listener.names")
        .split(',')
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| !c.is_empty())
        .collect();
    let advertised_value = get("advertised.listeners");
    let advertised = parse_listeners("advertised.listeners", &advertised_value)?;
    let mut all: Vec<ListenerSpec> = Vec::new();
    for l in &bound {
        let upper = l.name.to_ascii_uppercase();
        if all.iter().any(|s| s.name.eq_ignore_ascii_case(&l.name)) {
            return Err(invalid(
                "listeners",
                &listeners_value,
                format!("listener {} is given twice", l.name),
            ));
        }
        let is_controller = controllers.contains(&upper);
        let protocol = match map.get(&upper) {
            Some(p) => *p,
            // KRaft: a controller listener missing from a default map is PLAINTEXT.
            None if is_controller && !map_explicit => SecurityProtocol::Plaintext,
            None => {
                return Err(invalid(
                    "listeners",
                    &listeners_value,
                    format!(
                        "no security protocol for listener {} in listener.security.protocol.map",
                        l.name
                    ),
                ))
            }
        };
        let adv = advertised
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(&l.name))
            .cloned()
            .unwrap_or_else(|| l.clone());
        all.push(ListenerSpec {
            name: l.name.clone(),
            bind: l.clone(),
            advertised: adv,
            protocol,
            is_controller,
        });
    }
    for a in &advertised {
        if !all.iter().any(|l| l.name.eq_ignore_ascii_case(&a.name)) {
            return Err(invalid(
                "advertised.listeners",
                &advertised_value,
                format!("{} is not one of the listeners", a.name),
            ));
        }
    }
    let clients: Vec<&ListenerSpec> = all.iter().filter(|l| !l.is_controller).collect();
    let name_key = "inter.broker.listener.name";
    let name = get(name_key);
    let protocol_key = "security.inter.broker.protocol";
    let inter_broker = if !name.trim().is_empty() {
        if explicit(protocol_key) {
            return Err(invalid(
                name_key,
                &name,
                "set only one of inter.broker.listener.name and security.inter.broker.protocol",
            ));
        }
        let Some(l) = all
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(name.trim()))
        else {
            return Err(invalid(name_key, &name, "is not one of the listeners"));
        };
        if l.is_controller {
            return Err(invalid(
                name_key,
                &name,
                "is a controller listener; brokers talk on a client listener",
            ));
        }
        Some(l.name.clone())
    } else if clients.is_empty() {
        None
    } else if clients.len() == 1 && !explicit(protocol_key) {
        // One client listener: brokers use it whatever it is called.
        Some(clients[0].name.clone())
    } else {
        // Kafka: the listener named after security.inter.broker.protocol.
        let protocol = get(protocol_key);
        let Some(p) = protocol_named(&protocol) else {
            return Err(invalid(
                protocol_key,
                &protocol,
                "unknown security protocol (Kafka's are PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)",
            ));
        };
        match clients
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(p.name()))
        {
            Some(l) => Some(l.name.clone()),
            None => {
                return Err(invalid(
                    protocol_key,
                    &protocol,
                    format!(
                        "no listener is named {}; with several client listeners set \
                         inter.broker.listener.name",
                        p.name()
                    ),
                ))
            }
        }
    };
    Ok(ListenerSet { all, inter_broker })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(pairs: &[(&str, &str)]) -> Result<ListenerSet, ConfigError> {
        let defaults = [
            ("listener.security.protocol.map", DEFAULT_PROTOCOL_MAP),
            ("controller.listener.names", "CONTROLLER"),
            ("security.inter.broker.protocol", "PLAINTEXT"),
        ];
        let get = |k: &str| {
            pairs
                .iter()
                .chain(defaults.iter())
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
                .unwrap_or_default()
        };
        let explicit = |k: &str| pairs.iter().any(|(key, _)| *key == k);
        resolve_listeners(&get, &explicit)
    }

    #[test]
    fn every_listener_gets_its_protocol_and_advertised_endpoint() {
        let set = resolve(&[
            (
                "listeners",
                "INTERNAL://127.0.0.1:9092,EXTERNAL://0.0.0.0:9094,CONTROLLER://127.0.0.1:9093",
            ),
            (
                "advertised.listeners",
                "EXTERNAL://broker1.example.com:19094",
            ),
            (
                "listener.security.protocol.map",
                "INTERNAL:SSL,EXTERNAL:SASL_SSL,CONTROLLER:PLAINTEXT",
            ),
            ("inter.broker.listener.name", "INTERNAL"),
        ])
        .unwrap();
        assert_eq!(set.all.len(), 3);
        let ext = set.get("external").unwrap();
        assert_eq!(ext.protocol, SecurityProtocol::SaslSsl);
        assert_eq!(ext.advertised.host, "broker1.example.com");
        assert_eq!(ext.advertised.port, 19094);
        assert_eq!(ext.bind.port, 9094);
        let int = set.inter_broker_listener().unwrap();
        assert_eq!(
            (int.name.as_str(), int.protocol),
            ("INTERNAL", SecurityProtocol::Ssl)
        );
        assert_eq!(int.advertised, int.bind);
        assert_eq!(set.clients().count(), 2);
        assert!(set.get("CONTROLLER").unwrap().is_controller);
    }

    #[test]
    fn the_inter_broker_listener_follows_kafkas_rules() {
        // One client listener: that one.
        let set = resolve(&[
            ("listeners", "CLIENT://:9092"),
            (
                "listener.security.protocol.map",
                "CLIENT:SSL,CONTROLLER:PLAINTEXT",
            ),
        ])
        .unwrap();
        assert_eq!(set.inter_broker.as_deref(), Some("CLIENT"));
        // Several: the one named after security.inter.broker.protocol.
        let set = resolve(&[("listeners", "PLAINTEXT://:9092,SSL://:9093")]).unwrap();
        assert_eq!(set.inter_broker.as_deref(), Some("PLAINTEXT"));
        let set = resolve(&[
            ("listeners", "PLAINTEXT://:9092,SSL://:9093"),
            ("security.inter.broker.protocol", "SSL"),
        ])
        .unwrap();
        assert_eq!(set.inter_broker.as_deref(), Some("SSL"));
    }

    #[test]
    fn listeners_rill_cannot_resolve_stop_the_start() {
        let msg = |r: Result<ListenerSet, ConfigError>| r.unwrap_err().to_string();
        assert!(msg(resolve(&[("listeners", "CLIENT://:9092")])).contains("no security protocol"));
        assert!(msg(resolve(&[
            ("listeners", "PLAINTEXT://:9092,CONTROLLER://:9093"),
            ("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT"),
        ]))
        .contains("CONTROLLER"));
        assert!(msg(resolve(&[
            ("listeners", "A://:1,B://:2"),
            ("listener.security.protocol.map", "A:SSL,B:SSL")
        ]))
        .contains("no listener is named PLAINTEXT"));
        assert!(msg(resolve(&[
            ("listeners", "PLAINTEXT://:9092"),
            ("inter.broker.listener.name", "OTHER"),
        ]))
        .contains("not one of the listeners"));
        assert!(msg(resolve(&[
            ("listeners", "PLAINTEXT://:9092"),
            ("advertised.listeners", "SSL://h:1"),
        ]))
        .contains("not one of the listeners"));
        assert!(msg(resolve(&[(
            "listeners",
            "PLAINTEXT://:9092,plaintext://:9093"
        )]))
        .contains("twice"));
        assert!(parse_protocol_map("k", "PLAINTEXT:TLS").is_err());
        assert!(parse_protocol_map("k", "PLAINTEXT").is_err());
    }
}
