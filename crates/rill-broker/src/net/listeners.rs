//! The node's client listeners: each bound socket with its [`ListenerContext`] and, on SSL
//! and SASL_SSL listeners, its TLS acceptor. [`accept_loop`] accepts connections on one
//! listener until shutdown, completes the TLS handshake of each in its own task (with a time
//! limit, so a client that never finishes it holds nothing but its socket), names its
//! principal from its certificate, and serves it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::connection::{serve_connection, serve_plain};
use super::frame::FrameReader;
use super::handler::{NetShared, RequestHandler};
use super::transport::EncryptedWriter;
use crate::security::tls::TlsAcceptorCell;
use crate::session::{ListenerContext, Session, ANONYMOUS};
use rill_client::read_ahead::ReadAhead;

/// How long a client has to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long connections may take to finish once shutdown began.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// One bound client listener.
#[derive(Debug)]
pub struct BoundListener {
    /// What its connections see.
    pub context: Arc<ListenerContext>,
    /// The socket.
    pub socket: TcpListener,
    /// TLS, on SSL and SASL_SSL listeners.
    pub tls: Option<Arc<TlsAcceptorCell>>,
    /// `ssl.principal.mapping.rules`, on SSL listeners (the principal of a client with a
    /// certificate).
    pub principal_mapper: Option<Arc<rill_auth::principal::PrincipalMapper>>,
}

impl BoundListener {
    /// The bound address.
    ///
    /// # Errors
    /// The OS error.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }
}

/// Accepts and serves connections on `listener` until `shutdown`, then lets the open
/// connections finish (at most [`DRAIN_TIMEOUT`]).
pub async fn accept_loop<H: RequestHandler>(
    listener: BoundListener,
    handler: Arc<H>,
    net: Arc<NetShared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.socket.accept() => match accepted {
                Ok((stream, peer)) => {
                    tasks.spawn(serve_accepted(
                        stream,
                        peer,
                        listener.context.clone(),
                        listener.tls.clone(),
                        listener.principal_mapper.clone(),
                        handler.clone(),
                        net.clone(),
                        shutdown.clone(),
                    ));
                }
                Err(e) => {
                    tracing::warn!(listener = %listener.context.name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            // Reap finished connection tasks so the set stays small.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener.socket);
    tracing::info!(
        listener = %listener.context.name,
        connections = tasks.len(),
        "shutting down: waiting for connections"
    );
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
        tracing::warn!(
            listener = %listener.context.name,
            "connections did not finish in 10 s; aborting them"
        );
    }
}

/// Serves one accepted connection: plaintext at once, TLS after its handshake.
#[allow(clippy::too_many_arguments)]
async fn serve_accepted<H: RequestHandler>(
    stream: TcpStream,
    peer: SocketAddr,
    context: Arc<ListenerContext>,
    tls: Option<Arc<TlsAcceptorCell>>,
    mapper: Option<Arc<rill_auth::principal::PrincipalMapper>>,
    handler: Arc<H>,
    net: Arc<NetShared>,
    shutdown: watch::Receiver<bool>,
) {
    let Some(tls) = tls else {
        let session = Session::new(peer, context, ANONYMOUS.into());
        serve_plain(handler, net, stream, session, shutdown).await;
        return;
    };
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "set_nodelay failed");
    }
    let accepted = tokio::time::timeout(
        TLS_HANDSHAKE_TIMEOUT,
        tls.acceptor().accept(ReadAhead::new(stream)),
    )
    .await;
    let stream = match accepted {
        Ok(Ok(s)) => {
            crate::observe::gauges::tls_handshake_done();
            s
        }
        Ok(Err(e)) => {
            crate::observe::gauges::tls_handshake_failed();
            tracing::info!(%peer, listener = %context.name, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            crate::observe::gauges::tls_handshake_failed();
            tracing::info!(%peer, listener = %context.name, "TLS handshake timed out");
            return;
        }
    };
    let principal = match (&mapper, stream.get_ref().1.peer_certificates()) {
        (Some(mapper), Some([leaf, ..])) if !context.protocol.uses_sasl() => {
            match certificate_principal(mapper, leaf.as_ref()) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(%peer, listener = %context.name, reason = %e,
                        "closing connection: no principal for the client certificate");
                    return;
                }
            }
        }
        _ => ANONYMOUS.to_string(),
    };
    let session = Session::new(peer, context, principal);
    let (reader, writer) = tokio::io::split(stream);
    let frames = FrameReader::new(reader, net.max_frame_bytes);
    serve_connection(
        handler,
        net,
        frames,
        EncryptedWriter(writer),
        session,
        shutdown,
    )
    .await;
}

/// `User:<name>` for a client certificate: its subject's distinguished name mapped by
/// `ssl.principal.mapping.rules`.
fn certificate_principal(
    mapper: &rill_auth::principal::PrincipalMapper,
    der: &[u8],
) -> Result<String, String> {
    let dn = rill_auth::subject_dn::subject_dn(der).map_err(|e| e.to_string())?;
    let name = mapper.map(&dn).map_err(|e| e.to_string())?;
    Ok(format!("User:{name}"))
}
