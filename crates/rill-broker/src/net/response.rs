//! A response on its way to the socket: a list of chunks, each bytes in memory or a range of
//! a log segment file, so record data can go from the page cache to the socket with
//! `sendfile` (see [`super::send`]) instead of being copied through a buffer.
//!
//! A [`Response`] is a whole frame: the first chunk starts with the 4-byte size prefix.

use bytes::{Bytes, BytesMut};
use rill_log::FileSlice;

/// One piece of a response.
#[derive(Debug, Clone)]
pub enum Chunk {
    /// Bytes in memory (headers, small fields, copied records).
    Bytes(Bytes),
    /// A range of a segment file (whole record batches).
    File(FileSlice),
}

impl Chunk {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Chunk::Bytes(b) => b.len() as u64,
            Chunk::File(f) => f.len,
        }
    }

    /// Whether the chunk is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A whole response frame as chunks, in order.
#[derive(Debug, Clone, Default)]
pub struct Response {
    /// The chunks; none is empty.
    chunks: Vec<Chunk>,
}

impl Response {
    /// A response held in one buffer (size prefix included).
    pub fn from_bytes(frame: Bytes) -> Response {
        let mut r = Response::default();
        if !frame.is_empty() {
            r.chunks.push(Chunk::Bytes(frame));
        }
        r
    }

    /// The chunks in order.
    pub fn chunks(&self) -> &[Chunk] {
        &self.chunks
    }

    /// Total length in bytes, size prefix included.
    pub fn len(&self) -> u64 {
        self.chunks.iter().map(Chunk::len).sum()
    }

    /// Whether the response has no bytes.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Whether every chunk is in memory (no file range).
    pub fn in_memory(&self) -> bool {
        self.chunks.iter().all(|c| matches!(c, Chunk::Bytes(_)))
    }

    /// Bytes held in memory (the file ranges are not).
    pub fn memory_bytes(&self) -> u64 {
        self.chunks
            .iter()
            .map(|c| match c {
                Chunk::Bytes(b) => b.len() as u64,
                Chunk::File(_) => 0,
            })
            .sum()
    }
}

/// Builds a [`Response`] from bytes and file ranges appended in order; consecutive bytes are
/// gathered into one buffer.
#[derive(Debug, Default)]
pub struct ResponseBuilder {
    /// Finished chunks.
    chunks: Vec<Chunk>,
    /// Bytes not yet closed into a chunk.
    pending: BytesMut,
}

impl ResponseBuilder {
    /// An empty builder whose first buffer has room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> ResponseBuilder {
        ResponseBuilder {
            chunks: Vec::new(),
            pending: BytesMut::with_capacity(capacity),
        }
    }

    /// Appends bytes.
    pub fn put_slice(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// Appends a shared buffer without copying it when it is large.
    pub fn put_bytes(&mut self, bytes: Bytes) {
        if bytes.len() < 4096 {
            self.put_slice(&bytes);
        } else if !bytes.is_empty() {
            self.close_pending();
            self.chunks.push(Chunk::Bytes(bytes));
        }
    }

    /// Appends a file range.
    pub fn put_file(&mut self, slice: FileSlice) {
        if slice.len > 0 {
            self.close_pending();
            self.chunks.push(Chunk::File(slice));
        }
    }

    fn close_pending(&mut self) {
        if !self.pending.is_empty() {
            let rest = self.pending.split_off(self.pending.len());
            let done = std::mem::replace(&mut self.pending, rest);
            self.chunks.push(Chunk::Bytes(done.freeze()));
        }
    }

    /// The response.
    pub fn finish(mut self) -> Response {
        self.close_pending();
        Response {
            chunks: self.chunks,
        }
    }
}
