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
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::budget::{BudgetPermit, RequestBudget};
use super::frame::{FrameError, FrameReader};
use super::handler::{NetShared, RequestHandler, Responder};
use super::response::Response;
use super::send::{write_response, write_responses_in_memory, SendStats};

/// Responses a connection may owe at once. The Java client sends at most 5 requests in
/// flight, but librdkafka without idempotence up to a million: with linger.ms=0 it sends small
/// produce requests back to back (3-9 records each at 60k-160k records/s on 12 partitions),
/// and each waits for a group-commit round. An owed response holds no record bytes (produce
/// answers are small, fetch answers are file ranges), so 1024 cost little memory (under a KiB
/// each) and let that many requests share one round instead of queueing in the socket behind
/// it. At 16, one connection did under 10k requests/s with 4 ms rounds; at 128, librdkafka at
/// 60k records/s (about 20k requests/s) still saw p50 46 ms and p99 165 ms, against 9 ms and
/// 64-127 ms at 1024 (same VM, same load).
pub const MAX_IN_FLIGHT: usize = 1024;

/// Frames read ahead of the one being handled.
const FRAMES_AHEAD: usize = 2;

/// A frame with the request budget it holds until it is handled.
struct Frame {
    /// The request bytes (after the size prefix).
    bytes: Bytes,
    /// The connection's and the broker's budget.
    _permits: (BudgetPermit, BudgetPermit),
}

/// What answering one request came to: the response (`None`: no response, acks=0), or why
/// the connection must close.
type Answer<E> = Result<Option<Response>, E>;

/// A response owed to the client, in request order.
enum Owed<E> {
    /// Known now.
    Ready(Answer<E>),
    /// Being completed in its own task.
    Pending(JoinHandle<Answer<E>>),
}

impl<E: std::fmt::Display + Send + 'static> Owed<E> {
    /// An owed response for `responder`. A pending one is polled once here first: one that
    /// completes at once (a produce in page-cache mode, a round that already covered it) is
    /// answered without a task of its own and the hops to and from it. If it is not done, its
    /// task polls it again with a real waker (a future must accept a new waker on every poll).
    fn from_responder(responder: Responder<E>) -> Owed<E> {
        match responder {
            Responder::Done(response) => Owed::Ready(Ok(response)),
            Responder::Pending(mut fut) => {
                let mut cx = Context::from_waker(Waker::noop());
                match fut.as_mut().poll(&mut cx) {
                    Poll::Ready(answer) => Owed::Ready(answer),
                    Poll::Pending => Owed::Pending(tokio::spawn(fut)),
                }
            }
        }
    }

    /// Whether the answer can be taken without waiting.
    fn is_ready(&self) -> bool {
        match self {
            Owed::Ready(_) => true,
            Owed::Pending(task) => task.is_finished(),
        }
    }

    /// Waits for the answer: `Some(response)` (`None` inside: acks=0), or `None` when the
    /// connection must close (the reason is logged here).
    async fn answer(self, peer: SocketAddr) -> Option<Option<Response>> {
        let answer = match self {
            Owed::Ready(answer) => answer,
            Owed::Pending(task) => match task.await {
                Ok(answer) => answer,
                Err(e) => {
                    tracing::error!(%peer, error = %e, "response task failed; closing");
                    return None;
                }
            },
        };
        answer
            .map_err(|e| tracing::warn!(%peer, reason = %e, "closing connection: cannot answer"))
            .ok()
    }
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
/// fails; then closes the write side. Answers that are already there when one is written go
/// out with it: consecutive in-memory responses (produce answers, metadata) are gathered into
/// one vectored write of at most [`MAX_BATCH`] responses, so a burst of small answers costs
/// one syscall instead of one each.
async fn write_responses<E: std::fmt::Display + Send + 'static>(
    mut writer: OwnedWriteHalf,
    mut owed: mpsc::Receiver<Owed<E>>,
    peer: SocketAddr,
    net: Arc<NetShared>,
) {
    let stats: &SendStats = &net.send_stats;
    let mut carried: Option<Owed<E>> = None;
    let mut batch: Vec<Response> = Vec::with_capacity(MAX_BATCH);
    'writing: loop {
        let next = match carried.take() {
            Some(o) => o,
            None => match owed.recv().await {
                Some(o) => o,
                None => break,
            },
        };
        batch.clear();
        let mut item = Some(next);
        while let Some(o) = item.take() {
            match o.answer(peer).await {
                Some(Some(r)) => batch.push(r),
                Some(None) => {}
                None => {
                    // What came before it is still owed to the client.
                    let _ = write_batch(writer.as_ref(), &batch, stats).await;
                    break 'writing;
                }
            }
            if batch.len() >= MAX_BATCH {
                break;
            }
            match owed.try_recv() {
                Ok(o) if o.is_ready() => item = Some(o),
                Ok(o) => carried = Some(o),
                Err(_) => {}
            }
        }
        if let Err(e) = write_batch(writer.as_ref(), &batch, stats).await {
            tracing::debug!(%peer, error = %e, "write failed; closing");
            break;
        }
    }
    let _ = writer.shutdown().await;
}

/// Answers gathered into one write at most.
const MAX_BATCH: usize = 32;

/// Writes `batch` in order: all in-memory responses with one vectored write, else one by one.
async fn write_batch(
    stream: &TcpStream,
    batch: &[Response],
    stats: &SendStats,
) -> std::io::Result<()> {
    if batch.len() > 1 && batch.iter().all(Response::in_memory) {
        return write_responses_in_memory(stream, batch, stats).await;
    }
    for r in batch {
        write_response(stream, r, stats).await?;
    }
    Ok(())
}

/// Serves one connection until the peer closes it, it misbehaves, or shutdown begins: its
/// frames are answered by `handler`, within `net`'s limits.
pub async fn serve_connection<H: RequestHandler>(
    handler: Arc<H>,
    net: Arc<NetShared>,
    stream: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let _open = crate::observe::gauges::connection_opened();
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "set_nodelay failed");
    }
    let (reader, writer) = stream.into_split();
    let max = net.max_frame_bytes;
    let own_budget = Arc::new(RequestBudget::new(Some(
        (max as u64).min(net.request_budget.capacity()),
    )));
    let budgets = (own_budget, net.request_budget.clone());
    let (tx, mut frames) = mpsc::channel(FRAMES_AHEAD);
    let reader_task = tokio::spawn(read_frames(reader, max, budgets, tx));
    let (owed_tx, owed_rx) = mpsc::channel(MAX_IN_FLIGHT);
    let writer_task = tokio::spawn(write_responses(writer, owed_rx, peer, net.clone()));
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
            Some(Err(e)) if e.is_client_gone() => {
                tracing::debug!(%peer, reason = %e, "connection closed by the client");
                break;
            }
            Some(Err(e)) => {
                tracing::warn!(%peer, reason = %e, "closing connection: bad frame");
                break;
            }
        };
        let owed = match handler.handle(frame.bytes.clone(), peer).await {
            Ok(responder) => Owed::from_responder(responder),
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
