//! TLS for a listener with rustls: Kafka's `ssl.*` settings read into [`TlsSettings`]
//! (checked at config time), turned into a rustls server config when the listener binds
//! (certificate chain and key from a PEM keystore file or inline PEM, the truststore for
//! client authentication, protocol versions, cipher suites), and a [`TlsAcceptorCell`] that
//! swaps in a new config when the files change or an operator asks (connections already
//! open keep theirs). The controller listener's settings also make the rustls client config
//! a node connects to the controllers with ([`TlsSettings::client_config`]: its keystore as
//! its own identity, its truststore as the roots).

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};
use tokio_rustls::TlsAcceptor;

use super::listener_value;
use crate::config_value::{invalid, ConfigError};
use crate::listener_security::ListenerSpec;

/// `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    None,
    /// Asked for; a client without one is still served (as `User:ANONYMOUS` on SSL).
    Requested,
    /// Required: a client without a certificate the truststore trusts is refused.
    Required,
}

/// Where PEM data comes from: a file (watched for changes) or inline config text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PemSource {
    /// `ssl.keystore.location` / `ssl.truststore.location`.
    File(PathBuf),
    /// `ssl.keystore.certificate.chain` + `ssl.keystore.key`, `ssl.truststore.certificates`.
    Inline(String),
}

impl PemSource {
    fn read(&self) -> Result<Vec<u8>, String> {
        match self {
            PemSource::File(p) => {
                std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
            }
            PemSource::Inline(text) => Ok(text.as_bytes().to_vec()),
        }
    }
}

/// One listener's TLS settings (Kafka's keys, per-listener overrides applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The listener's name.
    pub listener: String,
    /// The server's certificate chain (and, for a keystore file, its key too).
    pub keystore: PemSource,
    /// The private key when given inline apart from the chain.
    pub inline_key: Option<String>,
    /// Certificates trusted to sign client certificates.
    pub truststore: Option<PemSource>,
    /// `ssl.client.auth`.
    pub client_auth: ClientAuth,
    /// `ssl.enabled.protocols`: TLS 1.2 and/or 1.3.
    pub tls12: bool,
    /// TLS 1.3 enabled.
    pub tls13: bool,
    /// `ssl.cipher.suites` (IANA names); empty: rustls's defaults.
    pub cipher_suites: Vec<String>,
    /// `ssl.principal.mapping.rules`.
    pub principal_mapping_rules: String,
    /// `ssl.endpoint.identification.algorithm` is `https` (the default): as a client, check
    /// that the server's certificate is for the host connected to; empty: only its chain.
    pub verify_hostname: bool,
}

impl TlsSettings {
    /// Reads `listener`'s TLS settings.
    ///
    /// # Errors
    /// A keystore or truststore type other than PEM, a missing keystore, an encrypted key, a
    /// protocol or cipher suite rustls does not implement, a bad `ssl.client.auth`.
    pub fn from_config(
        listener: &ListenerSpec,
        get: &impl Fn(&str) -> String,
    ) -> Result<TlsSettings, ConfigError> {
        let value = |k: &str| listener_value(get, listener, k).trim().to_string();
        let name = &listener.name;
        for key in ["ssl.keystore.type", "ssl.truststore.type"] {
            let t = value(key);
            if !t.eq_ignore_ascii_case("PEM") {
                return Err(invalid(
                    key,
                    &t,
                    format!(
                        "listener {name}: Rill reads PEM only (convert a {t} store with \
                         openssl or keytool)"
                    ),
                ));
            }
        }
        let location = value("ssl.keystore.location");
        let chain = value("ssl.keystore.certificate.chain");
        let key = value("ssl.keystore.key");
        let (keystore, inline_key) = match (location.is_empty(), chain.is_empty()) {
            (false, true) => (PemSource::File(PathBuf::from(&location)), None),
            (true, false) => {
                if key.is_empty() {
                    return Err(invalid(
                        "ssl.keystore.key",
                        "",
                        format!("listener {name}: ssl.keystore.certificate.chain needs ssl.keystore.key"),
                    ));
                }
                (PemSource::Inline(chain), Some(key))
            }
            (false, false) => {
                return Err(invalid(
                    "ssl.keystore.location",
                    &location,
                    format!(
                        "listener {name}: give ssl.keystore.location or \
                         ssl.keystore.certificate.chain, not both"
                    ),
                ))
            }
            (true, true) => {
                return Err(invalid(
                    "ssl.keystore.location",
                    "",
                    format!(
                        "listener {name} is {} and needs a certificate: set \
                         ssl.keystore.location (a PEM file with the key and the chain) or \
                         ssl.keystore.certificate.chain and ssl.keystore.key",
                        listener.protocol.name()
                    ),
                ))
            }
        };
        let trust_location = value("ssl.truststore.location");
        let trust_inline = value("ssl.truststore.certificates");
        let truststore = match (trust_location.is_empty(), trust_inline.is_empty()) {
            (true, true) => None,
            (false, _) => Some(PemSource::File(PathBuf::from(trust_location))),
            (true, false) => Some(PemSource::Inline(trust_inline)),
        };
        let auth = value("ssl.client.auth");
        let client_auth = match auth.to_ascii_lowercase().as_str() {
            "none" | "" => ClientAuth::None,
            "requested" => ClientAuth::Requested,
            "required" => ClientAuth::Required,
            _ => {
                return Err(invalid(
                    "ssl.client.auth",
                    &auth,
                    "expected required, requested or none",
                ))
            }
        };
        if client_auth != ClientAuth::None && truststore.is_none() {
            return Err(invalid(
                "ssl.client.auth",
                &auth,
                format!(
                    "listener {name}: client authentication needs ssl.truststore.location \
                     or ssl.truststore.certificates"
                ),
            ));
        }
        let protocols = value("ssl.enabled.protocols");
        let (mut tls12, mut tls13) = (false, false);
        for p in protocols
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            match p {
                "TLSv1.2" => tls12 = true,
                "TLSv1.3" => tls13 = true,
                other => {
                    return Err(invalid(
                        "ssl.enabled.protocols",
                        &protocols,
                        format!("Rill serves TLSv1.2 and TLSv1.3 only, not {other}"),
                    ))
                }
            }
        }
        if !tls12 && !tls13 {
            return Err(invalid(
                "ssl.enabled.protocols",
                &protocols,
                "enable TLSv1.2 or TLSv1.3",
            ));
        }
        let suites_value = value("ssl.cipher.suites");
        let cipher_suites: Vec<String> = suites_value
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        for s in &cipher_suites {
            if !provider().cipher_suites.iter().any(|c| iana_name(c) == *s) {
                return Err(invalid(
                    "ssl.cipher.suites",
                    &suites_value,
                    format!(
                        "Rill does not implement {s}; it has {}",
                        provider()
                            .cipher_suites
                            .iter()
                            .map(iana_name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        let settings = TlsSettings {
            listener: name.clone(),
            keystore,
            inline_key,
            truststore,
            client_auth,
            tls12,
            tls13,
            cipher_suites,
            principal_mapping_rules: value("ssl.principal.mapping.rules"),
            verify_hostname: !value("ssl.endpoint.identification.algorithm").is_empty(),
        };
        let ssl_protocol = value("ssl.protocol");
        if !ssl_protocol.is_empty()
            && !["TLS", "TLSv1.2", "TLSv1.3"].contains(&ssl_protocol.as_str())
        {
            return Err(invalid(
                "ssl.protocol",
                &ssl_protocol,
                "Rill speaks TLS, TLSv1.2 or TLSv1.3",
            ));
        }
        Ok(settings)
    }

    /// The files this config reads (watched for changes).
    pub fn files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let PemSource::File(p) = &self.keystore {
            out.push(p.clone());
        }
        if let Some(PemSource::File(p)) = &self.truststore {
            out.push(p.clone());
        }
        out
    }

    /// Loads the certificates and key and builds the rustls server config.
    ///
    /// # Errors
    /// Unreadable files, no certificate or no key in them, an encrypted key, a key that does
    /// not match the certificate, no trusted certificate in the truststore.
    pub fn server_config(&self) -> Result<ServerConfig, String> {
        let name = &self.listener;
        let (chain, key) = self.identity()?;
        let provider = Arc::new(provider_with_suites(&self.cipher_suites));
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&self.versions())
            .map_err(|e| format!("listener {name}: {e}"))?;
        let builder = match (&self.truststore, self.client_auth) {
            (Some(_), auth) if auth != ClientAuth::None => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(self.roots()?), provider);
                let verifier = if auth == ClientAuth::Requested {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                builder.with_client_cert_verifier(
                    verifier
                        .build()
                        .map_err(|e| format!("listener {name}: client verifier: {e}"))?,
                )
            }
            _ => builder.with_no_client_auth(),
        };
        builder
            .with_single_cert(chain, key)
            .map_err(|e| format!("listener {name}: certificate and key: {e}"))
    }

    /// The rustls client config for connecting to servers of this listener (the controller
    /// quorum): the truststore's certificates are the roots, the keystore's chain and key the
    /// client certificate this node presents; protocols and cipher suites as configured; the
    /// server's host name checked unless `ssl.endpoint.identification.algorithm` is empty.
    ///
    /// # Errors
    /// No truststore, or what [`Self::server_config`] refuses in the keystore or truststore.
    pub fn client_config(&self) -> Result<ClientConfig, String> {
        let name = &self.listener;
        let (chain, key) = self.identity()?;
        let provider = Arc::new(provider_with_suites(&self.cipher_suites));
        let roots = Arc::new(self.roots()?);
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&self.versions())
            .map_err(|e| format!("listener {name}: {e}"))?;
        let builder = if self.verify_hostname {
            builder.with_root_certificates(roots)
        } else {
            let inner = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| format!("listener {name}: server verifier: {e}"))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(rill_client::tls::chain_only_verifier(inner))
        };
        builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("listener {name}: certificate and key: {e}"))
    }

    /// The enabled TLS versions, newest first.
    fn versions(&self) -> Vec<&'static SupportedProtocolVersion> {
        let mut versions: Vec<&'static SupportedProtocolVersion> = Vec::new();
        if self.tls13 {
            versions.push(&rustls::version::TLS13);
        }
        if self.tls12 {
            versions.push(&rustls::version::TLS12);
        }
        versions
    }

    /// This node's certificate chain and private key, from the keystore.
    fn identity(&self) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
        let name = &self.listener;
        let keystore = self.keystore.read()?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&keystore)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("listener {name}: bad certificate in the keystore: {e}"))?;
        if chain.is_empty() {
            return Err(format!("listener {name}: no certificate in the keystore"));
        }
        let key_pem = match &self.inline_key {
            Some(k) => k.as_bytes().to_vec(),
            None => keystore.clone(),
        };
        if String::from_utf8_lossy(&key_pem).contains("ENCRYPTED PRIVATE KEY") {
            return Err(format!(
                "listener {name}: the private key is encrypted (ssl.key.password); Rill reads \
                 unencrypted PKCS#8, PKCS#1 or SEC1 keys (openssl pkcs8 -nocrypt decrypts one)"
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| format!("listener {name}: no usable private key in the keystore: {e}"))?;
        Ok((chain, key))
    }

    /// The truststore's certificates.
    fn roots(&self) -> Result<RootCertStore, String> {
        let name = &self.listener;
        let Some(source) = &self.truststore else {
            return Err(format!(
                "listener {name}: no truststore (ssl.truststore.location or \
                 ssl.truststore.certificates)"
            ));
        };
        let pem = source.read()?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert =
                cert.map_err(|e| format!("listener {name}: bad truststore certificate: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("listener {name}: truststore certificate: {e}"))?;
        }
        if roots.is_empty() {
            return Err(format!("listener {name}: no certificate in the truststore"));
        }
        Ok(roots)
    }
}

/// The crypto provider: ring. rustls deprecates it for lacking post-quantum key exchange;
/// its other provider, aws-lc-rs, needs cmake to build, which the build machines lack.
#[allow(deprecated)]
fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The provider keeping only `suites` (all when empty).
fn provider_with_suites(suites: &[String]) -> CryptoProvider {
    let mut p = provider();
    if !suites.is_empty() {
        p.cipher_suites.retain(|c| suites.contains(&iana_name(c)));
    }
    p
}

/// A suite's IANA name, as Kafka's `ssl.cipher.suites` (Java) spells it.
fn iana_name(suite: &rustls::SupportedCipherSuite) -> String {
    format!("{:?}", suite.suite()).replace("TLS13_", "TLS_")
}

/// The last modification times of files.
pub(crate) fn mtimes(files: &[PathBuf]) -> Vec<Option<SystemTime>> {
    files
        .iter()
        .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
        .collect()
}

/// A listener's TLS acceptor, replaced when its certificate files change.
pub struct TlsAcceptorCell {
    /// The settings it is built from.
    settings: TlsSettings,
    /// The acceptor new connections use, and the file times it was built at.
    current: RwLock<(TlsAcceptor, Vec<Option<SystemTime>>)>,
}

impl std::fmt::Debug for TlsAcceptorCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptorCell")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl TlsAcceptorCell {
    /// Loads the certificates.
    ///
    /// # Errors
    /// What [`TlsSettings::server_config`] refuses.
    pub fn load(settings: TlsSettings) -> Result<Self, String> {
        let times = mtimes(&settings.files());
        let config = settings.server_config()?;
        Ok(TlsAcceptorCell {
            current: RwLock::new((TlsAcceptor::from(Arc::new(config)), times)),
            settings,
        })
    }

    /// The settings.
    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    /// The acceptor for a new connection.
    pub fn acceptor(&self) -> TlsAcceptor {
        match self.current.read() {
            Ok(g) => g.0.clone(),
            Err(poisoned) => poisoned.into_inner().0.clone(),
        }
    }

    /// Rebuilds the config from the files (`force`), or only if a file changed since the
    /// last load. Returns whether a new config is in use.
    ///
    /// # Errors
    /// The new files do not load: the old config stays in use.
    pub fn reload(&self, force: bool) -> Result<bool, String> {
        let times = mtimes(&self.settings.files());
        let unchanged = match self.current.read() {
            Ok(g) => g.1 == times,
            Err(p) => p.into_inner().1 == times,
        };
        if unchanged && !force {
            return Ok(false);
        }
        let config = self.settings.server_config()?;
        let mut g = match self.current.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *g = (TlsAcceptor::from(Arc::new(config)), times);
        Ok(true)
    }
}
