//! One connection to a broker: plain TCP or TLS, SASL authentication when the security
//! settings ask for it, length-prefixed frames, correlation ids, ApiVersions negotiation, and
//! pipelining.
//!
//! Opening: TCP, then the TLS handshake (SSL, SASL_SSL), then ApiVersions, then SASL
//! (`SaslHandshake` and `SaslAuthenticate` rounds, see [`crate::authenticate`]). When the
//! broker grants a session lifetime (KIP-368), the connection reports itself closed at 90%
//! of it, so pools open a fresh, freshly authenticated one before the broker cuts it off.
//!
//! Invariants: a request's pending entry is queued under the same lock that writes its bytes,
//! so the pending queue is in wire order; Kafka answers requests on a connection in order, so
//! the reader task matches each response to the front of the queue and checks its
//! correlation id (a mismatch closes the connection: nothing after it can be trusted). Any
//! number of requests may be in flight. When the connection dies every waiter gets
//! [`ClientError::ConnectionLost`].
//!
//! Thread-safety: a `Connection` is shared (`Arc`) between tasks; writes are serialized by an
//! async mutex, the pending queue by a short std mutex.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::error::{ClientError, Result};
use crate::frame_buffers::FrameBuffers;
use crate::security::ClientSecurity;
use crate::versions::BrokerVersions;

/// The read side of a plain or TLS stream.
type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
/// The write side of a plain or TLS stream.
type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// Largest response frame accepted (a fetch answer can be large, but not this large).
const MAX_RESPONSE_BYTES: usize = 1 << 30;

/// A request waiting for its response.
struct Pending {
    /// The id the response must echo.
    correlation_id: i32,
    /// Response header version of the request's API and version.
    header_version: i16,
    /// Where the response body goes.
    tx: oneshot::Sender<Result<Bytes>>,
}

/// State shared by writers and the reader task.
#[derive(Default)]
struct Shared {
    /// Requests in wire order whose responses have not arrived.
    pending: VecDeque<Pending>,
    /// Set once the connection is dead, with the reason.
    closed: Option<String>,
}

/// The write side: the socket half and the next correlation id.
struct Writer {
    /// The stream's write half.
    half: WriteHalf,
    /// Next correlation id (wraps).
    next_correlation_id: i32,
}

/// A pipelined connection to one broker.
pub struct Connection {
    /// `host:port`, for messages.
    addr: String,
    /// Sent in every request header.
    client_id: StrBytes,
    /// How long a response may take.
    request_timeout: Duration,
    /// Serializes writes (and keeps the pending queue in wire order).
    writer: tokio::sync::Mutex<Writer>,
    /// Pending requests and the closed flag.
    shared: Arc<Mutex<Shared>>,
    /// The broker's ApiVersions answer.
    versions: BrokerVersions,
    /// The reader task, aborted on drop.
    reader: tokio::task::JoinHandle<()>,
    /// When to stop using the connection because its SASL session is about to expire
    /// (KIP-368): 90% of the lifetime the broker granted.
    reauth_deadline: Option<Instant>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.addr)
            .finish()
    }
}

/// A response that will arrive: await [`ResponseFuture::wait`].
pub struct ResponseFuture {
    /// Receives the body bytes.
    rx: oneshot::Receiver<Result<Bytes>>,
    /// For messages.
    addr: String,
    /// For messages.
    api: ApiKey,
    /// How long to wait.
    timeout: Duration,
}

impl ResponseFuture {
    /// Waits for the response body (the bytes after the response header).
    ///
    /// # Errors
    /// Timeout or a lost connection.
    pub async fn wait(self) -> Result<Bytes> {
        match tokio::time::timeout(self.timeout, self.rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(ClientError::ConnectionLost {
                addr: self.addr,
                reason: "the connection closed before the response arrived".into(),
            }),
            Err(_) => Err(ClientError::Timeout {
                addr: self.addr,
                api: format!("{:?}", self.api),
                timeout_ms: self.timeout.as_millis() as u64,
            }),
        }
    }

    /// Waits for the response and decodes it.
    ///
    /// # Errors
    /// As [`ResponseFuture::wait`], or a body that does not decode.
    pub async fn decode<T: Decodable>(self, version: i16) -> Result<T> {
        let api = self.api;
        let mut body = self.wait().await?;
        T::decode(&mut body, version).map_err(|e| ClientError::Codec {
            what: "decode",
            api: format!("{api:?}"),
            version,
            reason: e.to_string(),
        })
    }
}

impl Connection {
    /// Connects to `addr` over plain TCP and negotiates API versions (no TLS, no SASL).
    ///
    /// # Errors
    /// [`ClientError::Connect`] when the broker cannot be reached.
    pub async fn connect(
        addr: &str,
        client_id: &str,
        request_timeout: Duration,
    ) -> Result<Arc<Self>> {
        Self::connect_with(
            addr,
            client_id,
            request_timeout,
            &ClientSecurity::plaintext(),
        )
        .await
    }

    /// Connects to `addr` as `security` says: TCP, the TLS handshake (SSL, SASL_SSL),
    /// ApiVersions, then SASL authentication (SASL_PLAINTEXT, SASL_SSL).
    ///
    /// # Errors
    /// [`ClientError::Connect`] when the broker cannot be reached, [`ClientError::Tls`] when
    /// the TLS handshake fails, [`ClientError::Kafka`] when the broker refuses the SASL
    /// credentials (code 58, 33 or 34, with its message), [`ClientError::Authentication`]
    /// when the broker's SASL answer does not check out.
    pub async fn connect_with(
        addr: &str,
        client_id: &str,
        request_timeout: Duration,
        security: &ClientSecurity,
    ) -> Result<Arc<Self>> {
        let stream = tcp_connect(addr, request_timeout).await?;
        let (read_half, write_half): (ReadHalf, WriteHalf) = match security.tls() {
            None => {
                let (r, w) = stream.into_split();
                (Box::new(r), Box::new(w))
            }
            Some(config) => {
                let name = crate::tls::server_name(addr)?;
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                let tls_error = |reason: String| ClientError::Tls {
                    addr: addr.to_string(),
                    reason,
                };
                let tls = tokio::time::timeout(
                    request_timeout,
                    connector.connect(name, crate::read_ahead::ReadAhead::new(stream)),
                )
                .await
                .map_err(|_| tls_error("the handshake timed out".into()))?
                .map_err(|e| tls_error(e.to_string()))?;
                let (r, w) = tokio::io::split(tls);
                (Box::new(r), Box::new(w))
            }
        };
        let shared = Arc::new(Mutex::new(Shared::default()));
        let reader = tokio::spawn(read_loop(read_half, shared.clone(), addr.to_string()));
        let mut conn = Connection {
            addr: addr.to_string(),
            client_id: StrBytes::from_string(client_id.to_string()),
            request_timeout,
            writer: tokio::sync::Mutex::new(Writer {
                half: write_half,
                next_correlation_id: 0,
            }),
            shared,
            versions: BrokerVersions::default(),
            reader,
            reauth_deadline: None,
        };
        conn.versions = match conn.negotiate().await {
            Ok(v) => v,
            // A TLS listener answers a plaintext ApiVersions with a TLS alert or nothing.
            Err(ClientError::ConnectionLost { addr, reason }) if security.tls().is_none() => {
                return Err(ClientError::ConnectionLost {
                    addr,
                    reason: format!(
                        "{reason} during the first request (ApiVersions); if this listener is \
                         SSL or SASL_SSL, set security.protocol (--security-protocol or \
                         --command-config)"
                    ),
                })
            }
            Err(e) => return Err(e),
        };
        if let Some(creds) = security.sasl() {
            let authenticated_at = Instant::now();
            if let Some(lifetime) = crate::authenticate::authenticate(&conn, creds).await? {
                conn.reauth_deadline = Some(authenticated_at + lifetime.mul_f64(0.9));
            }
        }
        Ok(Arc::new(conn))
    }

    /// The broker's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The broker's ApiVersions answer.
    pub fn versions(&self) -> &BrokerVersions {
        &self.versions
    }

    /// The version to use for `api` with this broker.
    ///
    /// # Errors
    /// [`ClientError::UnsupportedVersion`].
    pub fn version(&self, api: ApiKey) -> Result<i16> {
        self.versions.pick(api, &self.addr)
    }

    /// Whether the connection has died, or its SASL session is about to expire
    /// ([`Connection::needs_reauth`]): either way, open a new one.
    pub fn is_closed(&self) -> bool {
        self.needs_reauth()
            || self
                .shared
                .lock()
                .map(|s| s.closed.is_some())
                .unwrap_or(true)
    }

    /// Whether 90% of the SASL session lifetime the broker granted (KIP-368) has passed;
    /// the broker closes the connection at the full lifetime, so callers should stop
    /// sending on it and open a new one. Always `false` without a session lifetime.
    pub fn needs_reauth(&self) -> bool {
        self.reauth_deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    async fn negotiate(&self) -> Result<BrokerVersions> {
        let mut req = ApiVersionsRequest::default();
        req.client_software_name = StrBytes::from_static_str("rill");
        req.client_software_version = StrBytes::from_static_str(env!("CARGO_PKG_VERSION"));
        let body = self.send(&req, 3).await?.wait().await?;
        // A broker too old for v3 answers v0 with UNSUPPORTED_VERSION and its ranges.
        let resp = match ApiVersionsResponse::decode(&mut body.clone(), 3) {
            Ok(r) if r.error_code != 35 => r,
            _ => ApiVersionsResponse::decode(&mut body.clone(), 0).map_err(|e| {
                ClientError::Protocol {
                    addr: self.addr.clone(),
                    reason: format!("ApiVersions answer does not decode: {e}"),
                }
            })?,
        };
        // UNSUPPORTED_VERSION with ranges (the v0 answer) still says what the broker serves.
        if resp.error_code != 35 || resp.api_keys.is_empty() {
            ClientError::check(
                resp.error_code,
                || format!("ApiVersions to {}", self.addr),
                None,
            )?;
        }
        let ranges = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(BrokerVersions { ranges })
    }

    /// Sends `req` at `version` (pipelined) and returns the response to await.
    ///
    /// # Errors
    /// Encoding failures and a dead connection.
    pub async fn send<R: Request>(&self, req: &R, version: i16) -> Result<ResponseFuture> {
        let api = api_key::<R>()?;
        let (tx, rx) = oneshot::channel();
        let header_version = <R::Response as HeaderVersion>::header_version(version);
        self.write(req, api, version, Some((header_version, tx)))
            .await?;
        Ok(ResponseFuture {
            rx,
            addr: self.addr.clone(),
            api,
            timeout: self.request_timeout,
        })
    }

    /// Sends `req` and decodes its response.
    ///
    /// # Errors
    /// As [`Connection::send`] and [`ResponseFuture::decode`].
    pub async fn call<R: Request>(&self, req: &R, version: i16) -> Result<R::Response> {
        self.send(req, version).await?.decode(version).await
    }

    /// Sends a request that gets no response (produce with acks=0).
    ///
    /// # Errors
    /// Encoding failures and a dead connection.
    pub async fn send_oneway<R: Request>(&self, req: &R, version: i16) -> Result<()> {
        let api = api_key::<R>()?;
        self.write(req, api, version, None).await
    }

    async fn write<R: Request>(
        &self,
        req: &R,
        api: ApiKey,
        version: i16,
        pending: Option<(i16, oneshot::Sender<Result<Bytes>>)>,
    ) -> Result<()> {
        let codec = |reason: String| ClientError::Codec {
            what: "encode",
            api: format!("{api:?}"),
            version,
            reason,
        };
        let mut writer = self.writer.lock().await;
        let correlation_id = writer.next_correlation_id;
        writer.next_correlation_id = correlation_id.wrapping_add(1);
        let mut header = RequestHeader::default();
        header.request_api_key = api as i16;
        header.request_api_version = version;
        header.correlation_id = correlation_id;
        header.client_id = Some(self.client_id.clone());
        let mut buf = BytesMut::with_capacity(128);
        buf.extend_from_slice(&[0; 4]);
        header
            .encode(&mut buf, R::header_version(version))
            .map_err(|e| codec(e.to_string()))?;
        req.encode(&mut buf, version)
            .map_err(|e| codec(e.to_string()))?;
        let size = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        {
            let mut shared = self.lock_shared()?;
            if let Some(reason) = &shared.closed {
                return Err(ClientError::ConnectionLost {
                    addr: self.addr.clone(),
                    reason: reason.clone(),
                });
            }
            if let Some((header_version, tx)) = pending {
                shared.pending.push_back(Pending {
                    correlation_id,
                    header_version,
                    tx,
                });
            }
        }
        if let Err(e) = writer.half.write_all(&buf).await {
            let reason = format!("write failed: {e}");
            fail_all(&self.shared, &reason, &self.addr);
            return Err(ClientError::ConnectionLost {
                addr: self.addr.clone(),
                reason,
            });
        }
        Ok(())
    }

    fn lock_shared(&self) -> Result<std::sync::MutexGuard<'_, Shared>> {
        self.shared.lock().map_err(|_| ClientError::ConnectionLost {
            addr: self.addr.clone(),
            reason: "internal lock poisoned".into(),
        })
    }
}

/// Opens the TCP connection within `timeout`.
async fn tcp_connect(addr: &str, timeout: Duration) -> Result<TcpStream> {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(error)) => {
            return Err(ClientError::Connect {
                addr: addr.to_string(),
                error,
            })
        }
        Err(_) => {
            return Err(ClientError::Connect {
                addr: addr.to_string(),
                error: std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"),
            })
        }
    };
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

fn api_key<R: Request>() -> Result<ApiKey> {
    ApiKey::try_from(R::KEY)
        .map_err(|_| ClientError::Invalid(format!("unknown api key {}", R::KEY)))
}

/// Marks the connection dead and fails every waiter.
fn fail_all(shared: &Mutex<Shared>, reason: &str, addr: &str) {
    let drained: Vec<Pending> = match shared.lock() {
        Ok(mut s) => {
            if s.closed.is_none() {
                s.closed = Some(reason.to_string());
            }
            s.pending.drain(..).collect()
        }
        Err(_) => return,
    };
    for p in drained {
        let _ = p.tx.send(Err(ClientError::ConnectionLost {
            addr: addr.to_string(),
            reason: reason.to_string(),
        }));
    }
}

async fn read_loop(mut half: ReadHalf, shared: Arc<Mutex<Shared>>, addr: String) {
    let mut buffers = FrameBuffers::default();
    let reason = loop {
        let mut len = [0u8; 4];
        if let Err(e) = half.read_exact(&mut len).await {
            break format!("read failed: {e}");
        }
        let size = i32::from_be_bytes(len);
        if size < 4 || size as usize > MAX_RESPONSE_BYTES {
            break format!("bad response frame size {size}");
        }
        // Read into spare capacity (no zeroing of up to MAX_RESPONSE_BYTES per response), of a
        // reused buffer for large answers (`frame_buffers`).
        let size = size as usize;
        let mut target = buffers.target(size);
        let frame = buffers.buffer(&mut target);
        let mut failed = None;
        while frame.len() < size {
            let left = size - frame.len();
            let mut room = (&mut *frame).limit(left);
            match half.read_buf(&mut room).await {
                Ok(0) => {
                    failed = Some("connection closed mid-response".to_string());
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    failed = Some(format!("read failed: {e}"));
                    break;
                }
            }
        }
        if let Some(reason) = failed {
            break reason;
        }
        let mut body = buffers.finish(target);
        let front = match shared.lock() {
            Ok(mut s) => s.pending.pop_front(),
            Err(_) => break "internal lock poisoned".into(),
        };
        let Some(p) = front else {
            break "a response arrived with no request waiting".into();
        };
        let problem = match ResponseHeader::decode(&mut body, p.header_version) {
            Err(e) => Some(format!("bad response header: {e}")),
            Ok(h) if h.correlation_id != p.correlation_id => Some(format!(
                "response correlation id {} does not match the oldest request's {}",
                h.correlation_id, p.correlation_id
            )),
            Ok(_) => None,
        };
        if let Some(reason) = problem {
            let _ = p.tx.send(Err(ClientError::ConnectionLost {
                addr: addr.clone(),
                reason: reason.clone(),
            }));
            break reason;
        }
        let _ = p.tx.send(Ok(body.copy_to_bytes(body.remaining())));
    };
    fail_all(&shared, &reason, &addr);
}
