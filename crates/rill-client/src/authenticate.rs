//! SASL authentication of a new connection, after ApiVersions and before any other request:
//! `SaslHandshake` v1 names the mechanism, then `SaslAuthenticate` rounds carry the
//! mechanism's messages (driven by [`rill_auth::SaslClient`]) until it is done.
//!
//! A refusal by the broker is a [`ClientError::Kafka`] with its code (33
//! `UNSUPPORTED_SASL_MECHANISM`, 34 `ILLEGAL_SASL_STATE`, 58 `SASL_AUTHENTICATION_FAILED`)
//! and message; a broker answer that does not check out (SCRAM's server signature) is a
//! [`ClientError::Authentication`].

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;
use rand::distr::{Alphanumeric, SampleString};
use rill_auth::SaslClient;

use crate::connection::Connection;
use crate::error::{ClientError, Result};
use crate::security::SaslCredentials;

/// More rounds than any mechanism Rill speaks needs (SCRAM takes two).
const MAX_ROUNDS: usize = 8;

/// Authenticates `conn`; returns the session lifetime the broker granted (KIP-368), if any.
///
/// # Errors
/// The broker's refusal as [`ClientError::Kafka`], a bad broker answer as
/// [`ClientError::Authentication`], and connection errors.
pub(crate) async fn authenticate(
    conn: &Connection,
    creds: &SaslCredentials,
) -> Result<Option<Duration>> {
    let mechanism = creds.mechanism.name();
    let addr = conn.addr().to_string();
    let context = || {
        format!(
            "SASL {mechanism} authentication to {addr} as '{}'",
            creds.username
        )
    };
    let handshake_version = conn.version(ApiKey::SaslHandshake)?;
    let mut handshake = SaslHandshakeRequest::default();
    handshake.mechanism = StrBytes::from_static_str(mechanism);
    let resp = conn.call(&handshake, handshake_version).await?;
    if resp.error_code != 0 {
        let enabled: Vec<String> = resp.mechanisms.iter().map(|m| m.to_string()).collect();
        return Err(ClientError::Kafka {
            context: context(),
            code: resp.error_code,
            message: Some(format!("the listener enables [{}]", enabled.join(", "))),
        });
    }
    let auth_version = conn.version(ApiKey::SaslAuthenticate)?;
    let nonce = Alphanumeric.sample_string(&mut rand::rng(), 32);
    let client_failed = |reason: String| ClientError::Authentication {
        addr: addr.clone(),
        mechanism: mechanism.to_string(),
        reason,
    };
    let mut client = SaslClient::new(mechanism, &creds.username, &creds.secret, &nonce)
        .map_err(|e| client_failed(e.to_string()))?;
    let mut token = client.first();
    for _ in 0..MAX_ROUNDS {
        let mut req = SaslAuthenticateRequest::default();
        req.auth_bytes = Bytes::from(token);
        let resp = conn.call(&req, auth_version).await?;
        ClientError::check(
            resp.error_code,
            context,
            resp.error_message.as_ref().map(|m| m.as_str()),
        )?;
        match client
            .step(&resp.auth_bytes)
            .map_err(|e| client_failed(e.to_string()))?
        {
            Some(next) => token = next,
            None => {
                let lifetime = u64::try_from(resp.session_lifetime_ms)
                    .ok()
                    .filter(|ms| *ms > 0)
                    .map(Duration::from_millis);
                return Ok(lifetime);
            }
        }
    }
    Err(client_failed(format!(
        "the exchange did not end within {MAX_ROUNDS} rounds"
    )))
}
