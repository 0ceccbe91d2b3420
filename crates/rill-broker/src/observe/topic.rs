//! Bytes and records in/out per topic.
//!
//! Each topic's four counter handles are registered once and cached by name, so a produce or
//! fetch costs a read lock, a hash lookup and a few atomic adds, with no allocation. The
//! cache holds one entry per topic that saw traffic; [`forget_deleted`] drops deleted ones.

use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};

use metrics::{counter, Counter};
use rill_log::{AppendInfo, BatchHeader};

use super::names;
use super::throughput;

/// One topic's counters.
struct TopicCounters {
    /// `rill_topic_bytes_in_total{topic}`.
    bytes_in: Counter,
    /// `rill_topic_records_in_total{topic}`.
    records_in: Counter,
    /// `rill_topic_bytes_out_total{topic}`.
    bytes_out: Counter,
    /// `rill_topic_records_out_total{topic}`.
    records_out: Counter,
}

impl TopicCounters {
    fn new(topic: &str) -> Self {
        super::install();
        let t = topic.to_string();
        TopicCounters {
            bytes_in: counter!(names::TOPIC_BYTES_IN, "topic" => t.clone()),
            records_in: counter!(names::TOPIC_RECORDS_IN, "topic" => t.clone()),
            bytes_out: counter!(names::TOPIC_BYTES_OUT, "topic" => t.clone()),
            records_out: counter!(names::TOPIC_RECORDS_OUT, "topic" => t),
        }
    }
}

static TOPICS: LazyLock<RwLock<HashMap<String, TopicCounters>>> =
    LazyLock::new(|| RwLock::new(HashMap::new()));

/// Runs `f` with the topic's counters, registering them on first use.
fn with_topic(topic: &str, f: impl FnOnce(&TopicCounters)) {
    {
        let map = TOPICS.read().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(topic) {
            f(c);
            return;
        }
    }
    let mut map = TOPICS.write().unwrap_or_else(|p| p.into_inner());
    let c = map
        .entry(topic.to_string())
        .or_insert_with(|| TopicCounters::new(topic));
    f(c);
}

/// A producer's batch was appended to `topic` (duplicates, which wrote nothing, are skipped).
pub fn produced(topic: &str, info: &AppendInfo) {
    if info.duplicate {
        return;
    }
    let records = info.record_count.max(0) as u64;
    let bytes = info.bytes as u64;
    with_topic(topic, |c| {
        c.bytes_in.increment(bytes);
        c.records_in.increment(records);
    });
    throughput::add_in(bytes, records);
}

/// `bytes` of record batches holding `count` records of `topic` were sent in a Fetch
/// answer; `to_follower` for replica fetches.
pub fn fetched(topic: &str, bytes: u64, count: u64, to_follower: bool) {
    if bytes == 0 {
        return;
    }
    if to_follower {
        counter!(names::REPLICATION_BYTES_OUT).increment(bytes);
        return;
    }
    with_topic(topic, |c| {
        c.bytes_out.increment(bytes);
        c.records_out.increment(count);
    });
    throughput::add_out(bytes, count);
}

/// Records in whole batches at the start of `bytes`, from their headers (a partial tail is
/// not counted).
pub fn count_records(bytes: &[u8]) -> u64 {
    let mut pos = 0;
    let mut n = 0u64;
    while let Ok(h) = BatchHeader::parse(&bytes[pos..]) {
        let end = pos + h.total_len();
        if end > bytes.len() {
            break;
        }
        n += h.record_count.max(0) as u64;
        pos = end;
    }
    n
}

/// Drops cached handles of topics for which `exists` is false (the series stay exported
/// with their last values, as Prometheus counters should not go back).
pub fn forget_deleted(exists: impl Fn(&str) -> bool) {
    let mut map = TOPICS.write().unwrap_or_else(|p| p.into_inner());
    map.retain(|name, _| exists(name));
}

#[cfg(test)]
mod tests {
    use super::*;
    use rill_log::testutil::simple_batch;

    #[test]
    fn counts_records_of_whole_batches_only() {
        let mut bytes = simple_batch(3, 40, 1_000);
        bytes.extend(simple_batch(2, 40, 1_000));
        assert_eq!(count_records(&bytes), 5);
        let cut = bytes.len() - 1;
        assert_eq!(count_records(&bytes[..cut]), 3);
        assert_eq!(count_records(&[]), 0);
        assert_eq!(count_records(&[1, 2, 3]), 0);
    }
}
