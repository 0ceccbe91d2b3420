//! Sequential reads of whole batches from a planned segment, in chunks.
//!
//! Reads `CHUNK` bytes at a time with `pread` into one reused buffer; a batch larger than the
//! buffer grows it to that batch (at most [`MAX_BATCH_BYTES`]). Every batch's integrity
//! (magic, length, CRC-32C) is checked before it is handed out: the cleaner never copies a
//! damaged batch into a cleaned segment.
//! Thread-safety: owned by one pass.

use crate::batch::{verify_integrity, BatchHeader, BATCH_HEADER_LEN};
use crate::cleaner::plan::PlannedSegment;
use crate::error::{LogError, Result};
use crate::io;

/// Bytes read per `pread`.
const CHUNK: usize = 1 << 20;
/// Largest batch accepted (a batch is at most `max.message.bytes`, an i32).
pub(crate) const MAX_BATCH_BYTES: usize = i32::MAX as usize;

/// Reads the batches of one segment in order.
pub(crate) struct BatchReader<'a> {
    /// The segment.
    seg: &'a PlannedSegment,
    /// File position of `buf[0]`.
    buf_start: u64,
    /// Bytes read into the buffer.
    buf: &'a mut Vec<u8>,
    /// Position of the next batch.
    pos: u64,
}

impl<'a> BatchReader<'a> {
    /// A reader from position 0, using `buf` as its buffer.
    pub(crate) fn new(seg: &'a PlannedSegment, buf: &'a mut Vec<u8>) -> BatchReader<'a> {
        buf.clear();
        BatchReader {
            seg,
            buf_start: 0,
            buf,
            pos: 0,
        }
    }

    /// Makes `[pos, pos + need)` present in the buffer; returns the bytes read from the file.
    fn ensure(&mut self, need: usize) -> Result<u64> {
        let have_end = self.buf_start + self.buf.len() as u64;
        if self.pos >= self.buf_start && self.pos + need as u64 <= have_end {
            return Ok(0);
        }
        let want = (need.max(CHUNK) as u64).min(self.seg.size - self.pos) as usize;
        self.buf.resize(want, 0);
        let n = io::read_at(&self.seg.file, self.seg.path(), self.pos, self.buf)?;
        self.buf.truncate(n);
        self.buf_start = self.pos;
        if n < need {
            return Err(LogError::corrupt(format!(
                "{} ends inside a batch at position {}",
                self.seg.path().display(),
                self.pos
            )));
        }
        Ok(n as u64)
    }

    /// The next batch (checked) and the file bytes read to get it; `None` at the end.
    ///
    /// # Errors
    /// I/O failures; [`LogError::CorruptBatch`] for a damaged batch.
    pub(crate) fn next_batch(&mut self) -> Result<Option<(&[u8], BatchHeader, u64)>> {
        if self.pos >= self.seg.size {
            return Ok(None);
        }
        if self.seg.size - self.pos < BATCH_HEADER_LEN as u64 {
            return Err(LogError::corrupt(format!(
                "{} ends inside a batch header at position {}",
                self.seg.path().display(),
                self.pos
            )));
        }
        let mut read = self.ensure(BATCH_HEADER_LEN)?;
        let at = (self.pos - self.buf_start) as usize;
        let len = BatchHeader::parse(&self.buf[at..])?.total_len();
        if len > MAX_BATCH_BYTES || self.pos + len as u64 > self.seg.size {
            return Err(LogError::corrupt(format!(
                "batch at position {} of {} declares {len} bytes beyond the segment",
                self.pos,
                self.seg.path().display()
            )));
        }
        read += self.ensure(len)?;
        let at = (self.pos - self.buf_start) as usize;
        let bytes = &self.buf[at..at + len];
        let h = verify_integrity(bytes)?;
        self.pos += len as u64;
        Ok(Some((bytes, h, read)))
    }
}
