//! The two ways a connection's responses reach the client: a plaintext socket, where record
//! data goes from the page cache with `sendfile` ([`super::send`]), and a TLS stream, where
//! every byte is encrypted, so file ranges are read into memory first (from the page cache
//! on the worker when [`page_cache::is_resident`] says they are cached, on the blocking pool
//! when they are not, so a cold read never stalls a worker).
//!
//! A writer is owned by the write in progress and handed back when it ends (the connection
//! loop keeps at most one write going).

use std::future::Future;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;

use super::page_cache;
use super::response::{Chunk, Response};
use super::send::{write_response, write_responses_in_memory, SendStats, WINDOW};

/// Where a connection writes its responses.
pub trait ResponseWriter: Send + Sized + 'static {
    /// Writes `batch` in order, then hands the writer and the (emptied by the caller) batch
    /// back with the outcome.
    fn write_batch<'a>(
        self,
        batch: Vec<Response>,
        stats: &'a SendStats,
    ) -> impl Future<Output = (Self, Vec<Response>, io::Result<()>)> + Send + 'a;

    /// Ends the write side once everything is written (the client reads EOF).
    fn finish(self) -> impl Future<Output = ()> + Send;
}

/// A plaintext socket's write half.
#[derive(Debug)]
pub struct PlainWriter(pub OwnedWriteHalf);

impl ResponseWriter for PlainWriter {
    async fn write_batch(
        self,
        batch: Vec<Response>,
        stats: &SendStats,
    ) -> (Self, Vec<Response>, io::Result<()>) {
        let stream = self.0.as_ref();
        let written = match batch.as_slice() {
            [] => Ok(()),
            [one] => write_response(stream, one, stats).await,
            all if all.iter().all(Response::in_memory) => {
                write_responses_in_memory(stream, all, stats).await
            }
            all => {
                let mut r = Ok(());
                for one in all {
                    r = write_response(stream, one, stats).await;
                    if r.is_err() {
                        break;
                    }
                }
                r
            }
        };
        (self, batch, written)
    }

    async fn finish(self) {
        // Like `shutdown()` on the write half: the client reads what was sent, then EOF.
        let _ = rustix::net::shutdown(self.0.as_ref(), rustix::net::Shutdown::Write);
    }
}

/// The write half of an encrypted stream (TLS).
#[derive(Debug)]
pub struct EncryptedWriter<W>(pub W);

impl<W: AsyncWrite + Unpin + Send + 'static> ResponseWriter for EncryptedWriter<W> {
    async fn write_batch(
        mut self,
        batch: Vec<Response>,
        stats: &SendStats,
    ) -> (Self, Vec<Response>, io::Result<()>) {
        let mut written = Ok(());
        for r in &batch {
            written = write_encrypted(&mut self.0, r, stats).await;
            if written.is_err() {
                break;
            }
        }
        if written.is_ok() {
            written = self.0.flush().await;
        }
        (self, batch, written)
    }

    async fn finish(mut self) {
        // Sends TLS close_notify, then closes the write side.
        let _ = self.0.shutdown().await;
    }
}

/// Writes one response through `out`: memory chunks as they are, file ranges window by
/// window, read from the page cache on this worker or, when not cached, on the blocking pool.
async fn write_encrypted<W: AsyncWrite + Unpin>(
    out: &mut W,
    response: &Response,
    stats: &SendStats,
) -> io::Result<()> {
    for chunk in response.chunks() {
        match chunk {
            Chunk::Bytes(b) => {
                out.write_all(b).await?;
                stats
                    .memory_bytes
                    .fetch_add(b.len() as u64, Ordering::Relaxed);
            }
            Chunk::File(f) => {
                let end = f.position + f.len;
                let mut pos = f.position;
                while pos < end {
                    let window = (end - pos).min(WINDOW);
                    let copy = if page_cache::is_resident(&f.file, pos, window) {
                        read_at(&f.file, pos, window)?
                    } else {
                        let file = f.file.clone();
                        match tokio::task::spawn_blocking(move || read_at(&file, pos, window)).await
                        {
                            Ok(r) => r?,
                            Err(e) => return Err(io::Error::other(e)),
                        }
                    };
                    out.write_all(&copy).await?;
                    stats.copied_bytes.fetch_add(window, Ordering::Relaxed);
                    pos += window;
                }
            }
        }
    }
    Ok(())
}

/// Reads `len` bytes of `file` at `pos`.
fn read_at(file: &Arc<std::fs::File>, pos: u64, len: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, pos)
        .map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "segment file ended inside a fetch response",
            ),
            _ => e,
        })?;
    Ok(buf)
}
