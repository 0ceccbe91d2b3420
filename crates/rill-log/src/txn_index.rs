//! The aborted-transactions index of a segment (`<base>.txnindex`, Kafka's
//! `TransactionIndex`): one entry per transaction aborted by a marker in that segment, so a
//! read_committed fetch can tell its consumer which producers' records to skip.
//!
//! Entry (34 bytes, Kafka's layout): version `i16` (0), producer id `i64`, first offset `i64`
//! (the transaction's first record in this partition), last offset `i64` (its abort marker),
//! last stable offset `i64` (the partition's first unstable offset right after the marker, or
//! the offset after it: a scan for transactions overlapping `[from, upper)` may stop at an
//! entry whose last stable offset is `>= upper`). Entries are in marker order.
//!
//! Durability: an entry is written and fsynced when its marker is appended, before the
//! marker can be durable, so the index never lacks a durable abort; entries past the log
//! end after a crash are cut when the log opens (`PartitionLog::open`), and truncation cuts
//! them as it cuts the log. A torn tail (not a whole entry) is ignored and overwritten.

use crate::error::{LogError, Result};
use crate::io;
use std::path::{Path, PathBuf};

/// Bytes of one entry.
pub const ENTRY_LEN: usize = 34;

/// One aborted transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AbortedTxn {
    /// Its producer id.
    pub producer_id: i64,
    /// Offset of its first record in the partition.
    pub first_offset: i64,
    /// Offset of its abort marker.
    pub last_offset: i64,
    /// The partition's first unstable offset after the marker (or the marker's offset + 1).
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut b = [0u8; ENTRY_LEN];
        b[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        b[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        b[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        b[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<AbortedTxn> {
        let b: &[u8; ENTRY_LEN] = b.try_into().ok()?;
        if i16::from_be_bytes([b[0], b[1]]) != 0 {
            return None;
        }
        let long = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[at..at + 8]);
            i64::from_be_bytes(a)
        };
        Some(AbortedTxn {
            producer_id: long(2),
            first_offset: long(10),
            last_offset: long(18),
            last_stable_offset: long(26),
        })
    }
}

/// The entries encoded back to back, as the file holds them.
pub(crate) fn encode_all(entries: &[AbortedTxn]) -> Vec<u8> {
    entries.iter().flat_map(|e| e.encode()).collect()
}

/// The index file of the segment based at `base_offset` in `dir`.
pub(crate) fn path_for(dir: &Path, base_offset: i64) -> PathBuf {
    dir.join(format!("{base_offset:020}.txnindex"))
}

/// Every whole entry of the file at `path` (none if it does not exist).
///
/// # Errors
/// I/O failures reading.
pub(crate) fn read_all(path: &Path) -> Result<Vec<AbortedTxn>> {
    let Some(bytes) = io::read_optional(path)? else {
        return Ok(Vec::new());
    };
    Ok(bytes
        .chunks_exact(ENTRY_LEN)
        .filter_map(AbortedTxn::decode)
        .collect())
}

/// Appends `entry` to the file at `path` (created if missing) and fsyncs it.
///
/// # Errors
/// I/O failures.
pub(crate) fn append(path: &Path, entry: &AbortedTxn) -> Result<()> {
    let existed = path.exists();
    let file = io::open_rw(path)?;
    let len = file
        .metadata()
        .map_err(|e| LogError::io("stat", path, e))?
        .len();
    let at = len - len % ENTRY_LEN as u64;
    io::write_at(&file, path, at, &entry.encode())?;
    io::sync_data(&file, path)?;
    if !existed {
        if let Some(dir) = path.parent() {
            io::sync_dir(dir)?;
        }
    }
    Ok(())
}

/// Keeps only the entries whose marker is below `offset` (the file is replaced atomically,
/// or removed when nothing is left). Nothing happens when every entry is below.
///
/// # Errors
/// I/O failures.
pub(crate) fn truncate_from(path: &Path, offset: i64) -> Result<()> {
    let Some(bytes) = io::read_optional(path)? else {
        return Ok(());
    };
    let entries: Vec<AbortedTxn> = bytes
        .chunks_exact(ENTRY_LEN)
        .filter_map(AbortedTxn::decode)
        .collect();
    let kept: Vec<&AbortedTxn> = entries.iter().filter(|e| e.last_offset < offset).collect();
    if kept.len() == entries.len() && bytes.len() % ENTRY_LEN == 0 {
        return Ok(());
    }
    if kept.is_empty() {
        io::remove_if_exists(path)?;
        return match path.parent() {
            Some(dir) => io::sync_dir(dir),
            None => Ok(()),
        };
    }
    let mut out = Vec::with_capacity(kept.len() * ENTRY_LEN);
    for e in kept {
        out.extend_from_slice(&e.encode());
    }
    io::write_atomic(path, &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pid: i64, first: i64, last: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: last + 1,
        }
    }

    #[test]
    fn append_read_truncate_and_torn_tails() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), 0);
        assert!(read_all(&path).unwrap().is_empty());
        append(&path, &entry(1, 0, 5)).unwrap();
        append(&path, &entry(2, 3, 9)).unwrap();
        assert_eq!(
            read_all(&path).unwrap(),
            vec![entry(1, 0, 5), entry(2, 3, 9)]
        );
        // A torn tail is ignored and the next entry goes over it.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[0, 0, 1]);
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read_all(&path).unwrap().len(), 2);
        append(&path, &entry(3, 10, 12)).unwrap();
        assert_eq!(read_all(&path).unwrap().len(), 3);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            3 * ENTRY_LEN as u64
        );
        truncate_from(&path, 9).unwrap();
        assert_eq!(read_all(&path).unwrap(), vec![entry(1, 0, 5)]);
        truncate_from(&path, 0).unwrap();
        assert!(!path.exists());
    }
}
