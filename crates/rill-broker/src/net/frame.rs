//! Kafka framing: a big-endian `i32` size, then that many bytes of request.
//!
//! A frame is checked whole before anything parses it: a negative size, a size above
//! `socket.request.max.bytes`, or a size too small for a request header is a [`FrameError`]
//! that closes only this connection. A connection's reader reuses one buffer (see
//! [`FrameReader`]).

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Room reserved for reads beyond the current frame.
const READ_CHUNK: usize = 64 * 1024;

/// Below this much free room the buffer grows before the next read.
const MIN_ROOM: usize = 4 * 1024;

/// Smallest possible request: api key, api version, correlation id, client id length.
pub const MIN_REQUEST_LEN: usize = 10;

/// Why a frame was refused.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The size prefix is negative.
    #[error("negative frame size {size}")]
    Negative {
        /// The size read.
        size: i32,
    },
    /// The size prefix is larger than `socket.request.max.bytes`.
    #[error("frame of {size} bytes exceeds socket.request.max.bytes={max}")]
    TooLarge {
        /// The size read.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Too small to hold a request header.
    #[error("frame of {size} bytes is too short for a request header")]
    TooShort {
        /// The size read.
        size: usize,
    },
    /// The peer closed the connection in the middle of a frame.
    #[error("connection closed mid-frame")]
    Truncated,
    /// The peer reset the connection between two requests: a client going away, not a bad
    /// frame (librdkafka, for one, resets idle connections it closes with unread data).
    #[error("connection reset by the peer between requests")]
    ResetBetweenRequests,
    /// A socket error.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
}

impl FrameError {
    /// Whether this is an ordinary end of the connection by the client rather than
    /// something wrong with what it sent (logged at debug, not as a warning).
    pub fn is_client_gone(&self) -> bool {
        matches!(self, FrameError::ResetBetweenRequests)
    }
}

/// Whether `e` says the peer dropped the connection (reset or aborted).
fn is_reset(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
    )
}

/// Reads frames from one connection into a buffer that is reused: bytes arrive in as few
/// reads as possible (several small frames per read), and each frame is split off the buffer
/// without a copy. Once every frame split off an allocation is dropped, the next frames are
/// read into the same allocation again, so a steady stream of requests allocates nothing.
///
/// Reading is two-phase, so a caller can wait for memory between the size and the body:
/// [`FrameReader::next_size`], then [`FrameReader::read_body`].
#[derive(Debug)]
pub struct FrameReader<R> {
    /// The socket (or any byte source).
    reader: R,
    /// Bytes read and not yet handed out.
    buf: BytesMut,
    /// `socket.request.max.bytes`.
    max: usize,
    /// The smallest frame: a request header.
    min: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader of frames of at most `max` bytes.
    pub fn new(reader: R, max: usize) -> Self {
        FrameReader {
            reader,
            buf: BytesMut::new(),
            max,
            min: MIN_REQUEST_LEN,
        }
    }

    /// Reads and checks the next frame's size prefix. `Ok(None)` is a clean end of stream
    /// between frames.
    ///
    /// # Errors
    /// [`FrameError`] for a bad size, a torn prefix, or a socket error.
    pub async fn next_size(&mut self) -> Result<Option<usize>, FrameError> {
        let (min, max) = (self.min, self.max);
        self.next_size_within(|| (min, max)).await
    }

    /// [`FrameReader::next_size`] with the limits `limits` gives once the prefix has arrived
    /// (a connection's limits change when its SASL authentication completes, which may be
    /// after this read began).
    ///
    /// # Errors
    /// As [`FrameReader::next_size`].
    pub async fn next_size_within(
        &mut self,
        limits: impl FnOnce() -> (usize, usize),
    ) -> Result<Option<usize>, FrameError> {
        while self.buf.len() < 4 {
            let read = match self.fill(4 - self.buf.len()).await {
                Err(FrameError::Io(e)) if is_reset(&e) && self.buf.is_empty() => {
                    return Err(FrameError::ResetBetweenRequests)
                }
                read => read?,
            };
            if read == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(FrameError::Truncated)
                };
            }
        }
        let size = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        if size < 0 {
            return Err(FrameError::Negative { size });
        }
        let size = size as usize;
        let (min, max) = limits();
        if size > max {
            return Err(FrameError::TooLarge { size, max });
        }
        if size < min {
            return Err(FrameError::TooShort { size });
        }
        Ok(Some(size))
    }

    /// Reads the body of the frame whose size [`FrameReader::next_size`] returned.
    ///
    /// # Errors
    /// [`FrameError::Truncated`] if the peer closes first, socket errors.
    pub async fn read_body(&mut self, size: usize) -> Result<Bytes, FrameError> {
        let whole = 4 + size;
        while self.buf.len() < whole {
            if self.fill(whole - self.buf.len()).await? == 0 {
                return Err(FrameError::Truncated);
            }
        }
        let mut frame = self.buf.split_to(whole);
        let _ = frame.split_to(4);
        Ok(frame.freeze())
    }

    /// One read into the buffer, making room for at least `want` more bytes first (and for
    /// [`READ_CHUNK`], so small frames arrive several per read). Room for a whole body is
    /// reserved at once: the caller has counted it against `queued.max.request.bytes`
    /// already, and the allocator hands out pages only as bytes are written into them.
    async fn fill(&mut self, want: usize) -> Result<usize, FrameError> {
        let room = self.buf.capacity() - self.buf.len();
        if room < want || room < MIN_ROOM {
            self.buf.reserve(want.max(READ_CHUNK));
        }
        Ok(self.reader.read_buf(&mut self.buf).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8]) -> Result<Option<Bytes>, FrameError> {
        let mut frames = FrameReader::new(bytes, 100);
        match frames.next_size().await? {
            None => Ok(None),
            Some(size) => frames.read_body(size).await.map(Some),
        }
    }

    #[tokio::test]
    async fn frames_are_checked_before_parsing() {
        assert!(read(&[]).await.unwrap().is_none());
        let mut ok = 12i32.to_be_bytes().to_vec();
        ok.extend_from_slice(&[7; 12]);
        assert_eq!(read(&ok).await.unwrap().unwrap().len(), 12);
        assert!(matches!(read(&[0, 0]).await, Err(FrameError::Truncated)));
        assert!(matches!(
            read(&(-1i32).to_be_bytes()).await,
            Err(FrameError::Negative { .. })
        ));
        assert!(matches!(
            read(&101i32.to_be_bytes()).await,
            Err(FrameError::TooLarge { .. })
        ));
        assert!(matches!(
            read(&3i32.to_be_bytes()).await,
            Err(FrameError::TooShort { .. })
        ));
        assert!(matches!(read(&ok[..10]).await, Err(FrameError::Truncated)));
    }

    /// Yields `data`, then fails with a connection reset.
    struct ResetAfter(&'static [u8]);

    impl AsyncRead for ResetAfter {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            if self.0.is_empty() {
                let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
                return std::task::Poll::Ready(Err(reset));
            }
            let n = self.0.len().min(buf.remaining());
            buf.put_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_reset_between_requests_is_the_client_leaving_and_mid_frame_is_not() {
        const WHOLE: &[u8] = &[0, 0, 0, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        let mut frames = FrameReader::new(ResetAfter(WHOLE), 100);
        let size = frames.next_size().await.unwrap().unwrap();
        assert_eq!(frames.read_body(size).await.unwrap().len(), 10);
        let gone = frames.next_size().await.unwrap_err();
        assert!(gone.is_client_gone(), "{gone}");

        let mut torn = FrameReader::new(ResetAfter(&WHOLE[..2]), 100);
        let e = torn.next_size().await.unwrap_err();
        assert!(matches!(e, FrameError::Io(_)) && !e.is_client_gone(), "{e}");
        let mut torn = FrameReader::new(ResetAfter(&WHOLE[..6]), 100);
        let size = torn.next_size().await.unwrap().unwrap();
        let e = torn.read_body(size).await.unwrap_err();
        assert!(!e.is_client_gone(), "{e}");
    }

    #[tokio::test]
    async fn frames_read_together_come_out_whole_and_in_order() {
        let mut wire = Vec::new();
        for i in 0..50u8 {
            let len = 10 + usize::from(i);
            wire.extend_from_slice(&(len as i32).to_be_bytes());
            wire.extend(std::iter::repeat_n(i, len));
        }
        let mut frames = FrameReader::new(&wire[..], 1000);
        for i in 0..50u8 {
            let size = frames.next_size().await.unwrap().unwrap();
            let body = frames.read_body(size).await.unwrap();
            assert_eq!(body.len(), 10 + usize::from(i));
            assert!(body.iter().all(|b| *b == i));
        }
        assert!(frames.next_size().await.unwrap().is_none());
    }
}
