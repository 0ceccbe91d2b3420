//! One client connection: frames in, responses out, in request order.
//!
//! A reader task turns the socket into whole frames (a bad frame ends the connection with a
//! logged reason) and hands them over a small bounded channel. The connection task handles
//! each request in arrival order: everything that changes state (appends in particular)
//! happens in that order, so one producer's batches keep their order. A produce's wait for
//! durability, though, completes in its own task while the next requests are read and
//! appended, so one fsync can cover several requests of the same connection. Responses are
//! written strictly in request order; at most [`MAX_IN_FLIGHT`] wait at a time, which with
//! the frame size limit bounds a connection's memory.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::frame::{read_frame, FrameError};
use crate::api::{self, RequestError, Responder};
use crate::broker::Broker;

/// Responses a connection may owe at once (Kafka clients default to 5 in flight).
pub const MAX_IN_FLIGHT: usize = 16;

/// A response being completed in its own task.
type Owed = JoinHandle<Result<Option<Bytes>, RequestError>>;

/// Reads frames until the peer closes, errs, or the receiver is gone.
async fn read_frames(
    mut reader: OwnedReadHalf,
    max: usize,
    tx: mpsc::Sender<Result<Bytes, FrameError>>,
) {
    loop {
        match read_frame(&mut reader, max).await {
            Ok(Some(frame)) => {
                if tx.send(Ok(frame)).await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
    }
}

/// Serves one connection until the peer closes it, it misbehaves, or shutdown begins.
pub async fn serve_connection(
    broker: Arc<Broker>,
    stream: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let _open = crate::observe::gauges::connection_opened();
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "set_nodelay failed");
    }
    let (reader, mut writer) = stream.into_split();
    let max = broker.config.socket_request_max_bytes as usize;
    let (tx, mut frames) = mpsc::channel(2);
    let reader_task = tokio::spawn(read_frames(reader, max, tx));
    let mut owed: VecDeque<Owed> = VecDeque::new();
    let mut reading = true;
    loop {
        tokio::select! {
            biased;
            _ = shutdown.changed(), if reading => reading = false,
            // The oldest owed response, as soon as it is complete.
            done = async { owed.front_mut().expect("guarded by the condition").await }, if !owed.is_empty() => {
                owed.pop_front();
                match done {
                    Ok(Ok(Some(bytes))) => {
                        if let Err(e) = writer.write_all(&bytes).await {
                            tracing::debug!(%peer, error = %e, "write failed; closing");
                            break;
                        }
                    }
                    Ok(Ok(None)) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(%peer, reason = %e, "closing connection: cannot answer");
                        break;
                    }
                    Err(e) => {
                        tracing::error!(%peer, error = %e, "response task failed; closing");
                        break;
                    }
                }
            }
            frame = frames.recv(), if reading && owed.len() < MAX_IN_FLIGHT => {
                let frame = match frame {
                    Some(Ok(frame)) => frame,
                    None => { reading = false; continue; }
                    Some(Err(e)) => {
                        tracing::warn!(%peer, reason = %e, "closing connection: bad frame");
                        reading = false;
                        continue;
                    }
                };
                match api::handle_request(&broker, frame, peer).await {
                    Ok(Responder::Done(response)) => owed.push_back(tokio::spawn(async move { Ok(response) })),
                    Ok(Responder::Pending(fut)) => owed.push_back(tokio::spawn(fut)),
                    Err(e) => {
                        tracing::warn!(%peer, reason = %e, "closing connection: bad request");
                        reading = false;
                    }
                }
            }
            else => break,
        }
    }
    reader_task.abort();
    let _ = writer.shutdown().await;
}
