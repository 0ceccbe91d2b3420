//! Where an OAUTHBEARER listener's JWK set comes from (`sasl.oauthbearer.jwks.endpoint.url`):
//! a file (`file:` URL or a path), re-read when it changes, or an `http://` / `https://`
//! endpoint, fetched when the listener loads and again every
//! `sasl.oauthbearer.jwks.endpoint.refresh.ms` (and soon after a token names a key the set
//! lacks, as Kafka's refreshing resolver does). An `https` endpoint's certificate is checked
//! against the listener's `ssl.truststore.*` when it has one, else the system's CA bundle.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// The largest JWK set Rill reads.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// How long one fetch may take (connect, TLS, answer).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the JWK set is read from.
#[derive(Debug, Clone)]
pub enum JwksSource {
    /// A local file.
    File(PathBuf),
    /// An HTTP(S) endpoint.
    Http(HttpEndpoint),
}

/// An `http://` or `https://` JWKS endpoint.
#[derive(Clone)]
pub struct HttpEndpoint {
    /// The URL as configured.
    url: String,
    /// Parsed.
    uri: hyper::Uri,
    /// For `https`: the client config trusting the endpoint's CA.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for HttpEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpEndpoint")
            .field("url", &self.url)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl JwksSource {
    /// The source `url` names. `truststore_pem` is the listener's truststore (PEM), if any,
    /// for `https`.
    ///
    /// # Errors
    /// A URL that does not parse, a scheme other than file/http/https, no CA to check an
    /// `https` endpoint with.
    pub fn parse(url: &str, truststore_pem: Option<Vec<u8>>) -> Result<JwksSource, String> {
        let url = url.trim();
        if let Some(rest) = url.strip_prefix("file://") {
            return Ok(JwksSource::File(rest.into()));
        }
        if let Some(rest) = url.strip_prefix("file:") {
            return Ok(JwksSource::File(rest.into()));
        }
        let https = url.starts_with("https://");
        if !https && !url.starts_with("http://") {
            if url.contains("://") {
                return Err("the JWKS URL must be file:, http:// or https://".into());
            }
            return Ok(JwksSource::File(url.into()));
        }
        let uri: hyper::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
        if uri.host().is_none() {
            return Err("the URL has no host".into());
        }
        let tls = if https {
            Some(Arc::new(client_config(truststore_pem)?))
        } else {
            None
        };
        Ok(JwksSource::Http(HttpEndpoint {
            url: url.to_string(),
            uri,
            tls,
        }))
    }
}

/// A rustls client config trusting `truststore_pem`, else the system's CA bundle
/// (`SSL_CERT_FILE`, or Debian's and Red Hat's usual paths).
fn client_config(truststore_pem: Option<Vec<u8>>) -> Result<rustls::ClientConfig, String> {
    let pem = match truststore_pem {
        Some(p) => p,
        None => {
            let candidates: Vec<PathBuf> = std::env::var_os("SSL_CERT_FILE")
                .map(PathBuf::from)
                .into_iter()
                .chain([
                    PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
                    PathBuf::from("/etc/pki/tls/certs/ca-bundle.crt"),
                ])
                .collect();
            candidates
                .iter()
                .find_map(|p| std::fs::read(p).ok())
                .ok_or_else(|| {
                    "an https JWKS endpoint needs a CA to check it against: set the \
                     listener's ssl.truststore.location, or install the system CA bundle"
                        .to_string()
                })?
        }
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
        // A bundle may hold certificates webpki cannot use; the others still count.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err("no usable CA certificate to check the https JWKS endpoint with".into());
    }
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl HttpEndpoint {
    /// The URL as configured.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// GETs the JWK set (at most [`FETCH_TIMEOUT`]; a body of at most 1 MiB; status 200).
    ///
    /// # Errors
    /// What failed, for the log or the start-up error.
    pub async fn fetch(&self) -> Result<String, String> {
        match tokio::time::timeout(FETCH_TIMEOUT, self.fetch_inner()).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "{}: no answer within {} s",
                self.url,
                FETCH_TIMEOUT.as_secs()
            )),
        }
    }

    async fn fetch_inner(&self) -> Result<String, String> {
        let err = |what: &str, e: &dyn std::fmt::Display| format!("{}: {what}: {e}", self.url);
        let host = self.uri.host().unwrap_or_default();
        let bare_host = host.trim_start_matches('[').trim_end_matches(']');
        let port = self
            .uri
            .port_u16()
            .unwrap_or(if self.tls.is_some() { 443 } else { 80 });
        let tcp = tokio::net::TcpStream::connect((bare_host, port))
            .await
            .map_err(|e| err("connect", &e))?;
        let path = self.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let authority = self.uri.authority().map(|a| a.as_str()).unwrap_or(host);
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, authority)
            .header(hyper::header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|e| err("request", &e))?;
        let response = match &self.tls {
            None => send(hyper_util::rt::TokioIo::new(tcp), request).await,
            Some(config) => {
                let name = ServerName::try_from(bare_host.to_string())
                    .map_err(|e| err("server name", &e))?;
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| err("TLS", &e))?;
                send(hyper_util::rt::TokioIo::new(tls), request).await
            }
        }
        .map_err(|e| err("HTTP", &e))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_JWKS_BYTES)
            .collect()
            .await
            .map_err(|e| err("reading the body", &e))?
            .to_bytes();
        if status != hyper::StatusCode::OK {
            return Err(format!("{}: answered {status}", self.url));
        }
        String::from_utf8(body.to_vec()).map_err(|_| format!("{}: the body is not UTF-8", self.url))
    }
}

/// Sends `request` over `io` as HTTP/1.1 and returns the response head with its body.
async fn send<I>(
    io: I,
    request: hyper::Request<Empty<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, hyper::Error>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let response = sender.send_request(request).await;
    if response.is_err() {
        driver.abort();
    }
    response
}

/// Fetches `endpoint` from a thread of its own (the listeners load before the runtime serves,
/// possibly inside it).
///
/// # Errors
/// As [`HttpEndpoint::fetch`].
pub fn fetch_blocking(endpoint: &HttpEndpoint) -> Result<String, String> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("a runtime for the JWKS fetch: {e}"))?;
            rt.block_on(endpoint.fetch())
        })
        .join()
        .unwrap_or_else(|_| Err("the JWKS fetch panicked".into()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn urls_name_their_source() {
        assert!(
            matches!(JwksSource::parse("file:/a/b.json", None), Ok(JwksSource::File(p)) if p == std::path::Path::new("/a/b.json"))
        );
        assert!(matches!(
            JwksSource::parse("/a/b.json", None),
            Ok(JwksSource::File(_))
        ));
        assert!(matches!(
            JwksSource::parse("http://127.0.0.1:9/jwks", None),
            Ok(JwksSource::Http(e)) if e.tls.is_none()
        ));
        assert!(JwksSource::parse("ftp://x/jwks", None).is_err());
        assert!(JwksSource::parse("http://", None).is_err());
    }

    /// A one-shot HTTP server answering `status` with `body`.
    async fn serve_once(status: &'static str, body: &'static str) -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let answer = format!(
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            s.write_all(answer.as_bytes()).await.unwrap();
        });
        port
    }

    #[tokio::test]
    async fn an_http_endpoint_is_fetched_and_errors_say_what_failed() {
        let port = serve_once("200 OK", "{\"keys\":[]}").await;
        let JwksSource::Http(e) =
            JwksSource::parse(&format!("http://127.0.0.1:{port}/jwks"), None).unwrap()
        else {
            panic!("not http")
        };
        assert_eq!(e.fetch().await.unwrap(), "{\"keys\":[]}");
        let port = serve_once("404 Not Found", "nope").await;
        let JwksSource::Http(e) =
            JwksSource::parse(&format!("http://127.0.0.1:{port}/jwks"), None).unwrap()
        else {
            panic!("not http")
        };
        let err = e.fetch().await.unwrap_err();
        assert!(err.contains("404"), "{err}");
    }
}
