//! HTTPS for the admin listener: an accept task that runs each TLS handshake in a task of its
//! own (10 s limit, at most [`MAX_HANDSHAKES`] at once, so a slow or silent client holds up
//! no one) and hands finished connections to axum through a channel, with the acceptor of a
//! [`TlsAcceptorCell`] (new certificates apply to new connections after a reload).
//!
//! Thread-safety: the accept task is aborted when the [`TlsListener`] is dropped (axum drops
//! it when the server stops).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;

use super::auth::Peer;
use crate::security::tls::TlsAcceptorCell;

/// TLS handshakes in progress at once; more connections wait to be accepted.
pub const MAX_HANDSHAKES: usize = 64;
/// How long a client has to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A listener of TLS connections whose handshakes are done.
#[derive(Debug)]
pub struct TlsListener {
    /// Finished handshakes.
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    /// The bound address.
    local: SocketAddr,
    /// The accept task.
    accept: JoinHandle<()>,
}

impl TlsListener {
    /// Starts accepting on `socket` with `cell`'s certificates.
    pub fn new(socket: TcpListener, cell: Arc<TlsAcceptorCell>) -> std::io::Result<Self> {
        let local = socket.local_addr()?;
        let (tx, ready) = mpsc::channel(MAX_HANDSHAKES);
        let accept = tokio::spawn(accept_loop(socket, cell, tx));
        Ok(TlsListener {
            ready,
            local,
            accept,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Accepts connections and starts their handshakes until the listener is dropped.
async fn accept_loop(
    socket: TcpListener,
    cell: Arc<TlsAcceptorCell>,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (tcp, peer) = match socket.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "admin HTTPS accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = cell.acceptor();
        let ready = ready.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => {
                    let _ = ready.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "admin HTTPS handshake failed"),
                Err(_) => tracing::debug!(%peer, "admin HTTPS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accept task ended (it only does when aborted): wait for shutdown.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}
