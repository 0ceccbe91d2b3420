//! Writes a [`Response`] to a plaintext socket: runs of in-memory chunks with one vectored
//! `sendmsg` (`MSG_MORE` while more of the response follows, so a header and the records
//! after it leave in full packets), file ranges with `sendfile` from the page cache, so record
//! data is never copied through user space.
//!
//! The socket is non-blocking: every syscall runs through tokio's `try_io` on write readiness,
//! so a full socket buffer parks the task, not the worker. A file range is sent in windows of
//! [`WINDOW`] bytes; before each, [`page_cache::is_resident`] checks (without blocking) that
//! the window is cached. If it is not, the window is read with `pread` on the blocking pool
//! and the copy is sent instead, so a cold read never stalls an async worker. The same read
//! path serves transports that cannot `sendfile` (TLS, later).
//!
//! Memory: a response's file ranges cost no buffer; a cold window costs one [`WINDOW`] buffer
//! while it is sent.

use std::fs::File;
use std::io::{self, IoSlice};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use rustix::net::{SendAncillaryBuffer, SendFlags};
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::page_cache;
use super::response::{Chunk, Response};

/// Bytes of a file range sent (or read, when cold) per step.
pub const WINDOW: u64 = 1 << 20;

/// Most in-memory chunks gathered into one `sendmsg`.
const MAX_IOV: usize = 64;

/// What the writers of a broker sent, by path (for tests and metrics).
#[derive(Debug, Default)]
pub struct SendStats {
    /// Bytes sent from memory with vectored writes.
    pub memory_bytes: AtomicU64,
    /// File bytes sent with `sendfile`.
    pub sendfile_bytes: AtomicU64,
    /// File bytes read on the blocking pool (not in the page cache) and sent as a copy.
    pub copied_bytes: AtomicU64,
}

impl SendStats {
    /// (memory, sendfile, copied) bytes so far.
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.memory_bytes.load(Ordering::Relaxed),
            self.sendfile_bytes.load(Ordering::Relaxed),
            self.copied_bytes.load(Ordering::Relaxed),
        )
    }
}

/// Writes the whole response.
///
/// # Errors
/// Socket errors; `UnexpectedEof` if a file range is shorter than promised (a segment cut
/// under the response): the response cannot be finished, so the connection must close.
pub async fn write_response(
    stream: &TcpStream,
    response: &Response,
    stats: &SendStats,
) -> io::Result<()> {
    let chunks = response.chunks();
    let mut i = 0;
    while i < chunks.len() {
        match &chunks[i] {
            Chunk::Bytes(_) => {
                let run = chunks[i..]
                    .iter()
                    .take(MAX_IOV)
                    .take_while(|c| matches!(c, Chunk::Bytes(_)))
                    .count();
                let mut bufs: [&[u8]; MAX_IOV] = [&[]; MAX_IOV];
                for (slot, c) in bufs.iter_mut().zip(&chunks[i..i + run]) {
                    if let Chunk::Bytes(b) = c {
                        *slot = &b[..];
                    }
                }
                let more = i + run < chunks.len();
                let n = write_memory(stream, &bufs[..run], more).await?;
                stats.memory_bytes.fetch_add(n, Ordering::Relaxed);
                i += run;
            }
            Chunk::File(f) => {
                let more = i + 1 < chunks.len();
                write_file(stream, &f.file, f.position, f.len, more, stats).await?;
                i += 1;
            }
        }
    }
    Ok(())
}

/// Writes responses that are wholly in memory (see [`Response::in_memory`]) back to back, with
/// as few vectored `sendmsg`s as 64 slices per call allow. A file range among them is an
/// error (`InvalidInput`) and nothing is sent.
///
/// # Errors
/// Socket errors.
pub async fn write_responses_in_memory(
    stream: &TcpStream,
    responses: &[Response],
    stats: &SendStats,
) -> io::Result<()> {
    let mut bufs: Vec<&[u8]> = Vec::with_capacity(MAX_IOV);
    for chunk in responses.iter().flat_map(|r| r.chunks()) {
        match chunk {
            Chunk::Bytes(b) => bufs.push(&b[..]),
            Chunk::File(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a file range among in-memory responses",
                ))
            }
        }
    }
    for group in bufs.chunks(MAX_IOV) {
        let n = write_memory(stream, group, false).await?;
        stats.memory_bytes.fetch_add(n, Ordering::Relaxed);
    }
    Ok(())
}

/// Sends all of `bufs` with vectored `sendmsg`s; returns the bytes sent.
async fn write_memory(stream: &TcpStream, bufs: &[&[u8]], more: bool) -> io::Result<u64> {
    let total: usize = bufs.iter().map(|b| b.len()).sum();
    let flags = if more {
        SendFlags::NOSIGNAL | SendFlags::MORE
    } else {
        SendFlags::NOSIGNAL
    };
    let mut sent = 0usize;
    while sent < total {
        // The slices still to send (at most MAX_IOV, on the stack), the first one cut by what
        // was sent already.
        let mut skip = sent;
        let mut iov = [IoSlice::new(&[]); MAX_IOV];
        let mut n = 0;
        for b in bufs {
            if skip >= b.len() {
                skip -= b.len();
                continue;
            }
            if n == MAX_IOV {
                break;
            }
            iov[n] = IoSlice::new(&b[skip..]);
            skip = 0;
            n += 1;
        }
        let iov = &iov[..n];
        stream.writable().await?;
        match stream.try_io(Interest::WRITABLE, || {
            rustix::net::sendmsg(stream, iov, &mut SendAncillaryBuffer::default(), flags)
                .map_err(io::Error::from)
        }) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(total as u64)
}

/// Sends `len` bytes of `file` from `position`, window by window: `sendfile` when the window
/// is in the page cache, a `pread` copy made on the blocking pool when it is not.
async fn write_file(
    stream: &TcpStream,
    file: &Arc<File>,
    position: u64,
    len: u64,
    more_after: bool,
    stats: &SendStats,
) -> io::Result<()> {
    let end = position + len;
    let mut pos = position;
    while pos < end {
        let window = (end - pos).min(WINDOW);
        if page_cache::is_resident(file, pos, window) {
            sendfile_window(stream, file, pos, window).await?;
            stats.sendfile_bytes.fetch_add(window, Ordering::Relaxed);
        } else {
            let copy = read_cold(file.clone(), pos, window).await?;
            write_memory(stream, &[&copy], more_after || pos + window < end).await?;
            stats.copied_bytes.fetch_add(window, Ordering::Relaxed);
        }
        pos += window;
    }
    Ok(())
}

async fn sendfile_window(stream: &TcpStream, file: &File, pos: u64, len: u64) -> io::Result<()> {
    let end = pos + len;
    let mut offset = pos;
    while offset < end {
        let count = (end - offset) as usize;
        stream.writable().await?;
        match stream.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(stream, file, Some(&mut offset), count).map_err(io::Error::from)
        }) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "segment file ended inside a fetch response",
                ))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads `len` bytes at `pos` on the blocking pool.
async fn read_cold(file: Arc<File>, pos: u64, len: u64) -> io::Result<Bytes> {
    let read = tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; len as usize];
        file.read_exact_at(&mut buf, pos)?;
        Ok::<_, io::Error>(Bytes::from(buf))
    });
    match read.await {
        Ok(r) => r.map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "segment file ended inside a fetch response",
            ),
            _ => e,
        }),
        Err(e) => Err(io::Error::other(e)),
    }
}
