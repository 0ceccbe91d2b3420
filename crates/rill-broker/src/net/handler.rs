//! The seam between the network edge and the broker: `net` serves a connection through a
//! [`RequestHandler`] and knows nothing of what answers it (`api::ApiHandler` in the broker,
//! anything else in tests), and [`NetShared`] is what `net` owns across connections: the
//! frame limit, the broker-wide request byte budget and the send statistics.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

use super::budget::RequestBudget;
use super::response::Response;
use super::send::SendStats;
use crate::session::Session;

/// A boxed future that a [`Responder`] completes later.
pub type PendingAnswer<E> = Pin<Box<dyn Future<Output = Result<Option<Response>, E>> + Send>>;

/// The answer to one request: ready now, or a future that completes it (a produce waiting
/// for durability) while the connection goes on reading. `None` inside: no response at all
/// (acks=0). Responses are written in request order either way.
pub enum Responder<E> {
    /// The response (or none).
    Done(Option<Response>),
    /// Completes later.
    Pending(PendingAnswer<E>),
}

/// Answers the requests of a connection, one frame (the bytes after the size prefix) at a
/// time, in arrival order. An `Err` closes the connection (its `Display` is logged).
pub trait RequestHandler: Send + Sync + 'static {
    /// Why a request closes its connection instead of getting an answer.
    type Error: std::fmt::Display + Send + 'static;

    /// Handles one whole frame of the connection `session`.
    fn handle(
        &self,
        frame: Bytes,
        session: &Session,
    ) -> impl Future<Output = Result<Responder<Self::Error>, Self::Error>> + Send;
}

/// What the network edge owns across all connections.
#[derive(Debug)]
pub struct NetShared {
    /// `socket.request.max.bytes`: the largest frame accepted.
    pub max_frame_bytes: usize,
    /// `queued.max.request.bytes`: request bytes all connections may hold at once.
    pub request_budget: Arc<RequestBudget>,
    /// Bytes the connection writers sent, by path (memory, sendfile, cold-read copy).
    pub send_stats: SendStats,
}

impl NetShared {
    /// The limits of a listener: frames of at most `max_frame_bytes`, and at most
    /// `queued_max_request_bytes` (unbounded when `None`) held by all connections together.
    pub fn new(max_frame_bytes: usize, queued_max_request_bytes: Option<u64>) -> Self {
        NetShared {
            max_frame_bytes,
            request_budget: Arc::new(RequestBudget::new(queued_max_request_bytes)),
            send_stats: SendStats::default(),
        }
    }
}
