//! Authentication on the admin listener. [`authenticate`] is the router's middleware: open
//! paths ([`super::settings::AdminSecurity::is_open`]) go through as `User:ANONYMOUS`
//! unchecked; with `admin.authentication=none` everything goes through as `User:ANONYMOUS`
//! (under the ACLs); anything else needs credentials ([`super::credentials`]: HTTP Basic
//! against the SCRAM users, or a bearer token checked as OAUTHBEARER) or gets 401 with
//! `WWW-Authenticate`. Every request that passes carries a [`Caller`] extension: its
//! principal (`User:<name>`, as on the Kafka listeners) and client IP.
//!
//! Thread-safety: stateless; the shared [`super::credentials::Authenticator`] is in the
//! `AppState`.

use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::credentials::{parse_authorization, AuthError};
use super::settings::Authentication;
use super::state::AppState;
use crate::authz::RequestAuth;
use crate::broker::Broker;

/// The principal of callers that did not authenticate.
pub const ANONYMOUS: &str = "User:ANONYMOUS";
/// The realm named in `WWW-Authenticate`.
const REALM: &str = "rill-admin";

/// Who made an admin request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `User:alice`, or [`ANONYMOUS`].
    pub principal: String,
    /// The client's IP address, as ACL hosts name it.
    pub host: String,
    /// Whether ACLs apply: false on open paths (health, metrics when open).
    pub checked: bool,
}

impl Caller {
    /// The authorization context of this caller: the broker's authorizer when one is
    /// configured and the path is not open, else everything allowed (as Kafka without an
    /// authorizer).
    pub fn request_auth(&self, broker: &Broker) -> RequestAuth {
        RequestAuth {
            principal: self.principal.clone(),
            host: self.host.clone(),
            authorizer: match (&broker.authz, self.checked) {
                (Some(a), true) => Some(a.authorizer(&broker.image())),
                _ => None,
            },
        }
    }
}

/// The client's address, for [`axum::extract::ConnectInfo`] on plain and TLS listeners.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub std::net::SocketAddr);

/// The router's middleware: lets open paths through, authenticates the rest, and attaches
/// the [`Caller`].
pub async fn authenticate(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let host = req
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map(|c| c.0 .0.ip().to_string())
        .unwrap_or_default();
    let security = &state.auth.security;
    let anonymous = |checked| Caller {
        principal: ANONYMOUS.into(),
        host: host.clone(),
        checked,
    };
    if security.is_open(req.uri().path()) {
        req.extensions_mut().insert(anonymous(false));
        return next.run(req).await;
    }
    if security.authentication == Authentication::None {
        req.extensions_mut().insert(anonymous(true));
        return next.run(req).await;
    }
    let outcome = match req.headers().get(header::AUTHORIZATION) {
        None => Err(AuthError::Missing),
        Some(v) => match parse_authorization(v.as_bytes()) {
            Ok(c) => {
                let broker = state.opened().map(|o| o.broker.clone());
                state.auth.principal(broker, c).await
            }
            Err(e) => Err(e),
        },
    };
    match outcome {
        Ok(principal) => {
            req.extensions_mut().insert(Caller {
                principal,
                host,
                checked: true,
            });
            next.run(req).await
        }
        Err(e) => {
            if !matches!(e, AuthError::Missing) {
                tracing::info!(%host, path = req.uri().path(), error = %e, "admin API authentication failed");
            }
            refusal(&e, req.headers(), state.auth.accepts_bearer())
        }
    }
}

/// The 401 (503 while starting) answer. Script requests of the console
/// (`X-Requested-With`) are not challenged with Basic, so browsers show the console's own
/// login form instead of their password dialog.
fn refusal(e: &AuthError, headers: &HeaderMap, bearer: bool) -> Response {
    let status = match e {
        AuthError::Starting | AuthError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNAUTHORIZED,
    };
    let body =
        json!({"error": {"message": e.to_string(), "kafka_error": null, "kafka_code": null}});
    let mut r = (status, Json(body)).into_response();
    let scripted = headers.contains_key("x-requested-with");
    let mut challenges = Vec::new();
    if !scripted {
        challenges.push(format!("Basic realm=\"{REALM}\", charset=\"UTF-8\""));
    }
    if bearer || scripted {
        challenges.push(format!("Bearer realm=\"{REALM}\""));
    }
    for c in challenges {
        if let Ok(v) = HeaderValue::from_str(&c) {
            r.headers_mut().append(header::WWW_AUTHENTICATE, v);
        }
    }
    r
}

/// `GET /api/v1/whoami`: the caller's principal and whether ACLs apply to it.
pub async fn whoami(
    State(state): State<Arc<AppState>>,
    axum::Extension(caller): axum::Extension<Caller>,
) -> Response {
    let authorizer = state.opened().is_some_and(|o| o.broker.authz.is_some());
    Json(json!({
        "principal": caller.principal,
        "host": caller.host,
        "authentication": state.auth.security.authentication == Authentication::Required,
        "authorizer": authorizer,
        "bearer": state.auth.accepts_bearer(),
    }))
    .into_response()
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_spare_the_console_the_browser_dialog() {
        let mut h = HeaderMap::new();
        let r = refusal(&AuthError::Missing, &h, false);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let c: Vec<_> = r
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .collect();
        assert_eq!(c.len(), 1);
        assert!(c[0].to_str().unwrap().starts_with("Basic realm="));
        h.insert("x-requested-with", HeaderValue::from_static("rill-console"));
        let r = refusal(&AuthError::BadPassword, &h, true);
        let c: Vec<_> = r
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .collect();
        assert_eq!(c.len(), 1);
        assert!(c[0].to_str().unwrap().starts_with("Bearer"));
        assert_eq!(
            refusal(&AuthError::Starting, &h, true).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
