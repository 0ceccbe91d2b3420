//! The client's rustls configuration from Kafka's client `ssl.*` settings: the CA
//! certificates that sign broker certificates (a PEM file; there are no system roots to fall
//! back on), an optional client certificate and key for mutual TLS, and
//! `ssl.endpoint.identification.algorithm` (`https`: the broker's certificate must name the
//! host connected to; empty: the chain is still verified, only the name check is skipped).
//!
//! Built once per [`crate::security::ClientSecurity`] and shared (`Arc`) by every connection.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{ClientError, Result};

/// The files and choices a TLS client config is built from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM file of the trusted CA certificates (`ssl.ca.location`).
    pub ca_location: String,
    /// PEM file of the client certificate chain (`ssl.certificate.location`), for mTLS.
    pub certificate_location: Option<String>,
    /// PEM file of the client's private key (`ssl.key.location`), for mTLS.
    pub key_location: Option<String>,
    /// Whether the broker's certificate must name the host (`https`) or not (empty).
    pub verify_hostname: bool,
}

/// The crypto provider: ring. rustls deprecates it for lacking post-quantum key exchange;
/// its other provider, aws-lc-rs, needs cmake to build, which the build machines lack.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn config_error(key: &str, reason: impl Into<String>) -> ClientError {
    ClientError::Config {
        key: key.into(),
        reason: reason.into(),
    }
}

fn read(key: &str, path: &str) -> Result<Vec<u8>> {
    std::fs::read(Path::new(path))
        .map_err(|e| config_error(key, format!("cannot read {path}: {e}")))
}

fn certificates(key: &str, path: &str) -> Result<Vec<CertificateDer<'static>>> {
    let pem = read(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| config_error(key, format!("{path} is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(config_error(
            key,
            format!("{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
        ));
    }
    Ok(certs)
}

/// Builds the rustls client config.
///
/// # Errors
/// [`ClientError::Config`] for unreadable files, files without certificates or a key, an
/// encrypted key, or a certificate rustls refuses.
pub fn client_config(files: &TlsFiles) -> Result<Arc<rustls::ClientConfig>> {
    let provider = provider();
    let mut roots = RootCertStore::empty();
    for cert in certificates("ssl.ca.location", &files.ca_location)? {
        roots.add(cert).map_err(|e| {
            config_error(
                "ssl.ca.location",
                format!("{}: bad CA certificate: {e}", files.ca_location),
            )
        })?;
    }
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| config_error("ssl.ca.location", e.to_string()))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error("ssl.enabled.protocols", e.to_string()))?;
    let builder = if files.verify_hostname {
        builder.with_webpki_verifier(webpki)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnlyVerifier { inner: webpki }))
    };
    let config = match (&files.certificate_location, &files.key_location) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let chain = certificates("ssl.certificate.location", cert)?;
            let key_pem = read("ssl.key.location", key)?;
            let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
                config_error(
                    "ssl.key.location",
                    format!(
                        "{key} holds no usable private key ({e}); Rill reads unencrypted PEM \
                         keys (PKCS#8, PKCS#1 or SEC1): decrypt one with `openssl pkey`"
                    ),
                )
            })?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| config_error("ssl.key.location", e.to_string()))?
        }
        (Some(_), None) => {
            return Err(config_error(
                "ssl.key.location",
                "ssl.certificate.location is set, so the client's private key is needed too",
            ))
        }
        (None, Some(_)) => {
            return Err(config_error(
                "ssl.certificate.location",
                "ssl.key.location is set, so the client's certificate is needed too",
            ))
        }
    };
    Ok(Arc::new(config))
}

/// The rustls name of the host part of `addr` (`host:port`, `[v6]:port`); IP addresses
/// become [`ServerName::IpAddress`].
///
/// # Errors
/// [`ClientError::Config`] when the host is neither a DNS name nor an IP address.
pub fn server_name(addr: &str) -> Result<ServerName<'static>> {
    let host = match addr.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => addr,
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(host.to_string()).map_err(|e| {
        config_error(
            "bootstrap.servers",
            format!("'{host}' (from {addr}) is not a host name or IP address TLS can verify: {e}"),
        )
    })
}

/// A verifier that checks the chain with `inner` but accepts a certificate that does not
/// name the host (`ssl.endpoint.identification.algorithm=`, empty); the broker's own
/// inter-broker and controller connections use it too.
pub fn chain_only_verifier(inner: Arc<WebPkiServerVerifier>) -> Arc<dyn ServerCertVerifier> {
    Arc::new(ChainOnlyVerifier { inner })
}

/// Verifies the broker's chain with webpki but accepts a certificate that does not name
/// the host (`ssl.endpoint.identification.algorithm=`, empty). webpki checks the chain
/// before the name, so a name error means the chain was good.
#[derive(Debug)]
struct ChainOnlyVerifier {
    /// The ordinary verifier.
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnlyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn server_names_from_addresses() {
        assert!(matches!(
            server_name("127.0.0.1:9093").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("[::1]:9093").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("broker-1.example.com:9093").unwrap(),
            ServerName::DnsName(_)
        ));
        assert!(server_name("bad host:1").is_err());
    }

    #[test]
    fn missing_files_are_named() {
        let files = TlsFiles {
            ca_location: "/nonexistent/ca.pem".into(),
            verify_hostname: true,
            ..TlsFiles::default()
        };
        let e = client_config(&files).unwrap_err().to_string();
        assert!(
            e.contains("ssl.ca.location") && e.contains("/nonexistent/ca.pem"),
            "{e}"
        );
    }
}
