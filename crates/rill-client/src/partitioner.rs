//! Kafka's default partitioner: `toPositive(murmur2(key)) % numPartitions` for keyed records,
//! byte-identical to the Java client's `Utils.murmur2` (and librdkafka's `murmur2_random`);
//! sticky partitioning for records without a key (KIP-480: stay on one partition until its
//! batch is sent, then move on).

/// Kafka's murmur2 (seed 0x9747b28c), as `org.apache.kafka.common.utils.Utils.murmur2`.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len();
    let mut h: u32 = SEED ^ (length as u32);
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    // Java sign-extends the tail bytes ((data[i] & 0xff) keeps them unsigned: same as u32).
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner picks for `key` among `num_partitions`.
pub fn partition_for_key(key: &[u8], num_partitions: usize) -> i32 {
    let positive = murmur2(key) & 0x7fff_ffff;
    (positive as i64 % num_partitions.max(1) as i64) as i32
}

/// Sticky choice for keyless records: one partition per topic until [`StickyPartitioner::next_batch`].
#[derive(Debug, Default)]
pub struct StickyPartitioner {
    /// The current partition per topic.
    current: std::collections::HashMap<String, i32>,
}

impl StickyPartitioner {
    /// The partition for the next keyless record of `topic`.
    pub fn partition(&mut self, topic: &str, num_partitions: usize) -> i32 {
        let n = num_partitions.max(1) as i32;
        match self.current.get_mut(topic) {
            Some(p) if *p < n => *p,
            Some(p) => {
                *p = 0;
                0
            }
            None => {
                let p = rand::random_range(0..n);
                self.current.insert(topic.to_string(), p);
                p
            }
        }
    }

    /// A batch of `topic` was sent from `partition`: move keyless records to another one.
    pub fn next_batch(&mut self, topic: &str, partition: i32, num_partitions: usize) {
        let n = num_partitions.max(1) as i32;
        if self.current.get(topic) == Some(&partition) && n > 1 {
            let mut next = rand::random_range(0..n - 1);
            if next >= partition {
                next += 1;
            }
            self.current.insert(topic.to_string(), next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors computed in this repository's venv with kafka-python's
    /// `kafka.partitioner.default.murmur2` (unsigned there; Java's value is the same bits as
    /// i32), plus Kafka's own UtilsTest value for "21" (-973932308).
    const VECTORS: &[(&[u8], u32)] = &[
        (b"", 275_646_681),
        (b"a", 2_731_586_172),
        (b"key-1", 193_331_640),
        (b"hello", 2_132_663_229),
        (b"21", 3_321_034_988),
        (b"foobar", 3_504_634_814),
        (b"abcdefgh", 3_339_539_933),
        (b"\xff\xfe\x00\x80", 1_904_227_184),
        (b"the quick brown fox jumps", 2_644_122_303),
    ];

    #[test]
    fn murmur2_matches_kafka_vectors() {
        for (key, want) in VECTORS {
            assert_eq!(murmur2(key) as u32, *want, "key {key:?}");
        }
        assert_eq!(murmur2(b"21"), -973_932_308);
    }

    #[test]
    fn partition_is_positive_modulo() {
        // toPositive(0xa2d1_c27c) = 584102524 (kafka-python), % 7 = 584102524 % 7.
        assert_eq!(partition_for_key(b"a", 7), 584_102_524 % 7);
        assert_eq!(partition_for_key(b"21", 100), 1_173_551_340 % 100);
    }

    #[test]
    fn sticky_moves_after_a_batch() {
        let mut s = StickyPartitioner::default();
        let p = s.partition("t", 4);
        assert_eq!(s.partition("t", 4), p);
        s.next_batch("t", p, 4);
        assert_ne!(s.partition("t", 4), p);
        assert_eq!(s.partition("one", 1), 0);
    }
}
