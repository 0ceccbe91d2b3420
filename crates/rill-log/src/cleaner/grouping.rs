//! Which segments are rewritten into one cleaned segment (Kafka's `groupSegmentsBySize`).
//!
//! Consecutive segments join a group while the group's bytes stay within `segment.bytes`
//! and its offsets within `i32::MAX` of its first base (relative offsets in the indexes).
//! Cleaning shrinks segments, so grouping keeps the segment count from staying at what the
//! dirty log had. Pure function.

use crate::cleaner::plan::PlannedSegment;

/// Splits `segments` (in offset order) into groups, returned as index ranges.
pub fn group_by_size(segments: &[PlannedSegment], max_bytes: u64) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let mut start = 0;
    while start < segments.len() {
        let base = segments[start].base_offset;
        let mut bytes = segments[start].size;
        let mut end = start + 1;
        while let Some(next) = segments.get(end) {
            let span = next.next_offset.saturating_sub(base);
            if bytes + next.size > max_bytes || span > i64::from(i32::MAX) {
                break;
            }
            bytes += next.size;
            end += 1;
        }
        groups.push(start..end);
        start = end;
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file_cache::FileKey;
    use std::sync::Arc;

    fn seg(base: i64, next: i64, size: u64, f: &Arc<std::fs::File>) -> PlannedSegment {
        PlannedSegment {
            base_offset: base,
            next_offset: next,
            size,
            key: FileKey::new(format!("/x/{base}").into()),
            file: f.clone(),
        }
    }

    #[test]
    fn groups_respect_bytes_and_offset_span() {
        let f = Arc::new(tempfile::tempfile().unwrap());
        let segs = vec![
            seg(0, 10, 40, &f),
            seg(10, 20, 40, &f),
            seg(20, 30, 40, &f),
            seg(30, 3_000_000_000, 1, &f),
        ];
        assert_eq!(group_by_size(&segs, 100), vec![0..2, 2..3, 3..4]);
        assert_eq!(group_by_size(&segs[..3], 1000), vec![0..3]);
        assert!(group_by_size(&[], 10).is_empty());
    }
}
