//! One client connection: read a frame, answer it, repeat, in order.
//!
//! Requests of one connection are handled one at a time and answered in the order they came,
//! as Kafka does; many connections run concurrently in their own tasks. A bad frame or a
//! request that cannot be parsed closes this connection only, with a logged reason.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::frame::read_frame;
use crate::api;
use crate::broker::Broker;

/// Serves one connection until the peer closes it, it misbehaves, or shutdown begins.
pub async fn serve_connection(
    broker: Arc<Broker>,
    stream: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "set_nodelay failed");
    }
    let (mut reader, mut writer) = stream.into_split();
    let max = broker.config.socket_request_max_bytes as usize;
    loop {
        let frame = tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            f = read_frame(&mut reader, max) => f,
        };
        let frame = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(%peer, reason = %e, "closing connection: bad frame");
                break;
            }
        };
        match api::handle_request(&broker, frame, peer).await {
            Ok(Some(response)) => {
                if let Err(e) = writer.write_all(&response).await {
                    tracing::debug!(%peer, error = %e, "write failed; closing");
                    break;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(%peer, reason = %e, "closing connection: bad request");
                break;
            }
        }
    }
    let _ = writer.shutdown().await;
}
