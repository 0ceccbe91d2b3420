//! A broker inside the test process (a real [`rill_broker::Server`] on 127.0.0.1:0 over a
//! data directory of the test's), and a raw Kafka connection that encodes requests with
//! kafka-protocol's client side. Panics on failure: these are test helpers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use rill_broker::net::handler::NetShared;
use rill_broker::{Broker, BrokerConfig, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A running in-process broker.
pub struct Node {
    /// Its Kafka listener.
    pub addr: SocketAddr,
    /// Its admin HTTP listener (console, /metrics, /health, /api/v1), unless configured off.
    pub admin_addr: Option<SocketAddr>,
    /// The broker, for tests that look inside.
    pub broker: Arc<Broker>,
    /// The network edge's shared state (request budget, send statistics).
    pub net: Arc<NetShared>,
    /// Tells the server to stop.
    stop: tokio::sync::watch::Sender<bool>,
    /// The server task.
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("addr", &self.addr).finish()
    }
}

impl Node {
    /// Starts a broker over `dir` with extra `key=value` configs (Kafka listener and admin
    /// listener on port 0 of 127.0.0.1, so no port is reserved ahead).
    ///
    /// # Panics
    /// When the configuration is refused or the server does not start.
    pub async fn start(dir: &std::path::Path, extra: &[(&str, &str)]) -> Node {
        let mut pairs = vec![
            (
                "listeners".to_string(),
                "PLAINTEXT://127.0.0.1:0".to_string(),
            ),
            ("log.dirs".to_string(), dir.display().to_string()),
            ("admin.listen".to_string(), "127.0.0.1:0".to_string()),
        ];
        pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = BrokerConfig::from_pairs(pairs, |_| {}).expect("broker config");
        let server = Server::bind(config).await.expect("server starts");
        let addr = server.local_addr().expect("listener address");
        let admin_addr = server.admin_addr();
        let broker = server.broker.clone();
        let net = server.net.clone();
        let (stop, rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(server.run(rx));
        Node {
            addr,
            admin_addr,
            broker,
            net,
            stop,
            task,
        }
    }

    /// Stops the server and waits for it.
    ///
    /// # Panics
    /// When the server task panicked.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.task.await.expect("server task");
    }
}

/// One raw Kafka connection: requests encoded by kafka-protocol, correlation ids counted.
#[derive(Debug)]
pub struct KafkaConn {
    /// The socket.
    pub stream: TcpStream,
    /// The next correlation id.
    next_id: i32,
}

impl KafkaConn {
    /// Connects to `addr`.
    ///
    /// # Panics
    /// When the connection is refused.
    pub async fn open(addr: SocketAddr) -> KafkaConn {
        KafkaConn {
            stream: TcpStream::connect(addr).await.expect("connect"),
            next_id: 1,
        }
    }

    /// The frame (size prefix included) of `req` at `version`, with the next correlation id.
    ///
    /// # Panics
    /// When kafka-protocol cannot encode `req` at `version`.
    pub fn frame<R: Request>(&mut self, req: &R, version: i16) -> (i32, Vec<u8>) {
        let id = self.next_id;
        self.next_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(id)
            .with_client_id(Some(StrBytes::from_static_str("test")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(version))
            .expect("encode header");
        req.encode(&mut body, version).expect("encode request");
        let mut frame = BytesMut::new();
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(&body);
        (id, frame.to_vec())
    }

    /// Writes raw bytes (a frame or any part of one).
    ///
    /// # Panics
    /// When the write fails.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Reads one response frame; `None` when the broker closed the connection.
    pub async fn read_frame(&mut self) -> Option<Bytes> {
        let mut len = [0u8; 4];
        if self.stream.read_exact(&mut len).await.is_err() {
            return None;
        }
        let len = usize::try_from(i32::from_be_bytes(len)).ok()?;
        let mut buf = vec![0u8; len];
        self.stream.read_exact(&mut buf).await.ok()?;
        Some(Bytes::from(buf))
    }

    /// Decodes a response frame of `R` at `version`, checking the correlation id.
    ///
    /// # Panics
    /// When it does not decode or answers another request.
    pub fn decode<R: Request>(mut frame: Bytes, id: i32, version: i16) -> R::Response {
        let header = ResponseHeader::decode(&mut frame, R::Response::header_version(version))
            .expect("response header");
        assert_eq!(header.correlation_id, id, "correlation id");
        R::Response::decode(&mut frame, version).expect("response body")
    }

    /// Sends `req` and waits (10 s at most) for its response.
    ///
    /// # Panics
    /// When no response comes, the connection closes, or it does not decode.
    pub async fn call<R: Request>(&mut self, req: &R, version: i16) -> R::Response {
        let (id, frame) = self.frame(req, version);
        self.send_raw(&frame).await;
        let resp = tokio::time::timeout(Duration::from_secs(10), self.read_frame())
            .await
            .expect("response in time")
            .expect("connection open");
        Self::decode::<R>(resp, id, version)
    }
}
