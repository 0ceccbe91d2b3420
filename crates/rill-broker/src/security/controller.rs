//! Security of the controller listener, which carries Rill's quorum protocol (Raft between
//! controllers, metadata fetches and heartbeats from brokers). It is PLAINTEXT, or SSL with
//! `ssl.client.auth=required`: every controller and broker then presents a certificate the
//! listener's truststore trusts (an unauthenticated peer must never join the quorum). The
//! quorum protocol has no SASL, so SASL_* stops the start.
//!
//! A controller takes the settings of its own controller listener; a broker-only node, which
//! has none in `listeners`, takes those of the first of `controller.listener.names`, as Kafka
//! does: its protocol from `listener.security.protocol.map` and its `ssl.*` settings from
//! `listener.name.<controller>.ssl.*` or the global `ssl.*`. Pure functions of the config.

use std::sync::Arc;

use super::listener_value;
use super::tls::{ClientAuth, TlsSettings};
use crate::config_value::{invalid, ConfigError, Listener};
use crate::listener_security::{
    parse_protocol_map, ListenerSet, ListenerSpec, SecurityProtocol, DEFAULT_PROTOCOL_MAP,
};

/// The controller listener this node talks to the quorum through (see the module docs);
/// `None` when `controller.listener.names` is empty.
///
/// # Errors
/// A controller listener name that `listener.security.protocol.map` does not map although
/// the map was set (Kafka requires an explicit mapping then).
pub fn controller_listener(
    listeners: &ListenerSet,
    get: &impl Fn(&str) -> String,
) -> Result<Option<ListenerSpec>, ConfigError> {
    let names = get("controller.listener.names");
    let Some(first) = names.split(',').map(str::trim).find(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if let Some(own) = listeners.get(first) {
        return Ok(Some(own.clone()));
    }
    let key = "listener.security.protocol.map";
    let map_value = get(key);
    let map = parse_protocol_map(key, &map_value)?;
    let protocol = match map.get(&first.to_ascii_uppercase()) {
        Some(p) => *p,
        None => match crate::listener_security::protocol_named(first) {
            Some(p) => p,
            None if map_value.trim() == DEFAULT_PROTOCOL_MAP => SecurityProtocol::Plaintext,
            None => {
                return Err(invalid(
                    key,
                    &map_value,
                    format!(
                        "controller listener {first} (controller.listener.names) has no \
                         security protocol here; add {first}:PLAINTEXT or {first}:SSL"
                    ),
                ))
            }
        },
    };
    let endpoint = Listener {
        name: first.to_string(),
        host: String::new(),
        port: 0,
    };
    Ok(Some(ListenerSpec {
        name: first.to_string(),
        bind: endpoint.clone(),
        advertised: endpoint,
        protocol,
        is_controller: true,
    }))
}

/// Checks that a controller listener can carry the quorum: PLAINTEXT, or SSL with a keystore,
/// a truststore and `ssl.client.auth=required`; returns its TLS settings when it is SSL.
///
/// # Errors
/// SASL_PLAINTEXT or SASL_SSL; SSL without required client authentication; what
/// [`TlsSettings::from_config`] refuses.
pub fn check_controller_listener(
    spec: &ListenerSpec,
    get: &impl Fn(&str) -> String,
) -> Result<Option<TlsSettings>, ConfigError> {
    match spec.protocol {
        SecurityProtocol::Plaintext => Ok(None),
        SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl => Err(invalid(
            "listener.security.protocol.map",
            &get("listener.security.protocol.map"),
            format!(
                "controller listener {} is {}: Rill's controller quorum has no SASL; map it \
                 to SSL with ssl.client.auth=required (mutual TLS) or to PLAINTEXT",
                spec.name,
                spec.protocol.name()
            ),
        )),
        SecurityProtocol::Ssl => {
            let settings = TlsSettings::from_config(spec, get)?;
            if settings.client_auth != ClientAuth::Required {
                let key = format!("{}ssl.client.auth", spec.config_prefix());
                return Err(invalid(
                    &key,
                    &listener_value(get, spec, "ssl.client.auth"),
                    format!(
                        "controller listener {} is SSL: set ssl.client.auth=required (every \
                         controller and broker presents its certificate; an unauthenticated \
                         peer must not join the quorum)",
                        spec.name
                    ),
                ));
            }
            Ok(Some(settings))
        }
    }
}

/// Checks every controller listener of the node and, on a broker-only node, the one it
/// connects to.
///
/// # Errors
/// As [`controller_listener`] and [`check_controller_listener`].
pub fn check_controller_security(
    listeners: &ListenerSet,
    get: &impl Fn(&str) -> String,
) -> Result<(), ConfigError> {
    for l in listeners.all.iter().filter(|l| l.is_controller) {
        check_controller_listener(l, get)?;
    }
    if !get("controller.quorum.voters").trim().is_empty() {
        if let Some(spec) = controller_listener(listeners, get)? {
            check_controller_listener(&spec, get)?;
        }
    }
    Ok(())
}

/// The quorum's TLS from the controller listener's settings: `None` when it is PLAINTEXT.
///
/// # Errors
/// A config [`check_controller_security`] refuses, or certificate files that do not load
/// (the message names the listener and the file's problem).
pub fn quorum_tls(
    listeners: &ListenerSet,
    get: &impl Fn(&str) -> String,
) -> Result<Option<ControllerTlsCell>, ConfigError> {
    let Some(spec) = controller_listener(listeners, get)? else {
        return Ok(None);
    };
    let Some(settings) = check_controller_listener(&spec, get)? else {
        return Ok(None);
    };
    ControllerTlsCell::load(settings)
        .map(Some)
        .map_err(|reason| invalid("ssl.keystore.location", "", reason))
}

/// The controller listener's TLS, replaced when its certificate files change (the quorum's
/// server and client side both: a node presents the same certificate either way).
#[derive(Debug)]
pub struct ControllerTlsCell {
    /// The settings it is built from.
    settings: TlsSettings,
    /// What the quorum's handshakes use.
    tls: rill_quorum::QuorumTls,
    /// The files' modification times when last loaded.
    loaded: std::sync::Mutex<Vec<Option<std::time::SystemTime>>>,
}

impl ControllerTlsCell {
    /// Loads the certificates.
    ///
    /// # Errors
    /// What [`TlsSettings::server_config`] or [`TlsSettings::client_config`] refuses.
    pub fn load(settings: TlsSettings) -> Result<Self, String> {
        let times = super::tls::mtimes(&settings.files());
        let server = settings.server_config()?;
        let client = settings.client_config()?;
        Ok(ControllerTlsCell {
            tls: rill_quorum::QuorumTls::new(Arc::new(server), Arc::new(client)),
            settings,
            loaded: std::sync::Mutex::new(times),
        })
    }

    /// What the quorum's handshakes use (shared: a reload reaches it).
    pub fn quorum_tls(&self) -> rill_quorum::QuorumTls {
        self.tls.clone()
    }

    /// The listener's name.
    pub fn listener(&self) -> &str {
        &self.settings.listener
    }

    /// Rebuilds both configs if a certificate file changed since the last load. Returns
    /// whether new ones are in use.
    ///
    /// # Errors
    /// The changed files do not load: the old configs stay in use.
    pub fn reload(&self) -> Result<bool, String> {
        let times = super::tls::mtimes(&self.settings.files());
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if *loaded == times {
            return Ok(false);
        }
        let server = self.settings.server_config()?;
        let client = self.settings.client_config()?;
        self.tls.replace(Arc::new(server), Arc::new(client));
        *loaded = times;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listener_security::resolve_listeners;

    fn with<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> String + 'a {
        move |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
                .unwrap_or_else(|| match k {
                    "listener.security.protocol.map" => DEFAULT_PROTOCOL_MAP.to_string(),
                    "ssl.keystore.type" | "ssl.truststore.type" => "PEM".to_string(),
                    "ssl.enabled.protocols" => "TLSv1.2,TLSv1.3".to_string(),
                    "ssl.endpoint.identification.algorithm" => "https".to_string(),
                    _ => String::new(),
                })
        }
    }

    fn listeners_of(pairs: &[(&str, &str)]) -> Result<ListenerSet, ConfigError> {
        resolve_listeners(&with(pairs), &|k: &str| {
            pairs.iter().any(|(key, _)| *key == k)
        })
    }

    fn check(pairs: &[(&str, &str)]) -> Result<(), ConfigError> {
        check_controller_security(&listeners_of(pairs)?, &with(pairs))
    }

    const CONTROLLER: &[(&str, &str)] = &[
        (
            "listeners",
            "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
        ),
        ("controller.listener.names", "CONTROLLER"),
        ("controller.quorum.voters", "1@127.0.0.1:9093"),
    ];

    fn plus<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        CONTROLLER.iter().chain(extra).copied().collect()
    }

    #[test]
    fn controller_listener_protocols() {
        assert!(check(CONTROLLER).is_ok());
        let map = "PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_SSL";
        let err = check(&plus(&[("listener.security.protocol.map", map)])).unwrap_err();
        assert!(err.to_string().contains("no SASL"), "{err}");
        let ssl = "PLAINTEXT:PLAINTEXT,CONTROLLER:SSL";
        let files = [
            ("listener.security.protocol.map", ssl),
            ("listener.name.controller.ssl.keystore.location", "/k.pem"),
            ("ssl.truststore.location", "/t.pem"),
        ];
        let err = check(&plus(&files)).unwrap_err();
        assert!(
            err.to_string().contains("ssl.client.auth=required"),
            "{err}"
        );
        let mut required = plus(&files);
        required.push(("listener.name.controller.ssl.client.auth", "required"));
        assert!(check(&required).is_ok());
    }

    #[test]
    fn a_broker_only_node_takes_the_controller_listener_from_the_map() {
        let broker = [
            ("listeners", "PLAINTEXT://127.0.0.1:9092"),
            ("controller.listener.names", "CONTROLLER"),
            ("controller.quorum.voters", "1@127.0.0.1:9093"),
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,CONTROLLER:SSL",
            ),
            ("ssl.keystore.location", "/k.pem"),
            ("ssl.truststore.location", "/t.pem"),
        ];
        let get = with(&broker);
        let listeners = listeners_of(&broker).unwrap();
        let spec = controller_listener(&listeners, &get).unwrap().unwrap();
        assert_eq!(spec.protocol, SecurityProtocol::Ssl);
        assert!(
            check(&broker).is_err(),
            "SSL without ssl.client.auth=required"
        );
        let mut ok = broker.to_vec();
        ok.push(("listener.name.controller.ssl.client.auth", "required"));
        assert!(check(&ok).is_ok());
        // An explicit map that does not name the controller listener.
        let mut unmapped = broker.to_vec();
        unmapped[3] = ("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT");
        assert!(check(&unmapped).is_err());
        // Kafka's default map: a controller listener it does not name is PLAINTEXT.
        unmapped.remove(3);
        assert!(check(&unmapped).is_ok());
    }
}
