//! How brokers that are not voters follow the committed metadata log: they fetch it from a
//! controller, like Kafka's observers fetch `__cluster_metadata`.
//!
//! Every controller keeps the last [`RECENT_CAPACITY`] applied log entries in
//! [`RecentBatches`] (filled by the state machine as it applies, emptied when a snapshot is
//! installed). A [`FetchRequest`] names the last offset the fetcher applied; the controller
//! waits up to `max_wait_ms` for something newer (a long poll), then answers with the
//! entries after it, or, when they are no longer kept (or the fetcher has nothing), with a
//! snapshot of its image. Only committed entries are ever applied, hence ever served, so any
//! controller's answer is a prefix of the one log; a fetcher never goes back.
//! Thread-safety: the ring is behind a mutex shared by the state machine and the RPC handler.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use rill_meta::MetadataRecord;
use serde::{Deserialize, Serialize};

use crate::NodeId;

/// Entries a controller keeps for fetchers (the snapshot interval's default is 1000).
pub const RECENT_CAPACITY: usize = 4096;

/// Most entries one fetch answer carries.
pub const MAX_BATCHES_PER_FETCH: usize = 512;

/// Longest long poll a controller grants.
pub const MAX_FETCH_WAIT_MS: u64 = 5000;

/// "Send me what was committed after `after`."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRequest {
    /// The last offset the fetcher applied (`None`: nothing yet, send a snapshot).
    pub after: Option<u64>,
    /// How long the controller may wait for a newer entry before answering.
    pub max_wait_ms: u64,
}

/// One applied log entry as fetchers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedEntry {
    /// Its log index (the metadata offset).
    pub offset: u64,
    /// The records of a metadata batch; `None` for Raft's own entries (blank, membership).
    pub records: Option<Vec<MetadataRecord>>,
    /// The batch contradicted the image and was skipped everywhere.
    pub rejected: bool,
}

/// What a fetch brings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FetchDelta {
    /// The entries after the requested offset, in order (possibly none).
    Entries(Vec<CommittedEntry>),
    /// The whole image as records, as of `offset`.
    Snapshot {
        /// The last offset the image includes.
        offset: u64,
        /// Records that rebuild the image from empty.
        records: Vec<MetadataRecord>,
    },
}

/// A controller's answer to a [`FetchRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchReply {
    /// The active controller as the answering node knows it (`None` while it does not, or
    /// when it leads without hearing from a majority lately).
    pub leader: Option<NodeId>,
    /// The answering node's Raft term.
    pub term: u64,
    /// The entries or the snapshot.
    pub delta: FetchDelta,
}

/// The last applied entries of one controller.
#[derive(Debug, Default)]
pub struct RecentBatches {
    /// Consecutive entries, oldest first.
    entries: VecDeque<CommittedEntry>,
    /// The last offset applied (by an entry or a snapshot).
    last: Option<u64>,
}

/// The ring, shared by the state machine and the RPC handler.
pub(crate) type SharedRecent = Arc<Mutex<RecentBatches>>;

impl RecentBatches {
    /// Records an applied entry (offsets arrive in increasing order).
    pub fn push(&mut self, entry: CommittedEntry) {
        if self.entries.len() >= RECENT_CAPACITY {
            self.entries.pop_front();
        }
        self.last = Some(entry.offset);
        self.entries.push_back(entry);
    }

    /// Forgets the entries: the image was replaced by a snapshot up to `offset`.
    pub fn reset(&mut self, offset: Option<u64>) {
        self.entries.clear();
        self.last = offset;
    }

    /// The entries after `after` (at most `max`), or `None` when they are not all kept
    /// (the fetcher needs a snapshot). A fetcher at or past the last offset gets none.
    pub fn since(&self, after: u64, max: usize) -> Option<Vec<CommittedEntry>> {
        if self.last.is_none_or(|last| after >= last) {
            return Some(Vec::new());
        }
        let first = self.entries.front()?.offset;
        if first > after + 1 {
            return None;
        }
        let skip = (after + 1 - first) as usize;
        Some(self.entries.iter().skip(skip).take(max).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(offset: u64) -> CommittedEntry {
        CommittedEntry {
            offset,
            records: Some(Vec::new()),
            rejected: false,
        }
    }

    #[test]
    fn since_serves_kept_entries_and_asks_for_a_snapshot_otherwise() {
        let mut r = RecentBatches::default();
        assert_eq!(r.since(3, 10), Some(vec![]));
        for o in 5..=9 {
            r.push(entry(o));
        }
        assert_eq!(r.since(4, 10), Some((5..=9).map(entry).collect()));
        assert_eq!(r.since(7, 1), Some(vec![entry(8)]));
        assert_eq!(r.since(9, 10), Some(vec![]));
        assert_eq!(
            r.since(12, 10),
            Some(vec![]),
            "a fetcher ahead gets nothing"
        );
        assert_eq!(r.since(3, 10), None, "offset 4 is not kept");
        r.reset(Some(20));
        assert_eq!(r.since(9, 10), None);
        assert_eq!(r.since(20, 10), Some(vec![]));
    }

    #[test]
    fn the_ring_is_bounded() {
        let mut r = RecentBatches::default();
        for o in 0..(RECENT_CAPACITY as u64 + 10) {
            r.push(entry(o));
        }
        assert_eq!(r.entries.len(), RECENT_CAPACITY);
        assert_eq!(r.since(5, 10), None);
        assert_eq!(r.since(10, 1), Some(vec![entry(11)]));
    }
}
