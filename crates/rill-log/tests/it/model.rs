//! Property test: random append / read / roll / truncate / DeleteRecords / retention /
//! reopen sequences against a simple in-memory model of the log (a list of batches with
//! their exact bytes, plus log start and end offsets). After every step the log must hold
//! exactly the model's batches and answer reads as the model does.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use rill_log::testutil::{build_batch, slice_bytes, BatchSpec};
use rill_log::{LogConfig, PartitionLog};
use std::path::Path;

#[derive(Clone, Debug)]
enum Op {
    Append {
        records: i32,
        body: usize,
        fill: u8,
    },
    Read {
        at: u16,
        max_bytes: u16,
        min_one: bool,
        hw: u16,
    },
    Roll,
    TruncateTo {
        at: u16,
    },
    DeleteRecords {
        at: u16,
    },
    RetentionBytes {
        limit: u16,
    },
    Reopen {
        flush: bool,
    },
    TruncateFully {
        start: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1..5i32, 0..400usize, any::<u8>()).prop_map(|(records, body, fill)| Op::Append { records, body, fill }),
        3 => (any::<u16>(), any::<u16>(), any::<bool>(), any::<u16>())
            .prop_map(|(at, max_bytes, min_one, hw)| Op::Read { at, max_bytes, min_one, hw }),
        1 => Just(Op::Roll),
        1 => any::<u16>().prop_map(|at| Op::TruncateTo { at }),
        1 => any::<u16>().prop_map(|at| Op::DeleteRecords { at }),
        1 => (0..4000u16).prop_map(|limit| Op::RetentionBytes { limit }),
        1 => any::<bool>().prop_map(|flush| Op::Reopen { flush }),
        1 => any::<u8>().prop_map(|start| Op::TruncateFully { start }),
    ]
}

#[derive(Default, Debug)]
struct Model {
    /// (base offset, last offset, exact bytes as stored).
    batches: Vec<(i64, i64, Vec<u8>)>,
    start: i64,
    end: i64,
}

impl Model {
    fn pick(&self, at: u16) -> i64 {
        let span = (self.end - self.start + 1).max(1);
        self.start + i64::from(at) % span
    }

    /// Expected read bytes, as the contract states.
    fn read(&self, from: i64, max_bytes: u64, min_one: bool, max_offset: i64) -> Vec<u8> {
        let mut out = Vec::new();
        for (base, _, bytes) in self.batches.iter().filter(|b| b.1 >= from) {
            if *base >= max_offset {
                break;
            }
            let first = out.is_empty();
            if out.len() as u64 + bytes.len() as u64 > max_bytes && !(min_one && first) {
                break;
            }
            out.extend_from_slice(bytes);
        }
        out
    }

    fn drop_below_start(&mut self) {
        let start = self.start;
        self.batches.retain(|b| b.1 >= start);
    }
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1000,
        index_interval_bytes: 150,
        retention_ms: None,
        ..LogConfig::default()
    }
}

fn read_all(log: &PartitionLog) -> Vec<u8> {
    let mut buf = Vec::new();
    log.read_into(log.log_start_offset(), u64::MAX, i64::MAX, true, &mut buf)
        .unwrap();
    buf
}

fn check(log: &PartitionLog, m: &Model) {
    assert_eq!(log.log_end_offset(), m.end, "log end");
    assert_eq!(log.log_start_offset(), m.start, "log start");
    assert_eq!(
        read_all(log),
        m.read(m.start, u64::MAX, true, i64::MAX),
        "whole content"
    );
}

fn apply(log: &mut PartitionLog, m: &mut Model, op: &Op, dir: &Path) {
    match *op {
        Op::Append {
            records,
            body,
            fill,
        } => {
            let mut b = build_batch(&BatchSpec {
                records,
                record_bytes: body,
                fill,
                ..BatchSpec::default()
            });
            let info = log.append(&mut b, 0, 0).unwrap();
            assert_eq!(info.base_offset, m.end);
            m.end = info.last_offset + 1;
            m.batches.push((info.base_offset, info.last_offset, b));
        }
        Op::Read {
            at,
            max_bytes,
            min_one,
            hw,
        } => {
            let from = m.pick(at);
            let max_offset = if hw % 4 == 0 { i64::MAX } else { m.pick(hw) };
            let mut buf = Vec::new();
            let n = log
                .read_into(from, u64::from(max_bytes), max_offset, min_one, &mut buf)
                .unwrap();
            assert_eq!(n as usize, buf.len());
            let want = m.read(from, u64::from(max_bytes), min_one, max_offset);
            assert_eq!(buf, want, "read from {from} max_offset {max_offset}");
            let slices = log
                .read(from, u64::from(max_bytes), max_offset, min_one)
                .unwrap();
            assert_eq!(slices.total_len, n);
            assert_eq!(slices.slices.iter().map(|s| s.len).sum::<u64>(), n);
            // The file ranges hold exactly those bytes (the range read jumps over batches
            // by the offset index), and count the records of the batches they cover.
            let sent = slice_bytes(&slices.slices);
            assert_eq!(
                sent, want,
                "file ranges from {from} max_offset {max_offset}"
            );
            let records: i64 = m
                .batches
                .iter()
                .filter(|b| b.1 >= from)
                .scan(0usize, |bytes, b| {
                    *bytes += b.2.len();
                    (*bytes <= want.len()).then_some(b.1 - b.0 + 1)
                })
                .sum();
            assert_eq!(slices.records, records as u64, "records from {from}");
        }
        Op::Roll => log.roll(0).unwrap(),
        Op::TruncateTo { at } => {
            let to = m.pick(at);
            log.truncate_to(to).unwrap();
            if to >= m.end {
            } else if to <= m.start {
                *m = Model {
                    batches: Vec::new(),
                    start: to,
                    end: to,
                };
            } else {
                let cut = m.batches.iter().position(|b| b.1 >= to).unwrap();
                m.end = m.batches[cut].0;
                m.start = m.start.min(m.end);
                m.batches.truncate(cut);
            }
        }
        Op::DeleteRecords { at } => {
            let to = m.pick(at);
            assert_eq!(log.delete_records_before(to).unwrap(), to.max(m.start));
            m.start = to.max(m.start);
            m.drop_below_start();
        }
        Op::RetentionBytes { limit } => {
            log.set_config(LogConfig {
                retention_bytes: Some(u64::from(limit)),
                ..config()
            });
            log.enforce_retention(0).unwrap();
            log.set_config(config());
            let new_start = log.log_start_offset();
            assert!(new_start >= m.start);
            if new_start > m.start {
                assert!(
                    m.batches.iter().any(|b| b.0 == new_start) || new_start == m.end,
                    "start {new_start} not a batch boundary"
                );
            }
            m.start = new_start;
            m.drop_below_start();
        }
        Op::Reopen { flush } => {
            if flush {
                log.flush().unwrap();
            }
            let (reopened, report) = PartitionLog::open(dir, config()).unwrap();
            // A truncation and a roll can leave a segment wholly below the log start until
            // the next retention pass; opening deletes such a segment, and nothing else.
            assert!(
                report
                    .dropped
                    .iter()
                    .all(|d| d.contains("below the log start")),
                "{report:?}"
            );
            *log = reopened;
        }
        Op::TruncateFully { start } => {
            let s = m.end + i64::from(start);
            log.truncate_fully_and_start_at(s).unwrap();
            *m = Model {
                batches: Vec::new(),
                start: s,
                end: s,
            };
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]
    #[test]
    fn log_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = PartitionLog::open(dir.path(), config()).unwrap();
        let mut m = Model::default();
        for op in &ops {
            apply(&mut log, &mut m, op, dir.path());
            check(&log, &m);
        }
    }
}
