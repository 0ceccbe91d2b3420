//! Durability contract of `LogFile`: what `append`, `truncate`, `purge` and `save_vote`
//! returned survives a reopen; a torn or corrupt tail is cut at open and nothing before it.

use std::io::Write;

use openraft::{CommittedLeaderId, EntryPayload};
use rill_meta::MetadataRecord;

use super::*;
use crate::types::MetadataBatch;

fn entry(term: u64, index: u64) -> Entry {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
        payload: EntryPayload::Normal(MetadataBatch {
            records: vec![MetadataRecord::ProducerIdsAllocated {
                next_producer_id: index as i64,
            }],
        }),
    }
}

fn indexes(log: &LogFile) -> Vec<u64> {
    log.read(..).iter().map(|e| e.log_id.index).collect()
}

#[test]
fn append_truncate_vote_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = LogFile::open(dir.path()).unwrap();
    assert_eq!(log.last_log_id(), None);
    log.append((1..=5).map(|i| entry(1, i)).collect()).unwrap();
    log.truncate(4).unwrap();
    log.append(vec![entry(2, 4)]).unwrap();
    let vote = Vote::new(2, 3);
    log.save_vote(vote).unwrap();
    drop(log);
    let log = LogFile::open(dir.path()).unwrap();
    assert_eq!(indexes(&log), vec![1, 2, 3, 4]);
    assert_eq!(log.read(4..)[0], entry(2, 4));
    assert_eq!(log.vote, Some(vote));
    assert_eq!(log.last_log_id(), Some(entry(2, 4).log_id));
}

#[test]
fn torn_and_corrupt_tails_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = LogFile::open(dir.path()).unwrap();
    log.append((1..=3).map(|i| entry(1, i)).collect()).unwrap();
    drop(log);
    let path = dir.path().join(LOG_NAME);
    let full = std::fs::read(&path).unwrap();
    // A torn frame after three good ones.
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&full[..full.len() / 3]).unwrap();
    drop(f);
    let mut log = LogFile::open(dir.path()).unwrap();
    assert_eq!(indexes(&log), vec![1, 2, 3]);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), full.len() as u64);
    log.append(vec![entry(1, 4)]).unwrap();
    drop(log);
    // A flipped byte in the last frame cuts exactly that frame.
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();
    let log = LogFile::open(dir.path()).unwrap();
    assert_eq!(indexes(&log), vec![1, 2, 3]);
    // Garbage length prefixes never panic or allocate wildly.
    std::fs::write(&path, [0xffu8; 16]).unwrap();
    let log = LogFile::open(dir.path()).unwrap();
    assert!(indexes(&log).is_empty());
}

#[test]
fn purge_drops_the_prefix_durably() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = LogFile::open(dir.path()).unwrap();
    log.append((1..=6).map(|i| entry(1, i)).collect()).unwrap();
    log.purge(entry(1, 4).log_id).unwrap();
    assert_eq!(indexes(&log), vec![5, 6]);
    log.append(vec![entry(1, 7)]).unwrap();
    log.truncate(7).unwrap();
    drop(log);
    let mut log = LogFile::open(dir.path()).unwrap();
    assert_eq!(indexes(&log), vec![5, 6]);
    assert_eq!(log.purged, Some(entry(1, 4).log_id));
    // Purging past the end (after a snapshot install) leaves an empty log whose last id is
    // the purge point.
    log.purge(entry(3, 10).log_id).unwrap();
    drop(log);
    let log = LogFile::open(dir.path()).unwrap();
    assert!(indexes(&log).is_empty());
    assert_eq!(log.last_log_id(), Some(entry(3, 10).log_id));
}
