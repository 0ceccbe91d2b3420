//! TLS for the controller connections: both ends present a certificate (mutual TLS), so only
//! nodes holding a certificate the truststore trusts take part in the quorum or follow it.
//!
//! The configs are built by the caller (the broker reads Kafka's `ssl.*` settings of the
//! controller listener); this module only runs the handshakes, each bounded by
//! [`HANDSHAKE_TIMEOUT`], and hides plain and TLS streams behind one [`Conn`] type so the
//! connection pool and the server loop do not care which they hold. A client verifies the
//! server's certificate against the host of the voter's address (`controller.quorum.voters`:
//! a DNS name, or an IP address matched against the certificate's IP SANs).
//! Thread-safety: [`QuorumTls`] hands out the current configs as `Arc`s; the caller may replace
//! them (certificate rotation) and new handshakes use the new ones.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The longest a TLS handshake may take, either side, before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS for the quorum's connections: what this node serves with (must require client
/// certificates) and connects with (presenting this node's certificate). Clones share the
/// configs, so [`QuorumTls::replace`] reaches every user.
#[derive(Debug, Clone)]
pub struct QuorumTls {
    configs: Arc<RwLock<(Arc<ServerConfig>, Arc<ClientConfig>)>>,
}

impl QuorumTls {
    /// TLS with these configs.
    pub fn new(server: Arc<ServerConfig>, client: Arc<ClientConfig>) -> Self {
        QuorumTls {
            configs: Arc::new(RwLock::new((server, client))),
        }
    }

    /// The config a new accepted connection's handshake uses.
    pub fn server(&self) -> Arc<ServerConfig> {
        self.configs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    /// The config a new outgoing connection's handshake uses.
    pub fn client(&self) -> Arc<ClientConfig> {
        self.configs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone()
    }

    /// Replaces both configs (rotated certificates); open connections keep theirs.
    pub fn replace(&self, server: Arc<ServerConfig>, client: Arc<ClientConfig>) {
        *self.configs.write().unwrap_or_else(|p| p.into_inner()) = (server, client);
    }
}

/// A byte stream to or from a peer: plain TCP or TLS over it.
pub trait Conn: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Conn for T {}

/// A pooled or served connection.
pub type BoxConn = Box<dyn Conn>;

/// The TLS server name for a voter address `host:port` (`[v6]:port` too).
///
/// # Errors
/// A host that is neither an IP address nor a valid DNS name.
pub fn server_name(addr: &str) -> Result<ServerName<'static>, String> {
    let host = match addr.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => host,
        _ => addr,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string())
        .map_err(|e| format!("'{host}' is not a host name for TLS: {e}"))
}

/// Runs the client handshake over `tcp` to the voter at `addr` (within [`HANDSHAKE_TIMEOUT`]).
///
/// # Errors
/// A bad host name, a failed handshake (the peer's certificate is not trusted or not for that
/// host, or it refused ours), or the timeout; the message names the address.
pub async fn connect(
    config: &Arc<ClientConfig>,
    addr: &str,
    tcp: TcpStream,
) -> Result<BoxConn, String> {
    let name = server_name(addr)?;
    let connector = TlsConnector::from(config.clone());
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(name, tcp)).await {
        Ok(Ok(stream)) => Ok(Box::new(stream)),
        Ok(Err(e)) => Err(format!("TLS handshake with {addr} failed: {e}")),
        Err(_) => Err(format!(
            "TLS handshake with {addr} took over {HANDSHAKE_TIMEOUT:?}"
        )),
    }
}

/// Runs the server handshake on an accepted connection (within [`HANDSHAKE_TIMEOUT`]).
///
/// # Errors
/// A failed handshake (no client certificate, or one the truststore does not trust) or the
/// timeout.
pub async fn accept(config: &Arc<ServerConfig>, tcp: TcpStream) -> Result<BoxConn, String> {
    let acceptor = TlsAcceptor::from(config.clone());
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => Ok(Box::new(stream)),
        Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
        Err(_) => Err(format!("TLS handshake took over {HANDSHAKE_TIMEOUT:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_from_voter_addresses() {
        assert!(matches!(
            server_name("127.0.0.1:9093"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("[::1]:9093"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("controller-1.example:9093"),
            Ok(ServerName::DnsName(_))
        ));
        assert!(server_name("bad host:1").is_err());
    }
}
