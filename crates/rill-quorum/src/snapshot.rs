//! Snapshots of the metadata image: the records that rebuild it, plus openraft's meta.
//!
//! A snapshot's data is the JSON array of [`MetadataRecord`]s that [`image_to_records`] derives
//! from the image; applying them to an empty image gives an equal image (a unit test holds this
//! as the image grows: extend [`image_to_records`] with every new image field). The current
//! snapshot is kept in the state file `snapshot` (see `state_file`): `{ "meta": ..., "data":
//! [records] }`. Pure functions plus one durable write; thread-safety: callers serialize.

use std::path::Path;

use rill_meta::{MetadataImage, MetadataRecord};
use serde::{Deserialize, Serialize};

use crate::state_file::{read_state, write_state};
use crate::types::SnapshotMeta;
use crate::{QuorumError, Result};

const SNAPSHOT_NAME: &str = "snapshot";

/// The records that rebuild `image` from an empty image (brokers, topics, partition state
/// with exact epochs, producer ids): rill-meta owns this so new image fields stay covered.
pub fn image_to_records(image: &MetadataImage) -> Vec<MetadataRecord> {
    image.to_records()
}

/// Rebuilds an image from snapshot data (a JSON array of records).
///
/// # Errors
/// [`QuorumError::Corrupt`] for bad JSON or records that do not apply.
pub(crate) fn image_from_data(data: &[u8]) -> Result<MetadataImage> {
    let corrupt = |reason: String| QuorumError::Corrupt {
        path: SNAPSHOT_NAME.into(),
        reason,
    };
    let records: Vec<MetadataRecord> =
        serde_json::from_slice(data).map_err(|e| corrupt(format!("bad snapshot JSON: {e}")))?;
    let mut image = MetadataImage::new();
    for r in &records {
        image
            .apply(r)
            .map_err(|e| corrupt(format!("snapshot record does not apply: {e}")))?;
    }
    Ok(image)
}

/// Serializes an image as snapshot data.
///
/// # Errors
/// Serialization errors (which plain records never produce).
pub(crate) fn image_to_data(image: &MetadataImage) -> Result<Vec<u8>> {
    serde_json::to_vec(&image_to_records(image)).map_err(|e| QuorumError::Corrupt {
        path: SNAPSHOT_NAME.into(),
        reason: format!("cannot serialize snapshot: {e}"),
    })
}

/// The snapshot as stored on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredSnapshot {
    /// openraft's snapshot meta (last log id, membership, id).
    pub(crate) meta: SnapshotMeta,
    /// The snapshot data (JSON records), kept as JSON text inside the file.
    pub(crate) data: String,
}

/// Saves the current snapshot durably.
///
/// # Errors
/// I/O errors.
pub(crate) fn save(dir: &Path, snapshot: &StoredSnapshot) -> Result<()> {
    write_state(dir, SNAPSHOT_NAME, snapshot)
}

/// Loads the current snapshot, if any.
///
/// # Errors
/// I/O errors or a corrupt file.
pub(crate) fn load(dir: &Path) -> Result<Option<StoredSnapshot>> {
    read_state(dir, SNAPSHOT_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rill_meta::Uuid;

    #[test]
    fn records_rebuild_an_equal_image() {
        let mut image = MetadataImage::new();
        let recs = [
            MetadataRecord::ClusterCreated {
                cluster_id: "c1".into(),
            },
            MetadataRecord::TopicCreated {
                topic_id: Uuid::from_u128(1),
                name: "a".into(),
                partitions: 2,
                replication_factor: 3,
                configs: [("retention.ms".to_string(), "5".to_string())].into(),
            },
            MetadataRecord::PartitionsIncreased {
                topic_id: Uuid::from_u128(1),
                partitions: 4,
            },
            MetadataRecord::ProducerIdsAllocated {
                next_producer_id: 1000,
            },
        ];
        for r in &recs {
            image.apply(r).unwrap();
        }
        let data = image_to_data(&image).unwrap();
        assert_eq!(image_from_data(&data).unwrap(), image);
        assert!(image_from_data(b"[{\"type\":\"Nope\"}]").is_err());
        assert!(image_from_data(b"\xff").is_err());
    }
}
