//! Listener security: TLS ([`tls`]) and SASL ([`sasl`]) settings per listener, from Kafka's
//! keys (`ssl.*`, `sasl.*`, each overridable per listener as
//! `listener.name.<listener>.<key>`, and `listener.name.<listener>.<mechanism>.sasl.jaas.config`).
//! Checked when the config is read; certificate files and JAAS users are loaded when the
//! server binds its listeners. The controller listener's rules are in [`controller`].

pub mod controller;
pub mod jwks_source;
pub mod sasl;
pub mod tls;

use crate::config_value::{invalid, ConfigError};
use crate::listener_security::{ListenerSet, ListenerSpec};

/// The keys that may be set per listener (`listener.name.<listener>.<key>`).
const LISTENER_KEYS: &[&str] = &[
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.key.password",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.password",
    "ssl.truststore.certificates",
    "ssl.client.auth",
    "ssl.enabled.protocols",
    "ssl.protocol",
    "ssl.cipher.suites",
    "ssl.principal.mapping.rules",
    "ssl.endpoint.identification.algorithm",
    "sasl.enabled.mechanisms",
    "sasl.server.max.receive.size",
    "connections.max.reauth.ms",
    "sasl.oauthbearer.jwks.endpoint.url",
    "sasl.oauthbearer.jwks.endpoint.refresh.ms",
    "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms",
    "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms",
    "sasl.oauthbearer.expected.audience",
    "sasl.oauthbearer.expected.issuer",
    "sasl.oauthbearer.sub.claim.name",
    "sasl.oauthbearer.scope.claim.name",
    "sasl.oauthbearer.clock.skew.seconds",
];

/// Keys set per listener and SASL mechanism
/// (`listener.name.<listener>.<mechanism>.<key>`).
const MECHANISM_KEYS: &[&str] = &["sasl.jaas.config", "sasl.server.callback.handler.class"];

/// Whether `key` is a per-listener security key Rill knows
/// (`listener.name.external.ssl.keystore.location`,
/// `listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config`).
pub fn is_listener_key(key: &str) -> bool {
    let Some(rest) = key.strip_prefix("listener.name.") else {
        return false;
    };
    let Some((_, setting)) = rest.split_once('.') else {
        return false;
    };
    if LISTENER_KEYS.contains(&setting) {
        return true;
    }
    setting
        .split_once('.')
        .is_some_and(|(_, k)| MECHANISM_KEYS.contains(&k))
}

/// Whether a config value is secret (passwords, keys, JAAS configs): DescribeConfigs shows
/// it as sensitive, with no value, as Kafka does for PASSWORD-typed configs.
pub fn is_sensitive_key(key: &str) -> bool {
    key.ends_with(".password")
        || key.ends_with("ssl.keystore.key")
        || key.ends_with("sasl.jaas.config")
}

/// A setting of `listener`: its `listener.name.<listener>.<key>` override, else `key`.
pub fn listener_value(get: &impl Fn(&str) -> String, listener: &ListenerSpec, key: &str) -> String {
    let own = get(&format!("{}{key}", listener.config_prefix()));
    if own.trim().is_empty() {
        get(key)
    } else {
        own
    }
}

/// Checks every listener's security settings as far as they can be checked without reading
/// files: TLS protocols, client authentication, cipher suites, SASL mechanisms; the
/// controller listener (this node's, or the one a broker-only node connects to) PLAINTEXT or
/// SSL with required client certificates ([`controller::check_controller_security`]).
///
/// # Errors
/// The first setting Rill cannot honour, with the reason.
pub fn check_security_config(
    listeners: &ListenerSet,
    get: &impl Fn(&str) -> String,
) -> Result<(), ConfigError> {
    controller::check_controller_security(listeners, get)?;
    for l in listeners.clients() {
        if l.protocol.uses_tls() {
            tls::TlsSettings::from_config(l, get)?;
        }
        if l.protocol.uses_sasl() {
            enabled_mechanisms(l, get)?;
        }
    }
    Ok(())
}

/// The SASL mechanisms Rill can serve.
pub const SERVED_MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"];

/// `sasl.enabled.mechanisms` of `listener`, checked.
///
/// # Errors
/// An empty list or a mechanism Rill cannot serve (GSSAPI, Kafka's default, among them).
pub fn enabled_mechanisms(
    listener: &ListenerSpec,
    get: &impl Fn(&str) -> String,
) -> Result<Vec<String>, ConfigError> {
    let key = "sasl.enabled.mechanisms";
    let value = listener_value(get, listener, key);
    let mechanisms: Vec<String> = value
        .split(',')
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .collect();
    if mechanisms.is_empty() {
        return Err(invalid(
            key,
            &value,
            format!(
                "listener {} is {} but enables no SASL mechanism",
                listener.name,
                listener.protocol.name()
            ),
        ));
    }
    for m in &mechanisms {
        if !SERVED_MECHANISMS.contains(&m.as_str()) {
            return Err(invalid(
                key,
                &value,
                format!(
                    "listener {}: Rill serves {} (not {m}{}); set sasl.enabled.mechanisms",
                    listener.name,
                    SERVED_MECHANISMS.join(", "),
                    if m == "GSSAPI" {
                        ", Kerberos, Kafka's default"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
    Ok(mechanisms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_listener_keys_are_known_and_secrets_are_sensitive() {
        assert!(is_listener_key(
            "listener.name.external.ssl.keystore.location"
        ));
        assert!(is_listener_key(
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config"
        ));
        assert!(is_listener_key("listener.name.x.sasl.enabled.mechanisms"));
        assert!(!is_listener_key("listener.name.x.log.retention.ms"));
        assert!(!is_listener_key("ssl.keystore.location"));
        assert!(is_sensitive_key("listener.name.a.plain.sasl.jaas.config"));
        assert!(is_sensitive_key("ssl.key.password"));
        assert!(!is_sensitive_key("ssl.keystore.location"));
    }
}

/// A client listener ready to bind: its address, context, TLS and principal mapping.
#[derive(Debug)]
pub struct PreparedListener {
    /// Where to bind.
    pub addr: std::net::SocketAddr,
    /// What its connections see.
    pub context: std::sync::Arc<crate::session::ListenerContext>,
    /// TLS, on SSL and SASL_SSL listeners.
    pub tls: Option<std::sync::Arc<tls::TlsAcceptorCell>>,
    /// `ssl.principal.mapping.rules` of an SSL listener.
    pub principal_mapper: Option<std::sync::Arc<rill_auth::principal::PrincipalMapper>>,
}

impl PreparedListener {
    /// The listener bound to `socket`.
    pub fn bound(self, socket: tokio::net::TcpListener) -> crate::net::listeners::BoundListener {
        crate::net::listeners::BoundListener {
            context: self.context,
            socket,
            tls: self.tls,
            principal_mapper: self.principal_mapper,
        }
    }
}

/// Loads what every client listener needs before it binds (certificates, JAAS users, token
/// keys), the inter-broker listener first.
///
/// # Errors
/// The first listener that cannot be served, with the reason.
pub fn prepare_listeners(
    config: &crate::config::BrokerConfig,
) -> Result<Vec<PreparedListener>, crate::error::BrokerError> {
    use std::sync::Arc;
    let get = |k: &str| config.value(k).unwrap_or_default().to_string();
    let fail = |key: &str, value: &str, reason: String| {
        crate::error::BrokerError::Config(invalid(key, value, reason))
    };
    let set = &config.listeners;
    let mut specs: Vec<&ListenerSpec> = set.inter_broker_listener().into_iter().collect();
    specs.extend(
        set.clients()
            .filter(|l| Some(l.name.as_str()) != set.inter_broker.as_deref()),
    );
    let mut out = Vec::new();
    for spec in specs {
        let addr = spec.bind.bind_addr()?;
        let (tls, principal_mapper) = if spec.protocol.uses_tls() {
            let settings = tls::TlsSettings::from_config(spec, &get)?;
            let rules = settings.principal_mapping_rules.clone();
            let cell = tls::TlsAcceptorCell::load(settings)
                .map_err(|reason| fail("ssl.keystore.location", "", reason))?;
            let mapper = rill_auth::principal::PrincipalMapper::parse(&rules)
                .map_err(|e| fail("ssl.principal.mapping.rules", &rules, e.to_string()))?;
            (Some(Arc::new(cell)), Some(Arc::new(mapper)))
        } else {
            (None, None)
        };
        let sasl = if spec.protocol.uses_sasl() {
            Some(Arc::new(sasl::SaslListener::from_config(spec, &get)?))
        } else {
            None
        };
        out.push(PreparedListener {
            addr,
            context: Arc::new(crate::session::ListenerContext {
                name: spec.name.clone(),
                protocol: spec.protocol,
                sasl,
            }),
            tls,
            principal_mapper,
        });
    }
    Ok(out)
}

/// Reloads the listeners' certificates and OAUTHBEARER keys (JWKS) when their files change
/// or an endpoint's refresh is due, every `every`, until shutdown. A reload that fails keeps what is in use and is
/// logged.
pub async fn watch_certificates(
    cells: Vec<std::sync::Arc<tls::TlsAcceptorCell>>,
    sasl: Vec<std::sync::Arc<sasl::SaslListener>>,
    every: std::time::Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(every) => {}
        }
        for s in &sasl {
            match s.refresh_jwks().await {
                Ok(true) => tracing::info!("OAUTHBEARER keys reloaded from the JWKS"),
                Ok(false) => {}
                Err(e) => tracing::error!(
                    error = %e,
                    "the JWKS could not be reloaded; keeping the old keys"
                ),
            }
        }
        for cell in &cells {
            match cell.reload(false) {
                Ok(true) => tracing::info!(
                    listener = %cell.settings().listener,
                    "TLS certificates reloaded"
                ),
                Ok(false) => {}
                Err(e) => tracing::error!(
                    listener = %cell.settings().listener,
                    error = %e,
                    "TLS certificates changed but do not load; keeping the old ones"
                ),
            }
        }
    }
}

/// Reloads the controller listener's certificates when their files change, every `every`,
/// until the task is aborted. It runs from when the quorum starts (before the broker serves:
/// a node whose certificate its peers refuse must still be able to take a new one).
pub async fn watch_controller_certificates(
    cell: std::sync::Arc<controller::ControllerTlsCell>,
    every: std::time::Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        match cell.reload() {
            Ok(true) => tracing::info!(
                listener = %cell.listener(),
                "controller listener TLS certificates reloaded"
            ),
            Ok(false) => {}
            Err(e) => tracing::error!(
                listener = %cell.listener(),
                error = %e,
                "controller TLS certificates changed but do not load; keeping the old ones"
            ),
        }
    }
}

/// How this broker connects to the other brokers (replica fetchers, transaction markers and
/// verification, the admin API's cluster views): the inter-broker listener's protocol; for
/// TLS its truststore (to verify the other brokers) and its keystore as the client
/// certificate (mTLS); for SASL `sasl.mechanism.inter.broker.protocol` with the username and
/// password of that mechanism's JAAS config on the inter-broker listener, as Kafka's brokers
/// authenticate to each other.
///
/// # Errors
/// A TLS inter-broker listener without a truststore, a SASL one whose mechanism Rill cannot
/// use as a client (GSSAPI, OAUTHBEARER) or whose JAAS config has no username and password,
/// unreadable files.
pub fn inter_broker_client_security(
    config: &crate::config::BrokerConfig,
) -> Result<rill_client::security::ClientSecurity, ConfigError> {
    match inter_broker_settings(config) {
        Err(e) if !config.cluster.is_quorum() => {
            // A lone node has no other broker to reach; only the admin API's Kafka client
            // (its cluster views) uses these settings, to reach this node itself.
            tracing::warn!(
                reason = %e,
                "no usable inter-broker client settings: the admin API's cluster views \
                 cannot connect to the Kafka listener"
            );
            Ok(rill_client::security::ClientSecurity::plaintext())
        }
        other => other,
    }
}

/// [`inter_broker_client_security`]'s work.
fn inter_broker_settings(
    config: &crate::config::BrokerConfig,
) -> Result<rill_client::security::ClientSecurity, ConfigError> {
    use std::collections::BTreeMap;
    let get = |k: &str| config.value(k).unwrap_or_default().to_string();
    let Some(l) = config.listeners.inter_broker_listener() else {
        return Ok(rill_client::security::ClientSecurity::plaintext());
    };
    let value = |k: &str| listener_value(&get, l, k).trim().to_string();
    let mut props = BTreeMap::new();
    props.insert(
        "security.protocol".to_string(),
        l.protocol.name().to_string(),
    );
    if l.protocol.uses_tls() {
        let trust = value("ssl.truststore.location");
        if trust.is_empty() {
            return Err(invalid(
                "ssl.truststore.location",
                "",
                format!(
                    "the inter-broker listener {} is {}: brokers verify each other's \
                     certificates, so it needs ssl.truststore.location (PEM)",
                    l.name,
                    l.protocol.name()
                ),
            ));
        }
        props.insert("ssl.ca.location".into(), trust);
        let keystore = value("ssl.keystore.location");
        if !keystore.is_empty() {
            props.insert("ssl.keystore.location".into(), keystore);
            props.insert("ssl.keystore.type".into(), "PEM".into());
        }
        props.insert(
            "ssl.endpoint.identification.algorithm".into(),
            value("ssl.endpoint.identification.algorithm"),
        );
    }
    if l.protocol.uses_sasl() {
        let key = "sasl.mechanism.inter.broker.protocol";
        let mechanism = get(key).trim().to_string();
        let enabled = enabled_mechanisms(l, &get)?;
        if !["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"].contains(&mechanism.as_str())
            || !enabled.contains(&mechanism)
        {
            return Err(invalid(
                key,
                &mechanism,
                format!(
                    "brokers authenticate to each other on {} with PLAIN, SCRAM-SHA-256 or \
                     SCRAM-SHA-512, one of its sasl.enabled.mechanisms ({})",
                    l.name,
                    enabled.join(", ")
                ),
            ));
        }
        let jaas_key = format!(
            "{}{}.sasl.jaas.config",
            l.config_prefix(),
            mechanism.to_ascii_lowercase()
        );
        let jaas = get(&jaas_key);
        let parsed = rill_auth::jaas::JaasConfig::parse(&jaas)
            .map_err(|e| invalid(&jaas_key, "(hidden)", e.to_string()))?;
        if parsed.option("username").is_none() || parsed.option("password").is_none() {
            return Err(invalid(
                &jaas_key,
                "(hidden)",
                format!(
                    "the inter-broker listener {} uses {mechanism}: its JAAS config needs the \
                     broker's own username=\"...\" password=\"...\"",
                    l.name
                ),
            ));
        }
        props.insert("sasl.mechanism".into(), mechanism);
        props.insert("sasl.jaas.config".into(), jaas);
    }
    rill_client::security::ClientSecurity::from_properties(&props).map_err(|e| {
        invalid(
            "security.inter.broker.protocol",
            l.protocol.name(),
            e.to_string(),
        )
    })
}
