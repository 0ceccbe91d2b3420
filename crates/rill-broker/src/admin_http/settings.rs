//! How the admin listener is secured: Rill's `admin.*` keys, read and checked when the config
//! is read (pure: no file is opened here; the certificates load when the listener starts).
//!
//! "Security is on" when a Kafka client listener uses SSL or SASL, or an authorizer is
//! configured. Then, unless told otherwise, every admin call needs credentials (HTTP Basic
//! against the SCRAM users, or an OAUTHBEARER token); `/health/*` stays open and `/metrics`
//! needs credentials. The admin listener serves HTTPS when it has a certificate of its own
//! (`admin.ssl.keystore.*`) or, security being on, when a Kafka listener uses TLS (its
//! certificate is borrowed); plain HTTP with TLS available takes an explicit
//! `admin.ssl.enabled=false`. Where no Kafka listener encrypts (SASL_PLAINTEXT, or an
//! authorizer on PLAINTEXT listeners) the admin listener keeps the transport the operator
//! chose for Kafka credentials, plain HTTP, and the start logs a warning; `admin.ssl.enabled=
//! true` there without a certificate stops the start. Turning authentication off while
//! security is on takes an explicit `admin.authentication=none` (then the API serves
//! `User:ANONYMOUS`, under the ACLs when an authorizer is on). A setting that cannot take
//! effect stops the start.
//!
//! | key | values | default |
//! |---|---|---|
//! | `admin.authentication` | `required`, `none` | `required` when security is on, else `none` |
//! | `admin.ssl.enabled` | `true`, `false` | `true` with an `admin.ssl.keystore.*`, or security on and a TLS listener |
//! | `admin.ssl.keystore.location`, `.certificate.chain`, `.key`, `.type`, `admin.ssl.key.password`, ... | as the Kafka `ssl.*` keys | the inter-broker (else first) TLS listener's certificate |
//! | `admin.ssl.truststore.*`, `admin.ssl.client.auth` | as `ssl.*` | none (never borrowed) |
//! | `admin.health.open` | `true`, `false` | `true` |
//! | `admin.metrics.open` | `true`, `false` | `false` |

use crate::config_value::{invalid, parse_bool, ConfigError, Listener};
use crate::listener_security::{ListenerSet, ListenerSpec};
use crate::security::listener_value;
use crate::security::tls::TlsSettings;

/// `admin.authentication`.
pub const AUTHENTICATION_KEY: &str = "admin.authentication";
/// `admin.ssl.enabled`.
pub const SSL_ENABLED_KEY: &str = "admin.ssl.enabled";
/// `admin.health.open`.
pub const HEALTH_OPEN_KEY: &str = "admin.health.open";
/// `admin.metrics.open`.
pub const METRICS_OPEN_KEY: &str = "admin.metrics.open";

/// The Kafka TLS keys the admin listener takes with an `admin.` prefix.
pub const SSL_KEYS: &[&str] = &[
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
    "ssl.cipher.suites",
];

/// The keys taken from a Kafka TLS listener when no `admin.ssl.keystore.*` is set: the
/// server identity and what it speaks, never client authentication.
const BORROWED_KEYS: &[&str] = &[
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.key.password",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.enabled.protocols",
    "ssl.cipher.suites",
];

/// Who may call the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authentication {
    /// Anyone, as `User:ANONYMOUS` (still subject to the ACLs when an authorizer is on, as
    /// a PLAINTEXT Kafka listener is).
    None,
    /// HTTP Basic (a SCRAM user's password) or a bearer token (an OAUTHBEARER JWT).
    Required,
}

/// The admin listener's security, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSecurity {
    /// Whether a Kafka listener uses TLS or SASL, or an authorizer is configured.
    pub security_on: bool,
    /// `admin.authentication`.
    pub authentication: Authentication,
    /// HTTPS with these settings; `None`: plain HTTP.
    pub tls: Option<TlsSettings>,
    /// The listener whose certificate the admin listener borrowed, if it did.
    pub borrowed_from: Option<String>,
    /// `/health/live` and `/health/ready` answer without credentials.
    pub health_open: bool,
    /// `/metrics` answers without credentials.
    pub metrics_open: bool,
}

impl AdminSecurity {
    /// Whether `path` needs no credentials: the console's files (the login form must load),
    /// and health and metrics when open.
    /// Without authentication health and metrics are always open; the API is then served
    /// to `User:ANONYMOUS` under the ACLs.
    pub fn is_open(&self, path: &str) -> bool {
        match path {
            "/" | "/console" | "/console/app.js" | "/console/app.css" => true,
            "/metrics" => self.metrics_open,
            p if p.starts_with("/health/") => self.health_open,
            _ => false,
        }
    }

    /// Reads and checks the `admin.*` security keys.
    ///
    /// # Errors
    /// A value that is not one of the accepted ones; TLS wanted and no certificate to serve
    /// (no `admin.ssl.keystore.*` and no TLS listener to borrow one from); `admin.ssl.*` keys
    /// set while TLS is off; `admin.health.open`/`admin.metrics.open` = false without
    /// authentication; what [`TlsSettings::from_config`] refuses.
    pub fn from_config(
        listeners: &ListenerSet,
        get: &impl Fn(&str) -> String,
    ) -> Result<AdminSecurity, ConfigError> {
        let security_on = listeners
            .clients()
            .any(|l| l.protocol.uses_tls() || l.protocol.uses_sasl())
            || !get("authorizer.class.name").trim().is_empty();
        let auth_value = get(AUTHENTICATION_KEY);
        let authentication = match auth_value.trim().to_ascii_lowercase().as_str() {
            "" if security_on => Authentication::Required,
            "" | "none" => Authentication::None,
            "required" => Authentication::Required,
            _ => {
                return Err(invalid(
                    AUTHENTICATION_KEY,
                    &auth_value,
                    "expected required or none",
                ))
            }
        };
        let own_keystore = !get("admin.ssl.keystore.location").trim().is_empty()
            || !get("admin.ssl.keystore.certificate.chain")
                .trim()
                .is_empty();
        let tls_listener = listeners.clients().any(|l| l.protocol.uses_tls());
        let tls_value = get(SSL_ENABLED_KEY);
        let tls_on = match tls_value.trim() {
            "" => own_keystore || (security_on && tls_listener),
            v => parse_bool(SSL_ENABLED_KEY, v)?,
        };
        let open = |key: &str, default: bool| -> Result<bool, ConfigError> {
            let v = get(key);
            let open = match v.trim() {
                "" => return Ok(default || authentication == Authentication::None),
                v => parse_bool(key, v)?,
            };
            if !open && authentication == Authentication::None {
                return Err(invalid(
                    key,
                    &v,
                    "the admin listener does not authenticate (admin.authentication is none), \
                     so nothing can be closed to anonymous callers",
                ));
            }
            Ok(open)
        };
        let health_open = open(HEALTH_OPEN_KEY, true)?;
        let metrics_open = open(METRICS_OPEN_KEY, false)?;
        let (tls, borrowed_from) = if tls_on {
            let (t, b) = admin_tls(listeners, get)?;
            (Some(t), b)
        } else {
            if let Some(k) = SSL_KEYS
                .iter()
                .map(|k| format!("admin.{k}"))
                .find(|k| !get(k).trim().is_empty())
            {
                return Err(invalid(
                    &k,
                    "(set)",
                    "the admin listener serves plain HTTP (admin.ssl.enabled=false): remove \
                     admin.ssl.enabled or this key",
                ));
            }
            (None, None)
        };
        Ok(AdminSecurity {
            security_on,
            authentication,
            tls,
            borrowed_from,
            health_open,
            metrics_open,
        })
    }
}

/// The admin listener's TLS settings: the `admin.ssl.*` keys, the server identity borrowed
/// from the inter-broker (else the first) TLS client listener when no admin keystore is set.
fn admin_tls(
    listeners: &ListenerSet,
    get: &impl Fn(&str) -> String,
) -> Result<(TlsSettings, Option<String>), ConfigError> {
    let own = |k: &str| get(&format!("admin.{k}")).trim().to_string();
    let has_own = !own("ssl.keystore.location").is_empty()
        || !own("ssl.keystore.certificate.chain").is_empty();
    let borrowed: Option<&ListenerSpec> = if has_own {
        None
    } else {
        listeners
            .inter_broker_listener()
            .filter(|l| l.protocol.uses_tls())
            .or_else(|| listeners.clients().find(|l| l.protocol.uses_tls()))
    };
    if !has_own && borrowed.is_none() {
        return Err(invalid(
            "admin.ssl.keystore.location",
            "",
            "the admin listener serves HTTPS (security is on or admin.ssl.enabled=true) and no \
             Kafka listener uses TLS to borrow a certificate from: set \
             admin.ssl.keystore.location (a PEM file with the key and chain), or \
             admin.ssl.enabled=false to serve plain HTTP",
        ));
    }
    let tls_get = |k: &str| -> String {
        if k.starts_with("listener.name.") {
            return String::new();
        }
        let mine = own(k);
        if !mine.is_empty() {
            return mine;
        }
        if let Some(l) = borrowed.filter(|_| BORROWED_KEYS.contains(&k)) {
            return listener_value(get, l, k);
        }
        match k {
            "ssl.keystore.type" | "ssl.truststore.type" => "PEM".into(),
            "ssl.enabled.protocols" => "TLSv1.2,TLSv1.3".into(),
            _ => String::new(),
        }
    };
    let spec = ListenerSpec {
        name: "admin".into(),
        bind: Listener {
            name: "admin".into(),
            host: String::new(),
            port: 0,
        },
        advertised: Listener {
            name: "admin".into(),
            host: String::new(),
            port: 0,
        },
        protocol: rill_client::security::SecurityProtocol::Ssl,
        is_controller: false,
    };
    let settings = TlsSettings::from_config(&spec, &tls_get).map_err(|e| match e {
        ConfigError::InvalidValue { key, value, reason } => ConfigError::InvalidValue {
            key: match borrowed {
                Some(l) if BORROWED_KEYS.contains(&key.as_str()) => {
                    format!("{}{key}", l.config_prefix())
                }
                _ => format!("admin.{key}"),
            },
            value,
            reason,
        },
        other => other,
    })?;
    Ok((settings, borrowed.map(|l| l.name.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn security(pairs: &[(&str, &str)]) -> Result<AdminSecurity, ConfigError> {
        let mut m: BTreeMap<String, String> = crate::config::BROKER_DEFAULTS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (k, v) in pairs {
            m.insert(k.to_string(), v.to_string());
        }
        let get = |k: &str| m.get(k).cloned().unwrap_or_default();
        let explicit: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let listeners =
            crate::listener_security::resolve_listeners(&get, &|k: &str| explicit.contains_key(k))?;
        AdminSecurity::from_config(&listeners, &get)
    }

    #[test]
    fn plaintext_cluster_is_open_plain_http() {
        let s = security(&[]).unwrap();
        assert!(!s.security_on);
        assert_eq!(s.authentication, Authentication::None);
        assert!(s.tls.is_none());
        assert!(s.is_open("/metrics") && !s.is_open("/api/v1/topics"));
    }

    #[test]
    fn authorizer_turns_authentication_on_and_tls_needs_a_certificate() {
        let authz = (
            "authorizer.class.name",
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        );
        let e = security(&[authz, (SSL_ENABLED_KEY, "true")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("admin.ssl.keystore.location"), "{e}");
        // No Kafka listener encrypts: plain HTTP, as the Kafka credentials travel.
        let s = security(&[authz]).unwrap();
        assert!(s.security_on);
        assert_eq!(s.authentication, Authentication::Required);
        assert!(s.tls.is_none());
        let s = security(&[("listeners", "SASL_PLAINTEXT://127.0.0.1:9092")]).unwrap();
        assert_eq!(s.authentication, Authentication::Required);
        assert!(s.tls.is_none());
        let s = security(&[authz, ("admin.ssl.keystore.location", "/a.pem")]).unwrap();
        assert!(s.tls.is_some() && s.borrowed_from.is_none());
        assert!(s.is_open("/health/ready") && s.is_open("/console/app.js"));
        assert!(!s.is_open("/metrics") && !s.is_open("/api/v1/cluster"));
        let s = security(&[
            authz,
            (SSL_ENABLED_KEY, "false"),
            (METRICS_OPEN_KEY, "true"),
            (HEALTH_OPEN_KEY, "false"),
        ])
        .unwrap();
        assert!(s.is_open("/metrics") && !s.is_open("/health/live"));
    }

    #[test]
    fn tls_borrows_the_listener_certificate_but_not_its_client_auth() {
        let s = security(&[
            ("listeners", "SSL://127.0.0.1:9093"),
            ("ssl.keystore.location", "/k.pem"),
            ("ssl.truststore.location", "/t.pem"),
            ("ssl.client.auth", "required"),
        ])
        .unwrap();
        let tls = s.tls.unwrap();
        assert_eq!(s.borrowed_from.as_deref(), Some("SSL"));
        assert_eq!(
            tls.keystore,
            crate::security::tls::PemSource::File("/k.pem".into())
        );
        assert_eq!(tls.client_auth, crate::security::tls::ClientAuth::None);
        assert_eq!(s.authentication, Authentication::Required);
        let s = security(&[
            ("listeners", "SSL://127.0.0.1:9093"),
            ("ssl.keystore.location", "/k.pem"),
            ("admin.ssl.keystore.location", "/admin.pem"),
        ])
        .unwrap();
        assert!(s.borrowed_from.is_none());
        assert_eq!(
            s.tls.unwrap().keystore,
            crate::security::tls::PemSource::File("/admin.pem".into())
        );
    }

    #[test]
    fn settings_that_cannot_take_effect_are_refused() {
        let e = security(&[(AUTHENTICATION_KEY, "basic")]).unwrap_err();
        assert!(e.to_string().contains(AUTHENTICATION_KEY));
        let e = security(&[(METRICS_OPEN_KEY, "false")]).unwrap_err();
        assert!(
            e.to_string().contains("admin.authentication is none"),
            "{e}"
        );
        let e = security(&[
            (SSL_ENABLED_KEY, "false"),
            ("admin.ssl.keystore.location", "/a.pem"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("plain HTTP"), "{e}");
        let s = security(&[
            ("listeners", "SSL://127.0.0.1:9093"),
            ("ssl.keystore.location", "/k.pem"),
            (SSL_ENABLED_KEY, "false"),
        ])
        .unwrap();
        assert!(s.tls.is_none(), "an explicit opt-out serves plain HTTP");
        let e = security(&[(SSL_ENABLED_KEY, "yes")]).unwrap_err();
        assert!(e.to_string().contains(SSL_ENABLED_KEY));
        let e = security(&[
            (SSL_ENABLED_KEY, "true"),
            ("admin.ssl.keystore.location", "/a.pem"),
            ("admin.ssl.client.auth", "required"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("admin.ssl.client.auth"), "{e}");
    }
}
