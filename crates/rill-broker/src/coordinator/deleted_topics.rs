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

    /// Notes, among `topics` (those a just-loaded offsets partition has offsets for), the
    /// ones the last image does not have: deleted while another node coordinated these
    /// groups (or while this one was down), so no deletion was seen for them here.
    pub fn note_unknown(&self, topics: HashSet<String>) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(known) = &s.known else { return };
        let gone: Vec<String> = topics
            .into_iter()
            .filter(|t| !known.contains_key(t))
            .collect();
        s.pending.extend(gone);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_of_topics_missing_from_the_image_count_as_deleted() {
        let d = DeletedTopics::default();
        // Before any image nothing can be judged.
        d.note_unknown(HashSet::from(["gone".to_string()]));
        assert!(!d.any());
        d.observe(&MetadataImage::default());
        d.note_unknown(HashSet::from(["gone".to_string()]));
        assert_eq!(d.take(), HashSet::from(["gone".to_string()]));
        assert!(!d.any());
    }
}
