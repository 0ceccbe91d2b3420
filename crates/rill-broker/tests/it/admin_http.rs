#![allow(clippy::unwrap_used)]
//! The admin HTTP listener of an in-process server over real sockets: it serves health, the
//! JSON API and /metrics while the server runs, creates topics through the admin service, and
//! is gone after shutdown. (Exact metric counts are checked by compat/test_metrics.py against
//! a separate `rill serve` process: the metrics registry is per process.)

use std::net::SocketAddr;

use rill_testkit::Node;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One HTTP/1.1 request with `Connection: close`; returns (status, body).
async fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    // Bodies may be chunked: keep only the JSON/text between the chunk sizes.
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        let mut out = String::new();
        let mut r = rest;
        while let Some((size, after)) = r.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            if n == 0 {
                break;
            }
            out.push_str(&after[..n]);
            r = &after[n + 2..];
        }
        out
    } else {
        rest.to_string()
    };
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_health_api_and_metrics_until_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), &[("offsets.topic.num.partitions", "2")]).await;
    let admin = node.admin_addr.expect("admin listener configured");

    assert_eq!(
        http(admin, "GET", "/health/live", None).await,
        (200, r#"{"status":"live"}"#.to_string())
    );
    assert_eq!(
        http(admin, "GET", "/health/ready", None).await,
        (200, r#"{"status":"ready"}"#.to_string())
    );

    let (status, body) = http(
        admin,
        "POST",
        "/api/v1/topics",
        Some(r#"{"name":"events","partitions":4}"#),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = http(
        admin,
        "POST",
        "/api/v1/topics",
        Some(r#"{"name":"events"}"#),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("TOPIC_ALREADY_EXISTS"), "{body}");
    let (status, body) = http(admin, "POST", "/api/v1/topics", Some("not json")).await;
    assert_eq!(status, 400, "{body}");

    let (status, body) = http(admin, "GET", "/api/v1/topics/events", None).await;
    assert_eq!(status, 200);
    let t: serde_json::Value = serde_json::from_str(&body).unwrap();
    let parts = t["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 4);
    for p in parts {
        assert_eq!(p["high_watermark"], 0);
        assert_eq!(p["offsets_from"], "local");
        assert_eq!(p["segments"], 1);
    }

    let (status, text) = http(admin, "GET", "/metrics", None).await;
    assert_eq!(status, 200);
    // The node hosts 4 + 2 partitions and leads them all; the four new logs are empty.
    assert!(text.contains("\nrill_partitions 6\n"), "{text}");
    assert!(text.contains("\nrill_leader_partitions 6\n"), "{text}");
    for p in 0..4 {
        let line = format!("rill_log_size_bytes{{topic=\"events\",partition=\"{p}\"}} 0\n");
        assert!(text.contains(&line), "missing {line} in {text}");
    }
    let (status, _) = http(admin, "GET", "/", None).await;
    assert_eq!(status, 200);

    node.shutdown().await;
    assert!(
        TcpStream::connect(admin).await.is_err(),
        "the admin listener is closed after shutdown"
    );
}
