//! The metadata store: the current [`MetadataImage`] plus the log that makes it durable.
//!
//! Thread-safety: readers take a cheap `Arc` snapshot of the image; writers are serialized by
//! the log mutex, validate records against a copy of the image, append and fsync them, and only
//! then publish the new image. A failed write leaves the published image unchanged.

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use rill_meta::{MetadataImage, MetadataRecord};

use super::LocalMetadataLog;
use crate::error::{BrokerError, Result};

/// Directory of the metadata log inside the data directory (Kafka's KRaft name).
pub const METADATA_DIR: &str = "__cluster_metadata-0";

/// Holds the metadata image and appends changes to it.
#[derive(Debug)]
pub struct MetadataStore {
    /// The latest committed image.
    image: RwLock<Arc<MetadataImage>>,
    /// The durable log; its lock also serializes writers.
    log: Mutex<LocalMetadataLog>,
}

impl MetadataStore {
    /// Opens the metadata log under `data_dir` and replays it. A record that does not apply
    /// (which only a bug could have written) stops the start with an error.
    ///
    /// # Errors
    /// I/O errors, or a record that contradicts the ones before it.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let dir = data_dir.join(METADATA_DIR);
        std::fs::create_dir_all(&dir).map_err(|source| BrokerError::Io {
            op: "create metadata dir",
            path: dir.clone(),
            source,
        })?;
        Self::open_dir(&dir)
    }

    /// Opens the metadata log in `dir` itself (the `__cluster_metadata-0` directory).
    ///
    /// # Errors
    /// I/O errors, or a record that contradicts the ones before it.
    pub fn open_dir(dir: &Path) -> Result<Self> {
        let (log, records) = LocalMetadataLog::open(&dir.join("metadata.log"))?;
        let mut image = MetadataImage::new();
        for r in &records {
            image.apply(r)?;
        }
        tracing::info!(
            records = records.len(),
            topics = image.topics().count(),
            "metadata replayed"
        );
        Ok(MetadataStore {
            image: RwLock::new(Arc::new(image)),
            log: Mutex::new(log),
        })
    }

    /// A snapshot of the current image.
    pub fn image(&self) -> Arc<MetadataImage> {
        match self.image.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Validates, persists and publishes `records` as one change; returns the new image.
    ///
    /// # Errors
    /// [`BrokerError::Meta`] when a record contradicts the image (nothing written), or an I/O
    /// error (nothing published).
    pub fn commit(&self, records: Vec<MetadataRecord>) -> Result<Arc<MetadataImage>> {
        let mut log = self
            .log
            .lock()
            .map_err(|_| BrokerError::Internal("metadata log lock poisoned".into()))?;
        let mut next = (*self.image()).clone();
        for r in &records {
            next.apply(r)?;
        }
        log.append(&records)?;
        let next = Arc::new(next);
        match self.image.write() {
            Ok(mut g) => *g = next.clone(),
            Err(poisoned) => *poisoned.into_inner() = next.clone(),
        }
        Ok(next)
    }
}
