//! Step 3 of a pass: the atomic swap of cleaned segments (Kafka's `.cleaned` / `.swap`
//! steps in `LocalLog.replaceSegments`), and its recovery at open.
//!
//! Commit, under `&mut PartitionLog`:
//! 1. check that every segment the pass replaces is still in the log, the same file with
//!    the same size and not the active one (retention, DeleteRecords or a truncation may
//!    have removed or cut it meanwhile): otherwise the `.cleaned` files are removed and the
//!    pass is abandoned ([`CommitOutcome::Abandoned`]);
//! 2. rename each cleaned segment's three files `.cleaned` -> `.swap`, fsync the directory;
//! 3. write the swap manifest `cleaner-swap` (atomic replace): **the commit point**;
//! 4. rename each replaced segment's files to `.deleted` (deleted later, off the lock, by
//!    [`ObsoleteFiles::delete`]), rename `.swap` -> final names, fsync the directory;
//! 5. write the cleaner checkpoint, remove the manifest, fsync the directory; swap the
//!    segments in memory.
//!
//! Recovery ([`recover`], first thing at open): `.cleaned` files are removed; without a
//! (readable) manifest every `.swap` file is removed too (rollback: the old segments were
//! not touched before the manifest existed); with one, the swap is completed: every plain
//! segment in the manifest's range that is not a new one is removed, each `.swap` file
//! is renamed over its final name, then the checkpoint is written and the manifest removed
//! (roll forward; idempotent, so a crash during recovery is fine). `.deleted` files are
//! removed. So the log holds the old segments or the new ones, never a mix. An error after
//! the commit point takes the log offline (like a failed fsync): the next open completes it.
//! Thread-safety: under the log's `&mut`.

use crate::cleaner::checkpoint::{self, SwapManifest, SWAP_MANIFEST_FILE};
use crate::cleaner::clean::{remove_cleaned, CleanStats, CleanedSegments};
use crate::cleaner::writer::{
    segment_file, CleanedSegment, CLEANED_SUFFIX, DELETED_SUFFIX, SEGMENT_EXTS, SWAP_SUFFIX,
};
use crate::error::{LogError, Result};
use crate::io;
use crate::log::PartitionLog;
use crate::recovery::RecoveryReport;
use crate::segment::LogSegment;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The outcome of [`PartitionLog::commit_clean`].
#[derive(Debug)]
pub enum CommitOutcome {
    /// The cleaned segments are in the log.
    Swapped {
        /// The pass's figures.
        stats: CleanStats,
        /// The replaced segments' files, to delete after releasing the log's lock.
        obsolete: ObsoleteFiles,
    },
    /// The log changed under the pass; nothing was swapped and the `.cleaned` files are gone.
    Abandoned {
        /// What changed.
        reason: String,
    },
}

/// Replaced segment files (`*.deleted`), deleted off the log's lock.
#[derive(Debug, Default)]
#[must_use = "the replaced files stay on disk until deleted (or the next open)"]
pub struct ObsoleteFiles {
    /// The files.
    paths: Vec<PathBuf>,
}

impl ObsoleteFiles {
    /// Number of files.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Deletes them, cutting large files down gently first with `pause` between cuts (see
    /// `LogSegment::delete_files_gently`).
    ///
    /// # Errors
    /// I/O failures (the next open removes what is left).
    pub fn delete(self, pause: std::time::Duration) -> Result<()> {
        for p in &self.paths {
            crate::segment::cut_down_gently(p, pause)?;
            io::remove_if_exists(p)?;
        }
        Ok(())
    }
}

/// Counts a finished step; stops with [`LogError::SimulatedCrash`] once `crash_after` steps
/// are done (fault injection).
fn step(done: &mut u32, crash_after: Option<u32>, point: &'static str) -> Result<()> {
    *done += 1;
    if crash_after == Some(*done) {
        return Err(LogError::SimulatedCrash { point });
    }
    Ok(())
}

fn rename_if_exists(from: &Path, to: &Path) -> Result<bool> {
    match io::rename(from, to) {
        Ok(()) => Ok(true),
        Err(LogError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

impl PartitionLog {
    /// Step 3 of a cleaning pass: swaps `cleaned` in (see the module docs).
    ///
    /// # Errors
    /// [`LogError::StorageOffline`] if the log is offline; I/O failures (after the commit
    /// point they take the log offline, and the next open completes the swap).
    pub fn commit_clean(&mut self, cleaned: CleanedSegments) -> Result<CommitOutcome> {
        self.durability.ensure_online()?;
        if let Some(reason) = self.swap_conflict(&cleaned) {
            tracing::info!(dir = %self.dir.display(), %reason, "cleaning pass abandoned");
            cleaned.discard()?;
            return Ok(CommitOutcome::Abandoned { reason });
        }
        let mut committed = false;
        let res = self.swap_in(&cleaned, &mut committed);
        match res {
            Ok(obsolete) => Ok(CommitOutcome::Swapped {
                stats: cleaned.stats,
                obsolete,
            }),
            Err(e) if committed => {
                tracing::error!(dir = %self.dir.display(), error = %e, "cleaner swap failed after its commit point: log offline until reopened");
                self.durability.fail(&e);
                Err(e)
            }
            Err(e) => {
                if !matches!(e, LogError::SimulatedCrash { .. }) {
                    let dir = self.dir.clone();
                    let bases = cleaned.segments.iter().map(|s| s.base_offset);
                    for b in bases.clone() {
                        for ext in SEGMENT_EXTS {
                            let _ = io::remove_if_exists(&segment_file(
                                &dir,
                                b,
                                ext,
                                Some(SWAP_SUFFIX),
                            ));
                        }
                    }
                    let _ = remove_cleaned(&dir, bases);
                    if e.is_sync_failure() {
                        self.durability.fail(&e);
                    }
                }
                Err(e)
            }
        }
    }

    /// Why the planned segments can no longer be replaced, if they cannot.
    fn swap_conflict(&self, cleaned: &CleanedSegments) -> Option<String> {
        let active = self.segments.keys().next_back().copied();
        let replaced = cleaned.segments.iter().flat_map(|s| &s.replaces);
        for base in replaced {
            let Some(p) = cleaned
                .plan
                .segments
                .iter()
                .find(|p| p.base_offset == *base)
            else {
                return Some(format!("segment {base} is not in the plan"));
            };
            match self.segments.get(base) {
                Some(s)
                    if Some(*base) != active
                        && Arc::ptr_eq(&s.log_key, &p.key)
                        && s.size == p.size => {}
                _ => {
                    return Some(format!(
                        "segment {base} was removed or changed during the pass"
                    ))
                }
            }
        }
        None
    }

    /// Steps 2-5; sets `committed` once the manifest is written.
    fn swap_in(
        &mut self,
        cleaned: &CleanedSegments,
        committed: &mut bool,
    ) -> Result<ObsoleteFiles> {
        let (dir, crash) = (self.dir.clone(), cleaned.crash_after);
        let mut done = 0u32;
        if crash == Some(0) {
            return Err(LogError::SimulatedCrash {
                point: "before the swap",
            });
        }
        for s in &cleaned.segments {
            for ext in SEGMENT_EXTS {
                let from = segment_file(&dir, s.base_offset, ext, Some(CLEANED_SUFFIX));
                io::rename(
                    &from,
                    &segment_file(&dir, s.base_offset, ext, Some(SWAP_SUFFIX)),
                )?;
            }
        }
        step(&mut done, crash, "renamed .cleaned to .swap")?;
        io::sync_dir(&dir)?;
        step(&mut done, crash, "synced the .swap names")?;
        let (Some(first), Some(last)) = (cleaned.segments.first(), cleaned.segments.last()) else {
            return Ok(ObsoleteFiles::default());
        };
        let manifest = SwapManifest {
            range_start: first.base_offset,
            range_end: last.next_offset,
            first_dirty_offset: cleaned.end_offset,
            new_bases: cleaned.segments.iter().map(|s| s.base_offset).collect(),
        };
        manifest.write(&dir)?;
        *committed = true;
        step(&mut done, crash, "wrote the swap manifest")?;
        let mut obsolete = ObsoleteFiles::default();
        for base in cleaned.segments.iter().flat_map(|s| &s.replaces) {
            if let Some(seg) = self.segments.remove(base) {
                seg.forget_handles();
            }
            for ext in SEGMENT_EXTS {
                let to = segment_file(&dir, *base, ext, Some(DELETED_SUFFIX));
                if rename_if_exists(&segment_file(&dir, *base, ext, None), &to)? {
                    obsolete.paths.push(to);
                }
            }
        }
        step(
            &mut done,
            crash,
            "renamed the replaced segments to .deleted",
        )?;
        for s in &cleaned.segments {
            for ext in SEGMENT_EXTS {
                let from = segment_file(&dir, s.base_offset, ext, Some(SWAP_SUFFIX));
                io::rename(&from, &segment_file(&dir, s.base_offset, ext, None))?;
            }
            self.segments.insert(s.base_offset, open_cleaned(&dir, s)?);
        }
        step(&mut done, crash, "renamed .swap to the final names")?;
        io::sync_dir(&dir)?;
        step(&mut done, crash, "synced the final names")?;
        checkpoint::write(&dir, cleaned.end_offset)?;
        step(&mut done, crash, "wrote the cleaner checkpoint")?;
        io::remove_if_exists(&dir.join(SWAP_MANIFEST_FILE))?;
        io::sync_dir(&dir)?;
        self.dirty = true;
        tracing::info!(dir = %dir.display(), segments = cleaned.segments.len(), first_dirty_offset = cleaned.end_offset, "cleaned segments swapped in");
        Ok(obsolete)
    }
}

/// A swapped-in segment with its summary from the pass (no scan).
fn open_cleaned(dir: &Path, s: &CleanedSegment) -> Result<LogSegment> {
    let (mut seg, _) = LogSegment::open_files(dir, s.base_offset)?;
    seg.next_offset = s.next_offset;
    seg.max_timestamp = s.max_timestamp;
    seg.offset_of_max_timestamp = s.offset_of_max_timestamp;
    seg.first_batch_timestamp = s.first_batch_timestamp;
    seg.bytes_since_index = s.bytes_since_index;
    Ok(seg)
}

/// Base offset and extension of a segment file name `<base>.<ext>[.<suffix>]`.
fn parse_name(name: &str) -> Option<(i64, &str, Option<&str>)> {
    let (stem, rest) = name.split_once('.')?;
    let base = (stem.len() == 20)
        .then(|| stem.parse::<i64>().ok())
        .flatten()?;
    let (ext, suffix) = match rest.split_once('.') {
        Some((e, s)) => (e, Some(s)),
        None => (rest, None),
    };
    SEGMENT_EXTS.contains(&ext).then_some((base, ext, suffix))
}

/// Open-time recovery of an interrupted swap (see the module docs).
///
/// # Errors
/// I/O failures.
pub(crate) fn recover(dir: &Path, report: &mut RecoveryReport) -> Result<()> {
    let manifest = SwapManifest::read(dir)?;
    let mut changed = false;
    for name in io::list(dir)? {
        let Some(name) = name.to_str() else { continue };
        let Some((base, ext, suffix)) = parse_name(name) else {
            continue;
        };
        let path = dir.join(name);
        match (suffix, &manifest) {
            (Some(CLEANED_SUFFIX) | Some(DELETED_SUFFIX), _) | (Some(SWAP_SUFFIX), None) => {
                io::remove_if_exists(&path)?;
                changed = true;
            }
            (Some(SWAP_SUFFIX), Some(_)) => {
                io::rename(&path, &segment_file(dir, base, ext, None))?;
                changed = true;
            }
            (None, Some(m))
                if base >= m.range_start && base < m.range_end && !m.new_bases.contains(&base) =>
            {
                io::remove_if_exists(&path)?;
                changed = true;
            }
            _ => {}
        }
    }
    if let Some(m) = &manifest {
        io::sync_dir(dir)?;
        checkpoint::write(dir, m.first_dirty_offset)?;
        io::remove_if_exists(&dir.join(SWAP_MANIFEST_FILE))?;
        report.dropped.push(format!(
            "completed an interrupted cleaner swap of offsets {}..{}",
            m.range_start, m.range_end
        ));
    } else if changed {
        report
            .dropped
            .push("removed the files of an uncommitted cleaning pass".to_string());
    }
    if changed || manifest.is_some() {
        io::sync_dir(dir)?;
    }
    Ok(())
}
