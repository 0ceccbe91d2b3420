//! One client connection: frames in, responses out, in request order.
//!
//! The whole connection is one task, an event loop over four things that proceed at once:
//!
//! - **reading**: the next frame (see [`super::frame`]; a bad frame ends the connection with a
//!   logged reason). Before a frame's body is read, its size is taken from the connection's and
//!   the broker's request byte budgets (`queued.max.request.bytes`, see [`super::budget`]), so
//!   when they are spent reading stops and the client feels TCP backpressure. At most
//!   [`FRAMES_AHEAD`] frames are read ahead of the one being handled.
//! - **handling**: one request at a time, in arrival order: everything that changes state
//!   (appends in particular) happens in that order, so one producer's batches keep their order;
//!   the budget is given back once the request is handled. A slow handler (a long poll) does
//!   not stop the reading or the writing.
//! - **owed responses**: a produce's wait for durability ([`Responder::Pending`]) is polled
//!   here, in this task, while the next requests are read and appended, so one fsync can cover
//!   many requests of the same connection. At most [`MAX_IN_FLIGHT`] responses are owed at once.
//!   The oldest pending one is polled on every wake-up, a newer one once when it is queued
//!   (most complete at once); it cannot be written before the ones ahead of it anyway.
//! - **writing**: responses strictly in request order (vectored writes, `sendfile` for record
//!   data, a cold file range read on the blocking pool, see [`super::send`]); consecutive
//!   in-memory answers that are ready together go out in one `sendmsg`.
//!
//! One task instead of a reader, a dispatcher, a writer and a task per pending response: a
//! request costs no channel hop, no spawn and no cross-task wake-up (an expiring long poll is
//! one timer wake-up and one socket wake-up).

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use tokio::io::AsyncRead;
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::budget::{BudgetPermit, RequestBudget};
use super::frame::{FrameError, FrameReader};
use super::handler::{NetShared, PendingAnswer, RequestHandler, Responder};
use super::response::Response;
use super::send::SendStats;
use super::transport::{PlainWriter, ResponseWriter};
use crate::session::Session;

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
pub const FRAMES_AHEAD: usize = 2;

/// Answers gathered into one write at most.
const MAX_BATCH: usize = 32;

/// A frame's request budget, held until the request is handled.
type Permits = (BudgetPermit, BudgetPermit);

/// A frame with the request budget it holds until it is handled.
struct Frame {
    /// The request bytes (after the size prefix).
    bytes: bytes::Bytes,
    /// The connection's and the broker's budget.
    permits: Permits,
}

/// The connection's own budget and the broker's.
struct Budgets {
    /// `min(queued.max.request.bytes, socket.request.max.bytes)` for this connection.
    own: RequestBudget,
    /// `queued.max.request.bytes` of the whole broker.
    shared: Arc<RequestBudget>,
}

/// What answering one request came to: the response (`None`: no response, acks=0), or why
/// the connection must close.
type Answer<E> = Result<Option<Response>, E>;

/// A response owed to the client, in request order.
enum Owed<E> {
    /// Known.
    Ready(Answer<E>),
    /// Still being completed (a produce waiting for durability).
    Pending(PendingAnswer<E>),
}

/// The responses owed to the client, oldest first.
struct OwedQueue<E> {
    /// The responses.
    items: VecDeque<Owed<E>>,
    /// How many at the front are [`Owed::Ready`].
    ready: usize,
    /// How many at the front were polled at least once (the rest are new).
    seen: usize,
}

impl<E> OwedQueue<E> {
    fn new() -> Self {
        OwedQueue {
            items: VecDeque::new(),
            ready: 0,
            seen: 0,
        }
    }

    fn push(&mut self, responder: Responder<E>) {
        self.items.push_back(match responder {
            Responder::Done(response) => Owed::Ready(Ok(response)),
            Responder::Pending(fut) => Owed::Pending(fut),
        });
        self.advance_ready();
    }

    /// Counts the ready responses after the known ready front.
    fn advance_ready(&mut self) {
        while matches!(self.items.get(self.ready), Some(Owed::Ready(_))) {
            self.ready += 1;
        }
    }

    /// Polls, with the connection task's waker, the oldest pending response (and the ones
    /// behind it while they complete), then once each response never polled: most complete
    /// at once; the others are polled again when their turn comes.
    fn poll_pending(&mut self, cx: &mut std::task::Context<'_>) {
        loop {
            self.advance_ready();
            let Some(Owed::Pending(fut)) = self.items.get_mut(self.ready) else {
                break;
            };
            match fut.as_mut().poll(cx) {
                Poll::Ready(answer) => self.items[self.ready] = Owed::Ready(answer),
                Poll::Pending => break,
            }
        }
        for owed in self.items.iter_mut().skip(self.seen.max(self.ready + 1)) {
            if let Owed::Pending(fut) = owed {
                if let Poll::Ready(answer) = fut.as_mut().poll(cx) {
                    *owed = Owed::Ready(answer);
                }
            }
        }
        self.seen = self.items.len();
    }

    /// Takes the oldest answer if it is ready.
    fn pop_ready(&mut self) -> Option<Answer<E>> {
        if self.ready == 0 {
            return None;
        }
        match self.items.pop_front() {
            Some(Owed::Ready(answer)) => {
                self.ready -= 1;
                self.seen = self.seen.saturating_sub(1);
                Some(answer)
            }
            Some(pending) => {
                // Not reached: `ready` counts ready ones at the front.
                self.items.push_front(pending);
                self.ready = 0;
                None
            }
            None => None,
        }
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn clear(&mut self) {
        self.items.clear();
        self.ready = 0;
        self.seen = 0;
    }
}

/// `None` of the type `f` would return (never called): names a future type for a pinned slot.
fn none_like<F>(_f: impl FnOnce() -> F) -> Option<F> {
    None
}

/// Reads the next frame and takes its size from both budgets before its body. Owns the
/// reader while it runs and hands it back, so the connection can start the next read later.
async fn read_frame<R: AsyncRead + Unpin>(
    mut frames: FrameReader<R>,
    budgets: &Budgets,
    (session, socket_max): (&Session, usize),
) -> (FrameReader<R>, Result<Option<Frame>, FrameError>) {
    let read = async {
        let limits = || session.frame_limits(socket_max);
        let Some(size) = frames.next_size_within(limits).await? else {
            return Ok(None);
        };
        let own = budgets.own.acquire(size).await;
        let shared = budgets.shared.acquire(size).await;
        let bytes = frames.read_body(size).await?;
        Ok(Some(Frame {
            bytes,
            permits: (own, shared),
        }))
    }
    .await;
    (frames, read)
}

/// What woke the connection's loop.
enum Event<E, R, W> {
    /// Shutdown began (or its sender is gone).
    Shutdown,
    /// A write finished.
    Wrote(W, Vec<Response>, io::Result<()>),
    /// The request being handled has its answer.
    Handled(Result<Responder<E>, E>),
    /// A frame was read (`None`: the peer closed between frames), or reading failed.
    Read(R, Result<Option<Frame>, FrameError>),
    /// Owed responses are ready and nothing is being written.
    CanWrite,
    /// A quota throttle ended: requests are handled again.
    Unmuted,
}

/// Serves one plaintext connection (see [`serve_connection`]).
pub async fn serve_plain<H: RequestHandler>(
    handler: Arc<H>,
    net: Arc<NetShared>,
    stream: TcpStream,
    session: Session,
    shutdown: watch::Receiver<bool>,
) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(peer = %session.peer, error = %e, "set_nodelay failed");
    }
    let (reader, writer) = stream.into_split();
    let frames = FrameReader::new(reader, net.max_frame_bytes);
    serve_connection(handler, net, frames, PlainWriter(writer), session, shutdown).await;
}

/// Serves one connection until the peer closes it, it misbehaves, or shutdown begins: its
/// frames (read by `frames`) are answered by `handler` and written by `writer`, within
/// `net`'s limits. Once reading ends (the peer closed, a bad frame, shutdown), a request is
/// refused, or the handler asks the session to close (a failed authentication), the
/// responses owed so far are still written before the connection is closed.
pub async fn serve_connection<H, R, W>(
    handler: Arc<H>,
    net: Arc<NetShared>,
    frames: FrameReader<R>,
    writer: W,
    session: Session,
    mut shutdown: watch::Receiver<bool>,
) where
    H: RequestHandler,
    R: AsyncRead + Unpin + Send,
    W: ResponseWriter,
{
    let _open = crate::observe::gauges::connection_opened();
    let peer = session.peer;
    let max = net.max_frame_bytes;
    let budgets = Budgets {
        own: RequestBudget::new(Some((max as u64).min(net.request_budget.capacity()))),
        shared: net.request_budget.clone(),
    };
    let stats: &SendStats = &net.send_stats;
    let handler: &H = &handler;
    let session = &session;

    // Reading: the read in progress, or the reader while reading waits for the handler.
    let mut reading = pin!(Some(read_frame(frames, &budgets, (session, max))));
    let mut idle_reader = None;
    let mut read_done = false;
    let mut waiting: VecDeque<Frame> = VecDeque::with_capacity(FRAMES_AHEAD);
    // Handling: one request at a time, with its budget.
    let mut handling = pin!(none_like(|| handler.handle(bytes::Bytes::new(), session)));
    let mut handling_permits: Option<Permits> = None;
    // No more requests are handled (shutdown, a refused request).
    let mut stop_handling = false;
    // A quota throttle in progress (KIP-219): the next request waits for it.
    let mut muted = pin!(None::<tokio::time::Sleep>);
    // Owed responses and the write in progress (the batch it holds counts as owed).
    let mut owed: OwedQueue<H::Error> = OwedQueue::new();
    let mut idle_writer: Option<W> = None;
    let mut writing = pin!(Some(writer.write_batch(Vec::new(), stats)));
    let mut in_write = 0usize;
    let mut spare_batch: Vec<Response> = Vec::with_capacity(MAX_BATCH);
    // Nothing more is written (a write failed, or an answer cannot be given); the connection
    // closes once the request being handled is done.
    let mut dead = false;
    // Close once the write in progress is done (an answer after it cannot be given).
    let mut close_after_write = false;
    let mut shutdown_seen = false;
    // Polled once, so shutdown wakes this task; after that an atomic read of the version
    // tells whether it began (polling a waiting `Notified` takes the lock of a `Notify`
    // shared by every connection).
    let probe = shutdown.clone();
    let mut changed = pin!(shutdown.changed());
    let mut changed_polled = false;

    loop {
        let event = poll_fn(|cx| {
            if !shutdown_seen {
                let began = if changed_polled {
                    !matches!(probe.has_changed(), Ok(false))
                } else {
                    changed_polled = true;
                    changed.as_mut().poll(cx).is_ready()
                };
                if began {
                    return Poll::Ready(Event::Shutdown);
                }
            }
            if let Some(w) = writing.as_mut().as_pin_mut() {
                if let Poll::Ready((writer, batch, written)) = w.poll(cx) {
                    writing.set(None);
                    return Poll::Ready(Event::Wrote(writer, batch, written));
                }
            }
            if let Some(h) = handling.as_mut().as_pin_mut() {
                if let Poll::Ready(handled) = h.poll(cx) {
                    handling.set(None);
                    return Poll::Ready(Event::Handled(handled));
                }
            }
            if let Some(m) = muted.as_mut().as_pin_mut() {
                if m.poll(cx).is_ready() {
                    muted.set(None);
                    return Poll::Ready(Event::Unmuted);
                }
            }
            if let Some(r) = reading.as_mut().as_pin_mut() {
                if let Poll::Ready((frames, read)) = r.poll(cx) {
                    reading.set(None);
                    return Poll::Ready(Event::Read(frames, read));
                }
            }
            if !dead {
                owed.poll_pending(cx);
                if owed.ready > 0 && writing.is_none() && idle_writer.is_some() {
                    return Poll::Ready(Event::CanWrite);
                }
            }
            Poll::Pending
        })
        .await;

        match event {
            Event::Shutdown => {
                shutdown_seen = true;
                // Stop reading; the request being handled is finished and what is owed is
                // still written.
                reading.set(None);
                idle_reader = None;
                read_done = true;
                waiting.clear();
                stop_handling = true;
            }
            Event::Wrote(writer, mut batch, written) => {
                idle_writer = Some(writer);
                in_write = 0;
                if let Err(e) = written {
                    tracing::debug!(%peer, error = %e, "write failed; closing");
                    dead = true;
                } else if close_after_write {
                    dead = true;
                }
                batch.clear();
                spare_batch = batch;
            }
            Event::Handled(handled) => {
                // The request is handled: its bytes go back to the budgets.
                handling_permits = None;
                match handled {
                    Ok(responder) => {
                        if !dead {
                            owed.push(responder);
                        }
                        if session.must_close() {
                            // Answered, and nothing after it (a failed authentication).
                            stop_handling = true;
                            reading.set(None);
                            idle_reader = None;
                            read_done = true;
                            waiting.clear();
                        }
                    }
                    Err(e) => {
                        tracing::warn!(%peer, reason = %e, "closing connection: bad request");
                        stop_handling = true;
                        reading.set(None);
                        idle_reader = None;
                        read_done = true;
                        waiting.clear();
                    }
                }
            }
            Event::Read(frames, read) => match read {
                Ok(Some(frame)) => {
                    waiting.push_back(frame);
                    idle_reader = Some(frames);
                }
                Ok(None) => read_done = true,
                Err(e) => {
                    if e.is_client_gone() {
                        tracing::debug!(%peer, reason = %e, "connection closed by the client");
                    } else {
                        tracing::warn!(%peer, reason = %e, "closing connection: bad frame");
                    }
                    read_done = true;
                }
            },
            Event::CanWrite => {
                let mut batch = std::mem::take(&mut spare_batch);
                while batch.len() < MAX_BATCH {
                    match owed.pop_ready() {
                        Some(Ok(Some(response))) => batch.push(response),
                        Some(Ok(None)) => {}
                        Some(Err(e)) => {
                            tracing::warn!(%peer, reason = %e, "closing connection: cannot answer");
                            // What came before it is still owed to the client; nothing after.
                            close_after_write = true;
                            stop_handling = true;
                            reading.set(None);
                            idle_reader = None;
                            read_done = true;
                            waiting.clear();
                            owed.clear();
                            break;
                        }
                        None => break,
                    }
                }
                if batch.is_empty() {
                    spare_batch = batch;
                    if close_after_write {
                        dead = true;
                    }
                } else if let Some(writer) = idle_writer.take() {
                    in_write = batch.len();
                    writing.set(Some(writer.write_batch(batch, stats)));
                }
            }
            Event::Unmuted => {}
        }

        if dead {
            // Nothing more is read or written; the request being handled runs to its end.
            reading.set(None);
            idle_reader = None;
            read_done = true;
            waiting.clear();
            stop_handling = true;
            owed.clear();
            writing.set(None);
            if handling.is_none() {
                break;
            }
            continue;
        }
        // The next request, if one is read, the client is owed few enough answers and no
        // quota throttle mutes the connection (reading stops too once FRAMES_AHEAD wait).
        if handling.is_none()
            && !stop_handling
            && muted.is_none()
            && owed.len() + in_write < MAX_IN_FLIGHT
        {
            if let Some(pause) = session.throttle_remaining().filter(|_| !waiting.is_empty()) {
                muted.set(Some(tokio::time::sleep(pause)));
            } else if let Some(frame) = waiting.pop_front() {
                handling.set(Some(handler.handle(frame.bytes, session)));
                handling_permits = Some(frame.permits);
            }
        }
        // Read on while few frames wait.
        if !read_done && waiting.len() < FRAMES_AHEAD {
            if let Some(frames) = idle_reader.take() {
                reading.set(Some(read_frame(frames, &budgets, (session, max))));
            }
        }
        let reading_over = read_done && waiting.is_empty() || stop_handling;
        if reading_over && handling.is_none() && owed.is_empty() && writing.is_none() {
            break;
        }
    }
    drop(handling_permits);
    if let Some(writer) = idle_writer {
        writer.finish().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio::sync::Notify;

    /// Answers frames `[op, id, 0 x 8]`: 0 at once; 1 pending for `id` ms; 2 after the handler
    /// itself waited on `gate`; 3 refuses the request; 4 answers nothing; 5 a pending answer
    /// that fails; 6 at once, throttling the session for `id` x 10 ms. The answer is a frame
    /// holding `id`.
    #[derive(Default)]
    struct Fake {
        gate: Notify,
    }

    fn answer(id: u8) -> Option<Response> {
        Some(Response::from_bytes(Bytes::from(vec![0, 0, 0, 1, id])))
    }

    impl RequestHandler for Fake {
        type Error = String;

        async fn handle(
            &self,
            frame: Bytes,
            session: &Session,
        ) -> Result<Responder<String>, String> {
            let (op, id) = (frame[0], frame[1]);
            match op {
                6 => {
                    session.throttle_for(u64::from(id) * 10);
                    Ok(Responder::Done(answer(id)))
                }
                0 => Ok(Responder::Done(answer(id))),
                1 => Ok(Responder::Pending(Box::pin(async move {
                    tokio::time::sleep(Duration::from_millis(u64::from(id))).await;
                    Ok(answer(id))
                }))),
                2 => {
                    self.gate.notified().await;
                    Ok(Responder::Done(answer(id)))
                }
                3 => Err(format!("refused {id}")),
                4 => Ok(Responder::Done(None)),
                _ => Ok(Responder::Pending(Box::pin(async { Err("failed".into()) }))),
            }
        }
    }

    struct Conn {
        client: TcpStream,
        fake: Arc<Fake>,
        net: Arc<NetShared>,
        shutdown: watch::Sender<bool>,
        served: tokio::task::JoinHandle<()>,
    }

    async fn connect() -> Conn {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (stream, peer) = listener.accept().await.unwrap();
        let fake = Arc::new(Fake::default());
        let net = Arc::new(NetShared::new(1000, Some(1 << 20)));
        let (shutdown, rx) = watch::channel(false);
        let served = tokio::spawn(serve_plain(
            fake.clone(),
            net.clone(),
            stream,
            Session::plaintext(peer),
            rx,
        ));
        Conn {
            client,
            fake,
            net,
            shutdown,
            served,
        }
    }

    async fn send(c: &mut TcpStream, reqs: &[(u8, u8)]) {
        let mut wire = Vec::new();
        for (op, id) in reqs {
            wire.extend_from_slice(&10i32.to_be_bytes());
            wire.extend_from_slice(&[*op, *id, 0, 0, 0, 0, 0, 0, 0, 0]);
        }
        c.write_all(&wire).await.unwrap();
    }

    /// The ids answered until the broker closes the connection.
    async fn answers_until_eof(c: &mut TcpStream) -> Vec<u8> {
        let mut all = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut all))
            .await
            .expect("connection not closed")
            .unwrap();
        all.chunks(5).map(|a| a[4]).collect()
    }

    async fn answers(c: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut buf = vec![0u8; n * 5];
        tokio::time::timeout(Duration::from_secs(10), c.read_exact(&mut buf))
            .await
            .expect("answers missing")
            .unwrap();
        buf.chunks(5).map(|a| a[4]).collect()
    }

    #[tokio::test]
    async fn answers_go_out_in_request_order_whatever_completes_first() {
        let mut c = connect().await;
        send(
            &mut c.client,
            &[(1, 60), (0, 1), (1, 30), (4, 9), (1, 2), (0, 3)],
        )
        .await;
        assert_eq!(answers(&mut c.client, 5).await, [60, 1, 30, 2, 3]);
        // Many at once, pending and not, all in order.
        let reqs: Vec<(u8, u8)> = (0..200u8).map(|i| (i % 2, i % 7)).collect();
        send(&mut c.client, &reqs).await;
        let want: Vec<u8> = reqs.iter().map(|r| r.1).collect();
        assert_eq!(answers(&mut c.client, reqs.len()).await, want);
        c.client.shutdown().await.unwrap();
        assert!(answers_until_eof(&mut c.client).await.is_empty());
        c.served.await.unwrap();
        assert_eq!(c.net.request_budget.held(), 0);
    }

    #[tokio::test]
    async fn a_slow_handler_does_not_stop_reading_or_writing() {
        let mut c = connect().await;
        // A slow pending answer owed before, a handler that waits, frames behind it.
        send(&mut c.client, &[(1, 50), (2, 7), (0, 8), (0, 9), (0, 10)]).await;
        // The earlier answer is written while the handler waits.
        assert_eq!(answers(&mut c.client, 1).await, [50]);
        // The frames behind it were read ahead (their bytes held in the budget), no further.
        let read_ahead = (FRAMES_AHEAD as u64 + 1) * 10;
        for _ in 0..100 {
            if c.net.request_budget.held() == read_ahead {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(c.net.request_budget.held(), read_ahead);
        c.fake.gate.notify_one();
        assert_eq!(answers(&mut c.client, 4).await, [7, 8, 9, 10]);
        assert_eq!(c.net.request_budget.held(), 0);
    }

    #[tokio::test]
    async fn a_refused_request_closes_the_connection_after_what_is_owed() {
        let mut c = connect().await;
        send(&mut c.client, &[(1, 40), (0, 1), (3, 2), (0, 3)]).await;
        assert_eq!(answers_until_eof(&mut c.client).await, [40, 1]);
        c.served.await.unwrap();
        assert_eq!(c.net.request_budget.held(), 0);

        // An answer that fails: what came before it is sent, nothing after.
        let mut c = connect().await;
        send(&mut c.client, &[(0, 1), (1, 20), (5, 0), (0, 3)]).await;
        assert_eq!(answers_until_eof(&mut c.client).await, [1, 20]);
        c.served.await.unwrap();

        // A bad frame: answered up to it.
        let mut c = connect().await;
        send(&mut c.client, &[(1, 30), (0, 1)]).await;
        c.client.write_all(&(-5i32).to_be_bytes()).await.unwrap();
        assert_eq!(answers_until_eof(&mut c.client).await, [30, 1]);
        c.served.await.unwrap();
    }

    #[tokio::test]
    async fn shutdown_finishes_the_request_in_hand_and_what_is_owed() {
        let mut c = connect().await;
        send(&mut c.client, &[(1, 80), (2, 5)]).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        c.shutdown.send(true).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        c.fake.gate.notify_one();
        // Frames sent after shutdown are not handled.
        let late = [0, 0, 0, 10, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0];
        let _ = c.client.write_all(&late).await;
        assert_eq!(answers_until_eof(&mut c.client).await, [80, 5]);
        c.served.await.unwrap();
    }

    #[tokio::test]
    async fn a_throttled_connection_is_answered_and_then_muted_for_the_throttle_time() {
        let mut c = connect().await;
        let t0 = std::time::Instant::now();
        // Throttled for 300 ms by the first request: it is answered at once, the next only
        // after the throttle time.
        send(&mut c.client, &[(6, 30), (0, 1), (0, 2)]).await;
        assert_eq!(answers(&mut c.client, 1).await, [30]);
        assert!(
            t0.elapsed() < Duration::from_millis(250),
            "{:?}",
            t0.elapsed()
        );
        assert_eq!(answers(&mut c.client, 2).await, [1, 2]);
        assert!(
            t0.elapsed() >= Duration::from_millis(290),
            "{:?}",
            t0.elapsed()
        );
        // Once it has passed, requests are handled at once again.
        let t1 = std::time::Instant::now();
        send(&mut c.client, &[(0, 3)]).await;
        assert_eq!(answers(&mut c.client, 1).await, [3]);
        assert!(t1.elapsed() < Duration::from_millis(250));
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_holds_at_most_max_in_flight_answers() {
        let c = connect().await;
        let (mut rd, mut wr) = c.client.into_split();
        // Far more requests than may be owed, and nobody reads the answers for a while.
        let writer = tokio::spawn(async move {
            for _ in 0..40 {
                let reqs: Vec<(u8, u8)> = (0..1000).map(|i| (1, (i % 3) as u8)).collect();
                let mut wire = Vec::new();
                for (op, id) in &reqs {
                    wire.extend_from_slice(&10i32.to_be_bytes());
                    wire.extend_from_slice(&[*op, *id, 0, 0, 0, 0, 0, 0, 0, 0]);
                }
                wr.write_all(&wire).await.unwrap();
            }
            wr
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        // The broker holds no more than the frames read ahead in its budget.
        assert!(c.net.request_budget.held() <= 10 * (FRAMES_AHEAD as u64 + 1));
        let mut got = 0usize;
        let mut buf = vec![0u8; 64 * 1024];
        while got < 40_000 * 5 {
            let n = tokio::time::timeout(Duration::from_secs(20), rd.read(&mut buf))
                .await
                .expect("answers stalled")
                .unwrap();
            assert!(n > 0);
            got += n;
        }
        drop(writer.await.unwrap());
        c.served.await.unwrap();
    }
}
