//! Framed TCP between controllers, on the `controller.listener` addresses.
//!
//! Client side ([`TcpTransport`]): one request in flight per connection; a call takes an idle
//! connection to the peer (or opens one) and puts it back only after a whole reply, so a
//! timeout or error drops (closes) it. Concurrent calls to one peer use separate connections
//! (a broker's long-polling metadata fetch never delays its heartbeat); at most
//! [`MAX_IDLE_PER_PEER`] idle connections are kept per peer. Server side
//! ([`serve`]): one task per accepted connection reading request frames in order; a bad frame
//! or an unparsable request closes that connection with a logged reason, never the listener.
//! Both stop when the shutdown signal flips. With [`QuorumTls`] both sides run a mutual TLS
//! handshake first (see `tls`); a handshake that fails or times out fails that call (client)
//! or closes that connection (server), with a logged reason. Thread-safety: the transport is
//! `Send + Sync`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::frame::{decode, encode, read_frame, write_frame, FrameError};
use super::tls::{self, BoxConn, QuorumTls};
use super::{BoxFuture, RaftReply, RaftRpc, RpcHandler, Transport, TransportError};
use crate::NodeId;

/// Idle connections kept per peer; more are closed after use.
pub const MAX_IDLE_PER_PEER: usize = 4;

/// Idle connections by peer.
type Pool = Arc<Mutex<HashMap<NodeId, Vec<BoxConn>>>>;

/// What travels on the wire: the RPC tagged with the sender's cluster id, so a node with
/// another cluster's data can never take part in this quorum.
#[derive(serde::Serialize, serde::Deserialize)]
struct Envelope {
    /// The sender's cluster id ("" when the quorum has none configured).
    cluster_id: String,
    /// The RPC.
    rpc: RaftRpc,
}

/// Where a transport records a peer of another cluster: (peer, its cluster id).
pub type ForeignPeer = Arc<Mutex<Option<(NodeId, String)>>>;

/// Sends Raft RPCs to peers over framed TCP.
pub struct TcpTransport {
    /// Peer addresses by node id (`controller.quorum.voters`).
    peers: BTreeMap<NodeId, String>,
    /// Idle connections by peer.
    idle: Pool,
    /// Our cluster id, sent with every RPC.
    cluster_id: String,
    /// Set when a peer answered that it belongs to another cluster: (peer, its cluster id).
    foreign: ForeignPeer,
    /// TLS to the peers (this node's certificate, the trusted roots); `None`: plain TCP.
    tls: Option<QuorumTls>,
}

impl TcpTransport {
    /// A transport to the given voters of cluster `cluster_id`.
    pub fn new(peers: BTreeMap<NodeId, String>) -> Self {
        Self::for_cluster(peers, String::new())
    }

    /// A transport to the given voters, tagging every RPC with `cluster_id`.
    pub fn for_cluster(peers: BTreeMap<NodeId, String>, cluster_id: String) -> Self {
        TcpTransport {
            peers,
            idle: Pool::default(),
            cluster_id,
            foreign: Arc::new(Mutex::new(None)),
            tls: None,
        }
    }

    /// This transport connecting over TLS with `tls`'s client config (plain TCP when `None`).
    pub fn with_tls(mut self, tls: Option<&QuorumTls>) -> Self {
        self.tls = tls.cloned();
        self
    }

    /// A peer that answered with another cluster's id, if any did.
    pub fn foreign_peer(&self) -> ForeignPeer {
        self.foreign.clone()
    }
}

/// Opens a connection to `addr`, with the TLS handshake when `tls` is set.
async fn open(addr: &str, tls: Option<&QuorumTls>) -> Result<BoxConn, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    match tls {
        None => Ok(Box::new(tcp)),
        Some(config) => tls::connect(&config.client(), addr, tcp)
            .await
            .inspect_err(|e| {
                tracing::warn!(error = %e, "controller connection refused");
            }),
    }
}

async fn exchange(stream: &mut BoxConn, rpc: &Envelope) -> Result<RaftReply, FrameError> {
    write_frame(stream, &encode(rpc)?).await?;
    match read_frame(stream).await? {
        Some(payload) => decode(&payload),
        None => Err(FrameError::Io {
            source: std::io::ErrorKind::UnexpectedEof.into(),
        }),
    }
}

impl Transport for TcpTransport {
    fn send(
        &self,
        _from: NodeId,
        target: NodeId,
        rpc: RaftRpc,
        timeout: Duration,
    ) -> BoxFuture<Result<RaftReply, TransportError>> {
        let addr = self.peers.get(&target).cloned();
        let pool = self.idle.clone();
        let envelope = Envelope {
            cluster_id: self.cluster_id.clone(),
            rpc,
        };
        let foreign = self.foreign.clone();
        let tls = self.tls.clone();
        Box::pin(async move {
            let unreachable = |reason: String| TransportError::Unreachable { target, reason };
            let addr = addr.ok_or_else(|| unreachable("not a voter".into()))?;
            let work = async {
                let idle = pool
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_mut(&target)
                    .and_then(Vec::pop);
                let mut stream = match idle {
                    Some(s) => s,
                    None => open(&addr, tls.as_ref()).await.map_err(unreachable)?,
                };
                let reply = match exchange(&mut stream, &envelope).await {
                    Ok(r) => r,
                    Err(e) => {
                        // The peer may have restarted: its other idle connections are dead too.
                        let mut idle = pool.lock().unwrap_or_else(|p| p.into_inner());
                        idle.remove(&target);
                        return Err(unreachable(e.to_string()));
                    }
                };
                if let RaftReply::WrongCluster(theirs) = &reply {
                    let mut f = foreign.lock().unwrap_or_else(|p| p.into_inner());
                    *f = Some((target, theirs.clone()));
                    return Err(unreachable(format!("it belongs to cluster {theirs}")));
                }
                let mut idle = pool.lock().unwrap_or_else(|p| p.into_inner());
                let kept = idle.entry(target).or_default();
                if kept.len() < MAX_IDLE_PER_PEER {
                    kept.push(stream);
                }
                Ok(reply)
            };
            tokio::time::timeout(timeout, work)
                .await
                .map_err(|_| TransportError::Timeout { target, timeout })?
        })
    }
}

/// Accepts peers' connections on `listener` and answers their requests until `shutdown` is
/// true (or its sender is dropped). With `tls`, every connection first completes a TLS
/// handshake (in its own task, so a slow peer never holds up the others).
pub async fn serve(
    listener: TcpListener,
    handler: RpcHandler,
    shutdown: watch::Receiver<bool>,
    cluster_id: String,
    tls: Option<QuorumTls>,
) {
    let mut conns = JoinSet::new();
    let mut stop = shutdown.clone();
    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let handler = handler.clone();
                    let shutdown = shutdown.clone();
                    let cluster_id = cluster_id.clone();
                    let tls = tls.clone();
                    conns.spawn(async move {
                        let stream: BoxConn = match &tls {
                            None => Box::new(stream),
                            Some(config) => match tls::accept(&config.server(), stream).await {
                                Ok(s) => s,
                                Err(e) => {
                                    tracing::warn!(%peer, error = %e, "controller connection refused");
                                    return;
                                }
                            },
                        };
                        if let Err(e) = serve_conn(stream, handler, shutdown, &cluster_id).await {
                            tracing::warn!(%peer, error = %e, "controller connection closed");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "controller listener accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.shutdown().await;
}

/// Resolves once the shutdown signal is true or its sender is gone.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

async fn serve_conn(
    mut stream: BoxConn,
    handler: RpcHandler,
    mut shutdown: watch::Receiver<bool>,
    cluster_id: &str,
) -> Result<(), FrameError> {
    loop {
        let payload = tokio::select! {
            () = stopped(&mut shutdown) => return Ok(()),
            frame = read_frame(&mut stream) => match frame? {
                Some(p) => p,
                None => return Ok(()),
            },
        };
        let envelope: Envelope = decode(&payload)?;
        if envelope.cluster_id != cluster_id {
            tracing::warn!(
                theirs = %envelope.cluster_id, ours = %cluster_id,
                "refusing a controller peer of another cluster"
            );
            let reply = RaftReply::WrongCluster(cluster_id.to_string());
            write_frame(&mut stream, &encode(&reply)?).await?;
            return Ok(());
        }
        let reply = handler.handle(envelope.rpc).await;
        write_frame(&mut stream, &encode(&reply)?).await?;
    }
}
