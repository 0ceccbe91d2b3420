//! Never-panic property tests for the SASL handshake as a SASL listener's connection runs it
//! (`handle_request` with a [`Session`] of a SASL_PLAINTEXT listener serving PLAIN and SCRAM):
//! any bytes as frames; a SaslHandshake (v0, whose tokens then come raw, or v1) followed by
//! arbitrary, truncated or oversized tokens; SaslAuthenticate at every version with arbitrary
//! auth bytes; requests before authentication. Each frame is answered or refused (the
//! connection closes); nothing panics, and nothing but ApiVersions and the SASL APIs is served
//! before authentication.

use std::sync::{Arc, OnceLock};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, MetadataRequest, RequestHeader, SaslAuthenticateRequest, SaslHandshakeRequest,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use proptest::prelude::*;

use super::handle_request;
use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::session::Session;

/// One broker for all cases (opening one per case would dominate the run), with its SASL
/// listener's context.
struct Fixture {
    _dir: tempfile::TempDir,
    broker: Arc<Broker>,
    listener: Arc<crate::session::ListenerContext>,
    runtime: tokio::runtime::Runtime,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let pairs = [
            ("log.dirs", dir.path().display().to_string()),
            ("listeners", "SASL_PLAINTEXT://127.0.0.1:0".into()),
            ("sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-256".into()),
            (
                "listener.name.sasl_plaintext.plain.sasl.jaas.config",
                "org.apache.kafka.common.security.plain.PlainLoginModule required \
                 user_alice=\"alice-secret\";"
                    .into(),
            ),
        ]
        .map(|(k, v)| (k.to_string(), v));
        let config = BrokerConfig::from_pairs(pairs, |_| {}).expect("config");
        let prepared = crate::security::prepare_listeners(&config).expect("listeners");
        let listener = prepared[0].context.clone();
        let broker = Broker::open_local(config).expect("broker");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        Fixture {
            _dir: dir,
            broker,
            listener,
            runtime,
        }
    })
}

/// A request frame (no size prefix) for `api` at `version` with `body`.
fn frame(api: ApiKey, version: i16, body: impl Fn(&mut BytesMut)) -> Bytes {
    let mut buf = BytesMut::new();
    let h = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("fuzz")));
    let _ = h.encode(&mut buf, api.request_header_version(version));
    body(&mut buf);
    buf.freeze()
}

fn handshake(version: i16, mechanism: &str) -> Bytes {
    let req =
        SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(mechanism.into()));
    frame(ApiKey::SaslHandshake, version, |b| {
        let _ = req.encode(b, version);
    })
}

fn authenticate(version: i16, token: &[u8]) -> Bytes {
    let req = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(token));
    frame(ApiKey::SaslAuthenticate, version, |b| {
        let _ = req.encode(b, version);
    })
}

/// Frames of one connection: handshakes, tokens (raw or in SaslAuthenticate), junk.
fn step() -> impl Strategy<Value = Bytes> {
    let mechanism = prop_oneof![
        Just("PLAIN".to_string()),
        Just("SCRAM-SHA-256".to_string()),
        Just("GSSAPI".to_string()),
        "[A-Z0-9-]{0,20}",
    ];
    let token = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        Just(b"\0alice\0alice-secret".to_vec()),
        Just(b"n,,n=alice,r=abc".to_vec()),
        Just(b"c=biws,r=abcdef,p=AAAA".to_vec()),
        Just(vec![b'x'; 70_000]),
    ];
    prop_oneof![
        (0i16..=1, mechanism).prop_map(|(v, m)| handshake(v, &m)),
        (0i16..=2, token.clone()).prop_map(|(v, t)| authenticate(v, &t)),
        token.prop_map(Bytes::from),
        Just(frame(ApiKey::Metadata, 12, |b| {
            let _ = MetadataRequest::default().encode(b, 12);
        })),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(|v| {
            let mut b = BytesMut::new();
            b.put_slice(&v);
            b.freeze()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn a_sasl_connection_never_panics_and_serves_nothing_before_authentication(
        frames in proptest::collection::vec(step(), 1..8)
    ) {
        let f = fixture();
        let session = Session::new(
            "127.0.0.1:1".parse().expect("addr"),
            f.listener.clone(),
            crate::session::ANONYMOUS.into(),
        );
        f.runtime.block_on(async {
            for frame in frames {
                let is_metadata = frame.len() >= 2 && frame[..2] == (ApiKey::Metadata as i16).to_be_bytes();
                let authenticated = session.auth().authenticated;
                let answer = handle_request(&f.broker, frame, &session).await;
                if is_metadata && !authenticated {
                    prop_assert!(answer.is_err(), "Metadata served before authentication");
                }
                if answer.is_err() || session.must_close() {
                    break;
                }
            }
            Ok(())
        })?;
    }
}
