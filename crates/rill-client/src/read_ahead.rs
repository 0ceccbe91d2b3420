//! [`ReadAhead`]: a socket that reads in large chunks for a reader that asks for small ones.
//!
//! rustls pulls ciphertext from its transport 4 KiB at a time, so a TLS connection read
//! straight from its socket makes one `recvfrom` per 4 KiB: 256 system calls per MiB a
//! producer sends. Between the socket and rustls, [`ReadAhead`] reads up to [`CHUNK`] bytes
//! per call and hands them out from memory. The buffer is allocated when a read needs it and
//! released once a read that found the socket nearly drained has been handed out, so an idle
//! connection holds no buffer. Writes pass straight through.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes asked of the socket per read.
pub const CHUNK: usize = 128 * 1024;

/// A transport whose reads are served from [`CHUNK`]-sized reads of `inner`.
#[derive(Debug)]
pub struct ReadAhead<S> {
    inner: S,
    /// Read from `inner` and not yet handed out: `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Whether the last read filled less than half of [`CHUNK`] (the socket had little
    /// waiting): the buffer is released when it has been handed out.
    release_when_drained: bool,
}

impl<S> ReadAhead<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        ReadAhead {
            inner,
            buf: Vec::new(),
            start: 0,
            end: 0,
            release_when_drained: false,
        }
    }

    /// The wrapped transport.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Bytes read ahead and not yet handed out.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.start == this.end {
            if out.remaining() >= CHUNK {
                // A large read gains nothing from the buffer.
                return Pin::new(&mut this.inner).poll_read(cx, out);
            }
            if this.buf.len() < CHUNK {
                this.buf.resize(CHUNK, 0);
            }
            let mut fill = ReadBuf::new(&mut this.buf);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut fill))?;
            let got = fill.filled().len();
            this.start = 0;
            this.end = got;
            this.release_when_drained = got < CHUNK / 2;
        }
        let n = out.remaining().min(this.end - this.start);
        out.put_slice(&this.buf[this.start..this.start + n]);
        this.start += n;
        if this.start == this.end {
            this.start = 0;
            this.end = 0;
            if this.release_when_drained {
                this.buf = Vec::new();
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAhead<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn small_reads_see_every_byte_in_order_and_writes_pass_through() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            b.write_all(&sent).await.unwrap();
            let mut echo = [0u8; 5];
            b.read_exact(&mut echo).await.unwrap();
            echo
        });
        let mut r = ReadAhead::new(a);
        let mut got = Vec::new();
        let mut small = [0u8; 4096];
        while got.len() < data.len() {
            let n = r.read(&mut small).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&small[..n]);
        }
        assert_eq!(got, data);
        assert_eq!(r.buffered(), 0);
        r.write_all(b"hello").await.unwrap();
        assert_eq!(&writer.await.unwrap(), b"hello");
    }

    #[tokio::test]
    async fn an_idle_connection_holds_no_buffer() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut r = ReadAhead::new(a);
        b.write_all(b"ping").await.unwrap();
        let mut small = [0u8; 4096];
        assert_eq!(r.read(&mut small).await.unwrap(), 4);
        assert_eq!(
            r.buf.capacity(),
            0,
            "a drained short read releases its buffer"
        );
        drop(b);
        assert_eq!(r.read(&mut small).await.unwrap(), 0, "EOF passes through");
    }
}
