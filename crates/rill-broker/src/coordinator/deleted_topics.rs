//! Learns topic deletions from successive metadata images, so the coordinator can write
//! tombstones for the deleted topics' committed offsets (Kafka's `onPartitionsDeleted`).
//!
//! A topic counts as deleted when a name seen in one image is gone from the next or names a
//! different topic id (deleted and created again between two images). The first image only
//! sets the baseline. Thread-safety: one mutex; `observe` is cheap and never blocks on I/O.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use rill_meta::MetadataImage;
use uuid::Uuid;

/// Topic names by id as last seen, and deletions not yet handled.
#[derive(Debug, Default)]
pub struct DeletedTopics {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    known: Option<HashMap<String, Uuid>>,
    pending: HashSet<String>,
}

impl DeletedTopics {
    /// Compares `image` with the previous one and notes the topics deleted since.
    pub fn observe(&self, image: &MetadataImage) {
        let now: HashMap<String, Uuid> = image
            .topics()
            .map(|t| (t.name.clone(), t.topic_id))
            .collect();
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(before) = &s.known {
            let gone: Vec<String> = before
                .iter()
                .filter(|(name, id)| now.get(*name) != Some(*id))
                .map(|(name, _)| name.clone())
                .collect();
            s.pending.extend(gone);
        }
        s.known = Some(now);
    }

    /// Whether deletions wait to be handled.
    pub fn any(&self) -> bool {
        !self
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pending
            .is_empty()
    }

    /// Takes the deletions noted so far.
    pub fn take(&self) -> HashSet<String> {
        std::mem::take(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()).pending)
    }
}
