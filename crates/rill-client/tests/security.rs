//! rill-client's TLS and SASL against a fake broker (tokio-rustls and rill-auth's
//! `SaslServer` behind Kafka frames): the CA check and the host name check and its switch,
//! mutual TLS, SCRAM and PLAIN over SASL_SSL and SASL_PLAINTEXT, the broker's refusals
//! arriving with their Kafka codes, and reconnecting before a KIP-368 session expires.
//!
//! Certificates in `tests/data` (EC P-256, valid for 100 years): `ca.pem` signs `server.pem`
//! (localhost, 127.0.0.1), `other-name.pem` (broker.example.com only) and `client.pem`;
//! `other-ca.pem` is an unrelated CA.

// A test file: a malformed frame from the client under test should panic the fake broker.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::MetadataResponseBroker;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, MetadataResponse, RequestHeader, RequestKind,
    ResponseHeader, ResponseKind, SaslAuthenticateResponse, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rill_auth::{SaslServer, SaslSettings, SaslStep, ScramCredential, ScramMechanism};
use rill_client::connection::Connection;
use rill_client::{Client, ClientConfig, ClientError, ClientSecurity};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

fn data(name: &str) -> String {
    let mut p = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    p.push("tests/data");
    p.push(name);
    p.to_string_lossy().into_owned()
}

/// How the fake broker behaves.
#[derive(Clone, Default)]
struct Fake {
    /// Server certificate file stem (`server`, `other-name`); `None`: plain TCP.
    cert: Option<&'static str>,
    /// Require a client certificate signed by `ca.pem`.
    require_client_cert: bool,
    /// Enabled SASL mechanisms; empty: no SASL.
    mechanisms: Vec<String>,
    /// `session_lifetime_ms` granted on success.
    session_lifetime_ms: i64,
}

/// Starts the fake; returns its port and a count of accepted connections.
async fn start(fake: Fake) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let acceptor = fake
        .cert
        .map(|stem| tls_acceptor(stem, fake.require_client_cert));
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let fake = fake.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                match acceptor {
                    None => serve(sock, fake, port).await,
                    Some(a) => {
                        if let Ok(tls) = a.accept(sock).await {
                            serve(tls, fake, port).await;
                        }
                    }
                }
            });
        }
    });
    (port, accepted)
}

#[allow(deprecated)]
fn tls_acceptor(stem: &str, require_client_cert: bool) -> tokio_rustls::TlsAcceptor {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = CertificateDer::pem_file_iter(data(&format!("{stem}.pem")))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(data(&format!("{stem}.key"))).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(data("ca.pem")).unwrap())
            .unwrap();
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder.with_single_cert(chain, key).unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// Serves one connection: ApiVersions, SASL, Metadata (only once authenticated).
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut sock: S, fake: Fake, port: u16) {
    let mut creds = BTreeMap::new();
    for m in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
        let c = ScramCredential::from_password(m, "alice-secret", b"salt".to_vec(), 4096);
        creds.insert(("alice".to_string(), m), c);
    }
    let settings = SaslSettings {
        plain_users: [("alice".to_string(), "alice-secret".to_string())].into(),
        ..SaslSettings::default()
    };
    let mut sasl: Option<SaslServer> = None;
    let mut authenticated = fake.mechanisms.is_empty();
    loop {
        let mut len = [0u8; 4];
        if sock.read_exact(&mut len).await.is_err() {
            return;
        }
        let mut frame = vec![0u8; i32::from_be_bytes(len) as usize];
        if sock.read_exact(&mut frame).await.is_err() {
            return;
        }
        let mut buf = Bytes::from(frame);
        let api = ApiKey::try_from(i16::from_be_bytes([buf[0], buf[1]])).unwrap();
        let version = i16::from_be_bytes([buf[2], buf[3]]);
        let header = RequestHeader::decode(&mut buf, api.request_header_version(version)).unwrap();
        let body = RequestKind::decode(api, &mut buf, version).unwrap();
        let reply = match body {
            RequestKind::ApiVersions(_) => ResponseKind::ApiVersions(api_versions()),
            RequestKind::SaslHandshake(h) => {
                let mut r = SaslHandshakeResponse::default();
                r.mechanisms = fake
                    .mechanisms
                    .iter()
                    .map(|m| StrBytes::from_string(m.clone()))
                    .collect();
                match SaslServer::new(h.mechanism.as_str(), &fake.mechanisms) {
                    Ok(s) => sasl = Some(s),
                    Err(e) => r.error_code = e.kafka_error_code(),
                }
                ResponseKind::SaslHandshake(r)
            }
            RequestKind::SaslAuthenticate(a) => {
                let mut r = SaslAuthenticateResponse::default();
                let server = sasl.as_mut().unwrap();
                match server.step(&a.auth_bytes, &settings, &creds, 0, "servernonce") {
                    Ok(SaslStep::Challenge(c)) => r.auth_bytes = Bytes::from(c),
                    Ok(SaslStep::Done { response, .. }) => {
                        r.auth_bytes = Bytes::from(response);
                        r.session_lifetime_ms = fake.session_lifetime_ms;
                        authenticated = true;
                    }
                    Err(e) => {
                        r.error_code = e.kafka_error_code();
                        r.error_message = Some(StrBytes::from_string(e.to_string()));
                    }
                }
                ResponseKind::SaslAuthenticate(r)
            }
            RequestKind::Metadata(_) if authenticated => ResponseKind::Metadata(metadata(port)),
            _ => return,
        };
        if sock
            .write_all(&encode(api, version, &header, reply))
            .await
            .is_err()
        {
            return;
        }
    }
}

fn encode(api: ApiKey, version: i16, header: &RequestHeader, body: ResponseKind) -> Bytes {
    let mut out = BytesMut::new();
    out.extend_from_slice(&[0; 4]);
    ResponseHeader::default()
        .with_correlation_id(header.correlation_id)
        .encode(&mut out, api.response_header_version(version))
        .unwrap();
    body.encode(&mut out, version).unwrap();
    let size = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    out.freeze()
}

fn api_versions() -> ApiVersionsResponse {
    let mut r = ApiVersionsResponse::default();
    r.api_keys = [
        ApiKey::ApiVersions,
        ApiKey::Metadata,
        ApiKey::SaslHandshake,
        ApiKey::SaslAuthenticate,
    ]
    .iter()
    .map(|k| {
        let v = k.valid_versions();
        let mut a = ApiVersion::default();
        a.api_key = *k as i16;
        a.min_version = v.min;
        a.max_version = v.max;
        a
    })
    .collect();
    r
}

fn metadata(port: u16) -> MetadataResponse {
    let mut b = MetadataResponseBroker::default();
    b.node_id = BrokerId(1);
    b.host = StrBytes::from_static_str("127.0.0.1");
    b.port = i32::from(port);
    let mut r = MetadataResponse::default();
    r.brokers = vec![b];
    r.controller_id = BrokerId(1);
    r
}

fn security(pairs: &[(&str, &str)]) -> ClientSecurity {
    let props = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ClientSecurity::from_properties(&props).unwrap()
}

async fn connect(port: u16, security: &ClientSecurity) -> rill_client::Result<Arc<Connection>> {
    Connection::connect_with(
        &format!("127.0.0.1:{port}"),
        "t",
        Duration::from_secs(5),
        security,
    )
    .await
}

fn tls_fake(cert: &'static str) -> Fake {
    Fake {
        cert: Some(cert),
        ..Fake::default()
    }
}

#[tokio::test]
async fn ssl_verifies_the_chain_and_the_host_name() {
    let (port, _) = start(tls_fake("server")).await;
    let ca = data("ca.pem");
    let mut config = ClientConfig::new(&format!("127.0.0.1:{port}"));
    config.security = security(&[("security.protocol", "SSL"), ("ssl.ca.location", &ca)]);
    let client = Client::connect(config).await.unwrap();
    assert_eq!(client.snapshot().brokers.len(), 1);

    let other = data("other-ca.pem");
    let untrusted = security(&[
        ("security.protocol", "SSL"),
        ("ssl.ca.location", &other),
        ("ssl.endpoint.identification.algorithm", ""),
    ]);
    let e = connect(port, &untrusted).await.unwrap_err();
    assert!(matches!(e, ClientError::Tls { .. }), "{e}");
}

#[tokio::test]
async fn the_host_name_check_can_be_switched_off() {
    let (port, _) = start(tls_fake("other-name")).await;
    let ca = data("ca.pem");
    let strict = security(&[("security.protocol", "SSL"), ("ssl.ca.location", &ca)]);
    let e = connect(port, &strict).await.unwrap_err();
    assert!(matches!(e, ClientError::Tls { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("ssl.endpoint.identification.algorithm"),
        "{e}"
    );
    let lax = security(&[
        ("security.protocol", "SSL"),
        ("ssl.ca.location", &ca),
        ("ssl.endpoint.identification.algorithm", ""),
    ]);
    connect(port, &lax).await.unwrap();
}

#[tokio::test]
async fn mutual_tls_sends_the_client_certificate() {
    let (port, _) = start(Fake {
        require_client_cert: true,
        ..tls_fake("server")
    })
    .await;
    let (ca, cert, key) = (data("ca.pem"), data("client.pem"), data("client.key"));
    let without = security(&[("security.protocol", "SSL"), ("ssl.ca.location", &ca)]);
    // TLS 1.3: the server's refusal of the missing certificate arrives after the client's
    // handshake ends, so it may surface on the first request instead.
    assert!(connect(port, &without).await.is_err());
    let with = security(&[
        ("security.protocol", "SSL"),
        ("ssl.ca.location", &ca),
        ("ssl.certificate.location", &cert),
        ("ssl.key.location", &key),
    ]);
    connect(port, &with).await.unwrap();
}

fn sasl_fake(cert: Option<&'static str>) -> Fake {
    Fake {
        cert,
        mechanisms: vec![
            "PLAIN".into(),
            "SCRAM-SHA-256".into(),
            "SCRAM-SHA-512".into(),
        ],
        ..Fake::default()
    }
}

#[tokio::test]
async fn sasl_ssl_scram_authenticates_and_refusals_carry_kafka_codes() {
    let (port, _) = start(sasl_fake(Some("server"))).await;
    let ca = data("ca.pem");
    let jaas = r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="alice-secret";"#;
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let s = security(&[
            ("security.protocol", "SASL_SSL"),
            ("ssl.ca.location", &ca),
            ("sasl.mechanism", mechanism),
            ("sasl.jaas.config", jaas),
        ]);
        let mut config = ClientConfig::new(&format!("127.0.0.1:{port}"));
        config.security = s;
        Client::connect(config).await.unwrap();
    }
    let wrong = security(&[
        ("security.protocol", "SASL_SSL"),
        ("ssl.ca.location", &ca),
        ("sasl.mechanism", "SCRAM-SHA-256"),
        ("sasl.username", "alice"),
        ("sasl.password", "wrong"),
    ]);
    let e = connect(port, &wrong).await.unwrap_err();
    assert_eq!(e.kafka_code(), Some(58), "{e}");
    assert!(e.to_string().contains("SASL_AUTHENTICATION_FAILED"), "{e}");
}

#[tokio::test]
async fn sasl_plaintext_plain_and_an_unsupported_mechanism() {
    let (port, _) = start(Fake {
        mechanisms: vec!["PLAIN".into()],
        ..Fake::default()
    })
    .await;
    let plain = security(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", "alice"),
        ("sasl.password", "alice-secret"),
    ]);
    connect(port, &plain).await.unwrap();
    let scram = security(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.username", "alice"),
        ("sasl.password", "alice-secret"),
    ]);
    let e = connect(port, &scram).await.unwrap_err();
    assert_eq!(e.kafka_code(), Some(33), "{e}");
    assert!(e.to_string().contains("[PLAIN]"), "{e}");
}

#[tokio::test]
async fn the_client_reconnects_before_the_session_expires() {
    let (port, accepted) = start(Fake {
        session_lifetime_ms: 300,
        ..sasl_fake(None)
    })
    .await;
    let mut config = ClientConfig::new(&format!("127.0.0.1:{port}"));
    config.security = security(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "SCRAM-SHA-256"),
        ("sasl.username", "alice"),
        ("sasl.password", "alice-secret"),
    ]);
    let client = Client::connect(config).await.unwrap();
    let addr = format!("127.0.0.1:{port}");
    let first = client.connection_to_addr(&addr).await.unwrap();
    assert!(!first.needs_reauth());
    let before = accepted.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(280)).await;
    assert!(first.needs_reauth() && first.is_closed());
    let second = client.connection_to_addr(&addr).await.unwrap();
    assert!(!Arc::ptr_eq(&first, &second));
    assert_eq!(accepted.load(Ordering::SeqCst), before + 1);
}
