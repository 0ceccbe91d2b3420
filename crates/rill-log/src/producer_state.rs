//! Idempotent and transactional producer state (KIP-98) from batch headers and markers.
//!
//! Per producer id: the current epoch, the last 5 batches' (first seq, last seq, base
//! offset, last offset, timestamp), the coordinator epoch of its last marker and the first
//! offset of its ongoing transaction, if any. Transactions: a transactional data batch of a
//! producer without one starts one at its base offset; a marker (see `control`) ends it
//! (returned as a [`CompletedTxn`]), takes the marker's epoch (a newer epoch resets the
//! sequence) and coordinator epoch. A non-transactional batch from a producer inside a
//! transaction is refused ([`LogError::InvalidTxnState`]); a marker from an older producer
//! epoch ([`LogError::InvalidProducerEpoch`]) or coordinator epoch
//! ([`LogError::TransactionCoordinatorFenced`]) too. The first unstable offset (the smallest
//! first offset of an ongoing transaction) bounds what read_committed consumers see. Rules, as Kafka's ProducerStateManager for non-transactional
//! idempotent batches: producer id -1 is not checked; an older epoch is fenced
//! ([`LogError::InvalidProducerEpoch`]); a newer epoch must start at sequence 0; an unknown
//! producer may start at any sequence; a batch equal (first and last seq) to one of the last 5
//! is a duplicate and returns the original offsets; otherwise the first sequence must follow
//! the last one (wrapping at `i32::MAX`), else [`LogError::OutOfOrderSequence`]. A batch
//! without a sequence (-1, as the group coordinator writes transactional offset commits) is
//! checked for its epoch and transaction only, as Kafka checks sequences of client appends
//! only.
//!
//! Snapshot file `<offset, 20 digits>.snapshot`: magic `RPS2`, CRC-32C (u32 BE) of the rest,
//! count u32, then per producer: id i64, epoch i16, coordinator epoch i32, ongoing
//! transaction's first offset i64 (-1: none), n u8, n × (first_seq i32, last_seq i32,
//! base_offset i64, last_offset i64, timestamp i64). `RPS1` snapshots (no coordinator epoch
//! or transaction fields) of earlier versions are still read. It describes the state after every batch
//! below `offset`; on open the log loads the newest usable snapshot and replays headers after it.
//! Thread-safety: mutation takes `&mut self` (the log's lock).

use crate::batch::BatchHeader;
use crate::control::TxnOutcome;
use crate::error::{LogError, Result};
use crate::io;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};

/// Batches remembered per producer for duplicate detection.
const CACHED_BATCHES: usize = 5;
const MAGIC: &[u8; 4] = b"RPS2";
const MAGIC_V1: &[u8; 4] = b"RPS1";
const BATCH_META_LEN: usize = 4 + 4 + 8 + 8 + 8;

/// One remembered batch of a producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchMetadata {
    /// First sequence number.
    pub first_seq: i32,
    /// Last sequence number.
    pub last_seq: i32,
    /// Base offset the log assigned.
    pub base_offset: i64,
    /// Last offset the log assigned.
    pub last_offset: i64,
    /// The batch's max timestamp.
    pub timestamp: i64,
}

/// State of one producer id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducerEntry {
    /// Current epoch.
    pub epoch: i16,
    /// Last batches, oldest first.
    pub batches: VecDeque<BatchMetadata>,
    /// Coordinator epoch of the last marker (-1 before any).
    pub coordinator_epoch: i32,
    /// First offset of the ongoing transaction, if one is open.
    pub current_txn_first_offset: Option<i64>,
}

impl Default for ProducerEntry {
    fn default() -> Self {
        ProducerEntry {
            epoch: 0,
            batches: VecDeque::new(),
            coordinator_epoch: -1,
            current_txn_first_offset: None,
        }
    }
}

/// A transaction a marker ended in this partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompletedTxn {
    /// Its producer id.
    pub producer_id: i64,
    /// Offset of its first record here.
    pub first_offset: i64,
    /// Offset of the marker.
    pub last_offset: i64,
    /// Commit or abort.
    pub outcome: TxnOutcome,
}

/// An ongoing transaction, as DescribeProducers shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerView {
    /// Producer id.
    pub producer_id: i64,
    /// Current epoch.
    pub epoch: i16,
    /// Last sequence written (-1 if none).
    pub last_sequence: i32,
    /// Timestamp of its last batch (-1 if none).
    pub last_timestamp: i64,
    /// Coordinator epoch of its last marker (-1 if none).
    pub coordinator_epoch: i32,
    /// First offset of its ongoing transaction (-1 if none).
    pub current_txn_start_offset: i64,
}
/// Outcome of checking a batch against the producer state.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SeqCheck {
    /// Write it.
    Append,
    /// Already in the log at these offsets; write nothing.
    Duplicate(BatchMetadata),
}

/// Idempotent-producer state of one partition.
#[derive(Debug)]
pub struct ProducerStateManager {
    dir: PathBuf,
    producers: HashMap<i64, ProducerEntry>,
    /// Ongoing transactions: first offset -> producer id.
    ongoing: BTreeMap<i64, i64>,
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

/// Path of the snapshot for `offset` in `dir`.
pub(crate) fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}.snapshot"))
}

impl ProducerStateManager {
    /// Empty state for the partition in `dir`.
    pub(crate) fn new(dir: PathBuf) -> Self {
        ProducerStateManager {
            dir,
            producers: HashMap::new(),
            ongoing: BTreeMap::new(),
        }
    }

    /// The smallest first offset of an ongoing transaction: read_committed consumers read
    /// below it (and below the high watermark) only.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.keys().next().copied()
    }

    /// Ongoing transactions: (first offset, producer id), by first offset.
    pub fn ongoing_transactions(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.ongoing.iter().map(|(o, p)| (*o, *p))
    }

    /// Every producer, by id (DescribeProducers).
    pub fn producers_view(&self) -> Vec<ProducerView> {
        let mut v: Vec<ProducerView> = self
            .producers
            .iter()
            .map(|(id, e)| ProducerView {
                producer_id: *id,
                epoch: e.epoch,
                last_sequence: e.batches.back().map_or(-1, |b| b.last_seq),
                last_timestamp: e.batches.back().map_or(-1, |b| b.timestamp),
                coordinator_epoch: e.coordinator_epoch,
                current_txn_start_offset: e.current_txn_first_offset.unwrap_or(-1),
            })
            .collect();
        v.sort_unstable_by_key(|p| p.producer_id);
        v
    }

    /// Rebuilds the ongoing-transaction map from the entries.
    fn reindex_ongoing(&mut self) {
        self.ongoing = self
            .producers
            .iter()
            .filter_map(|(id, e)| e.current_txn_first_offset.map(|o| (o, *id)))
            .collect();
    }

    /// Checks a marker the coordinator asks this leader to write: its producer epoch must not
    /// be older than the producer's, nor its coordinator epoch older than the last marker's.
    ///
    /// # Errors
    /// [`LogError::InvalidProducerEpoch`], [`LogError::TransactionCoordinatorFenced`].
    pub(crate) fn check_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
    ) -> Result<()> {
        let Some(entry) = self.producers.get(&producer_id) else {
            return Ok(());
        };
        if producer_epoch < entry.epoch {
            return Err(LogError::InvalidProducerEpoch {
                producer_id,
                current: entry.epoch,
                got: producer_epoch,
            });
        }
        if coordinator_epoch < entry.coordinator_epoch {
            return Err(LogError::TransactionCoordinatorFenced {
                producer_id,
                current: entry.coordinator_epoch,
                got: coordinator_epoch,
            });
        }
        Ok(())
    }

    /// Records a marker now in the log (`h` with its assigned offset); returns the
    /// transaction it ended, if the producer had one open. No checks.
    pub(crate) fn update_marker(
        &mut self,
        h: &BatchHeader,
        outcome: TxnOutcome,
        coordinator_epoch: i32,
    ) -> Option<CompletedTxn> {
        if h.producer_id < 0 {
            return None;
        }
        let entry = self.producers.entry(h.producer_id).or_default();
        if h.producer_epoch != entry.epoch {
            entry.batches.clear();
            entry.epoch = h.producer_epoch;
        }
        entry.coordinator_epoch = coordinator_epoch;
        let first = entry.current_txn_first_offset.take()?;
        self.ongoing.remove(&first);
        Some(CompletedTxn {
            producer_id: h.producer_id,
            first_offset: first,
            last_offset: h.base_offset,
            outcome,
        })
    }

    /// Number of producer ids tracked.
    pub fn producer_ids(&self) -> usize {
        self.producers.len()
    }

    /// State of one producer.
    pub fn producer(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// Each producer's last data batch's last offset (the batches the cleaner must keep, even
    /// empty, so the producer's sequence survives; Kafka's `lastRecordsOfActiveProducers`).
    pub(crate) fn last_batch_offsets(&self) -> HashMap<i64, i64> {
        self.producers
            .iter()
            .filter_map(|(pid, e)| e.batches.back().map(|b| (*pid, b.last_offset)))
            .collect()
    }

    /// Checks an incoming leader batch.
    pub(crate) fn check(&self, h: &BatchHeader) -> Result<SeqCheck> {
        if h.producer_id < 0 || h.is_control() {
            return Ok(SeqCheck::Append);
        }
        let Some(entry) = self.producers.get(&h.producer_id) else {
            return Ok(SeqCheck::Append);
        };
        if !h.is_transactional() && entry.current_txn_first_offset.is_some() {
            return Err(LogError::InvalidTxnState {
                producer_id: h.producer_id,
                reason: "a non-transactional batch while its transaction is open".into(),
            });
        }
        if h.producer_epoch < entry.epoch {
            return Err(LogError::InvalidProducerEpoch {
                producer_id: h.producer_id,
                current: entry.epoch,
                got: h.producer_epoch,
            });
        }
        if h.base_sequence < 0 {
            // No sequence: a coordinator's batch (the group coordinator's transactional offset
            // commits). Kafka checks sequences of client appends only, and refuses a client
            // batch with a producer id but no sequence before it gets here (`LogValidator`).
            return Ok(SeqCheck::Append);
        }
        if h.producer_epoch > entry.epoch {
            if h.base_sequence != 0 {
                return Err(LogError::OutOfOrderSequence {
                    producer_id: h.producer_id,
                    expected: 0,
                    got: h.base_sequence,
                });
            }
            return Ok(SeqCheck::Append);
        }
        let last_seq = h.last_sequence();
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == last_seq)
        {
            return Ok(SeqCheck::Duplicate(*dup));
        }
        match entry.batches.back() {
            Some(last) if h.base_sequence != next_seq(last.last_seq) => {
                Err(LogError::OutOfOrderSequence {
                    producer_id: h.producer_id,
                    expected: next_seq(last.last_seq),
                    got: h.base_sequence,
                })
            }
            _ => Ok(SeqCheck::Append),
        }
    }

    /// Records a data batch now in the log (header with assigned offsets; markers go to
    /// [`ProducerStateManager::update_marker`]). No checks.
    pub(crate) fn update(&mut self, h: &BatchHeader) {
        if h.producer_id < 0 || h.is_control() {
            return;
        }
        let entry = self.producers.entry(h.producer_id).or_default();
        if h.producer_epoch != entry.epoch {
            entry.batches.clear();
            entry.epoch = h.producer_epoch;
        }
        if h.is_transactional() && entry.current_txn_first_offset.is_none() {
            entry.current_txn_first_offset = Some(h.base_offset);
            self.ongoing.insert(h.base_offset, h.producer_id);
        }
        if h.base_sequence < 0 {
            return;
        }
        if entry.batches.len() == CACHED_BATCHES {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchMetadata {
            first_seq: h.base_sequence,
            last_seq: h.last_sequence(),
            base_offset: h.base_offset,
            last_offset: h.last_offset(),
            timestamp: h.max_timestamp,
        });
    }

    /// Forgets every producer.
    pub(crate) fn clear(&mut self) {
        self.producers.clear();
        self.ongoing.clear();
    }

    fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&(self.producers.len() as u32).to_be_bytes());
        let mut ids: Vec<_> = self.producers.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(e) = self.producers.get(&id) else {
                continue;
            };
            body.extend_from_slice(&id.to_be_bytes());
            body.extend_from_slice(&e.epoch.to_be_bytes());
            body.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
            body.extend_from_slice(&e.current_txn_first_offset.unwrap_or(-1).to_be_bytes());
            body.push(e.batches.len() as u8);
            for b in &e.batches {
                body.extend_from_slice(&b.first_seq.to_be_bytes());
                body.extend_from_slice(&b.last_seq.to_be_bytes());
                body.extend_from_slice(&b.base_offset.to_be_bytes());
                body.extend_from_slice(&b.last_offset.to_be_bytes());
                body.extend_from_slice(&b.timestamp.to_be_bytes());
            }
        }
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    fn decode(bytes: &[u8]) -> std::result::Result<HashMap<i64, ProducerEntry>, String> {
        let mut r = Reader { b: bytes, at: 0 };
        let v2 = match r.take(4)? {
            m if m == MAGIC => true,
            m if m == MAGIC_V1 => false,
            _ => return Err("bad magic".into()),
        };
        let crc = u32::from_be_bytes(r.arr()?);
        if crc32c::crc32c(&bytes[8..]) != crc {
            return Err("CRC mismatch".into());
        }
        let n = u32::from_be_bytes(r.arr()?) as usize;
        let mut map = HashMap::with_capacity(n.min(bytes.len() / 11));
        for _ in 0..n {
            let id = i64::from_be_bytes(r.arr()?);
            let epoch = i16::from_be_bytes(r.arr()?);
            let (coordinator_epoch, txn_first) = if v2 {
                (i32::from_be_bytes(r.arr()?), i64::from_be_bytes(r.arr()?))
            } else {
                (-1, -1)
            };
            let k = r.take(1)?[0] as usize;
            let mut batches = VecDeque::with_capacity(k.min(CACHED_BATCHES));
            for _ in 0..k {
                let raw = r.take(BATCH_META_LEN)?;
                let mut r2 = Reader { b: raw, at: 0 };
                batches.push_back(BatchMetadata {
                    first_seq: i32::from_be_bytes(r2.arr()?),
                    last_seq: i32::from_be_bytes(r2.arr()?),
                    base_offset: i64::from_be_bytes(r2.arr()?),
                    last_offset: i64::from_be_bytes(r2.arr()?),
                    timestamp: i64::from_be_bytes(r2.arr()?),
                });
            }
            map.insert(
                id,
                ProducerEntry {
                    epoch,
                    batches,
                    coordinator_epoch,
                    current_txn_first_offset: (txn_first >= 0).then_some(txn_first),
                },
            );
        }
        Ok(map)
    }

    /// Writes the snapshot for `offset` atomically and keeps only the two newest snapshots.
    ///
    /// # Errors
    /// I/O failures.
    pub(crate) fn write_snapshot(&self, offset: i64) -> Result<()> {
        io::write_atomic(&snapshot_path(&self.dir, offset), &self.encode())?;
        self.keep_two_newest()
    }

    /// Writes the snapshot for `offset` (temp file and rename) without any fsync, and keeps
    /// only the two newest snapshots; the caller fsyncs the file and the directory later. A
    /// crash before that may leave the file empty or torn: its CRC check then drops it on
    /// open, and the state is rebuilt from an older snapshot or the log.
    ///
    /// # Errors
    /// I/O failures.
    pub(crate) fn write_snapshot_unsynced(&self, offset: i64) -> Result<()> {
        io::write_replace_unsynced(&snapshot_path(&self.dir, offset), &self.encode())?;
        self.keep_two_newest()
    }

    /// Deletes every snapshot but the two newest.
    fn keep_two_newest(&self) -> Result<()> {
        let snaps = list_snapshots(&self.dir)?;
        for &old in snaps.iter().rev().skip(2) {
            io::remove_if_exists(&snapshot_path(&self.dir, old))?;
        }
        Ok(())
    }

    /// Loads the newest readable snapshot at or below `max_offset`; returns its offset.
    /// Unreadable snapshots are deleted and described in `dropped`.
    ///
    /// # Errors
    /// I/O failures.
    pub(crate) fn load_latest(
        &mut self,
        max_offset: i64,
        dropped: &mut Vec<String>,
    ) -> Result<Option<i64>> {
        self.clear();
        for off in list_snapshots(&self.dir)?.into_iter().rev() {
            if off > max_offset {
                continue;
            }
            let path = snapshot_path(&self.dir, off);
            let Some(bytes) = io::read_optional(&path)? else {
                continue;
            };
            match Self::decode(&bytes) {
                Ok(map) => {
                    self.producers = map;
                    self.reindex_ongoing();
                    return Ok(Some(off));
                }
                Err(reason) => {
                    dropped.push(format!(
                        "producer snapshot {}: {reason}; ignored",
                        path.display()
                    ));
                    io::remove_if_exists(&path)?;
                }
            }
        }
        Ok(None)
    }

    /// Deletes snapshots above `offset` (after truncation).
    ///
    /// # Errors
    /// I/O failures.
    pub(crate) fn delete_snapshots_above(&self, offset: i64) -> Result<()> {
        for off in list_snapshots(&self.dir)? {
            if off > offset {
                io::remove_if_exists(&snapshot_path(&self.dir, off))?;
            }
        }
        Ok(())
    }
}

/// Offsets of the snapshot files in `dir`, ascending.
pub(crate) fn list_snapshots(dir: &Path) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    for name in io::list(dir)? {
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(".snapshot") {
            if stem.len() == 20 {
                if let Ok(o) = stem.parse::<i64>() {
                    out.push(o);
                }
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or_else(|| "truncated".to_string())?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> std::result::Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::validate_batch;
    use crate::testutil::{build_batch, BatchSpec};

    fn hdr(epoch: i16, seq: i32, n: i32, base: i64) -> BatchHeader {
        let b = build_batch(&BatchSpec {
            base_offset: base,
            records: n,
            producer_id: 7,
            producer_epoch: epoch,
            base_sequence: seq,
            ..BatchSpec::default()
        });
        validate_batch(&b).unwrap()
    }

    #[test]
    fn sequence_rules_duplicates_fencing_and_snapshot_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ProducerStateManager::new(dir.path().to_path_buf());
        assert_eq!(s.check(&hdr(0, 5, 2, 0)).unwrap(), SeqCheck::Append); // unknown: any seq
        s.update(&hdr(0, 5, 2, 0));
        assert_eq!(s.check(&hdr(0, 7, 1, 0)).unwrap(), SeqCheck::Append);
        let err = s.check(&hdr(0, 9, 1, 0)).unwrap_err();
        assert!(matches!(
            err,
            LogError::OutOfOrderSequence {
                expected: 7,
                got: 9,
                ..
            }
        ));
        match s.check(&hdr(0, 5, 2, 99)).unwrap() {
            SeqCheck::Duplicate(m) => assert_eq!((m.base_offset, m.last_offset), (0, 1)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            s.check(&hdr(1, 3, 1, 0)),
            Err(LogError::OutOfOrderSequence { .. })
        ));
        s.update(&hdr(1, 0, 1, 2));
        assert!(matches!(
            s.check(&hdr(0, 7, 1, 0)),
            Err(LogError::InvalidProducerEpoch {
                current: 1,
                got: 0,
                ..
            })
        ));
        s.write_snapshot(3).unwrap();
        let mut t = ProducerStateManager::new(dir.path().to_path_buf());
        let mut dropped = Vec::new();
        assert_eq!(t.load_latest(10, &mut dropped).unwrap(), Some(3));
        assert_eq!(t.producer(7), s.producer(7));
        assert_eq!(t.load_latest(2, &mut dropped).unwrap(), None);
        std::fs::write(snapshot_path(dir.path(), 3), b"RPS1garbage").unwrap();
        assert_eq!(t.load_latest(10, &mut dropped).unwrap(), None);
        assert_eq!(dropped.len(), 1);
    }

    #[test]
    fn sequence_wraps_at_i32_max() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ProducerStateManager::new(dir.path().to_path_buf());
        s.update(&hdr(0, i32::MAX - 1, 2, 0));
        assert_eq!(s.check(&hdr(0, 0, 1, 0)).unwrap(), SeqCheck::Append);
    }

    /// The group coordinator's transactional offset batches carry no sequence: each is
    /// appended (never a duplicate of the previous one), also in a newer epoch; an older
    /// epoch is still fenced.
    #[test]
    fn batches_without_sequence_check_the_epoch_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ProducerStateManager::new(dir.path().to_path_buf());
        let txn = |epoch: i16, base: i64| {
            let b = build_batch(&BatchSpec {
                base_offset: base,
                records: 2,
                producer_id: 7,
                producer_epoch: epoch,
                base_sequence: -1,
                attributes: 0x10,
                ..BatchSpec::default()
            });
            validate_batch(&b).unwrap()
        };
        for base in [0, 2] {
            assert_eq!(s.check(&txn(0, base)).unwrap(), SeqCheck::Append);
            s.update(&txn(0, base));
        }
        assert_eq!(s.check(&txn(1, 4)).unwrap(), SeqCheck::Append);
        s.update(&txn(1, 4));
        assert!(matches!(
            s.check(&txn(0, 6)),
            Err(LogError::InvalidProducerEpoch {
                current: 1,
                got: 0,
                ..
            })
        ));
    }

    proptest::proptest! {
        #[test]
        fn snapshot_decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = ProducerStateManager::decode(&bytes);
        }
    }
}
