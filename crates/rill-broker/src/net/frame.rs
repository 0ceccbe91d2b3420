//! Kafka framing: a big-endian `i32` size, then that many bytes of request.
//!
//! A frame is checked whole before anything parses it: a negative size, a size above
//! `socket.request.max.bytes`, or a size too small for a request header is a [`FrameError`]
//! that closes only this connection. Memory per connection is bounded by the max size.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Most memory reserved ahead of bytes actually received.
const READ_CHUNK: usize = 64 * 1024;

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
    /// A socket error.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one whole frame. `Ok(None)` is a clean end of stream between frames.
///
/// # Errors
/// [`FrameError`] for a bad size, a torn frame, or a socket error.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<Option<Bytes>, FrameError> {
    let mut size_buf = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = reader.read(&mut size_buf[got..]).await?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated)
            };
        }
        got += n;
    }
    let size = i32::from_be_bytes(size_buf);
    if size < 0 {
        return Err(FrameError::Negative { size });
    }
    let size = size as usize;
    if size > max {
        return Err(FrameError::TooLarge { size, max });
    }
    if size < MIN_REQUEST_LEN {
        return Err(FrameError::TooShort { size });
    }
    // Grow with what actually arrives: a size prefix alone reserves at most one chunk, so a
    // peer that claims 100 MiB and sends nothing costs 64 KiB, not 100 MiB.
    let mut buf = BytesMut::with_capacity(size.min(READ_CHUNK));
    while buf.len() < size {
        if buf.capacity() == buf.len() {
            buf.reserve((size - buf.len()).min(READ_CHUNK));
        }
        let want = size - buf.len();
        let n = (&mut *reader).take(want as u64).read_buf(&mut buf).await?;
        if n == 0 {
            return Err(FrameError::Truncated);
        }
    }
    Ok(Some(buf.freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8]) -> Result<Option<Bytes>, FrameError> {
        let mut r = bytes;
        read_frame(&mut r, 100).await
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
}
