//! Small state files written atomically: the vote, the purge point, the snapshot.
//!
//! On-disk format: `CRC32C(hex, 8 chars) SPACE JSON` in one file. A write goes to `NAME.tmp`,
//! is fsynced, renamed over `NAME`, and the directory is fsynced, so a reader sees the old or
//! the new content, never a mix. A file whose checksum fails is reported as corrupt (a rename
//! cannot tear it). Not thread-safe by itself: callers serialize writers per file.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use serde::{de::DeserializeOwned, Serialize};

use crate::{QuorumError, Result};

/// Writes `value` to `dir/name` atomically and durably.
///
/// # Errors
/// I/O errors; the old content is then still in place.
pub(crate) fn write_state<T: Serialize>(dir: &Path, name: &str, value: &T) -> Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let json = serde_json::to_vec(value).map_err(|e| QuorumError::Corrupt {
        path: path.clone(),
        reason: format!("cannot serialize: {e}"),
    })?;
    let mut content = format!("{:08x} ", crc32c::crc32c(&json)).into_bytes();
    content.extend_from_slice(&json);
    let mut f = File::create(&tmp).map_err(|e| QuorumError::io("create", &tmp, e))?;
    f.write_all(&content)
        .map_err(|e| QuorumError::io("write", &tmp, e))?;
    f.sync_all()
        .map_err(|e| QuorumError::io("fsync", &tmp, e))?;
    drop(f);
    fs::rename(&tmp, &path).map_err(|e| QuorumError::io("rename", &path, e))?;
    sync_dir(dir)
}

/// Reads `dir/name`; `None` when it does not exist.
///
/// # Errors
/// I/O errors, or [`QuorumError::Corrupt`] for a bad checksum or JSON.
pub(crate) fn read_state<T: DeserializeOwned>(dir: &Path, name: &str) -> Result<Option<T>> {
    let path = dir.join(name);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(QuorumError::io("read", &path, e)),
    };
    let corrupt = |reason: &str| QuorumError::Corrupt {
        path: path.clone(),
        reason: reason.to_string(),
    };
    let (crc, json) = match (bytes.get(..8), bytes.get(9..)) {
        (Some(crc), Some(json)) => (crc, json),
        _ => return Err(corrupt("too short")),
    };
    let crc = std::str::from_utf8(crc)
        .ok()
        .and_then(|c| u32::from_str_radix(c, 16).ok())
        .ok_or_else(|| corrupt("bad checksum field"))?;
    if crc32c::crc32c(json) != crc {
        return Err(corrupt("checksum mismatch"));
    }
    serde_json::from_slice(json)
        .map(Some)
        .map_err(|e| corrupt(&format!("bad JSON: {e}")))
}

/// Fsyncs a directory so that renames and creations in it are durable.
///
/// # Errors
/// I/O errors.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| QuorumError::io("fsync dir", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_state::<u64>(dir.path(), "x").unwrap(), None);
        write_state(dir.path(), "x", &42u64).unwrap();
        assert_eq!(read_state::<u64>(dir.path(), "x").unwrap(), Some(42));
        let p = dir.path().join("x");
        let mut bytes = fs::read(&p).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&p, bytes).unwrap();
        assert!(matches!(
            read_state::<u64>(dir.path(), "x"),
            Err(QuorumError::Corrupt { .. })
        ));
        fs::write(&p, b"zz").unwrap();
        assert!(read_state::<u64>(dir.path(), "x").is_err());
    }
}
