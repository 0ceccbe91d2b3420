//! openraft's `RaftStateMachine`: committed batches applied in log order to the image.
//!
//! Each batch applies atomically: to a copy of the image, published only when every record
//! applied; a batch that contradicts the image is skipped (the same on every node, since the
//! image and the batch are the same) and its proposer gets `Rejected`. After each `apply` call
//! the new image is published on a `watch` channel. Snapshots: see `snapshot`; the image lives
//! in memory and is rebuilt at open from the snapshot file, then openraft re-applies the log
//! after it. Thread-safety: owned by openraft's state-machine task; the current snapshot is
//! shared with the snapshot builder behind a mutex.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::storage::RaftStateMachine;
use openraft::{AnyError, EntryPayload, OptionalSend, RaftSnapshotBuilder, Snapshot};
use openraft::{StorageIOError, StoredMembership as RaftStoredMembership};
use rill_meta::MetadataImage;
use tokio::sync::{mpsc, watch};

use crate::fetch::{CommittedEntry, SharedRecent};
use crate::snapshot::{self, StoredSnapshot};
use crate::types::{
    ApplyReply, Entry, LogId, SnapshotData, SnapshotMeta, StorageError, StoredMembership,
    TypeConfig,
};
use crate::{AppliedEvent, MetadataUpdate, NodeId, Result};

/// The applied metadata state of one controller.
pub(crate) struct StateMachine {
    /// This node (named in observer events).
    node_id: NodeId,
    /// Where the snapshot file lives.
    dir: PathBuf,
    /// The image after `last_applied`.
    image: Arc<MetadataImage>,
    /// The last applied log id.
    last_applied: Option<LogId>,
    /// The last applied membership.
    membership: StoredMembership,
    /// The current snapshot, shared with builders.
    current: Arc<Mutex<Option<StoredSnapshot>>>,
    /// Publishes the image after each apply.
    publisher: watch::Sender<MetadataUpdate>,
    /// Gets every applied batch and installed snapshot (tests, metrics), when set.
    observer: Option<mpsc::UnboundedSender<AppliedEvent>>,
    /// The last applied entries, served to fetching brokers.
    recent: SharedRecent,
}

impl StateMachine {
    /// Opens the state machine from the snapshot in `dir` (or empty).
    ///
    /// # Errors
    /// I/O errors or a corrupt snapshot.
    pub(crate) fn open(
        node_id: NodeId,
        dir: &Path,
        observer: Option<mpsc::UnboundedSender<AppliedEvent>>,
        recent: SharedRecent,
    ) -> Result<(Self, watch::Receiver<MetadataUpdate>)> {
        let stored = snapshot::load(dir)?;
        let (image, last_applied, membership) = match &stored {
            Some(s) => (
                snapshot::image_from_data(s.data.as_bytes())?,
                s.meta.last_log_id,
                s.meta.last_membership.clone(),
            ),
            None => (MetadataImage::new(), None, RaftStoredMembership::default()),
        };
        let image = Arc::new(image);
        lock(&recent).reset(last_applied.map(|l| l.index));
        let (publisher, rx) = watch::channel(MetadataUpdate {
            offset: last_applied.map(|l| l.index),
            image: image.clone(),
        });
        let sm = StateMachine {
            node_id,
            dir: dir.to_path_buf(),
            image,
            last_applied,
            membership,
            current: Arc::new(Mutex::new(stored)),
            publisher,
            observer,
            recent,
        };
        Ok((sm, rx))
    }

    /// Keeps an applied entry for fetching brokers.
    fn remember(
        &self,
        offset: u64,
        records: Option<Vec<rill_meta::MetadataRecord>>,
        rejected: bool,
    ) {
        lock(&self.recent).push(CommittedEntry {
            offset,
            records,
            rejected,
        });
    }

    fn publish(&self) {
        self.publisher.send_replace(MetadataUpdate {
            offset: self.last_applied.map(|l| l.index),
            image: self.image.clone(),
        });
    }

    fn apply_one(&mut self, entry: Entry) -> ApplyReply {
        self.last_applied = Some(entry.log_id);
        let index = entry.log_id.index;
        match entry.payload {
            EntryPayload::Blank => {
                self.remember(index, None, false);
                ApplyReply::default()
            }
            EntryPayload::Membership(m) => {
                self.membership = RaftStoredMembership::new(Some(entry.log_id), m);
                self.remember(index, None, false);
                ApplyReply::default()
            }
            EntryPayload::Normal(batch) => {
                let mut next = (*self.image).clone();
                let result = batch.records.iter().try_for_each(|r| next.apply(r));
                let rejected = match result {
                    Ok(()) => {
                        self.image = Arc::new(next);
                        None
                    }
                    Err(e) => {
                        tracing::info!(index = entry.log_id.index, error = %e,
                            "metadata batch rejected by the image");
                        Some(e.to_string())
                    }
                };
                self.remember(index, Some(batch.records.clone()), rejected.is_some());
                if let Some(obs) = &self.observer {
                    let _ = obs.send(AppliedEvent::Batch {
                        node_id: self.node_id,
                        index: entry.log_id.index,
                        records: batch.records,
                        rejected: rejected.is_some(),
                        image: self.image.clone(),
                    });
                }
                ApplyReply { rejected }
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Builds a snapshot from the state at the time it was asked for.
pub(crate) struct SnapshotBuilder {
    /// Where to save it.
    dir: PathBuf,
    /// The image to snapshot.
    image: Arc<MetadataImage>,
    /// Its last applied log id.
    last_applied: Option<LogId>,
    /// Its membership.
    membership: StoredMembership,
    /// The state machine's current snapshot, replaced once this one is saved.
    current: Arc<Mutex<Option<StoredSnapshot>>>,
}

fn snapshot_err(e: &crate::QuorumError) -> StorageError {
    StorageIOError::write_snapshot(None, AnyError::new(e)).into()
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> std::result::Result<Snapshot<TypeConfig>, StorageError> {
        let data = snapshot::image_to_data(&self.image).map_err(|e| snapshot_err(&e))?;
        let snapshot_id = match self.last_applied {
            Some(l) => format!("{}-{}", l.leader_id, l.index),
            None => "empty".to_string(),
        };
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id,
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: String::from_utf8_lossy(&data).into_owned(),
        };
        snapshot::save(&self.dir, &stored).map_err(|e| snapshot_err(&e))?;
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(stored);
        tracing::debug!(snapshot = %meta.snapshot_id, "metadata snapshot built");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> std::result::Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> std::result::Result<Vec<ApplyReply>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let replies = entries.into_iter().map(|e| self.apply_one(e)).collect();
        self.publish();
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            dir: self.dir.clone(),
            image: self.image.clone(),
            last_applied: self.last_applied,
            membership: self.membership.clone(),
            current: self.current.clone(),
        }
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> std::result::Result<Box<SnapshotData>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<SnapshotData>,
    ) -> std::result::Result<(), StorageError> {
        let data = snapshot.into_inner();
        let read_err = |e: &crate::QuorumError| -> StorageError {
            StorageIOError::read_snapshot(Some(meta.signature()), AnyError::new(e)).into()
        };
        let image = snapshot::image_from_data(&data).map_err(|e| read_err(&e))?;
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: String::from_utf8_lossy(&data).into_owned(),
        };
        snapshot::save(&self.dir, &stored).map_err(|e| snapshot_err(&e))?;
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(stored);
        self.image = Arc::new(image);
        self.last_applied = meta.last_log_id;
        lock(&self.recent).reset(meta.last_log_id.map(|l| l.index));
        self.membership = meta.last_membership.clone();
        tracing::info!(node_id = self.node_id, snapshot = %meta.snapshot_id,
            "metadata snapshot installed");
        if let Some(obs) = &self.observer {
            let _ = obs.send(AppliedEvent::Snapshot {
                node_id: self.node_id,
                index: meta.last_log_id.map(|l| l.index),
                image: self.image.clone(),
            });
        }
        self.publish();
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> std::result::Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let current = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Ok(current.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data.into_bytes())),
        }))
    }
}
