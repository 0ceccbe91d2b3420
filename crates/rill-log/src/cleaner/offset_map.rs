//! A fixed-size map from key digests to the latest offset seen for the key (Kafka's
//! `SkimpyOffsetMap`).
//!
//! Memory is fixed at creation from a byte budget (`log.cleaner.dedupe.buffer.size` divided
//! among the cleaner threads): slots of a 16-byte key digest and an 8-byte offset, open
//! addressing with linear probing. The map counts as full at `load_factor` of its slots
//! (Kafka's `log.cleaner.io.buffer.load.factor`, 0.9), so probe chains stay short; the
//! cleaner then stops building and cleans up to where it got, and the next pass continues.
//! The digest is 128 bits (two independent SipHash-1-3 hashes of the key): two keys share a
//! slot only if both halves collide, which for any realistic key count is never (Kafka uses
//! MD5 the same way). Offsets are never negative, so -1 marks an empty slot.
//! Thread-safety: plain owned data, used by one cleaning pass.

use std::hash::Hasher;

/// Bytes one slot takes.
pub const SLOT_BYTES: usize = 24;
/// Kafka's default `log.cleaner.io.buffer.load.factor`.
pub const DEFAULT_LOAD_FACTOR: f64 = 0.9;

/// One slot: digest and offset (-1: empty).
#[derive(Clone, Copy, Debug)]
struct Slot {
    /// The key's digest.
    digest: [u64; 2],
    /// The latest offset seen for the key; -1 when empty.
    offset: i64,
}

const EMPTY: Slot = Slot {
    digest: [0, 0],
    offset: -1,
};

/// The offset map of one cleaning pass. See the module docs.
#[derive(Debug)]
pub struct OffsetMap {
    /// The slots (length fixed at creation).
    slots: Vec<Slot>,
    /// Occupied slots.
    entries: usize,
    /// Entries at which the map counts as full.
    max_entries: usize,
    /// Largest offset put.
    latest_offset: i64,
}

impl OffsetMap {
    /// A map taking at most `budget_bytes` of memory (at least 16 slots).
    pub fn with_budget(budget_bytes: usize, load_factor: f64) -> OffsetMap {
        let n = (budget_bytes / SLOT_BYTES).max(16);
        let max_entries = ((n as f64 * load_factor.clamp(0.1, 0.95)) as usize).clamp(1, n - 1);
        OffsetMap {
            slots: vec![EMPTY; n],
            entries: 0,
            max_entries,
            latest_offset: -1,
        }
    }

    /// The digest of a key.
    pub fn digest(key: &[u8]) -> [u64; 2] {
        let h = |seed: u64| {
            let mut s = std::collections::hash_map::DefaultHasher::new();
            s.write_u64(seed);
            s.write(key);
            s.finish()
        };
        [h(0x5249_4c4c_434c_4e31), h(0x9e37_79b9_7f4a_7c15)]
    }

    fn first_slot(&self, digest: &[u64; 2]) -> usize {
        (digest[0] % self.slots.len() as u64) as usize
    }

    /// Records `offset` as the latest for `key`. Returns `false` (and changes nothing) when
    /// the key is new and the map is full.
    pub fn put(&mut self, key: &[u8], offset: i64) -> bool {
        self.put_digest(Self::digest(key), offset)
    }

    /// [`OffsetMap::put`] for a digest computed before.
    pub fn put_digest(&mut self, digest: [u64; 2], offset: i64) -> bool {
        let n = self.slots.len();
        let mut i = self.first_slot(&digest);
        loop {
            let slot = &mut self.slots[i];
            if slot.offset < 0 {
                if self.entries >= self.max_entries {
                    return false;
                }
                *slot = Slot { digest, offset };
                self.entries += 1;
                break;
            }
            if slot.digest == digest {
                slot.offset = slot.offset.max(offset);
                break;
            }
            i = (i + 1) % n;
        }
        self.latest_offset = self.latest_offset.max(offset);
        true
    }

    /// The latest offset recorded for `key`.
    pub fn get(&self, key: &[u8]) -> Option<i64> {
        self.get_digest(&Self::digest(key))
    }

    /// [`OffsetMap::get`] for a digest computed before.
    pub fn get_digest(&self, digest: &[u64; 2]) -> Option<i64> {
        let n = self.slots.len();
        let mut i = self.first_slot(digest);
        for _ in 0..n {
            let slot = &self.slots[i];
            if slot.offset < 0 {
                return None;
            }
            if slot.digest == *digest {
                return Some(slot.offset);
            }
            i = (i + 1) % n;
        }
        None
    }

    /// Whether a new key would be refused.
    pub fn is_full(&self) -> bool {
        self.entries >= self.max_entries
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Keys the map holds before it counts as full.
    pub fn capacity(&self) -> usize {
        self.max_entries
    }

    /// Memory the slots take, in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.slots.len() * SLOT_BYTES
    }

    /// Fraction of the capacity in use (Kafka's `max-buffer-utilization-percent` / 100).
    pub fn utilization(&self) -> f64 {
        self.entries as f64 / self.slots.len() as f64
    }

    /// Largest offset put, -1 if none.
    pub fn latest_offset(&self) -> i64 {
        self.latest_offset
    }

    /// Empties the map (keeps its memory).
    pub fn clear(&mut self) {
        self.slots.fill(EMPTY);
        self.entries = 0;
        self.latest_offset = -1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_offset_wins_and_a_full_map_refuses_new_keys_only() {
        let mut m = OffsetMap::with_budget(SLOT_BYTES * 20, 0.5);
        assert_eq!(m.capacity(), 10);
        for i in 0..10i64 {
            assert!(m.put(format!("k{i}").as_bytes(), i));
        }
        assert!(m.is_full());
        assert!(!m.put(b"new", 100));
        assert!(m.put(b"k3", 50), "an existing key still updates");
        assert!(m.put(b"k3", 20), "an older offset does not move it back");
        assert_eq!(m.get(b"k3"), Some(50));
        assert_eq!(m.get(b"new"), None);
        assert_eq!(m.latest_offset(), 50);
        assert_eq!(m.memory_bytes(), 20 * SLOT_BYTES);
        m.clear();
        assert!(m.is_empty() && m.get(b"k3").is_none());
    }

    #[test]
    fn many_keys_all_found() {
        let mut m = OffsetMap::with_budget(1 << 20, DEFAULT_LOAD_FACTOR);
        for i in 0..30_000i64 {
            assert!(m.put(&i.to_be_bytes(), i * 2));
        }
        for i in 0..30_000i64 {
            assert_eq!(m.get(&i.to_be_bytes()), Some(i * 2));
        }
        assert_eq!(m.get(b"absent"), None);
    }
}
