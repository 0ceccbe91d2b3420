//! One client connection: frames in, responses out, in request order.
//!
//! Three parts. A reader task turns the socket into whole frames (a bad frame ends the
//! connection with a logged reason); before it reads a frame's body it takes the frame's size
//! from the connection's and the broker's request byte budgets (`queued.max.request.bytes`,
//! see [`super::budget`]), so when they are spent it stops reading and the client feels TCP
//! backpressure. The connection task handles each request in arrival order: everything that
//! changes state (appends in particular) happens in that order, so one producer's batches keep
//! their order; the budget is given back once the request is handled. A produce's wait for
//! durability, though, completes in its own task (awaiting the group-commit round, no thread
//! held) while the next requests are read and appended, so one fsync can cover many requests
//! of the same connection. A writer task
//! writes the responses strictly in request order (vectored writes, `sendfile` for record
//! data, see [`super::send`]); at most [`MAX_IN_FLIGHT`] are owed at a time.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::budget::{BudgetPermit, RequestBudget};
use super::frame::{FrameError, FrameReader};
use super::response::Response;
use super::send::{write_response, SendStats};
use crate::api::{self, RequestError, Responder};
use crate::broker::Broker;

/// Responses a connection may owe at once. The Java client sends at most 5 requests in
/// flight, but librdkafka without idempotence up to a million: with linger.ms=0 it sends small
/// produce requests back to back, and each waits for a group-commit round. An owed response
/// holds no record bytes (produce answers are small, fetch answers are file ranges), so 128
/// cost little memory and let that many requests share one round instead of queueing behind
/// it (at 16, one connection did under 10k requests/s with 4 ms rounds).
pub const MAX_IN_FLIGHT: usize = 128;

/// Frames read ahead of the one being handled.
const FRAMES_AHEAD: usize = 2;

/// A frame with the request budget it holds until it is handled.
struct Frame {
    /// The request bytes (after the size prefix).
    bytes: Bytes,
    /// The connection's and the broker's budget.
    _permits: (BudgetPermit, BudgetPermit),
}

/// A response owed to the client, in request order.
enum Owed {
    /// Ready now (`None`: no response, acks=0).
    Ready(Option<Response>),
    /// Being completed in its own task.
    Pending(JoinHandle<Result<Option<Response>, RequestError>>),
}

/// Reads frames until the peer closes, errs, or the receiver is gone.
async fn read_frames(
    reader: OwnedReadHalf,
    max: usize,
    budgets: (Arc<RequestBudget>, Arc<RequestBudget>),
    tx: mpsc::Sender<Result<Frame, FrameError>>,
) {
    let mut frames = FrameReader::new(reader, max);
    loop {
        let size = match frames.next_size().await {
            Ok(Some(size)) => size,
            Ok(None) => return,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        let mine = budgets.0.acquire(size).await;
        let shared = budgets.1.acquire(size).await;
        let frame = match frames.read_body(size).await {
            Ok(bytes) => Frame {
                bytes,
                _permits: (mine, shared),
            },
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        if tx.send(Ok(frame)).await.is_err() {
            return;
        }
    }
}

/// Writes owed responses in order until the connection task stops sending them or a write
/// fails; then closes the write side.
async fn write_responses(
    mut writer: OwnedWriteHalf,
    mut owed: mpsc::Receiver<Owed>,
    peer: SocketAddr,
    broker: Arc<Broker>,
) {
    while let Some(next) = owed.recv().await {
        let response = match next {
            Owed::Ready(r) => r,
            Owed::Pending(task) => match task.await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    tracing::warn!(%peer, reason = %e, "closing connection: cannot answer");
                    break;
                }
                Err(e) => {
                    tracing::error!(%peer, error = %e, "response task failed; closing");
                    break;
                }
            },
        };
        let Some(response) = response else { continue };
        let stats: &SendStats = &broker.send_stats;
        if let Err(e) = write_response(writer.as_ref(), &response, stats).await {
            tracing::debug!(%peer, error = %e, "write failed; closing");
            break;
        }
    }
    let _ = writer.shutdown().await;
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
    let (reader, writer) = stream.into_split();
    let max = broker.config.socket_request_max_bytes as usize;
    let own_budget = Arc::new(RequestBudget::new(Some(
        (max as u64).min(broker.request_budget.capacity()),
    )));
    let budgets = (own_budget, broker.request_budget.clone());
    let (tx, mut frames) = mpsc::channel(FRAMES_AHEAD);
    let reader_task = tokio::spawn(read_frames(reader, max, budgets, tx));
    let (owed_tx, owed_rx) = mpsc::channel(MAX_IN_FLIGHT);
    let writer_task = tokio::spawn(write_responses(writer, owed_rx, peer, broker.clone()));
    loop {
        let frame = tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            // The writer stopped (a write failed): nothing more can be answered.
            _ = owed_tx.closed() => break,
            frame = frames.recv() => frame,
        };
        let frame = match frame {
            Some(Ok(frame)) => frame,
            None => break,
            Some(Err(e)) => {
                tracing::warn!(%peer, reason = %e, "closing connection: bad frame");
                break;
            }
        };
        let owed = match api::handle_request(&broker, frame.bytes.clone(), peer).await {
            Ok(Responder::Done(response)) => Owed::Ready(response),
            Ok(Responder::Pending(fut)) => Owed::Pending(tokio::spawn(fut)),
            Err(e) => {
                tracing::warn!(%peer, reason = %e, "closing connection: bad request");
                break;
            }
        };
        // The request is handled: its bytes go back to the budgets.
        drop(frame);
        if owed_tx.send(owed).await.is_err() {
            break;
        }
    }
    reader_task.abort();
    // The writer finishes what is owed, then closes the socket.
    drop(owed_tx);
    if let Err(e) = writer_task.await {
        tracing::error!(%peer, error = %e, "connection writer failed");
    }
}
