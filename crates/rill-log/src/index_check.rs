//! A full consistency check of a log's indexes against its segments (tests and tools).
//!
//! Each offset index entry must point at the start of a batch whose last offset is the
//! entry's, entries strictly increasing; each time index entry must have a timestamp not
//! below the previous one and an offset inside the segment. Reads never depend on this
//! (indexes are verified hints), but a cleaned segment's indexes must be as good as an
//! appended one's. Thread-safety: `&PartitionLog`, positioned reads.

use crate::log::PartitionLog;

impl PartitionLog {
    /// Checks every segment's offset and time index; the first problem found, described.
    ///
    /// # Errors
    /// A description of the first inconsistency (or I/O failure).
    pub fn verify_indexes(&self) -> std::result::Result<(), String> {
        for seg in self.segments.values() {
            let file = seg.file().map_err(|e| e.to_string())?;
            let name = seg.log_path().display().to_string();
            let oi = &seg.offset_index;
            let mut prev = None;
            for i in 0..oi.entries() {
                let e = oi.file().read_entry(i).map_err(|e| e.to_string())?;
                let rel = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
                let pos = u32::from_be_bytes([e[4], e[5], e[6], e[7]]);
                let off = seg.base_offset + i64::from(rel);
                if prev.is_some_and(|(o, p)| o >= off || p >= pos) {
                    return Err(format!("{name}: offset index entry {i} does not increase"));
                }
                prev = Some((off, pos));
                match seg
                    .header_at(&file, u64::from(pos))
                    .map_err(|e| e.to_string())?
                {
                    Some(h) if h.last_offset() == off => {}
                    other => {
                        return Err(format!(
                            "{name}: offset index entry {i} ({off} at {pos}) finds {:?}",
                            other.map(|h| h.last_offset())
                        ))
                    }
                }
            }
            let ti = &seg.time_index;
            let mut last_ts = i64::MIN;
            for i in 0..ti.entries() {
                let e = ti.file().read_entry(i).map_err(|e| e.to_string())?;
                let mut t = [0u8; 8];
                t.copy_from_slice(&e[..8]);
                let ts = i64::from_be_bytes(t);
                let off =
                    seg.base_offset + i64::from(u32::from_be_bytes([e[8], e[9], e[10], e[11]]));
                if ts < last_ts
                    || off < seg.base_offset
                    || off >= seg.next_offset.max(seg.base_offset + 1)
                {
                    return Err(format!(
                        "{name}: time index entry {i} ({ts}, {off}) is out of order or range"
                    ));
                }
                last_ts = ts;
            }
        }
        Ok(())
    }
}
