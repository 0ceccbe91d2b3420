//! What one client connection is: where it came from (peer, listener, security protocol),
//! who it is (the principal, from its TLS certificate or its SASL authentication) and where
//! its SASL exchange stands. `net` creates a [`Session`] per connection and hands it to the
//! request handler with every frame; the handler (`api::sasl`) moves the authentication on
//! and may ask `net` to close the connection once an answer is written.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::listener_security::SecurityProtocol;

/// The principal of a client that did not authenticate (PLAINTEXT, SSL without a client
/// certificate).
pub const ANONYMOUS: &str = "User:ANONYMOUS";

/// A listener as its connections see it.
#[derive(Debug)]
pub struct ListenerContext {
    /// The listener's name (`EXTERNAL`): Metadata answers with this listener's endpoints.
    pub name: String,
    /// Its security protocol.
    pub protocol: SecurityProtocol,
    /// Its SASL settings, on a SASL listener.
    pub sasl: Option<Arc<crate::security::sasl::SaslListener>>,
}

impl ListenerContext {
    /// A PLAINTEXT listener named `name` without SASL (tests, plain listeners).
    pub fn plaintext(name: &str) -> Arc<Self> {
        Arc::new(ListenerContext {
            name: name.to_string(),
            protocol: SecurityProtocol::Plaintext,
            sasl: None,
        })
    }
}

/// Where a connection's authentication stands.
#[derive(Debug)]
pub struct AuthState {
    /// Who the client is (`User:alice`).
    pub principal: String,
    /// Whether requests other than ApiVersions and the SASL ones may be served.
    pub authenticated: bool,
    /// The SASL exchange in progress, if any.
    pub sasl: crate::security::sasl::SaslPhase,
    /// When the authenticated session ends (KIP-368 re-authentication): after it, only a
    /// new SASL handshake is served.
    pub expires_at: Option<Instant>,
}

/// One connection.
#[derive(Debug)]
pub struct Session {
    /// The client's address.
    pub peer: SocketAddr,
    /// The listener it came in on.
    pub listener: Arc<ListenerContext>,
    /// Its authentication.
    auth: Mutex<AuthState>,
    /// Set when the connection must close once the answers owed so far are written.
    close: AtomicBool,
    /// Until when (on [`crate::quota::mono_ms`]'s clock) nothing more is handled: a quota
    /// throttle (KIP-219 mutes the channel for the throttle time).
    throttled_until_ms: AtomicU64,
}

impl Session {
    /// A session on `listener` for a client known as `principal` (from its certificate, or
    /// [`ANONYMOUS`]). On a SASL listener it is not authenticated until its SASL exchange
    /// succeeds.
    pub fn new(peer: SocketAddr, listener: Arc<ListenerContext>, principal: String) -> Self {
        let authenticated = !listener.protocol.uses_sasl();
        Session {
            peer,
            listener,
            auth: Mutex::new(AuthState {
                principal,
                authenticated,
                sasl: crate::security::sasl::SaslPhase::Idle,
                expires_at: None,
            }),
            close: AtomicBool::new(false),
            throttled_until_ms: AtomicU64::new(0),
        }
    }

    /// A PLAINTEXT session (tests).
    pub fn plaintext(peer: SocketAddr) -> Self {
        Session::new(
            peer,
            ListenerContext::plaintext("PLAINTEXT"),
            ANONYMOUS.into(),
        )
    }

    /// The authentication state (only this connection's task takes it, one request at a
    /// time, so it is never contended).
    pub fn auth(&self) -> MutexGuard<'_, AuthState> {
        match self.auth.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The principal (`User:alice`).
    pub fn principal(&self) -> String {
        self.auth().principal.clone()
    }

    /// Asks `net` to close the connection after the answers owed so far.
    pub fn close_after_answer(&self) {
        self.close.store(true, Ordering::Relaxed);
    }

    /// The smallest and largest frame the connection may send next: on a SASL listener
    /// frames may be raw tokens (a few bytes), and until the client authenticated at most
    /// `sasl.server.max.receive.size`; `socket_max` after.
    pub fn frame_limits(&self, socket_max: usize) -> (usize, usize) {
        match &self.listener.sasl {
            None => (crate::net::frame::MIN_REQUEST_LEN, socket_max),
            Some(sasl) if !self.auth().authenticated => (0, sasl.max_receive_size.min(socket_max)),
            Some(_) => (0, socket_max),
        }
    }

    /// A quota throttled the client for `ms`: the connection handles nothing more from it
    /// until then (its answers owed so far are still written).
    pub fn throttle_for(&self, ms: u64) {
        if ms > 0 {
            self.throttled_until_ms
                .fetch_max(crate::quota::mono_ms() + ms, Ordering::Relaxed);
        }
    }

    /// How long the connection stays muted by a throttle, if it is.
    pub fn throttle_remaining(&self) -> Option<Duration> {
        let until = self.throttled_until_ms.load(Ordering::Relaxed);
        if until == 0 {
            return None;
        }
        let now = crate::quota::mono_ms();
        (until > now).then(|| Duration::from_millis(until - now))
    }

    /// Whether the connection must close after what is owed.
    pub fn must_close(&self) -> bool {
        self.close.load(Ordering::Relaxed)
    }
}
