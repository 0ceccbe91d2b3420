//! Leader epoch cache: which leader epoch started at which offset, for OffsetForLeaderEpoch.
//!
//! Invariant: entries are sorted with strictly increasing epochs and non-decreasing start
//! offsets. Persisted in `leader-epoch-checkpoint` (see `checkpoint`) after every change.
//! Thread-safety: mutation takes `&mut self` (the log's lock).

use crate::checkpoint::{self, CheckpointWrite, OrderedCheckpoint};
use crate::error::Result;
use std::path::PathBuf;
use std::sync::Arc;

/// Kafka's UNDEFINED_EPOCH / UNDEFINED_EPOCH_OFFSET.
const UNDEFINED: i64 = -1;

/// The leader epoch → start offset map of one partition.
#[derive(Debug)]
pub struct LeaderEpochCache {
    file: Arc<OrderedCheckpoint>,
    entries: Vec<(i32, i64)>,
}

impl LeaderEpochCache {
    /// Loads the cache from `path`; a damaged file yields an empty cache and a reason.
    ///
    /// # Errors
    /// I/O failures other than not-found.
    pub(crate) fn load(path: PathBuf) -> Result<(Self, Option<String>)> {
        let mut problem = None;
        let mut entries = Vec::new();
        match checkpoint::read_rows(&path, 2)? {
            None => {}
            Some(Err(reason)) => problem = Some(format!("{}: {reason}", path.display())),
            Some(Ok(rows)) => {
                for r in rows {
                    let epoch = i32::try_from(r[0]).unwrap_or(-1);
                    let sorted = entries
                        .last()
                        .is_none_or(|&(e, o): &(i32, i64)| epoch > e && r[1] >= o);
                    if epoch < 0 || r[1] < 0 || !sorted {
                        problem = Some(format!("{}: entries out of order", path.display()));
                        entries.clear();
                        break;
                    }
                    entries.push((epoch, r[1]));
                }
            }
        }
        let file = Arc::new(OrderedCheckpoint::new(path));
        Ok((LeaderEpochCache { file, entries }, problem))
    }

    fn rows(&self) -> Vec<Vec<i64>> {
        self.entries
            .iter()
            .map(|&(e, o)| vec![i64::from(e), o])
            .collect()
    }

    fn persist(&self) -> Result<()> {
        self.file.write_now(self.rows())
    }

    /// The newest epoch, if any.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.0)
    }

    /// All (epoch, start offset) entries, oldest first.
    pub fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }

    /// OffsetForLeaderEpoch: (epoch, end offset) as Kafka's `LeaderEpochFileCache.endOffsetFor`:
    /// the latest epoch ends at the log end; an older epoch ends where the next one starts;
    /// an unknown newer epoch or -1 gives (-1, -1).
    pub fn end_offset_for(&self, epoch: i32, log_end_offset: i64) -> (i32, i64) {
        if epoch < 0 {
            return (-1, UNDEFINED);
        }
        if self.latest_epoch() == Some(epoch) {
            return (epoch, log_end_offset);
        }
        let Some(&(_, higher_start)) = self.entries.iter().find(|&&(e, _)| e > epoch) else {
            return (-1, UNDEFINED);
        };
        match self.entries.iter().rev().find(|&&(e, _)| e <= epoch) {
            None => (epoch, higher_start),
            Some(&(floor, _)) => (floor, higher_start),
        }
    }

    /// Records that `epoch` starts at `start_offset`, removing conflicting entries (an epoch
    /// `>= epoch` or a start offset `>= start_offset`), and persists.
    ///
    /// # Errors
    /// I/O failures writing the checkpoint.
    pub(crate) fn assign(&mut self, epoch: i32, start_offset: i64) -> Result<()> {
        if self.entries.last() == Some(&(epoch, start_offset)) || epoch < 0 {
            return Ok(());
        }
        if self.latest_epoch().is_some_and(|e| e == epoch) {
            return Ok(()); // same epoch continues; keep its first start offset
        }
        self.entries.retain(|&(e, o)| e < epoch && o < start_offset);
        self.entries.push((epoch, start_offset));
        self.persist()
    }

    /// Drops entries starting at or after `end_offset` (log truncated to `end_offset`).
    ///
    /// # Errors
    /// I/O failures writing the checkpoint.
    pub(crate) fn truncate_from_end(&mut self, end_offset: i64) -> Result<()> {
        let before = self.entries.len();
        self.entries.retain(|&(_, o)| o < end_offset);
        if self.entries.len() != before {
            self.persist()?;
        }
        Ok(())
    }

    /// Drops entries wholly before `start_offset`, keeping the one covering it (moved up).
    ///
    /// # Errors
    /// I/O failures writing the checkpoint.
    pub(crate) fn truncate_from_start(&mut self, start_offset: i64) -> Result<()> {
        match self.truncate_from_start_deferred(start_offset) {
            Some((file, w)) => file.write(&w),
            None => Ok(()),
        }
    }

    /// [`LeaderEpochCache::truncate_from_start`] in memory only: returns the checkpoint
    /// write for the caller to do after releasing the log's lock (`None`: nothing changed).
    /// Later changes take later tickets, so this write never overwrites them.
    pub(crate) fn truncate_from_start_deferred(
        &mut self,
        start_offset: i64,
    ) -> Option<(Arc<OrderedCheckpoint>, CheckpointWrite)> {
        let covering = self.entries.iter().rposition(|&(_, o)| o <= start_offset);
        let i = covering?;
        if i == 0 && self.entries[0].1 == start_offset {
            return None;
        }
        self.entries.drain(..i);
        self.entries[0].1 = start_offset;
        Some((self.file.clone(), self.file.ticket(self.rows())))
    }

    /// Forgets everything (full truncation).
    ///
    /// # Errors
    /// I/O failures writing the checkpoint.
    pub(crate) fn clear(&mut self) -> Result<()> {
        self.entries.clear();
        self.persist()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_offset_for_follows_kafka_rules_and_survives_reload() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(checkpoint::LEADER_EPOCH_FILE);
        let (mut c, problem) = LeaderEpochCache::load(p.clone()).unwrap();
        assert!(problem.is_none());
        c.assign(1, 0).unwrap();
        c.assign(3, 10).unwrap();
        c.assign(5, 20).unwrap();
        assert_eq!(c.end_offset_for(5, 30), (5, 30));
        assert_eq!(c.end_offset_for(3, 30), (3, 20));
        assert_eq!(c.end_offset_for(4, 30), (3, 20)); // unknown epoch between: floor's epoch
        assert_eq!(c.end_offset_for(0, 30), (0, 0)); // before the first
        assert_eq!(c.end_offset_for(6, 30), (-1, -1));
        assert_eq!(c.end_offset_for(-1, 30), (-1, -1));
        let (reloaded, _) = LeaderEpochCache::load(p.clone()).unwrap();
        assert_eq!(reloaded.entries(), &[(1, 0), (3, 10), (5, 20)]);
        c.truncate_from_end(15).unwrap();
        assert_eq!(c.entries(), &[(1, 0), (3, 10)]);
        c.truncate_from_start(12).unwrap();
        assert_eq!(c.entries(), &[(3, 12)]);
        c.assign(4, 11).unwrap(); // conflicting start offset removes the later entry
        assert_eq!(c.entries(), &[(4, 11)]);
        std::fs::write(&p, "0\n2\n5 10\n3 20\n").unwrap();
        let (bad, problem) = LeaderEpochCache::load(p).unwrap();
        assert!(bad.entries().is_empty() && problem.is_some());
    }
}
