//! Group commit: one fsync makes every append that arrived before it started durable.
//!
//! The log (under its lock) reports each append with [`Durability::note_written`]: the new
//! written end offset and the active segment's file key, updated together. A caller that
//! needs durability calls [`Durability::wait_durable`] *after releasing the log's lock*:
//! if the durable offset already covers it, it returns; if no fsync runs, the caller becomes
//! the syncer: it captures (written end, active file), fsyncs that file outside the mutex,
//! publishes the captured end as durable and wakes all waiters; otherwise it waits for the
//! running fsync and re-checks. So appends that arrive during an fsync share the next one.
//! Rolled segments are fsynced by the roll itself, which then calls [`Durability::mark_durable`].
//! Truncation calls [`Durability::reset`], which bumps a generation so an fsync that started
//! before it cannot publish offsets that no longer exist. A failed fsync poisons the handle:
//! every later wait returns [`LogError::StorageOffline`] (the page cache state is unknown).
//! With `FlushPolicy::Interval` waits return at once; the log fsyncs on its thresholds.
//!
//! An optional [`SyncObserver`] (set once by the owner, e.g. for a metrics histogram) is told
//! how long each group-commit fsync took; without one no clock is read.
//!
//! Thread-safety: `Send + Sync`, shared as `Arc<Durability>`; one `Mutex` + `Condvar`.

use crate::error::{LogError, Result};
use crate::file_cache::{FileCache, FileKey};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// Told the duration of every group-commit fsync (called on the syncing thread, outside
/// the durability lock; keep it short).
#[derive(Clone)]
pub struct SyncObserver(Arc<dyn Fn(Duration) + Send + Sync>);

impl SyncObserver {
    /// Wraps a callback.
    pub fn new(f: impl Fn(Duration) + Send + Sync + 'static) -> Self {
        SyncObserver(Arc::new(f))
    }
}

impl std::fmt::Debug for SyncObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncObserver")
    }
}

#[derive(Debug)]
struct State {
    /// Offset after the last byte handed to the OS.
    written_end: i64,
    /// Offset after the last byte known durable.
    durable: i64,
    /// Whether some caller is fsyncing now.
    syncing: bool,
    /// The file the bytes between `durable` and `written_end` live in.
    active: Option<Arc<FileKey>>,
    /// Bumped by truncation; an fsync publishes only if it is unchanged.
    generation: u64,
    /// Set after an fsync failure.
    failed: Option<String>,
}

/// Durability waits for one partition log; see the module docs.
#[derive(Debug)]
pub struct Durability {
    dir: PathBuf,
    group_commit: AtomicBool,
    state: Mutex<State>,
    cv: Condvar,
    syncs: AtomicU64,
    observer: OnceLock<SyncObserver>,
}

impl Durability {
    pub(crate) fn new(dir: PathBuf, end: i64, group_commit: bool) -> Durability {
        Durability {
            dir,
            group_commit: AtomicBool::new(group_commit),
            state: Mutex::new(State {
                written_end: end,
                durable: end,
                syncing: false,
                active: None,
                generation: 0,
                failed: None,
            }),
            cv: Condvar::new(),
            syncs: AtomicU64::new(0),
            observer: OnceLock::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Blocks until every offset below `end_offset` is durable under the log's policy.
    ///
    /// # Errors
    /// [`LogError::NotWritten`] if `end_offset` is beyond what was appended,
    /// [`LogError::StorageOffline`] if an fsync failed (now or earlier), I/O errors of the fsync.
    pub fn wait_durable(&self, end_offset: i64) -> Result<()> {
        let mut st = self.lock();
        loop {
            if let Some(reason) = &st.failed {
                return Err(LogError::StorageOffline {
                    path: self.dir.clone(),
                    reason: reason.clone(),
                });
            }
            if st.durable >= end_offset {
                return Ok(());
            }
            if end_offset > st.written_end {
                return Err(LogError::NotWritten {
                    requested: end_offset,
                    log_end: st.written_end,
                });
            }
            if !self.group_commit.load(Ordering::Relaxed) {
                return Ok(());
            }
            if st.syncing {
                st = self.cv.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            st.syncing = true;
            // Let writers that are runnable right now append first: more batches per fsync.
            drop(st);
            std::thread::yield_now();
            st = self.lock();
            let (target, gen, key) = (st.written_end, st.generation, st.active.clone());
            drop(st);
            let started = self.observer.get().map(|_| Instant::now());
            let res = sync_key(key.as_deref());
            if let (Some(o), Some(t)) = (self.observer.get(), started) {
                (o.0)(t.elapsed());
            }
            self.syncs.fetch_add(1, Ordering::Relaxed);
            st = self.lock();
            st.syncing = false;
            match res {
                Ok(()) if st.generation == gen => st.durable = st.durable.max(target),
                Ok(()) => {}
                Err(e) => {
                    st.failed = Some(e.to_string());
                    self.cv.notify_all();
                    return Err(e);
                }
            }
            self.cv.notify_all();
        }
    }

    /// Offset after the last byte known durable.
    pub fn durable_offset(&self) -> i64 {
        self.lock().durable
    }

    /// Sets the observer told each group-commit fsync's duration; only the first call takes
    /// effect (returns false for later ones).
    pub fn set_sync_observer(&self, observer: SyncObserver) -> bool {
        self.observer.set(observer).is_ok()
    }

    /// Number of group-commit fsyncs performed so far (for benchmarks and tests).
    pub fn sync_count(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    pub(crate) fn set_group_commit(&self, on: bool) {
        self.group_commit.store(on, Ordering::Relaxed);
    }

    /// Bytes up to `end` were written to the file `active`.
    pub(crate) fn note_written(&self, end: i64, active: &Arc<FileKey>) {
        let mut st = self.lock();
        st.written_end = end;
        if st.active.as_ref().is_none_or(|k| !Arc::ptr_eq(k, active)) {
            st.active = Some(active.clone());
        }
    }

    /// Everything below `end` was fsynced by the log itself.
    pub(crate) fn mark_durable(&self, end: i64) {
        let mut st = self.lock();
        st.durable = st.durable.max(end.min(st.written_end));
        self.cv.notify_all();
    }

    /// The log was truncated (or restarted) to `end` with active file `active`.
    pub(crate) fn reset(&self, end: i64, active: &Arc<FileKey>, durable: bool) {
        let mut st = self.lock();
        st.generation += 1;
        st.written_end = end;
        st.durable = if durable { end } else { st.durable.min(end) };
        st.active = Some(active.clone());
        self.cv.notify_all();
    }
}

fn sync_key(key: Option<&FileKey>) -> Result<()> {
    let Some(key) = key else { return Ok(()) };
    let file = match FileCache::global().get(key) {
        Ok(f) => f,
        // Deleted by retention or truncation: the roll before it already fsynced the bytes,
        // or the bytes no longer exist (the generation check then refuses to publish).
        Err(LogError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    file.sync_data()
        .map_err(|e| LogError::io("sync", key.path(), e))
}
