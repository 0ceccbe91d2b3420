//! A local metadata log file: one record per line, `CRC32C(hex) JSON\n`.
//!
//! Every append is fsynced before it returns, so an acknowledged admin change survives a crash.
//! Replay stops at the first line that is torn or fails its checksum and cuts the file there:
//! such a line was never acknowledged. Not thread-safe by itself; the store serializes writers.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rill_meta::MetadataRecord;

use crate::error::{BrokerError, Result};

/// The open metadata log file.
#[derive(Debug)]
pub struct LocalMetadataLog {
    /// Path of the log file (for error messages).
    path: PathBuf,
    /// The file, positioned at its end.
    file: File,
}

fn io_err(op: &'static str, path: &Path, source: std::io::Error) -> BrokerError {
    BrokerError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn encode_line(record: &MetadataRecord) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(record).map_err(|e| BrokerError::Internal(e.to_string()))?;
    let mut line = format!("{:08x} ", crc32c::crc32c(&json)).into_bytes();
    line.extend_from_slice(&json);
    line.push(b'\n');
    Ok(line)
}

fn decode_line(line: &[u8]) -> Option<MetadataRecord> {
    let text = std::str::from_utf8(line).ok()?;
    let (crc, json) = text.split_once(' ')?;
    let crc = u32::from_str_radix(crc, 16).ok()?;
    if crc32c::crc32c(json.as_bytes()) != crc {
        return None;
    }
    serde_json::from_str(json).ok()
}

impl LocalMetadataLog {
    /// Opens (creating) the log at `path` and returns it with every intact record in order.
    /// A torn or corrupt tail is cut and logged.
    ///
    /// # Errors
    /// I/O errors opening, reading or truncating the file.
    pub fn open(path: &Path) -> Result<(Self, Vec<MetadataRecord>)> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| io_err("open metadata log", path, e))?;
        let mut records = Vec::new();
        let mut good_len: u64 = 0;
        {
            let mut reader = BufReader::new(&mut file);
            let mut line = Vec::new();
            loop {
                line.clear();
                let n = reader
                    .read_until(b'\n', &mut line)
                    .map_err(|e| io_err("read metadata log", path, e))?;
                if n == 0 {
                    break;
                }
                let complete = line.last() == Some(&b'\n');
                match decode_line(line.strip_suffix(b"\n").unwrap_or(&line)) {
                    Some(rec) if complete => {
                        records.push(rec);
                        good_len += n as u64;
                    }
                    _ => break,
                }
            }
        }
        let file_len = file
            .metadata()
            .map_err(|e| io_err("stat metadata log", path, e))?
            .len();
        if file_len > good_len {
            tracing::warn!(
                path = %path.display(),
                cut_bytes = file_len - good_len,
                "metadata log: cut a torn or corrupt tail"
            );
            file.set_len(good_len)
                .map_err(|e| io_err("truncate metadata log", path, e))?;
            file.sync_all()
                .map_err(|e| io_err("fsync metadata log", path, e))?;
        }
        file.seek(SeekFrom::End(0))
            .map_err(|e| io_err("seek metadata log", path, e))?;
        Ok((
            LocalMetadataLog {
                path: path.to_path_buf(),
                file,
            },
            records,
        ))
    }

    /// Appends records and fsyncs them.
    ///
    /// # Errors
    /// I/O errors; the caller must then not apply the records.
    pub fn append(&mut self, records: &[MetadataRecord]) -> Result<()> {
        let mut buf = Vec::new();
        for r in records {
            buf.extend_from_slice(&encode_line(r)?);
        }
        self.file
            .write_all(&buf)
            .map_err(|e| io_err("write metadata log", &self.path, e))?;
        self.file
            .sync_data()
            .map_err(|e| io_err("fsync metadata log", &self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: i64) -> MetadataRecord {
        MetadataRecord::ProducerIdsAllocated {
            next_producer_id: n,
        }
    }

    #[test]
    fn replays_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata.log");
        {
            let (mut log, recs) = LocalMetadataLog::open(&path).unwrap();
            assert!(recs.is_empty());
            log.append(&[rec(1), rec(2)]).unwrap();
            log.append(&[rec(3)]).unwrap();
        }
        // A torn half line, then a line with a bad checksum.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"0000abcd {\"type\":\"Produ").unwrap();
        drop(f);
        let (mut log, recs) = LocalMetadataLog::open(&path).unwrap();
        assert_eq!(recs, vec![rec(1), rec(2), rec(3)]);
        log.append(&[rec(4)]).unwrap();
        drop(log);
        let (_, recs) = LocalMetadataLog::open(&path).unwrap();
        assert_eq!(recs, vec![rec(1), rec(2), rec(3), rec(4)]);
    }

    #[test]
    fn a_flipped_byte_stops_replay_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata.log");
        let (mut log, _) = LocalMetadataLog::open(&path).unwrap();
        log.append(&[rec(1), rec(2)]).unwrap();
        drop(log);
        let mut bytes = std::fs::read(&path).unwrap();
        let second = bytes.iter().position(|b| *b == b'\n').unwrap() + 12;
        bytes[second] ^= 0x01;
        std::fs::write(&path, bytes).unwrap();
        let (_, recs) = LocalMetadataLog::open(&path).unwrap();
        assert_eq!(recs, vec![rec(1)]);
    }
}
