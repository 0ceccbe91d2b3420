//! `meta.properties` in the data directory: which cluster and node this data belongs to.
//!
//! Written once (atomically: temp file, fsync, rename) by `rill format` or on the first start
//! of a fresh node; a later start with another `node.id` (or another `cluster.id`) refuses to
//! run.

use std::path::Path;

use crate::error::{BrokerError, Result};

/// The identity recorded in a data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    /// Cluster id (22 characters of URL-safe base64, as Kafka's).
    pub cluster_id: String,
    /// The node that owns the directory.
    pub node_id: i32,
}

/// A new random cluster id in Kafka's form: a UUID v4 as unpadded URL-safe base64. Like
/// Kafka's `Uuid.randomUuid`, never one that starts with `-`, which a command line would take
/// for an option (`rill format --cluster-id -x...` failed about once in 64 ids).
pub fn new_cluster_id() -> String {
    loop {
        let id = encode_uuid(uuid::Uuid::new_v4());
        if !id.starts_with('-') {
            return id;
        }
    }
}

/// A UUID as 22 characters of unpadded URL-safe base64.
fn encode_uuid(uuid: uuid::Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = uuid.into_bytes();
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut out = String::with_capacity(22);
    for b in bytes {
        bits = (bits << 8) | u32::from(b);
        nbits += 8;
        while nbits >= 6 {
            nbits -= 6;
            out.push(ALPHABET[((bits >> nbits) & 63) as usize] as char);
        }
    }
    if nbits > 0 {
        out.push(ALPHABET[((bits << (6 - nbits)) & 63) as usize] as char);
    }
    out
}

/// Checks that `id` looks like a Kafka cluster id: 22 characters of URL-safe base64 (a UUID's
/// 16 bytes, unpadded), as `rill format --random-uuid` and `kafka-storage.sh random-uuid` make.
///
/// # Errors
/// What is wrong with it.
pub fn validate_cluster_id(id: &str) -> std::result::Result<(), String> {
    if id.len() != 22 {
        return Err(format!(
            "a cluster id has 22 characters (URL-safe base64 of 16 bytes); '{id}' has {}",
            id.len()
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "'{id}' holds '{c}': a cluster id is URL-safe base64 (A-Z a-z 0-9 - _)"
        ));
    }
    Ok(())
}

/// Writes `meta.properties` for a node of cluster `cluster_id` (atomically).
///
/// # Errors
/// I/O errors.
pub fn write_meta_properties(dir: &Path, cluster_id: &str, node_id: i32) -> Result<()> {
    let text = format!(
        "# Written by rill on first start. Do not edit.\nversion=1\ncluster.id={cluster_id}\nnode.id={node_id}\n"
    );
    crate::fsutil::write_atomically(&dir.join("meta.properties"), text.as_bytes())
}

/// Reads `meta.properties` in `dir` (`None` when there is none).
///
/// # Errors
/// I/O errors or a file without a cluster id or a valid node id.
pub fn read_meta_properties(dir: &Path) -> Result<Option<MetaProperties>> {
    let path = dir.join("meta.properties");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(BrokerError::Io {
                op: "read meta.properties",
                path,
                source: e,
            })
        }
    };
    let pairs = crate::config::parse_properties(&text)
        .map_err(|e| BrokerError::BadDataDir(format!("{}: {e}", path.display())))?;
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let cluster_id = get("cluster.id")
        .ok_or_else(|| BrokerError::BadDataDir(format!("{} has no cluster.id", path.display())))?;
    let node_id: i32 = get("node.id").and_then(|v| v.parse().ok()).ok_or_else(|| {
        BrokerError::BadDataDir(format!("{} has no valid node.id", path.display()))
    })?;
    Ok(Some(MetaProperties {
        cluster_id,
        node_id,
    }))
}

/// Reads `meta.properties` in `dir`, or creates it for `node_id` with a new cluster id.
///
/// # Errors
/// I/O errors, an unreadable file, or a file that belongs to another node.
pub fn load_or_create_meta_properties(dir: &Path, node_id: i32) -> Result<MetaProperties> {
    match read_meta_properties(dir)? {
        Some(props) if props.node_id != node_id => Err(BrokerError::BadDataDir(format!(
            "{} belongs to node {} of cluster {}, but this is node.id={node_id}; \
             use that node.id or another log.dirs",
            dir.display(),
            props.node_id,
            props.cluster_id
        ))),
        Some(props) => Ok(props),
        None => {
            let props = MetaProperties {
                cluster_id: new_cluster_id(),
                node_id,
            };
            write_meta_properties(dir, &props.cluster_id, node_id)?;
            Ok(props)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_look_like_kafkas() {
        let id = new_cluster_id();
        assert_eq!(id.len(), 22);
        assert_ne!(id, new_cluster_id());
        // One UUID in 64 encodes to a leading '-': none is ever handed out.
        assert!((0..2000).all(|_| !new_cluster_id().starts_with('-')));
        let dash = uuid::Uuid::from_bytes([0xf8; 16]);
        assert!(encode_uuid(dash).starts_with('-'));
    }

    #[test]
    fn cluster_ids_are_validated() {
        assert_eq!(validate_cluster_id(&new_cluster_id()), Ok(()));
        assert_eq!(validate_cluster_id("AAAAAAAAAAAAAAAAAAAAAA"), Ok(()));
        assert!(validate_cluster_id("short")
            .unwrap_err()
            .contains("22 characters"));
        assert!(validate_cluster_id("AAAAAAAAAAAAAAAAAAAAA=")
            .unwrap_err()
            .contains("'='"));
    }

    #[test]
    fn created_once_then_checked() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_meta_properties(dir.path(), 1).unwrap();
        let b = load_or_create_meta_properties(dir.path(), 1).unwrap();
        assert_eq!(a, b);
        let err = load_or_create_meta_properties(dir.path(), 2).unwrap_err();
        assert!(err.to_string().contains("belongs to node 1"), "{err}");
        assert_eq!(read_meta_properties(dir.path()).unwrap(), Some(a));
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(read_meta_properties(empty.path()).unwrap(), None);
    }
}
