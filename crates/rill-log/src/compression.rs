//! The record codecs of RecordBatch v2 (attributes bits 0-2), as Kafka's clients write them.
//!
//! - gzip (1): a gzip stream (several members are accepted).
//! - snappy (2): Java's clients write snappy-java's block stream ("xerial" framing: the
//!   16-byte header `\x82SNAPPY\0` + version 1 + compatible version 1, then blocks of
//!   `[u32 BE compressed length][raw snappy block]`); librdkafka writes the same. Reading
//!   also accepts a single raw snappy block, as snappy-java's input stream does.
//! - lz4 (3): the LZ4 frame format; written as Java's `Lz4BlockOutputStream` does (64 KiB
//!   independent blocks, no block or content checksum).
//! - zstd (4): a zstd frame.
//!
//! Decompression never allocates more than the caller's cap (plus one read chunk): a batch
//! that inflates beyond it is an error ([`LogError::CorruptBatch`]), not an allocation. Every
//! function is total: any input gives bytes or a typed error, never a panic.
//! Thread-safety: free functions on caller-owned buffers.

use crate::error::{LogError, Result};
use std::io::{Read, Write};

/// Largest decompressed batch a reader accepts by default (a batch is at most
/// `max.message.bytes` compressed; this bounds what a hostile batch can make us allocate).
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 64 << 20;

/// The snappy-java stream header (magic, version 1, compatible version 1).
const XERIAL_HEADER: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";
/// The part of [`XERIAL_HEADER`] a reader checks (snappy-java checks the magic only).
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
/// Uncompressed bytes per snappy-java block (its default block size).
const XERIAL_BLOCK: usize = 32 * 1024;

/// A RecordBatch v2 compression codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Codec {
    /// No compression (0).
    #[default]
    None,
    /// gzip (1).
    Gzip,
    /// snappy (2).
    Snappy,
    /// lz4 (3).
    Lz4,
    /// zstd (4).
    Zstd,
}

impl Codec {
    /// The codec of attribute bits 0-2.
    ///
    /// # Errors
    /// [`LogError::CorruptBatch`] for the unused values 5-7.
    pub fn from_attributes(attributes: i16) -> Result<Codec> {
        match attributes & 0x07 {
            0 => Ok(Codec::None),
            1 => Ok(Codec::Gzip),
            2 => Ok(Codec::Snappy),
            3 => Ok(Codec::Lz4),
            4 => Ok(Codec::Zstd),
            n => Err(LogError::corrupt(format!("unknown compression codec {n}"))),
        }
    }

    /// The value of attribute bits 0-2.
    pub fn attribute_bits(self) -> i16 {
        match self {
            Codec::None => 0,
            Codec::Gzip => 1,
            Codec::Snappy => 2,
            Codec::Lz4 => 3,
            Codec::Zstd => 4,
        }
    }

    /// Kafka's name (`compression.type` values): none, gzip, snappy, lz4, zstd.
    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip => "gzip",
            Codec::Snappy => "snappy",
            Codec::Lz4 => "lz4",
            Codec::Zstd => "zstd",
        }
    }

    /// The codec a Kafka `compression.type` value names (`uncompressed` and `none` are
    /// [`Codec::None`]); `None` for `producer` or an unknown name.
    pub fn from_name(name: &str) -> Option<Codec> {
        match name {
            "none" | "uncompressed" => Some(Codec::None),
            "gzip" => Some(Codec::Gzip),
            "snappy" => Some(Codec::Snappy),
            "lz4" => Some(Codec::Lz4),
            "zstd" => Some(Codec::Zstd),
            _ => None,
        }
    }

    /// Kafka's default level (`compression.<codec>.level`): gzip 6 (Deflater's default for
    /// Kafka's -1), lz4 9, zstd 3; 0 for the codecs without levels.
    pub fn default_level(self) -> i32 {
        match self {
            Codec::Gzip => 6,
            Codec::Lz4 => 9,
            Codec::Zstd => 3,
            Codec::None | Codec::Snappy => 0,
        }
    }
}

/// Appends `input` compressed with `codec` at `level` (`None`: Kafka's default) to `out`.
///
/// # Errors
/// [`LogError::InvalidBatch`] if the codec library fails (it does not on valid levels).
pub fn compress_into(
    codec: Codec,
    level: Option<i32>,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    let level = level.unwrap_or(codec.default_level());
    let fail =
        |e: std::io::Error| LogError::invalid(format!("{} compression failed: {e}", codec.name()));
    match codec {
        Codec::None => out.extend_from_slice(input),
        Codec::Gzip => {
            let lvl = flate2::Compression::new(level.clamp(1, 9) as u32);
            let mut enc = flate2::write::GzEncoder::new(out, lvl);
            enc.write_all(input).map_err(fail)?;
            enc.finish().map_err(fail)?;
        }
        Codec::Snappy => snappy_xerial_compress(input, out)?,
        Codec::Lz4 => {
            let mut enc = lz4::EncoderBuilder::new()
                .level(level.clamp(1, 16) as u32)
                .block_size(lz4::BlockSize::Max64KB)
                .block_mode(lz4::BlockMode::Independent)
                .block_checksum(lz4::liblz4::BlockChecksum::NoBlockChecksum)
                .checksum(lz4::ContentChecksum::NoChecksum)
                .build(out)
                .map_err(fail)?;
            enc.write_all(input).map_err(fail)?;
            let (_, r) = enc.finish();
            r.map_err(fail)?;
        }
        Codec::Zstd => {
            let lvl = level.clamp(*zstd::compression_level_range().start(), 22);
            zstd_contexts::compress(input, lvl, out).map_err(fail)?;
        }
    }
    Ok(())
}

/// snappy-java's block stream: header, then `[u32 BE len][raw block]` per 32 KiB of input.
fn snappy_xerial_compress(input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    out.extend_from_slice(XERIAL_HEADER);
    let mut enc = snap::raw::Encoder::new();
    for chunk in input.chunks(XERIAL_BLOCK) {
        let at = out.len();
        out.resize(at + 4 + snap::raw::max_compress_len(chunk.len()), 0);
        let n = enc
            .compress(chunk, &mut out[at + 4..])
            .map_err(|e| LogError::invalid(format!("snappy compression failed: {e}")))?;
        out[at..at + 4].copy_from_slice(&(n as u32).to_be_bytes());
        out.truncate(at + 4 + n);
    }
    Ok(())
}

/// Replaces the content of `out` with `input` decompressed by `codec`, failing if that
/// would exceed `max_bytes`. `out` is reused so a reader of many batches allocates once.
///
/// # Errors
/// [`LogError::CorruptBatch`] for bytes the codec rejects or output beyond `max_bytes`.
pub fn decompress_into(
    codec: Codec,
    input: &[u8],
    out: &mut Vec<u8>,
    max_bytes: usize,
) -> Result<()> {
    out.clear();
    match codec {
        Codec::None => {
            if input.len() > max_bytes {
                return Err(too_large(max_bytes));
            }
            out.extend_from_slice(input);
            Ok(())
        }
        Codec::Gzip => read_capped(
            flate2::read::MultiGzDecoder::new(input),
            codec,
            out,
            max_bytes,
        ),
        Codec::Snappy => snappy_decompress(input, out, max_bytes),
        Codec::Lz4 => {
            let dec = lz4::Decoder::new(input).map_err(|e| codec_error(codec, &e))?;
            read_capped(dec, codec, out, max_bytes)
        }
        Codec::Zstd => zstd_contexts::decompress(input, out, max_bytes),
    }
}

/// zstd contexts kept per thread: making one per batch (hundreds of KiB each) cost more
/// than the work on a small batch (the cleaner rewrites batch after batch).
mod zstd_contexts {
    use super::{read_capped, Codec};
    use crate::error::Result;
    use std::cell::RefCell;
    use zstd::zstd_safe::{DCtx, ResetDirective};

    thread_local! {
        static DECODER: RefCell<Option<DCtx<'static>>> = const { RefCell::new(None) };
        static ENCODER: RefCell<Option<(zstd::bulk::Compressor<'static>, Vec<u8>)>> = const { RefCell::new(None) };
    }

    /// Decompresses every frame of `input` into `out`, at most `max_bytes`.
    pub(super) fn decompress(input: &[u8], out: &mut Vec<u8>, max_bytes: usize) -> Result<()> {
        DECODER.with(|cell| {
            let mut slot = cell.borrow_mut();
            let ctx = slot.get_or_insert_with(DCtx::create);
            let _ = ctx.reset(ResetDirective::SessionOnly);
            let dec = zstd::stream::read::Decoder::with_context(input, ctx);
            read_capped(dec, Codec::Zstd, out, max_bytes)
        })
    }

    /// Appends `input` compressed at `level` as one frame to `out`.
    pub(super) fn compress(input: &[u8], level: i32, out: &mut Vec<u8>) -> std::io::Result<()> {
        ENCODER.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.is_none() {
                *slot = Some((zstd::bulk::Compressor::new(level)?, Vec::new()));
            }
            let Some((enc, buf)) = slot.as_mut() else {
                return Err(std::io::Error::other("zstd context missing"));
            };
            enc.set_compression_level(level)?;
            buf.clear();
            buf.reserve(zstd::zstd_safe::compress_bound(input.len()));
            enc.compress_to_buffer(input, buf)?;
            out.extend_from_slice(buf);
            Ok(())
        })
    }
}

fn too_large(max_bytes: usize) -> LogError {
    LogError::corrupt(format!("batch decompresses to more than {max_bytes} bytes"))
}

fn codec_error(codec: Codec, e: &dyn std::fmt::Display) -> LogError {
    LogError::corrupt(format!("{} data does not decompress: {e}", codec.name()))
}

/// Reads `r` to its end into `out`, at most `max_bytes` (one more byte read proves excess).
fn read_capped(r: impl Read, codec: Codec, out: &mut Vec<u8>, max_bytes: usize) -> Result<()> {
    let limit = (max_bytes as u64).saturating_add(1);
    r.take(limit)
        .read_to_end(out)
        .map_err(|e| codec_error(codec, &e))?;
    if out.len() > max_bytes {
        return Err(too_large(max_bytes));
    }
    Ok(())
}

/// snappy-java's block stream, or one raw snappy block when the magic is absent.
fn snappy_decompress(input: &[u8], out: &mut Vec<u8>, max_bytes: usize) -> Result<()> {
    if !input.starts_with(XERIAL_MAGIC) {
        return snappy_block(input, out, max_bytes);
    }
    if input.len() < XERIAL_HEADER.len() {
        return Err(LogError::corrupt("snappy stream header is cut short"));
    }
    let mut rest = &input[XERIAL_HEADER.len()..];
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(LogError::corrupt("snappy block length is cut short"));
        };
        let len = u32::from_be_bytes(*len) as usize;
        if len > tail.len() {
            return Err(LogError::corrupt(format!(
                "snappy block declares {len} bytes, {} remain",
                tail.len()
            )));
        }
        snappy_block(&tail[..len], out, max_bytes)?;
        rest = &tail[len..];
    }
    Ok(())
}

/// Appends one raw snappy block's content to `out`, keeping `out` within `max_bytes`.
fn snappy_block(block: &[u8], out: &mut Vec<u8>, max_bytes: usize) -> Result<()> {
    let n = snap::raw::decompress_len(block).map_err(|e| codec_error(Codec::Snappy, &e))?;
    let at = out.len();
    if n > max_bytes.saturating_sub(at) {
        return Err(too_large(max_bytes));
    }
    out.resize(at + n, 0);
    let got = snap::raw::Decoder::new()
        .decompress(block, &mut out[at..])
        .map_err(|e| codec_error(Codec::Snappy, &e))?;
    out.truncate(at + got);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Codec; 5] = [
        Codec::None,
        Codec::Gzip,
        Codec::Snappy,
        Codec::Lz4,
        Codec::Zstd,
    ];

    #[test]
    fn every_codec_round_trips_and_respects_the_cap() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        for codec in ALL {
            let mut z = Vec::new();
            compress_into(codec, None, &data, &mut z).unwrap();
            let mut back = Vec::new();
            decompress_into(codec, &z, &mut back, data.len()).unwrap();
            assert_eq!(back, data, "{codec:?}");
            let err = decompress_into(codec, &z, &mut back, data.len() - 1);
            assert!(
                matches!(err, Err(LogError::CorruptBatch { .. })),
                "{codec:?}"
            );
            assert_eq!(
                Codec::from_attributes(codec.attribute_bits()).unwrap(),
                codec
            );
            assert_eq!(Codec::from_name(codec.name()), Some(codec));
        }
        assert!(Codec::from_attributes(5).is_err());
    }

    #[test]
    fn raw_snappy_is_read_too() {
        let data = b"hello hello hello snappy".repeat(50);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        let mut back = Vec::new();
        decompress_into(Codec::Snappy, &raw, &mut back, 1 << 20).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn xerial_stream_starts_with_snappy_java_header() {
        let mut z = Vec::new();
        compress_into(Codec::Snappy, None, b"abc", &mut z).unwrap();
        assert_eq!(&z[..16], XERIAL_HEADER);
    }

    proptest::proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let mut out = Vec::new();
            for codec in ALL {
                let _ = decompress_into(codec, &bytes, &mut out, 4096);
                let mut framed = XERIAL_HEADER.to_vec();
                framed.extend_from_slice(&bytes);
                let _ = decompress_into(Codec::Snappy, &framed, &mut out, 4096);
            }
        }
    }
}
