//! The durable Raft log of one controller: `raft.log` plus the `vote` and `purged` files.
//!
//! On-disk format of `raft.log`: a sequence of frames `[u32 LE payload length][u32 LE
//! CRC32C(payload)][payload]`, each payload one openraft entry as JSON, indexes consecutive.
//! Open reads every frame and cuts the file at the first torn, corrupt or out-of-sequence frame (it was never
//! acknowledged, since acknowledging waits for the fsync). `vote` and `purged` are atomic state
//! files (see `state_file`). Entries up to `purged` are dropped at open: a snapshot covers them.
//!
//! Every mutation is fsynced before it returns: `append` before the caller acknowledges,
//! `save_vote` before a vote is granted. `purge` first records the purge point, then rewrites
//! the log without the purged prefix (tmp file, fsync, rename). All entries are also kept in
//! memory (the metadata log is small and compacted by snapshots). Not thread-safe by itself:
//! the log store wraps it in a mutex.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::state_file::{read_state, sync_dir, write_state};
use crate::types::{Entry, LogId, Vote};
use crate::{QuorumError, Result};

const LOG_NAME: &str = "raft.log";
const VOTE_NAME: &str = "vote";
const PURGED_NAME: &str = "purged";
/// A frame larger than this is treated as corruption (the metadata log never writes one).
const MAX_FRAME_BYTES: usize = 64 << 20;

/// The open log of one controller.
#[derive(Debug)]
pub(crate) struct LogFile {
    /// The directory holding the log and its state files.
    dir: PathBuf,
    /// `raft.log`, opened for appending.
    file: File,
    /// Entries by index, each with the file offset of its frame (for truncation).
    entries: BTreeMap<u64, (u64, Entry)>,
    /// Length of `raft.log` in bytes.
    file_len: u64,
    /// The last purged log id (covered by a snapshot).
    pub(crate) purged: Option<LogId>,
    /// The last saved vote.
    pub(crate) vote: Option<Vote>,
}

fn encode(entry: &Entry, path: &Path) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(entry).map_err(|e| QuorumError::Corrupt {
        path: path.to_path_buf(),
        reason: format!("cannot serialize entry: {e}"),
    })?;
    let len = u32::try_from(json.len()).map_err(|_| QuorumError::Corrupt {
        path: path.to_path_buf(),
        reason: "entry too large".into(),
    })?;
    let mut frame = Vec::with_capacity(json.len() + 8);
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(&crc32c::crc32c(&json).to_le_bytes());
    frame.extend_from_slice(&json);
    Ok(frame)
}

/// Decodes the frame at the start of `bytes`: the entry and the frame length, or `None`.
fn decode(bytes: &[u8]) -> Option<(Entry, usize)> {
    let len = u32::from_le_bytes(bytes.get(0..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?);
    if len > MAX_FRAME_BYTES {
        return None;
    }
    let payload = bytes.get(8..8 + len)?;
    if crc32c::crc32c(payload) != crc {
        return None;
    }
    let entry = serde_json::from_slice(payload).ok()?;
    Some((entry, 8 + len))
}

impl LogFile {
    /// Opens (creating) the log in `dir`, cutting a torn tail.
    ///
    /// # Errors
    /// I/O errors or corrupt state files.
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| QuorumError::io("create dir", dir, e))?;
        let path = dir.join(LOG_NAME);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| QuorumError::io("open", &path, e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| QuorumError::io("read", &path, e))?;
        let purged: Option<LogId> = read_state(dir, PURGED_NAME)?;
        let mut entries = BTreeMap::new();
        let mut pos = 0usize;
        while let Some((entry, n)) = bytes.get(pos..).and_then(decode) {
            let index = entry.log_id.index;
            if let Some((&last, _)) = entries.last_key_value() {
                if index != last + 1 {
                    tracing::warn!(path = %path.display(), index, last,
                        "raft log: a frame out of sequence ends the log");
                    break;
                }
            }
            entries.insert(index, (pos as u64, entry));
            pos += n;
        }
        if pos < bytes.len() {
            tracing::warn!(path = %path.display(), cut_bytes = bytes.len() - pos,
                "raft log: cut a torn or corrupt tail");
            file.set_len(pos as u64)
                .and_then(|()| file.sync_all())
                .map_err(|e| QuorumError::io("truncate", &path, e))?;
        }
        if let Some(p) = purged {
            entries.retain(|&i, _| i > p.index);
        }
        Ok(LogFile {
            dir: dir.to_path_buf(),
            file,
            entries,
            file_len: pos as u64,
            purged,
            vote: read_state(dir, VOTE_NAME)?,
        })
    }

    /// The last log id: of the last entry, else the purge point.
    pub(crate) fn last_log_id(&self) -> Option<LogId> {
        self.entries
            .last_key_value()
            .map(|(_, (_, e))| e.log_id)
            .or(self.purged)
    }

    /// Clones the entries whose index is in `range`.
    pub(crate) fn read(&self, range: impl std::ops::RangeBounds<u64>) -> Vec<Entry> {
        self.entries
            .range(range)
            .map(|(_, (_, e))| e.clone())
            .collect()
    }

    /// Appends entries and fsyncs them.
    ///
    /// # Errors
    /// I/O errors; nothing is then acknowledged and the in-memory log is unchanged.
    pub(crate) fn append(&mut self, new: Vec<Entry>) -> Result<()> {
        let path = self.dir.join(LOG_NAME);
        let mut buf = Vec::new();
        let mut offsets = Vec::with_capacity(new.len());
        for e in &new {
            offsets.push(self.file_len + buf.len() as u64);
            buf.extend_from_slice(&encode(e, &path)?);
        }
        self.file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| QuorumError::io("append", &path, e))?;
        self.file_len += buf.len() as u64;
        for (e, off) in new.into_iter().zip(offsets) {
            self.entries.insert(e.log_id.index, (off, e));
        }
        Ok(())
    }

    /// Removes the entries from `index` on (a conflicting suffix) and fsyncs.
    ///
    /// # Errors
    /// I/O errors.
    pub(crate) fn truncate(&mut self, index: u64) -> Result<()> {
        let Some((&first, &(offset, _))) = self.entries.range(index..).next() else {
            return Ok(());
        };
        let path = self.dir.join(LOG_NAME);
        self.file
            .set_len(offset)
            .and_then(|()| self.file.sync_all())
            .map_err(|e| QuorumError::io("truncate", &path, e))?;
        self.file_len = offset;
        self.entries.split_off(&first);
        Ok(())
    }

    /// Drops the entries up to and including `log_id`, durably.
    ///
    /// # Errors
    /// I/O errors; the log is then still readable (the purge point may already be saved).
    pub(crate) fn purge(&mut self, log_id: LogId) -> Result<()> {
        write_state(&self.dir, PURGED_NAME, &log_id)?;
        self.purged = Some(log_id);
        self.entries = self.entries.split_off(&(log_id.index + 1));
        let path = self.dir.join(LOG_NAME);
        let tmp = self.dir.join(format!("{LOG_NAME}.tmp"));
        let mut buf = Vec::new();
        let mut kept = BTreeMap::new();
        for (i, (_, e)) in std::mem::take(&mut self.entries) {
            let off = buf.len() as u64;
            buf.extend_from_slice(&encode(&e, &path)?);
            kept.insert(i, (off, e));
        }
        let mut f = File::create(&tmp).map_err(|e| QuorumError::io("create", &tmp, e))?;
        f.write_all(&buf)
            .and_then(|()| f.sync_all())
            .map_err(|e| QuorumError::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| QuorumError::io("rename", &path, e))?;
        sync_dir(&self.dir)?;
        self.file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| QuorumError::io("reopen", &path, e))?;
        self.file_len = buf.len() as u64;
        self.entries = kept;
        Ok(())
    }

    /// Saves the vote durably.
    ///
    /// # Errors
    /// I/O errors; the vote must then not be granted.
    pub(crate) fn save_vote(&mut self, vote: Vote) -> Result<()> {
        write_state(&self.dir, VOTE_NAME, &vote)?;
        self.vote = Some(vote);
        Ok(())
    }
}

#[cfg(test)]
#[path = "log_file_tests.rs"]
mod tests;
