//! Kafka's zig-zag varints (protobuf style), bounds-checked.
//!
//! A varint (i32) takes at most 5 bytes and a varlong (i64) at most 10; a longer encoding
//! or one cut short is an error, as in Kafka's `ByteUtils`. Pure functions.

/// A cursor over a byte slice that reads varints and fixed fields without panicking.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cursor<'a> {
    /// The bytes.
    buf: &'a [u8],
    /// Position of the next read.
    pos: usize,
}

/// Why a read failed (turned into a typed error by the caller, who knows the context).
pub(crate) type ReadFail = &'static str;

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor { buf, pos: 0 }
    }

    /// Bytes read so far.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Reads one byte.
    pub(crate) fn byte(&mut self) -> Result<u8, ReadFail> {
        let b = *self.buf.get(self.pos).ok_or("cut short")?;
        self.pos += 1;
        Ok(b)
    }

    /// Reads `n` bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], ReadFail> {
        if n > self.remaining() {
            return Err("length beyond the record");
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Reads an unsigned base-128 number of at most `max_bytes` bytes.
    fn unsigned(&mut self, max_bytes: u32) -> Result<u64, ReadFail> {
        let mut v = 0u64;
        for i in 0..max_bytes {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint is too long")
    }

    /// Reads a zig-zag varint (i32).
    pub(crate) fn varint(&mut self) -> Result<i32, ReadFail> {
        let v = self.unsigned(5)? as u32;
        Ok(((v >> 1) as i32) ^ -((v & 1) as i32))
    }

    /// Reads a zig-zag varlong (i64).
    pub(crate) fn varlong(&mut self) -> Result<i64, ReadFail> {
        let v = self.unsigned(10)?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// Reads a varint length then that many bytes; a negative length is `None` (null).
    pub(crate) fn nullable_bytes(&mut self) -> Result<Option<&'a [u8]>, ReadFail> {
        let len = self.varint()?;
        if len < 0 {
            return Ok(None);
        }
        self.bytes(len as usize).map(Some)
    }
}

/// Appends `v` as a zig-zag varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, v: i32) {
    put_unsigned(out, ((v << 1) ^ (v >> 31)) as u32 as u64);
}

/// Appends `v` as a zig-zag varlong.
pub(crate) fn put_varlong(out: &mut Vec<u8>, v: i64) {
    put_unsigned(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_unsigned(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Encoded size of a zig-zag varint.
pub(crate) fn varint_len(v: i32) -> usize {
    unsigned_len(((v << 1) ^ (v >> 31)) as u32 as u64)
}

/// Encoded size of a zig-zag varlong.
pub(crate) fn varlong_len(v: i64) -> usize {
    unsigned_len(((v << 1) ^ (v >> 63)) as u64)
}

fn unsigned_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_with_the_right_sizes() {
        for v in [0, 1, -1, 63, -64, 64, 300, i32::MAX, i32::MIN] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
            assert_eq!(Cursor::new(&b).varint(), Ok(v));
        }
        for v in [0, -1, i64::from(i32::MAX) + 1, i64::MAX, i64::MIN] {
            let mut b = Vec::new();
            put_varlong(&mut b, v);
            assert_eq!(b.len(), varlong_len(v), "{v}");
            assert_eq!(Cursor::new(&b).varlong(), Ok(v));
        }
        assert_eq!(Cursor::new(&[0x80; 6]).varint(), Err("varint is too long"));
        assert_eq!(Cursor::new(&[0x80]).varint(), Err("cut short"));
        assert_eq!(
            Cursor::new(&[0x02, 1]).nullable_bytes(),
            Ok(Some(&[1u8][..]))
        );
        assert_eq!(Cursor::new(&[0x01]).nullable_bytes(), Ok(None));
        assert!(Cursor::new(&[0x04, 1]).nullable_bytes().is_err());
    }
}
