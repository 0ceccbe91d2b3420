//! Connections and purgatories: gauges moved by guards, so an early return or a cancelled
//! task can never leave them counted.

use std::sync::LazyLock;

use metrics::{counter, gauge, Counter, Gauge};

use super::names;

/// The connection metrics' handles.
struct ConnectionHandles {
    /// `rill_connections_active`.
    active: Gauge,
    /// `rill_connections_created_total`.
    created: Counter,
    /// `rill_connections_closed_total`.
    closed: Counter,
    /// `rill_tls_handshake_failures_total`.
    tls_failed: Counter,
    /// `rill_tls_handshakes_total`.
    tls_ok: Counter,
    /// `rill_authentications_total{result="success"}`.
    auth_ok: Counter,
    /// `rill_authentications_total{result="failure"}`.
    auth_failed: Counter,
    /// `rill_reauthentications_total`.
    reauth_ok: Counter,
}

static CONNECTIONS: LazyLock<ConnectionHandles> = LazyLock::new(|| {
    super::install();
    ConnectionHandles {
        active: gauge!(names::CONNECTIONS_ACTIVE),
        created: counter!(names::CONNECTIONS_CREATED),
        closed: counter!(names::CONNECTIONS_CLOSED),
        tls_failed: counter!(names::TLS_HANDSHAKE_FAILURES),
        tls_ok: counter!(names::TLS_HANDSHAKES),
        auth_ok: counter!(names::AUTHENTICATIONS, "result" => "success"),
        auth_failed: counter!(names::AUTHENTICATIONS, "result" => "failure"),
        reauth_ok: counter!(names::REAUTHENTICATIONS),
    }
});

/// Registers the connection and purgatory metrics (exported at zero until used).
pub fn register() {
    LazyLock::force(&CONNECTIONS);
    LazyLock::force(&PURGATORIES);
}

/// Counts one open client connection until dropped.
#[derive(Debug)]
#[must_use = "the connection counts as open while this lives"]
pub struct ConnectionGuard(());

/// A client connection was accepted.
pub fn connection_opened() -> ConnectionGuard {
    CONNECTIONS.active.increment(1.0);
    CONNECTIONS.created.increment(1);
    ConnectionGuard(())
}

/// A client completed its TLS handshake.
pub fn tls_handshake_done() {
    CONNECTIONS.tls_ok.increment(1);
}

/// A client's TLS handshake failed or timed out.
pub fn tls_handshake_failed() {
    CONNECTIONS.tls_failed.increment(1);
}

/// A SASL authentication ended: succeeded (`ok`) or failed; `reauth` for a KIP-368
/// re-authentication that succeeded.
pub fn authenticated(ok: bool, reauth: bool) {
    match (ok, reauth) {
        (true, false) => CONNECTIONS.auth_ok.increment(1),
        (true, true) => CONNECTIONS.reauth_ok.increment(1),
        (false, _) => CONNECTIONS.auth_failed.increment(1),
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        CONNECTIONS.active.decrement(1.0);
        CONNECTIONS.closed.increment(1);
    }
}

/// Kafka's purgatories: where requests wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purgatory {
    /// Produce requests waiting for their batches to be durable (acks=1/all).
    Produce,
    /// Fetch requests waiting for `min_bytes` or `max_wait_ms`.
    Fetch,
}

static PURGATORIES: LazyLock<[Gauge; 2]> = LazyLock::new(|| {
    super::install();
    [
        gauge!(names::PURGATORY_SIZE, "delayed_operation" => "Produce"),
        gauge!(names::PURGATORY_SIZE, "delayed_operation" => "Fetch"),
    ]
});

/// Counts one parked request until dropped.
#[derive(Debug)]
#[must_use = "the request counts as parked while this lives"]
pub struct Parked(Purgatory);

/// A request starts waiting in `purgatory`.
pub fn parked(purgatory: Purgatory) -> Parked {
    PURGATORIES[purgatory as usize].increment(1.0);
    Parked(purgatory)
}

impl Drop for Parked {
    fn drop(&mut self) {
        PURGATORIES[self.0 as usize].decrement(1.0);
    }
}
