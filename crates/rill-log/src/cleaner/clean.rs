//! Step 2 of a pass, the heavy work without the log's lock: build the offset map over the
//! dirty section, then rewrite the segments below where it got into cleaned segments.
//!
//! The map is filled from the first dirty offset on, batch by batch, until it is full or the
//! first uncleanable offset is reached; the offset it stopped at is the pass's end (the new
//! cleaner checkpoint). Every planned segment below the end is then rewritten, in groups
//! ([`crate::cleaner::grouping`]), by the rules of [`crate::cleaner::filter`]; records at or
//! above the end are dirty still and kept as they are. Each group becomes one
//! `<base>.log.cleaned` file with its indexes ([`crate::cleaner::writer`]), fsynced. A failed
//! pass removes the `.cleaned` files it wrote. Memory: the map (its budget, allocated once
//! per [`Cleaner`]), a read buffer of about 1 MiB (larger only for a larger batch), one
//! decompressed batch (capped), one rebuilt batch and 1 MiB of pending output.
//! Thread-safety: a `Cleaner` belongs to one thread.

use crate::batch::BatchHeader;
use crate::batch_builder::{BatchBuilder, BatchTemplate, NewRecord};
use crate::cleaner::filter::{self, BatchFate, BatchTally, RecordFate};
use crate::cleaner::grouping::group_by_size;
use crate::cleaner::offset_map::{OffsetMap, DEFAULT_LOAD_FACTOR};
use crate::cleaner::plan::{CleanPlan, PlannedSegment};
use crate::cleaner::reader::BatchReader;
use crate::cleaner::throttle::Throttle;
use crate::cleaner::writer::{
    segment_file, CleanedSegment, SegmentWriter, CLEANED_SUFFIX, SEGMENT_EXTS,
};
use crate::compression::{Codec, DEFAULT_MAX_DECOMPRESSED_BYTES};
use crate::error::Result;
use crate::records::{delete_horizon_ms, Records};
use std::collections::HashSet;

/// Settings of a [`Cleaner`].
#[derive(Clone, Debug)]
pub struct CleanerConfig {
    /// Memory of the offset map: `log.cleaner.dedupe.buffer.size` / `log.cleaner.threads`.
    pub dedupe_buffer_bytes: usize,
    /// `log.cleaner.io.buffer.load.factor`.
    pub load_factor: f64,
    /// Largest decompressed batch accepted.
    pub max_decompressed_bytes: usize,
    /// Compression level of rewritten batches per codec (`None`: Kafka's default level).
    /// Defaults to fast levels: at Kafka's defaults (lz4 9 is LZ4 HC, gzip 6) rewriting
    /// compressed batches ran at a fraction of the disk's write rate.
    pub rewrite_level: fn(Codec) -> Option<i32>,
}

/// The default [`CleanerConfig::rewrite_level`]: gzip 1, lz4 1 (LZ4's fast mode), zstd 1.
pub fn fast_rewrite_level(codec: Codec) -> Option<i32> {
    match codec {
        Codec::Gzip | Codec::Lz4 | Codec::Zstd => Some(1),
        Codec::None | Codec::Snappy => None,
    }
}

impl Default for CleanerConfig {
    /// Kafka's defaults: 128 MiB map, load factor 0.9.
    fn default() -> Self {
        CleanerConfig {
            dedupe_buffer_bytes: 128 << 20,
            load_factor: DEFAULT_LOAD_FACTOR,
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
            rewrite_level: fast_rewrite_level,
        }
    }
}

/// Figures of one pass (Kafka's cleaner metrics and log line take them; the caller measures
/// the time).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CleanStats {
    /// Bytes read while building the map.
    pub map_bytes_read: u64,
    /// Bytes read while rewriting segments.
    pub bytes_read: u64,
    /// Bytes written (cleaned logs and indexes).
    pub bytes_written: u64,
    /// Records read while rewriting.
    pub records_read: u64,
    /// Records kept.
    pub records_kept: u64,
    /// Records removed (superseded, keyless, expired tombstones).
    pub records_removed: u64,
    /// Of those, tombstones past their delete horizon.
    pub tombstones_removed: u64,
    /// Of those, records without a key.
    pub keyless_removed: u64,
    /// Batches read while rewriting.
    pub batches_read: u64,
    /// Batches dropped whole.
    pub batches_removed: u64,
    /// Batches written again (fewer records, a new delete horizon, or kept empty).
    pub batches_rewritten: u64,
    /// Transaction markers removed (their transactions had no data left).
    pub markers_removed: u64,
    /// Keys in the map at the end of the build.
    pub map_entries: usize,
    /// Keys the map holds before it is full.
    pub map_capacity: usize,
    /// Memory of the map's slots.
    pub map_memory_bytes: usize,
    /// Entries / slots.
    pub map_utilization: f64,
    /// Segments replaced.
    pub segments_cleaned: usize,
    /// Cleaned segments written.
    pub segments_written: usize,
    /// The dirty section's start.
    pub first_dirty_offset: i64,
    /// The pass's end: the new first dirty offset.
    pub end_offset: i64,
}

/// The result of [`Cleaner::clean`], for [`crate::PartitionLog::commit_clean`].
#[derive(Debug)]
pub struct CleanedSegments {
    /// The plan it was made from.
    pub(crate) plan: CleanPlan,
    /// The cleaned segments, as `.cleaned` files.
    pub segments: Vec<CleanedSegment>,
    /// The new cleaner checkpoint.
    pub end_offset: i64,
    /// Figures.
    pub stats: CleanStats,
    /// Fault injection: `commit_clean` "crashes" after this many steps.
    pub(crate) crash_after: Option<u32>,
}

impl CleanedSegments {
    /// Makes `commit_clean` stop with [`crate::LogError::SimulatedCrash`] after `steps` of
    /// its steps, leaving the files as a crash there would (feature `fault-injection`).
    #[cfg(feature = "fault-injection")]
    pub fn crash_after(&mut self, steps: u32) {
        self.crash_after = Some(steps);
    }

    /// The plan the pass ran on.
    pub fn plan(&self) -> &CleanPlan {
        &self.plan
    }

    /// Removes the `.cleaned` files (a pass given up).
    ///
    /// # Errors
    /// I/O failures.
    pub fn discard(self) -> Result<()> {
        remove_cleaned(&self.plan.dir, self.segments.iter().map(|s| s.base_offset))
    }
}

/// Removes the `.cleaned` files of the segments at `bases`.
pub(crate) fn remove_cleaned(
    dir: &std::path::Path,
    bases: impl Iterator<Item = i64>,
) -> Result<()> {
    for base in bases {
        for ext in SEGMENT_EXTS {
            crate::io::remove_if_exists(&segment_file(dir, base, ext, Some(CLEANED_SUFFIX)))?;
        }
    }
    Ok(())
}

/// A cleaner: the offset map and buffers, reused pass after pass.
#[derive(Debug)]
pub struct Cleaner {
    /// Settings.
    config: CleanerConfig,
    /// The offset map.
    map: OffsetMap,
    /// Read buffer.
    read_buf: Vec<u8>,
    /// Decompressed records of one batch.
    scratch: Vec<u8>,
    /// Encoded records of a batch being rebuilt.
    records_buf: Vec<u8>,
    /// A rebuilt batch.
    out_buf: Vec<u8>,
}

impl Cleaner {
    /// A cleaner; allocates the offset map (`dedupe_buffer_bytes`).
    pub fn new(config: CleanerConfig) -> Cleaner {
        let map = OffsetMap::with_budget(config.dedupe_buffer_bytes, config.load_factor);
        Cleaner {
            config,
            map,
            read_buf: Vec::new(),
            scratch: Vec::new(),
            records_buf: Vec::new(),
            out_buf: Vec::new(),
        }
    }

    /// Memory of the offset map.
    pub fn map_memory_bytes(&self) -> usize {
        self.map.memory_bytes()
    }

    /// Runs step 2 of a pass on `plan` (no lock needed), pacing I/O through `throttle`.
    ///
    /// # Errors
    /// I/O failures, damaged batches ([`crate::LogError::CorruptBatch`]), or the throttle's
    /// error; the `.cleaned` files written so far are removed.
    pub fn clean(
        &mut self,
        plan: CleanPlan,
        throttle: &mut dyn Throttle,
    ) -> Result<CleanedSegments> {
        let mut stats = CleanStats {
            first_dirty_offset: plan.info.first_dirty_offset,
            ..CleanStats::default()
        };
        let end = self.build_map(&plan, throttle, &mut stats)?;
        stats.end_offset = end;
        stats.map_entries = self.map.len();
        stats.map_capacity = self.map.capacity();
        stats.map_memory_bytes = self.map.memory_bytes();
        stats.map_utilization = self.map.utilization();
        let below: Vec<PlannedSegment> = plan
            .segments
            .iter()
            .take_while(|s| s.base_offset < end)
            .cloned()
            .collect();
        let mut done = Vec::new();
        // Producers whose current transaction has data batches in the log (Kafka's
        // `CleanedTransactionMetadata`): their markers stay. Spans the groups.
        let mut open_txns = HashSet::new();
        for g in group_by_size(&below, plan.segment_bytes) {
            match self.clean_group(&plan, &below[g], end, &mut open_txns, throttle, &mut stats) {
                Ok(seg) => done.push(seg),
                Err(e) => {
                    if let Err(e2) = remove_cleaned(&plan.dir, below.iter().map(|s| s.base_offset))
                    {
                        tracing::warn!(dir = %plan.dir.display(), error = %e2, "removing .cleaned files failed");
                    }
                    return Err(e);
                }
            }
        }
        stats.segments_cleaned = below.len();
        stats.segments_written = done.len();
        Ok(CleanedSegments {
            plan,
            segments: done,
            end_offset: end,
            stats,
            crash_after: None,
        })
    }

    /// Fills the map from the first dirty offset; returns where it stopped.
    fn build_map(
        &mut self,
        plan: &CleanPlan,
        throttle: &mut dyn Throttle,
        stats: &mut CleanStats,
    ) -> Result<i64> {
        self.map.clear();
        let first_dirty = plan.info.first_dirty_offset;
        let max = self.config.max_decompressed_bytes;
        for seg in plan.segments.iter().filter(|s| s.next_offset > first_dirty) {
            let mut reader = BatchReader::new(seg, &mut self.read_buf);
            while let Some((bytes, h, read)) = reader.next_batch()? {
                stats.map_bytes_read += read;
                throttle.on_io(read)?;
                if h.is_control()
                    || h.last_offset() < first_dirty
                    || h.record_count == 0
                    || plan.is_aborted(&h)
                {
                    continue;
                }
                let records = Records::decode(bytes, &mut self.scratch, max)?;
                for r in records.iter() {
                    let r = r?;
                    let Some(key) = r.key else { continue };
                    if r.offset >= first_dirty && !self.map.put(key, r.offset) {
                        return Ok(r.offset);
                    }
                }
            }
        }
        Ok(plan.info.first_uncleanable_offset)
    }

    /// Rewrites one group of segments into a `.cleaned` segment.
    fn clean_group(
        &mut self,
        plan: &CleanPlan,
        group: &[PlannedSegment],
        end: i64,
        open_txns: &mut HashSet<i64>,
        throttle: &mut dyn Throttle,
        stats: &mut CleanStats,
    ) -> Result<CleanedSegment> {
        let (first, last) = match (group.first(), group.last()) {
            (Some(f), Some(l)) => (f, l),
            _ => return Err(crate::LogError::invalid("empty segment group")),
        };
        let bases = group.iter().map(|s| s.base_offset).collect();
        let mut w = SegmentWriter::create(
            &plan.dir,
            first.base_offset,
            last.next_offset,
            plan.index_interval_bytes,
            bases,
        )?;
        let Cleaner {
            map,
            read_buf,
            scratch,
            records_buf,
            out_buf,
            config,
        } = self;
        for seg in group {
            let mut reader = BatchReader::new(seg, read_buf);
            while let Some((bytes, h, read)) = reader.next_batch()? {
                stats.bytes_read += read;
                stats.batches_read += 1;
                throttle.on_io(read)?;
                let fate = if h.is_control() {
                    let has_data = open_txns.remove(&h.producer_id);
                    let fate = if h.base_offset >= end {
                        BatchFate::KeepAsIs
                    } else {
                        filter::control_batch_fate(
                            has_data,
                            delete_horizon_ms(&h),
                            plan.now_ms,
                            plan.delete_retention_ms,
                        )
                    };
                    match fate {
                        BatchFate::Rewrite { delete_horizon_ms } => {
                            out_buf.clear();
                            rebuild_control(
                                bytes,
                                &h,
                                delete_horizon_ms,
                                scratch,
                                records_buf,
                                out_buf,
                                config.max_decompressed_bytes,
                            )?;
                            stats.batches_rewritten += 1;
                            let rh = BatchHeader::parse(out_buf)?;
                            let n = w.append(out_buf, &rh)?;
                            stats.bytes_written += n;
                            throttle.on_io(n)?;
                        }
                        BatchFate::Drop => {
                            stats.markers_removed += 1;
                            w.forget_aborted(h.producer_id, h.base_offset);
                        }
                        BatchFate::KeepAsIs => {}
                    }
                    fate
                } else if h.base_offset >= end || h.record_count == 0 {
                    note_txn_data(open_txns, &h);
                    BatchFate::KeepAsIs
                } else {
                    note_txn_data(open_txns, &h);
                    let ctx = BatchCtx {
                        map,
                        plan,
                        aborted: plan.is_aborted(&h),
                        end,
                        max: config.max_decompressed_bytes,
                        level: config.rewrite_level,
                    };
                    let records = Records::decode(bytes, scratch, ctx.max)?;
                    let (tally, fate) = ctx.decide(&records, &h, stats)?;
                    if let BatchFate::Rewrite { delete_horizon_ms } = fate {
                        out_buf.clear();
                        ctx.rebuild(&records, &h, delete_horizon_ms, records_buf, out_buf)?;
                        stats.batches_rewritten += 1;
                        let rh = BatchHeader::parse(out_buf)?;
                        let n = w.append(out_buf, &rh)?;
                        stats.bytes_written += n;
                        throttle.on_io(n)?;
                    }
                    stats.records_kept += u64::from(tally.kept);
                    fate
                };
                match fate {
                    BatchFate::KeepAsIs => {
                        if !h.is_control() && h.base_offset >= end {
                            stats.records_kept += h.record_count.max(0) as u64;
                        }
                        let n = w.append(bytes, &h)?;
                        stats.bytes_written += n;
                        throttle.on_io(n)?;
                    }
                    BatchFate::Drop => stats.batches_removed += 1,
                    BatchFate::Rewrite { .. } => {}
                }
            }
        }
        let (out, n) = w.finish()?;
        stats.bytes_written += n;
        throttle.on_io(n)?;
        Ok(out)
    }
}

/// Notes a transactional data batch: its producer's current transaction has data in the log.
fn note_txn_data(open_txns: &mut HashSet<i64>, h: &BatchHeader) {
    if h.is_transactional() && h.producer_id >= 0 {
        open_txns.insert(h.producer_id);
    }
}

/// Writes the control batch `bytes` again into `out`, its records unchanged, with the delete
/// horizon `delete_horizon_ms` (KIP-534: the marker goes once it has passed).
fn rebuild_control(
    bytes: &[u8],
    h: &BatchHeader,
    delete_horizon_ms: Option<i64>,
    scratch: &mut Vec<u8>,
    records_buf: &mut Vec<u8>,
    out: &mut Vec<u8>,
    max: usize,
) -> Result<()> {
    let records = Records::decode(bytes, scratch, max)?;
    let mut template = BatchTemplate::from_header(h);
    template.delete_horizon_ms = delete_horizon_ms;
    let codec = Codec::from_attributes(h.attributes)?;
    let mut b = BatchBuilder::new(template, codec, None, std::mem::take(records_buf));
    for r in records.iter() {
        b.push(&NewRecord::keeping_delta(&r?, h))?;
    }
    *records_buf = b.finish_into(out)?;
    Ok(())
}

/// What deciding one data batch needs.
struct BatchCtx<'a> {
    /// The offset map.
    map: &'a OffsetMap,
    /// The plan (time, retention, producers).
    plan: &'a CleanPlan,
    /// The batch belongs to an aborted transaction: every record below `end` goes.
    aborted: bool,
    /// The pass's end: records at or above are kept.
    end: i64,
    /// Decompression cap.
    max: usize,
    /// Levels of rewritten batches.
    level: fn(Codec) -> Option<i32>,
}

impl BatchCtx<'_> {
    fn fate(&self, r: &crate::records::Record<'_>, horizon: Option<i64>) -> RecordFate {
        if r.offset >= self.end {
            return RecordFate::Keep;
        }
        if self.aborted {
            return RecordFate::Aborted;
        }
        filter::record_fate(r, self.map, horizon, self.plan.now_ms)
    }

    /// Tallies the records' fates and decides the batch's.
    fn decide(
        &self,
        records: &Records<'_>,
        h: &BatchHeader,
        stats: &mut CleanStats,
    ) -> Result<(BatchTally, BatchFate)> {
        let horizon = records.delete_horizon_ms();
        let mut t = BatchTally::default();
        for r in records.iter() {
            let r = r?;
            t.total += 1;
            stats.records_read += 1;
            match self.fate(&r, horizon) {
                RecordFate::Keep => {
                    t.kept += 1;
                    if r.value.is_none() && r.offset < self.end {
                        t.kept_tombstones += 1;
                    }
                }
                RecordFate::Keyless => stats.keyless_removed += 1,
                RecordFate::ExpiredTombstone => stats.tombstones_removed += 1,
                RecordFate::Superseded | RecordFate::Aborted => {}
            }
        }
        stats.records_removed += u64::from(t.total - t.kept);
        let last = h.producer_id >= 0
            && self.plan.producer_last_offsets.get(&h.producer_id) == Some(&h.last_offset());
        let fate = filter::data_batch_fate(
            &t,
            last,
            horizon,
            self.plan.now_ms,
            self.plan.delete_retention_ms,
        );
        Ok((t, fate))
    }

    /// Writes the batch again with its kept records into `out`.
    fn rebuild(
        &self,
        records: &Records<'_>,
        h: &BatchHeader,
        delete_horizon_ms: Option<i64>,
        records_buf: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let horizon = records.delete_horizon_ms();
        let mut template = BatchTemplate::from_header(h);
        template.delete_horizon_ms = delete_horizon_ms;
        let codec = Codec::from_attributes(h.attributes)?;
        let mut b = BatchBuilder::new(
            template,
            codec,
            (self.level)(codec),
            std::mem::take(records_buf),
        );
        for r in records.iter() {
            let r = r?;
            if self.fate(&r, horizon) == RecordFate::Keep {
                b.push(&NewRecord::keeping_delta(&r, h))?;
            }
        }
        *records_buf = b.finish_into(out)?;
        Ok(())
    }
}
