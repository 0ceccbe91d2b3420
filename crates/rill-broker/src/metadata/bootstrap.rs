//! Records `rill format` puts in a new node's metadata before its first start (SCRAM users
//! from `--add-scram`), Kafka's `bootstrap.checkpoint`.
//!
//! A lone node (no `controller.quorum.voters`) gets them appended to its local metadata log
//! at format time: the first start replays them like any other change. A node of a Raft
//! quorum cannot write its log before the quorum exists (every voter initializes the same
//! fresh Raft log, and entries exist only once a leader commits them), so the records wait in
//! `__cluster_metadata-0/bootstrap.records` and are proposed in the same batch as
//! `ClusterCreated` by the node that creates the cluster in the log ([`crate::Broker::open`]
//! on the first broker to find no cluster id). A node that finds the cluster created already
//! ignores its file, so they are applied once per cluster, as Kafka's bootstrap records.
//!
//! File format: one line, `CRC32C(hex) JSON-array-of-records\n`, replaced atomically; a file
//! that fails its checksum or does not parse stops the start (it would silently drop users).

use std::path::{Path, PathBuf};

use rill_meta::MetadataRecord;

use super::{MetadataStore, METADATA_DIR};
use crate::error::{BrokerError, Result};

/// The bootstrap file's name inside `__cluster_metadata-0`.
pub const BOOTSTRAP_FILE: &str = "bootstrap.records";

fn bootstrap_path(data_dir: &Path) -> PathBuf {
    data_dir.join(METADATA_DIR).join(BOOTSTRAP_FILE)
}

/// Makes `records` part of a freshly formatted node's metadata: appended to the local log of
/// a lone node (`quorum` false), or written to the bootstrap file of a quorum node.
///
/// # Errors
/// Records that do not apply, I/O errors.
pub fn write_format_records(
    data_dir: &Path,
    quorum: bool,
    records: Vec<MetadataRecord>,
) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    if !quorum {
        MetadataStore::open(data_dir)?.commit(records)?;
        return Ok(());
    }
    let path = bootstrap_path(data_dir);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| BrokerError::Io {
            op: "create metadata dir",
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let json = serde_json::to_string(&records).map_err(|e| BrokerError::Internal(e.to_string()))?;
    let line = format!("{:08x} {json}\n", crc32c::crc32c(json.as_bytes()));
    crate::fsutil::write_atomically(&path, line.as_bytes())
}

/// The bootstrap records `rill format` left for this node (empty without a file).
///
/// # Errors
/// A damaged file, I/O errors.
pub fn bootstrap_records(data_dir: &Path) -> Result<Vec<MetadataRecord>> {
    let path = bootstrap_path(data_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(BrokerError::Io {
                op: "read bootstrap records",
                path,
                source,
            })
        }
    };
    let damaged = |why: &str| {
        BrokerError::BadDataDir(format!(
            "{} is damaged ({why}); format the node again",
            path.display()
        ))
    };
    let (crc, json) = text
        .trim_end_matches('\n')
        .split_once(' ')
        .ok_or_else(|| damaged("no checksum"))?;
    let crc = u32::from_str_radix(crc, 16).map_err(|_| damaged("bad checksum"))?;
    if crc32c::crc32c(json.as_bytes()) != crc {
        return Err(damaged("checksum mismatch"));
    }
    serde_json::from_str(json).map_err(|e| damaged(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> MetadataRecord {
        MetadataRecord::UserScramCredentialUpserted {
            name: name.into(),
            mechanism: 1,
            salt: vec![1].into(),
            stored_key: vec![2; 32].into(),
            server_key: vec![3; 32].into(),
            iterations: 4096,
        }
    }

    #[test]
    fn a_lone_node_gets_them_in_its_log_a_quorum_node_in_the_file() {
        let lone = tempfile::tempdir().unwrap();
        write_format_records(lone.path(), false, vec![user("a")]).unwrap();
        let image = MetadataStore::open(lone.path()).unwrap().image();
        assert!(image.scram_credential("a", 1).is_some());
        assert!(bootstrap_records(lone.path()).unwrap().is_empty());

        let voter = tempfile::tempdir().unwrap();
        write_format_records(voter.path(), true, vec![user("a"), user("b")]).unwrap();
        assert_eq!(
            bootstrap_records(voter.path()).unwrap(),
            vec![user("a"), user("b")]
        );
        let image = MetadataStore::open(voter.path()).unwrap().image();
        assert!(image.scram_credential("a", 1).is_none(), "not in the log");
    }

    #[test]
    fn a_damaged_file_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        write_format_records(dir.path(), true, vec![user("a")]).unwrap();
        let path = bootstrap_path(dir.path());
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("4096", "4097")).unwrap();
        assert!(matches!(
            bootstrap_records(dir.path()),
            Err(BrokerError::BadDataDir(_))
        ));
    }
}
