//! The invariants, checked after every simulated event:
//!
//! - a replica's high watermark never goes back while its process lives (a truncation below
//!   it would show here; with clean elections it must never happen), and never passes its
//!   log end;
//! - committed data is the same everywhere: the first replica to expose a range below its
//!   high watermark fixes the reference bytes of that range, and every replica's log below
//!   its high watermark, whenever it grows (and from offset 0 after each restart), must equal
//!   the reference batch for batch, byte for byte;
//! - every acknowledged acks=all batch is in the reference at the offset it was acknowledged
//!   at, with the bytes the client sent (so it can never be lost or moved later);
//! - at most one broker ever leads a partition in a given leader epoch.
//!
//! The end-of-run checks (after every fault is healed) are in `world.rs`.

use std::collections::BTreeMap;

use rill_broker::replica::Partition;
use rill_log::BatchHeader;

use crate::replication_sim::broker::SimBroker;
use kafka_protocol::ResponseError;

use crate::replication_sim::client::{Ack, Read};
use crate::replication_sim::msg::NodeId;

/// Where the checksummed part of a batch starts (CRC, then attributes..records): equal for
/// the client's bytes and the stored bytes, whose base offset and leader epoch were patched.
const CRC_OFFSET: usize = 17;

/// The committed data of one partition as first exposed.
#[derive(Debug, Default)]
struct Reference {
    /// Batches by base offset.
    batches: BTreeMap<i64, Vec<u8>>,
    /// Everything below this offset was exposed by some replica's high watermark.
    committed_end: i64,
}

/// The checker.
#[derive(Debug, Default)]
pub struct Checker {
    refs: BTreeMap<u32, Reference>,
    /// Per (broker, partition): (incarnation, high watermark last seen).
    seen: BTreeMap<(NodeId, u32), (u64, i64)>,
    /// Who led each (partition, leader epoch).
    epoch_leaders: BTreeMap<(u32, i32), NodeId>,
    /// Acknowledged batches.
    pub acked: Vec<Ack>,
    /// What went wrong.
    pub violations: Vec<String>,
}

/// Whole batches in `bytes`: (base offset, last offset, the batch).
pub fn batches(bytes: &[u8]) -> Vec<(i64, i64, &[u8])> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let h = BatchHeader::parse(&bytes[pos..]).expect("stored batches parse");
        let end = pos + h.total_len();
        out.push((h.base_offset, h.last_offset(), &bytes[pos..end]));
        pos = end;
    }
    out
}

impl Checker {
    /// Checks one broker's partitions after an event.
    pub fn observe(&mut self, b: &SimBroker) {
        for (i, p) in &b.partitions {
            let hw = p.high_watermark();
            let end = p.log_end_offset().expect("log end");
            if hw > end {
                self.fail(format!(
                    "b{} p{i}: high watermark {hw} past log end {end}",
                    b.id
                ));
            }
            let key = (b.id, *i);
            let from = match self.seen.get(&key) {
                Some(&(inc, last)) if inc == b.incarnation => {
                    if hw < last {
                        self.fail(format!(
                            "b{} p{i}: high watermark went back from {last} to {hw}",
                            b.id
                        ));
                    }
                    last
                }
                _ => 0,
            };
            if hw > from {
                self.verify(b.id, *i, p, from);
            }
            self.seen.insert(key, (b.incarnation, hw.max(from)));
            if p.is_leader() {
                let epoch = p.leader_epoch();
                let who = *self.epoch_leaders.entry((*i, epoch)).or_insert(b.id);
                if who != b.id {
                    self.fail(format!(
                        "p{i}: b{who} and b{} both led in leader epoch {epoch}",
                        b.id
                    ));
                }
            }
        }
    }

    /// Compares `p`'s log from `from` to its high watermark with the reference, extending
    /// the reference past its committed end.
    fn verify(&mut self, broker: NodeId, index: u32, p: &Partition, from: i64) {
        let read = p
            .read(from, u64::MAX, true)
            .expect("read below the high watermark");
        let hw = read.high_watermark;
        let r = self.refs.entry(index).or_default();
        let mut problems = Vec::new();
        for (base, last, bytes) in batches(&read.records) {
            if base < r.committed_end {
                match r.batches.get(&base) {
                    Some(want) if want.as_slice() == bytes => {}
                    Some(_) => problems.push(format!(
                        "b{broker} p{index}: committed batch [{base}, {last}] differs from the one first committed there"
                    )),
                    None => problems.push(format!(
                        "b{broker} p{index}: committed batch at {base} does not start where the committed batches start"
                    )),
                }
            } else {
                r.batches.insert(base, bytes.to_vec());
            }
        }
        r.committed_end = r.committed_end.max(hw);
        for problem in problems {
            self.fail(problem);
        }
    }

    /// An acknowledged batch: it must be committed, at its offset, with its bytes.
    pub fn on_ack(&mut self, ack: Ack) {
        let r = self.refs.entry(ack.partition).or_default();
        let problem = match r.batches.get(&ack.base_offset) {
            _ if ack.base_offset >= r.committed_end => Some(format!(
                "p{} batch acknowledged at {} by b{} but no high watermark passed it (committed end {})",
                ack.partition, ack.base_offset, ack.leader, r.committed_end
            )),
            Some(stored) if stored.get(CRC_OFFSET..) == ack.batch.get(CRC_OFFSET..) => None,
            _ => Some(format!(
                "p{} batch acknowledged at {} by b{} is not the committed batch there",
                ack.partition, ack.base_offset, ack.leader
            )),
        };
        if let Some(p) = problem {
            self.fail(p);
        }
        self.acked.push(ack);
    }

    /// Whether `ack` is at its offset in a log given as its batches by base offset.
    pub fn ack_in(ack: &Ack, log: &BTreeMap<i64, &[u8]>) -> bool {
        log.get(&ack.base_offset)
            .is_some_and(|bytes| bytes.get(CRC_OFFSET..) == ack.batch.get(CRC_OFFSET..))
    }

    /// What the consumer read: only committed batches, as committed; and a position within
    /// the answering leader's log is never out of range (Kafka answers nothing there when it
    /// is past the high watermark; a stale leader with a shorter log may say out of range).
    pub fn on_read(&mut self, read: Read) {
        let r = self.refs.entry(read.partition).or_default();
        let (i, b, o) = (read.partition, read.from, read.offset);
        let mut problems = Vec::new();
        if read.error_code == ResponseError::OffsetOutOfRange.code() && o <= read.log_end {
            problems.push(format!(
                "p{i}: consumer position {o} (committed end {}) answered OFFSET_OUT_OF_RANGE by b{b}, whose log ends at {}",
                r.committed_end, read.log_end
            ));
        }
        for (base, last, bytes) in batches(&read.records) {
            if r.batches
                .get(&base)
                .is_none_or(|want| want.as_slice() != bytes)
            {
                problems.push(format!(
                    "p{i}: consumer read batch [{base}, {last}] from b{b}, not the committed one"
                ));
            }
        }
        for p in problems {
            self.fail(p);
        }
    }

    /// Records a violation.
    pub fn fail(&mut self, v: String) {
        self.violations.push(v);
    }
}
