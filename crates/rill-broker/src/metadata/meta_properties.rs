//! `meta.properties` in the data directory: which cluster and node this data belongs to.
//!
//! Written once (atomically: temp file, fsync, rename) on the first start of a fresh node with
//! a new cluster id; a later start with another `node.id` refuses to run.

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

/// A new random cluster id in Kafka's form: a UUID v4 as unpadded URL-safe base64.
pub fn new_cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = uuid::Uuid::new_v4().into_bytes();
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

/// Reads `meta.properties` in `dir`, or creates it for `node_id` with a new cluster id.
///
/// # Errors
/// I/O errors, an unreadable file, or a file that belongs to another node.
pub fn load_or_create_meta_properties(dir: &Path, node_id: i32) -> Result<MetaProperties> {
    let path = dir.join("meta.properties");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let pairs = crate::config::parse_properties(&text)
                .map_err(|e| BrokerError::BadDataDir(format!("{}: {e}", path.display())))?;
            let get = |k: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.clone())
            };
            let cluster_id = get("cluster.id").ok_or_else(|| {
                BrokerError::BadDataDir(format!("{} has no cluster.id", path.display()))
            })?;
            let found: i32 = get("node.id").and_then(|v| v.parse().ok()).ok_or_else(|| {
                BrokerError::BadDataDir(format!("{} has no valid node.id", path.display()))
            })?;
            if found != node_id {
                return Err(BrokerError::BadDataDir(format!(
                    "{} belongs to node {found} of cluster {cluster_id}, but this is node.id={node_id}; \
                     use that node.id or another log.dirs",
                    dir.display()
                )));
            }
            Ok(MetaProperties {
                cluster_id,
                node_id,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let props = MetaProperties {
                cluster_id: new_cluster_id(),
                node_id,
            };
            write_meta_properties(dir, &props.cluster_id, node_id)?;
            Ok(props)
        }
        Err(e) => Err(BrokerError::Io {
            op: "read meta.properties",
            path,
            source: e,
        }),
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
    }

    #[test]
    fn created_once_then_checked() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_meta_properties(dir.path(), 1).unwrap();
        let b = load_or_create_meta_properties(dir.path(), 1).unwrap();
        assert_eq!(a, b);
        let err = load_or_create_meta_properties(dir.path(), 2).unwrap_err();
        assert!(err.to_string().contains("belongs to node 1"), "{err}");
    }
}
