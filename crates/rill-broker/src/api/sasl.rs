//! SaslHandshake and SaslAuthenticate, and the gate in front of every other request, as
//! Kafka's `SaslServerAuthenticator` runs them:
//!
//! - On a SASL listener nothing but ApiVersions, SaslHandshake and SaslAuthenticate is
//!   served until the client authenticated; any other request closes the connection.
//! - SaslHandshake picks one of the listener's `sasl.enabled.mechanisms`
//!   (UNSUPPORTED_SASL_MECHANISM and close otherwise). After a v0 handshake the tokens come
//!   raw (a size and the bytes, no request header) and are answered raw; after v1 they come in
//!   SaslAuthenticate requests.
//! - A failed authentication answers SASL_AUTHENTICATION_FAILED (ILLEGAL_SASL_STATE for a
//!   token out of turn) with Kafka's message and closes the connection after the answer.
//! - Re-authentication (KIP-368): a successful SaslAuthenticate v1+ carries the session
//!   lifetime (`connections.max.reauth.ms`, shortened to a token's expiry); the client
//!   handshakes again before it ends, with the same mechanism and principal. A request other
//!   than a handshake after the session ended closes the connection.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use rill_auth::sasl::{CredentialLookup, SaslError, SaslServer, SaslStep};
use rill_auth::{ScramCredential, ScramMechanism};

use super::{str_bytes, RequestContext, RequestError, Responder};
use crate::api::errors::{ILLEGAL_SASL_STATE, NONE, UNSUPPORTED_SASL_MECHANISM};
use crate::broker::Broker;
use crate::net::response::Response;
use crate::security::sasl::SaslPhase;
use crate::session::Session;

/// SCRAM credentials from the metadata image.
struct ImageCredentials(Arc<rill_meta::MetadataImage>);

impl CredentialLookup for ImageCredentials {
    fn scram(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        crate::scram_users::stored_credential(&self.0, user, mechanism)
    }
}

/// Milliseconds since the epoch.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A fresh server nonce (RFC 5802: printable, no comma).
fn server_nonce() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Whether `api` may be served on `session` now.
///
/// # Errors
/// [`RequestError::Unauthenticated`]: the connection closes (a request before
/// authentication, or after the session expired).
pub fn check_allowed(session: &Session, api: ApiKey) -> Result<(), RequestError> {
    // Without SASL a connection is authenticated from the start and never expires: no lock
    // on every request of a plain or TLS listener.
    if session.listener.sasl.is_none() {
        return Ok(());
    }
    if matches!(
        api,
        ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
    ) {
        return Ok(());
    }
    let auth = session.auth();
    if !auth.authenticated {
        return Err(RequestError::Unauthenticated(format!(
            "unexpected {api:?} request before SASL authentication completed"
        )));
    }
    if auth.expires_at.is_some_and(|t| Instant::now() >= t) {
        return Err(RequestError::Unauthenticated(format!(
            "{api:?} request after the authenticated session expired \
             (connections.max.reauth.ms or the token's expiry) without re-authentication"
        )));
    }
    Ok(())
}

/// Answers a raw SASL token (after a v0 handshake), or `None` when the frame is a request.
///
/// # Errors
/// A failed exchange: v0 has no way to say why, so the connection closes, as Kafka's.
pub fn before_parsing(
    broker: &Broker,
    frame: &Bytes,
    session: &Session,
) -> Result<Option<Responder>, RequestError> {
    let Some(listener) = &session.listener.sasl else {
        return Ok(None);
    };
    let mut auth = session.auth();
    let SaslPhase::Exchanging { raw: true, .. } = &auth.sasl else {
        return Ok(None);
    };
    let SaslPhase::Exchanging {
        mut server, reauth, ..
    } = std::mem::take(&mut auth.sasl)
    else {
        return Ok(None);
    };
    let creds = ImageCredentials(broker.image());
    let step = server.step(
        frame,
        &listener.settings(),
        &creds,
        now_ms(),
        &server_nonce(),
    );
    let reply = |bytes: &[u8]| {
        let mut out = BytesMut::with_capacity(4 + bytes.len());
        out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        out.extend_from_slice(bytes);
        Responder::Done(Some(Response::from_bytes(out.freeze())))
    };
    match step {
        Ok(SaslStep::Challenge(c)) => {
            auth.sasl = SaslPhase::Exchanging {
                server,
                raw: true,
                reauth,
            };
            Ok(Some(reply(&c)))
        }
        Ok(SaslStep::Done {
            response,
            principal,
            expires_at_ms,
        }) => {
            auth.principal = format!("User:{principal}");
            auth.authenticated = true;
            auth.expires_at = session_lifetime(listener.reauth_ms, expires_at_ms)
                .map(|ms| Instant::now() + Duration::from_millis(ms as u64));
            crate::observe::gauges::authenticated(true, false);
            Ok(Some(reply(&response)))
        }
        Err(e) => {
            crate::observe::gauges::authenticated(false, false);
            Err(RequestError::Unauthenticated(format!(
                "SASL authentication failed: {e}{}",
                server
                    .failure_reason()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            )))
        }
    }
}

/// The session lifetime to announce, in ms (0: none): `connections.max.reauth.ms`, cut to
/// the credential's expiry, as Kafka computes it.
fn session_lifetime(reauth_ms: i64, expires_at_ms: Option<i64>) -> Option<i64> {
    let to_expiry = expires_at_ms.map(|e| (e - now_ms()).max(1));
    match (reauth_ms > 0, to_expiry) {
        (false, None) => None,
        (true, None) => Some(reauth_ms),
        (false, Some(t)) => Some(t),
        (true, Some(t)) => Some(t.min(reauth_ms)),
    }
}

/// SaslHandshake.
pub fn handshake(
    _broker: &Broker,
    ctx: &RequestContext,
    session: &Session,
    req: SaslHandshakeRequest,
) -> SaslHandshakeResponse {
    let Some(listener) = session.listener.sasl.clone() else {
        // Kafka answers this on a listener without SASL.
        return SaslHandshakeResponse::default().with_error_code(ILLEGAL_SASL_STATE);
    };
    let mechanisms: Vec<_> = listener
        .mechanisms
        .iter()
        .map(|m| str_bytes(m.as_str()))
        .collect();
    let answer = |code: i16| {
        SaslHandshakeResponse::default()
            .with_error_code(code)
            .with_mechanisms(mechanisms.clone())
    };
    let mut auth = session.auth();
    if !matches!(auth.sasl, SaslPhase::Idle) {
        session.close_after_answer();
        return answer(ILLEGAL_SASL_STATE);
    }
    let reauth = auth.authenticated;
    if reauth && ctx.version == 0 {
        // Re-authentication needs SaslAuthenticate (KIP-368).
        session.close_after_answer();
        return answer(ILLEGAL_SASL_STATE);
    }
    match SaslServer::new(req.mechanism.as_str(), &listener.mechanisms) {
        Ok(server) => {
            auth.sasl = SaslPhase::Exchanging {
                server: Box::new(server),
                raw: ctx.version == 0,
                reauth,
            };
            answer(NONE)
        }
        Err(_) => {
            crate::observe::gauges::authenticated(false, reauth);
            session.close_after_answer();
            answer(UNSUPPORTED_SASL_MECHANISM)
        }
    }
}

/// SaslAuthenticate.
pub fn authenticate(
    broker: &Broker,
    _ctx: &RequestContext,
    session: &Session,
    req: SaslAuthenticateRequest,
) -> SaslAuthenticateResponse {
    let fail = |e: SaslError, reauth: bool| {
        crate::observe::gauges::authenticated(false, reauth);
        session.close_after_answer();
        SaslAuthenticateResponse::default()
            .with_error_code(e.kafka_error_code())
            .with_error_message(Some(str_bytes(e.to_string())))
    };
    let illegal = || {
        SaslAuthenticateResponse::default()
            .with_error_code(ILLEGAL_SASL_STATE)
            .with_error_message(Some(str_bytes(
                "SaslAuthenticate request received after successful authentication or on a \
                 listener without SASL",
            )))
    };
    let Some(listener) = session.listener.sasl.clone() else {
        // Kafka answers this on a listener without SASL and serves on.
        return illegal();
    };
    let mut auth = session.auth();
    if !matches!(auth.sasl, SaslPhase::Exchanging { raw: false, .. }) {
        if auth.authenticated {
            return illegal();
        }
        drop(auth);
        return fail(
            SaslError::IllegalState(
                "Unexpected SaslAuthenticate request: no SASL handshake preceded it".into(),
            ),
            false,
        );
    }
    let SaslPhase::Exchanging {
        mut server, reauth, ..
    } = std::mem::take(&mut auth.sasl)
    else {
        return fail(SaslError::IllegalState("no SASL exchange".into()), false);
    };
    let creds = ImageCredentials(broker.image());
    let step = server.step(
        &req.auth_bytes,
        &listener.settings(),
        &creds,
        now_ms(),
        &server_nonce(),
    );
    match step {
        Ok(SaslStep::Challenge(c)) => {
            auth.sasl = SaslPhase::Exchanging {
                server,
                raw: false,
                reauth,
            };
            SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(c))
        }
        Ok(SaslStep::Done {
            response,
            principal,
            expires_at_ms,
        }) => {
            let principal = format!("User:{principal}");
            if reauth && principal != auth.principal {
                let was = auth.principal.clone();
                drop(auth);
                return fail(
                    SaslError::AuthenticationFailed(format!(
                        "Cannot change principals during re-authentication from {was}: {principal}"
                    )),
                    true,
                );
            }
            let lifetime = session_lifetime(listener.reauth_ms, expires_at_ms);
            auth.principal = principal;
            auth.authenticated = true;
            auth.expires_at = lifetime.map(|ms| Instant::now() + Duration::from_millis(ms as u64));
            crate::observe::gauges::authenticated(true, reauth);
            SaslAuthenticateResponse::default()
                .with_auth_bytes(Bytes::from(response))
                .with_session_lifetime_ms(lifetime.unwrap_or(0))
        }
        Err(e) => {
            let reason = server.failure_reason().map(str::to_string);
            drop(auth);
            tracing::info!(
                peer = %session.peer,
                listener = %session.listener.name,
                error = %e,
                reason = reason.as_deref().unwrap_or(""),
                "SASL authentication failed"
            );
            fail(e, reauth)
        }
    }
}
