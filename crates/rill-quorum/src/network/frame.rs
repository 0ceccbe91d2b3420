//! The controller-to-controller frame: `[u32 BE length][u8 version][JSON payload]`.
//!
//! `length` counts the version byte and the payload. A frame is read whole (its length checked
//! against [`MAX_FRAME_BYTES`] before anything is allocated) and only then parsed; a bad length,
//! an unknown version or a payload that does not parse is a [`FrameError`], and the caller
//! closes that connection. Stateless functions over any `AsyncRead`/`AsyncWrite`.

use serde::{de::DeserializeOwned, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The frame version this build speaks.
pub const FRAME_VERSION: u8 = 1;
/// The largest frame accepted (a snapshot chunk or a batch of entries fits well below).
pub const MAX_FRAME_BYTES: u32 = 64 << 20;

/// Why a frame was refused.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The socket failed or closed mid-frame.
    #[error("frame i/o: {source}")]
    Io {
        /// The I/O error.
        #[from]
        source: std::io::Error,
    },
    /// The length prefix is zero or over the limit.
    #[error("frame length {length} outside 1..={max}")]
    BadLength {
        /// The length read.
        length: u32,
        /// [`MAX_FRAME_BYTES`].
        max: u32,
    },
    /// The version byte is not one we speak.
    #[error("frame version {version}, expected {expected}")]
    BadVersion {
        /// The version read.
        version: u8,
        /// [`FRAME_VERSION`].
        expected: u8,
    },
    /// The payload is not the JSON we expect.
    #[error("frame payload does not parse: {reason}")]
    BadPayload {
        /// The parser's message.
        reason: String,
    },
}

/// Reads one frame's payload; `Ok(None)` on a clean end of stream before a frame starts.
///
/// # Errors
/// [`FrameError`] for I/O errors, a torn frame, a bad length or version.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Vec<u8>>, FrameError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let length = u32::from_be_bytes(len);
    if length == 0 || length > MAX_FRAME_BYTES {
        return Err(FrameError::BadLength {
            length,
            max: MAX_FRAME_BYTES,
        });
    }
    let mut body = vec![0u8; length as usize];
    r.read_exact(&mut body).await?;
    let version = body[0];
    if version != FRAME_VERSION {
        return Err(FrameError::BadVersion {
            version,
            expected: FRAME_VERSION,
        });
    }
    body.remove(0);
    Ok(Some(body))
}

/// Writes one frame with `payload` and flushes.
///
/// # Errors
/// I/O errors, or [`FrameError::BadLength`] for a payload over the limit.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    payload: &[u8],
) -> Result<(), FrameError> {
    let length = u32::try_from(payload.len() + 1)
        .ok()
        .filter(|l| *l <= MAX_FRAME_BYTES)
        .ok_or(FrameError::BadLength {
            length: u32::MAX,
            max: MAX_FRAME_BYTES,
        })?;
    let mut buf = Vec::with_capacity(payload.len() + 5);
    buf.extend_from_slice(&length.to_be_bytes());
    buf.push(FRAME_VERSION);
    buf.extend_from_slice(payload);
    w.write_all(&buf).await?;
    w.flush().await?;
    Ok(())
}

/// Serializes a message as a frame payload.
///
/// # Errors
/// [`FrameError::BadPayload`] if serde fails (it does not for our message types).
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, FrameError> {
    serde_json::to_vec(value).map_err(|e| FrameError::BadPayload {
        reason: e.to_string(),
    })
}

/// Parses a frame payload.
///
/// # Errors
/// [`FrameError::BadPayload`] for anything that is not the expected JSON.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, FrameError> {
    serde_json::from_slice(payload).map_err(|e| FrameError::BadPayload {
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip_and_bad_frames() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &encode(&vec![1u32, 2]).unwrap())
            .await
            .unwrap();
        let mut r = &buf[..];
        let payload = read_frame(&mut r).await.unwrap().unwrap();
        assert_eq!(decode::<Vec<u32>>(&payload).unwrap(), vec![1, 2]);
        assert!(read_frame(&mut r).await.unwrap().is_none());

        let mut bad_version = buf.clone();
        bad_version[4] = 9;
        let err = read_frame(&mut &bad_version[..]).await.unwrap_err();
        assert!(matches!(err, FrameError::BadVersion { version: 9, .. }));
        let huge = [0xffu8, 0xff, 0xff, 0xff, 1];
        let err = read_frame(&mut &huge[..]).await.unwrap_err();
        assert!(matches!(err, FrameError::BadLength { .. }));
        let zero = [0u8; 4];
        assert!(read_frame(&mut &zero[..]).await.is_err());
        let torn = &buf[..buf.len() - 1];
        assert!(matches!(
            read_frame(&mut &torn[..]).await,
            Err(FrameError::Io { .. })
        ));
        assert!(decode::<Vec<u32>>(b"\x00\xffgarbage").is_err());
    }
}
