//! How a client secures its connections: Kafka's client settings `security.protocol`,
//! `ssl.*` and `sasl.*` read into a [`ClientSecurity`] that every connection of a
//! [`crate::Client`] uses.
//!
//! Keys read (Kafka's Java client names, plus librdkafka's where Rill needs PEM files):
//! - `security.protocol`: `PLAINTEXT` (default), `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`.
//! - `ssl.ca.location` (or `ssl.truststore.location` with `ssl.truststore.type=PEM`): the CA
//!   certificates; required for SSL and SASL_SSL.
//! - `ssl.certificate.location` + `ssl.key.location` (or `ssl.keystore.location` with
//!   `ssl.keystore.type=PEM`, one file holding both): the client certificate for mTLS.
//! - `ssl.endpoint.identification.algorithm`: `https` (default) or empty.
//! - `sasl.mechanism` (or librdkafka's `sasl.mechanisms`): `PLAIN`, `SCRAM-SHA-256`,
//!   `SCRAM-SHA-512`, `OAUTHBEARER`.
//! - `sasl.username` / `sasl.password`, or `sasl.jaas.config` with `username=` and
//!   `password=` options (explicit `sasl.username`/`sasl.password` win).
//! - `sasl.oauthbearer.token`: Rill's key for a static OAUTHBEARER token (a compact JWT).
//!
//! Files are read when the settings are parsed, so mistakes surface before any connection.
//! Other keys are ignored (a `--command-config` file may carry producer settings too).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use rill_auth::{JaasConfig, SaslMechanism};

use crate::error::{ClientError, Result};
use crate::tls::{self, TlsFiles};

/// Kafka's `security.protocol` (the broker's listeners use the same type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SecurityProtocol {
    /// Plain TCP, no authentication.
    #[default]
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL over plain TCP.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Every protocol.
    pub const ALL: [SecurityProtocol; 4] = [
        SecurityProtocol::Plaintext,
        SecurityProtocol::Ssl,
        SecurityProtocol::SaslPlaintext,
        SecurityProtocol::SaslSsl,
    ];

    /// Kafka's wire id (DescribeCluster and broker registrations carry it): PLAINTEXT 0, SSL
    /// 1, SASL_PLAINTEXT 2, SASL_SSL 3.
    pub fn id(self) -> i16 {
        match self {
            SecurityProtocol::Plaintext => 0,
            SecurityProtocol::Ssl => 1,
            SecurityProtocol::SaslPlaintext => 2,
            SecurityProtocol::SaslSsl => 3,
        }
    }

    /// Parses Kafka's name (case-insensitive; empty is PLAINTEXT, the client default).
    ///
    /// # Errors
    /// [`ClientError::Config`] naming the accepted values.
    pub fn parse(name: &str) -> Result<Self> {
        match name.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" | "" => Ok(SecurityProtocol::Plaintext),
            "SSL" => Ok(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Ok(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Ok(SecurityProtocol::SaslSsl),
            _ => Err(config(
                "security.protocol",
                format!(
                    "unknown protocol '{name}'; use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
                ),
            )),
        }
    }

    /// Kafka's name.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Whether connections use TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether connections authenticate with SASL.
    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// What a connection authenticates with over SASL.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslCredentials {
    /// The mechanism (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, `OAUTHBEARER`).
    pub mechanism: SaslMechanism,
    /// The user name (OAUTHBEARER: the optional authorization id).
    pub username: String,
    /// The password, or the token for OAUTHBEARER. Never printed.
    pub secret: String,
}

impl fmt::Debug for SaslCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslCredentials")
            .field("mechanism", &self.mechanism.name())
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A client's connection security: the protocol, the TLS config, the SASL credentials.
/// Cheap to clone (the TLS config is shared).
#[derive(Clone, Default)]
pub struct ClientSecurity {
    /// `security.protocol`.
    protocol: SecurityProtocol,
    /// The rustls config; `Some` exactly when the protocol uses TLS.
    tls: Option<Arc<rustls::ClientConfig>>,
    /// The SASL credentials; `Some` exactly when the protocol uses SASL.
    sasl: Option<SaslCredentials>,
}

impl fmt::Debug for ClientSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSecurity")
            .field("protocol", &self.protocol.name())
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl)
            .finish()
    }
}

fn config(key: &str, reason: impl Into<String>) -> ClientError {
    ClientError::Config {
        key: key.into(),
        reason: reason.into(),
    }
}

impl ClientSecurity {
    /// Plain TCP without authentication (the default).
    pub fn plaintext() -> Self {
        ClientSecurity::default()
    }

    /// Reads Kafka's client security settings (see the module docs).
    ///
    /// # Errors
    /// [`ClientError::Config`] for an unknown protocol or mechanism, a missing
    /// `ssl.ca.location` or credential, unreadable or invalid PEM files, a bad JAAS value.
    pub fn from_properties(props: &BTreeMap<String, String>) -> Result<Self> {
        let get = |k: &str| props.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let protocol = SecurityProtocol::parse(get("security.protocol").unwrap_or("PLAINTEXT"))?;
        let tls = if protocol.uses_tls() {
            Some(tls::client_config(&tls_files(props)?)?)
        } else {
            None
        };
        let sasl = if protocol.uses_sasl() {
            Some(sasl_credentials(props)?)
        } else {
            None
        };
        Ok(ClientSecurity {
            protocol,
            tls,
            sasl,
        })
    }

    /// The protocol.
    pub fn protocol(&self) -> SecurityProtocol {
        self.protocol
    }

    /// The rustls config, when the protocol uses TLS.
    pub fn tls(&self) -> Option<&Arc<rustls::ClientConfig>> {
        self.tls.as_ref()
    }

    /// The SASL credentials, when the protocol uses SASL.
    pub fn sasl(&self) -> Option<&SaslCredentials> {
        self.sasl.as_ref()
    }
}

/// The PEM type of a Java store (`ssl.truststore.type`, `ssl.keystore.type`), which must be
/// PEM for Rill to read the file.
fn require_pem(props: &BTreeMap<String, String>, type_key: &str, location_key: &str) -> Result<()> {
    let t = props.get(type_key).map(|v| v.trim()).unwrap_or("JKS");
    if t.eq_ignore_ascii_case("PEM") {
        return Ok(());
    }
    Err(config(
        location_key,
        format!(
            "Rill reads PEM files only, but {type_key} is {t}; convert the store to PEM \
             (keytool -exportcert -rfc / openssl pkcs12) and set ssl.ca.location \
             (and ssl.certificate.location + ssl.key.location for a client certificate)"
        ),
    ))
}

fn tls_files(props: &BTreeMap<String, String>) -> Result<TlsFiles> {
    let get = |k: &str| {
        props
            .get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let ca_location =
        match (get("ssl.ca.location"), get("ssl.truststore.location")) {
            (Some(ca), _) => ca,
            (None, Some(store)) => {
                require_pem(props, "ssl.truststore.type", "ssl.truststore.location")?;
                store
            }
            (None, None) => return Err(config(
                "ssl.ca.location",
                "SSL and SASL_SSL need the CA certificate that signed the broker's certificate: \
                 set ssl.ca.location to a PEM file (--ssl-ca-location)",
            )),
        };
    let (certificate_location, key_location) = match (
        get("ssl.certificate.location"),
        get("ssl.key.location"),
        get("ssl.keystore.location"),
    ) {
        (None, None, Some(store)) => {
            require_pem(props, "ssl.keystore.type", "ssl.keystore.location")?;
            (Some(store.clone()), Some(store))
        }
        (cert, key, _) => (cert, key),
    };
    let verify_hostname = match props
        .get("ssl.endpoint.identification.algorithm")
        .map(|v| v.trim().to_ascii_lowercase())
    {
        None => true,
        Some(v) if v == "https" => true,
        Some(v) if v.is_empty() || v == "none" => false,
        Some(v) => {
            return Err(config(
                "ssl.endpoint.identification.algorithm",
                format!("unknown value '{v}'; use https (verify the host name) or an empty value"),
            ))
        }
    };
    Ok(TlsFiles {
        ca_location,
        certificate_location,
        key_location,
        verify_hostname,
    })
}

fn sasl_credentials(props: &BTreeMap<String, String>) -> Result<SaslCredentials> {
    let get = |k: &str| props.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let supported = "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER";
    let name = get("sasl.mechanism")
        .or_else(|| get("sasl.mechanisms"))
        .ok_or_else(|| {
            config(
                "sasl.mechanism",
                format!("SASL_PLAINTEXT and SASL_SSL need a mechanism: set sasl.mechanism to {supported}"),
            )
        })?;
    let mechanism = SaslMechanism::from_name(&name.to_ascii_uppercase()).ok_or_else(|| {
        config(
            "sasl.mechanism",
            format!("Rill's client does not speak '{name}'; use {supported}"),
        )
    })?;
    let jaas = get("sasl.jaas.config")
        .map(JaasConfig::parse)
        .transpose()
        .map_err(|e| config("sasl.jaas.config", e.to_string()))?;
    let from_jaas = |k: &str| jaas.as_ref().and_then(|j| j.option(k)).map(str::to_string);
    let username = get("sasl.username")
        .map(str::to_string)
        .or_else(|| from_jaas("username"))
        .unwrap_or_default();
    if mechanism == SaslMechanism::OAuthBearer {
        let token = get("sasl.oauthbearer.token").ok_or_else(|| {
            config(
                "sasl.oauthbearer.token",
                "OAUTHBEARER needs a token: set sasl.oauthbearer.token to a compact JWT",
            )
        })?;
        return Ok(SaslCredentials {
            mechanism,
            username,
            secret: token.to_string(),
        });
    }
    let password = get("sasl.password")
        .map(str::to_string)
        .or_else(|| from_jaas("password"));
    match (username.is_empty(), password) {
        (false, Some(secret)) => Ok(SaslCredentials {
            mechanism,
            username,
            secret,
        }),
        (true, _) => Err(config(
            "sasl.username",
            format!(
                "{} needs a user name: set sasl.username (--sasl-username) or username=\"...\" \
                 in sasl.jaas.config",
                mechanism.name()
            ),
        )),
        (false, None) => Err(config(
            "sasl.password",
            format!(
                "{} needs a password: set sasl.password (--sasl-password) or password=\"...\" \
                 in sasl.jaas.config",
                mechanism.name()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        ClientSecurity::from_properties(&props(pairs))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn defaults_to_plaintext() {
        let s = ClientSecurity::from_properties(&props(&[("acks", "all")])).unwrap();
        assert_eq!(s.protocol(), SecurityProtocol::Plaintext);
        assert!(s.tls().is_none() && s.sasl().is_none());
    }

    #[test]
    fn sasl_plaintext_with_username_and_password() {
        let s = ClientSecurity::from_properties(&props(&[
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "alice"),
            ("sasl.password", "alice-secret"),
        ]))
        .unwrap();
        let c = s.sasl().unwrap();
        assert_eq!(c.mechanism.name(), "SCRAM-SHA-512");
        assert_eq!(
            (c.username.as_str(), c.secret.as_str()),
            ("alice", "alice-secret")
        );
        assert!(!format!("{s:?}").contains("alice-secret"));
    }

    #[test]
    fn sasl_credentials_from_jaas_and_overrides() {
        let jaas = r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="jaas-secret";"#;
        let s = ClientSecurity::from_properties(&props(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "SCRAM-SHA-256"),
            ("sasl.jaas.config", jaas),
            ("sasl.password", "flag-secret"),
        ]))
        .unwrap();
        let c = s.sasl().unwrap();
        assert_eq!(
            (c.username.as_str(), c.secret.as_str()),
            ("alice", "flag-secret")
        );
    }

    #[test]
    fn oauthbearer_needs_a_token() {
        let base = [
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "OAUTHBEARER"),
        ];
        assert!(err(&base).contains("sasl.oauthbearer.token"));
        let mut with = base.to_vec();
        with.push(("sasl.oauthbearer.token", "a.b.c"));
        let s = ClientSecurity::from_properties(&props(&with)).unwrap();
        assert_eq!(s.sasl().unwrap().secret, "a.b.c");
    }

    #[test]
    fn errors_name_the_setting() {
        assert!(err(&[("security.protocol", "TLS")])
            .contains("PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"));
        assert!(err(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "PLAIN")
        ])
        .contains("ssl.ca.location"));
        assert!(err(&[("security.protocol", "SSL")]).contains("ssl.ca.location"));
        assert!(err(&[("security.protocol", "SASL_PLAINTEXT")]).contains("sasl.mechanism"));
        assert!(err(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "GSSAPI")
        ])
        .contains("does not speak 'GSSAPI'"));
        assert!(err(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "PLAIN")
        ])
        .contains("sasl.username"));
        assert!(err(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "u"),
        ])
        .contains("sasl.password"));
        assert!(err(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "PLAIN"),
            (
                "sasl.jaas.config",
                "PlainLoginModule required username=\"u\""
            ),
        ])
        .contains("sasl.jaas.config"));
        assert!(err(&[
            ("security.protocol", "SSL"),
            ("ssl.truststore.location", "/x.jks"),
        ])
        .contains("PEM"));
        assert!(err(&[
            ("security.protocol", "SSL"),
            ("ssl.ca.location", "/nonexistent.pem"),
            ("ssl.endpoint.identification.algorithm", "http"),
        ])
        .contains("ssl.endpoint.identification.algorithm"));
    }
}
