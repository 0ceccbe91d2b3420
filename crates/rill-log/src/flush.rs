//! Group commit, the waiting side: one fsync round makes every append that arrived before it
//! started durable, in every partition of the same log directory (rounds: [`crate::dir_sync`]).
//!
//! The log (under its lock) reports each append with [`Durability::note_written`]: the new
//! written end offset and the active segment's file key, updated together. A caller that
//! needs durability calls [`Durability::wait_durable`] *after releasing the log's lock*: if
//! the durable offset already covers it, it returns; otherwise it queues its partition on the
//! log directory's [`DirSync`] and leads a round, or helps with the running one and re-checks
//! when it ends. [`wait_durable_all`] queues several partitions before the first wait, so one
//! round covers them together. Rolled segments are fsynced by the roll itself, which then calls
//! [`Durability::mark_durable`]. Truncation calls [`Durability::reset`], which bumps the
//! partition's generation so a round that captured it before cannot publish offsets that no
//! longer exist. A failed fsync poisons that partition: every later wait returns
//! [`LogError::StorageOffline`] (the page cache state is unknown); other partitions of the
//! round are unaffected. With `FlushPolicy::Interval` waits return at once; the log fsyncs on
//! its thresholds.
//!
//! The log directory is the parent of the partition directory; partitions find its
//! [`DirSync`] in a process-wide registry, so nothing has to be passed around.
//!
//! An optional [`SyncObserver`] (set once by the owner, e.g. for a metrics histogram) is told
//! how long each of its partition's group-commit fsyncs took, timed with the clock the owner
//! gives it; without one no clock is read.
//!
//! Lock order: a [`DirSync`]'s mutex before a partition's; the log's own lock is never held
//! here. Thread-safety: `Send + Sync`, shared as `Arc<Durability>`.

use crate::config::FlushPolicy;
use crate::error::{LogError, Result};
use crate::file_cache::FileKey;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

#[cfg(feature = "fault-injection")]
pub use crate::dir_sync::hooks;
pub use crate::dir_sync::DirSync;

/// Told the duration of every group-commit fsync of a partition (called on the syncing
/// thread, outside every lock; keep it short), measured with the owner's clock (rill-log
/// reads none of its own).
#[derive(Clone)]
pub struct SyncObserver {
    /// The clock the fsyncs are timed with (e.g. `Instant::now`).
    pub(crate) clock: fn() -> Instant,
    /// The callback.
    pub(crate) record: Arc<dyn Fn(Duration) + Send + Sync>,
}

impl SyncObserver {
    /// Wraps a callback told each fsync's duration as measured with `clock`.
    pub fn new(clock: fn() -> Instant, f: impl Fn(Duration) + Send + Sync + 'static) -> Self {
        SyncObserver {
            clock,
            record: Arc::new(f),
        }
    }
}

impl std::fmt::Debug for SyncObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncObserver")
    }
}

/// One partition's durability state.
#[derive(Debug)]
pub(crate) struct State {
    /// Offset after the last byte handed to the OS.
    pub(crate) written_end: i64,
    /// Offset after the last byte known durable.
    pub(crate) durable: i64,
    /// The file the bytes between `durable` and `written_end` live in.
    pub(crate) active: Option<Arc<FileKey>>,
    /// Bumped by truncation; a round publishes only if it is unchanged.
    pub(crate) generation: u64,
    /// Set after an fsync failure.
    pub(crate) failed: Option<String>,
    /// Whether the partition is in its directory's queue for the next round.
    pub(crate) queued: bool,
}

/// The part of a partition a round works on (shared with the directory's queue).
#[derive(Debug)]
pub(crate) struct PartitionSync {
    /// The partition directory (for errors).
    pub(crate) dir: PathBuf,
    /// See [`State`].
    pub(crate) state: Mutex<State>,
    /// Group-commit fsyncs that covered this partition.
    pub(crate) syncs: AtomicU64,
    /// Set with `State::failed`, read without the lock by every append
    /// ([`Durability::ensure_online`]).
    pub(crate) offline: AtomicBool,
    /// Told each fsync's duration, if set.
    pub(crate) observer: OnceLock<SyncObserver>,
}

impl PartitionSync {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Durability waits for one partition log; see the module docs.
#[derive(Debug)]
pub struct Durability {
    /// This partition's state.
    part: Arc<PartitionSync>,
    /// Whether waits fsync (group commit) or return at once (interval policy).
    group_commit: AtomicBool,
    /// Whether an append may fsync inline (see [`FlushPolicy::append_may_fsync`]).
    append_may_fsync: AtomicBool,
    /// The log directory's round coordinator.
    dir_sync: Arc<DirSync>,
}

impl Durability {
    pub(crate) fn new(dir: PathBuf, end: i64, policy: &FlushPolicy) -> Durability {
        let dir_sync = DirSync::for_dir(dir.parent().unwrap_or(&dir));
        Durability {
            part: Arc::new(PartitionSync {
                dir,
                state: Mutex::new(State {
                    written_end: end,
                    durable: end,
                    active: None,
                    generation: 0,
                    failed: None,
                    queued: false,
                }),
                syncs: AtomicU64::new(0),
                offline: AtomicBool::new(false),
                observer: OnceLock::new(),
            }),
            group_commit: AtomicBool::new(*policy == FlushPolicy::GroupCommit),
            append_may_fsync: AtomicBool::new(policy.append_may_fsync()),
            dir_sync,
        }
    }

    /// Blocks until every offset below `end_offset` is durable under the log's policy.
    ///
    /// # Errors
    /// [`LogError::NotWritten`] if `end_offset` is beyond what was appended,
    /// [`LogError::StorageOffline`] if an fsync failed (now or earlier).
    pub fn wait_durable(&self, end_offset: i64) -> Result<()> {
        loop {
            if let Some(done) = self.durable_now(end_offset) {
                return done;
            }
            self.dir_sync.sync_once(&self.part);
        }
    }

    /// [`Durability::wait_durable`] for async callers: queues the partition, has a helper
    /// thread lead the round, and awaits its end; never blocks the caller's thread on I/O.
    ///
    /// # Errors
    /// As [`Durability::wait_durable`].
    pub async fn wait_durable_async(&self, end_offset: i64) -> Result<()> {
        loop {
            // Read the epoch before checking, so a round ending in between still wakes this
            // waiter.
            let epoch = self.dir_sync.epoch();
            if let Some(done) = self.durable_now(end_offset) {
                return done;
            }
            self.dir_sync.enqueue_and_kick(&self.part);
            self.dir_sync.round_end(epoch).await;
        }
    }

    /// What [`Durability::wait_durable`] would return without waiting, or `None` when it
    /// would have to wait for an fsync. Never blocks on I/O (only on this partition's lock).
    pub fn durable_now(&self, end_offset: i64) -> Option<Result<()>> {
        let st = self.part.lock();
        if let Some(reason) = &st.failed {
            return Some(Err(LogError::StorageOffline {
                path: self.part.dir.clone(),
                reason: reason.clone(),
            }));
        }
        if st.durable >= end_offset {
            return Some(Ok(()));
        }
        if end_offset > st.written_end {
            return Some(Err(LogError::NotWritten {
                requested: end_offset,
                log_end: st.written_end,
            }));
        }
        if !self.group_commit.load(Ordering::Relaxed) {
            return Some(Ok(()));
        }
        None
    }

    /// Queues this partition for the next round if offsets below `end` still need an fsync.
    fn enqueue_if_behind(&self, end: i64) {
        if !self.group_commit.load(Ordering::Relaxed) {
            return;
        }
        {
            let st = self.part.lock();
            if st.failed.is_some() || st.durable >= end || end > st.written_end {
                return;
            }
        }
        self.dir_sync.enqueue(&self.part);
    }

    /// Offset after the last byte known durable.
    pub fn durable_offset(&self) -> i64 {
        self.part.lock().durable
    }

    /// Sets the observer told each group-commit fsync's duration; only the first call takes
    /// effect (returns false for later ones).
    pub fn set_sync_observer(&self, observer: SyncObserver) -> bool {
        self.part.observer.set(observer).is_ok()
    }

    /// Number of group-commit fsyncs of this partition so far (for benchmarks and tests).
    pub fn sync_count(&self) -> u64 {
        self.part.syncs.load(Ordering::Relaxed)
    }

    /// The log directory's round coordinator.
    pub fn dir_sync(&self) -> &Arc<DirSync> {
        &self.dir_sync
    }

    /// Whether durability waits fsync (group commit) rather than return at once (the
    /// interval policy, Kafka's page-cache mode). Under group commit the page cache holds at
    /// most about one round of unsynced bytes, so an append never waits for writeback.
    pub fn group_commit(&self) -> bool {
        self.group_commit.load(Ordering::Relaxed)
    }

    /// Whether an append to this log may fsync inline (see
    /// [`FlushPolicy::append_may_fsync`]): a caller on an async worker then appends on a
    /// blocking thread.
    pub fn append_may_fsync(&self) -> bool {
        self.append_may_fsync.load(Ordering::Relaxed)
    }

    /// Takes on a new flush policy (the log's configuration changed).
    pub(crate) fn set_policy(&self, policy: &FlushPolicy) {
        self.group_commit
            .store(*policy == FlushPolicy::GroupCommit, Ordering::Relaxed);
        self.append_may_fsync
            .store(policy.append_may_fsync(), Ordering::Relaxed);
    }

    /// Bytes up to `end` were written to the file `active`.
    pub(crate) fn note_written(&self, end: i64, active: &Arc<FileKey>) {
        let mut st = self.part.lock();
        st.written_end = end;
        if st.active.as_ref().is_none_or(|k| !Arc::ptr_eq(k, active)) {
            st.active = Some(active.clone());
        }
    }

    /// An fsync of the log's own failed: waits fail from now on (the bytes the kernel could
    /// not write may be gone from the page cache, so a later fsync proves nothing).
    pub(crate) fn fail(&self, e: &LogError) {
        self.part.lock().failed = Some(e.to_string());
        self.part.offline.store(true, Ordering::Release);
    }

    /// [`LogError::StorageOffline`] once an fsync of this partition failed (one atomic load
    /// while it has not: every append calls it).
    pub(crate) fn ensure_online(&self) -> Result<()> {
        if !self.part.offline.load(Ordering::Acquire) {
            return Ok(());
        }
        match &self.part.lock().failed {
            Some(reason) => Err(LogError::StorageOffline {
                path: self.part.dir.clone(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Everything below `end` was fsynced by the log itself.
    pub(crate) fn mark_durable(&self, end: i64) {
        let mut st = self.part.lock();
        st.durable = st.durable.max(end.min(st.written_end));
    }

    /// The log was truncated (or restarted) to `end` with active file `active`.
    pub(crate) fn reset(&self, end: i64, active: &Arc<FileKey>, durable: bool) {
        let mut st = self.part.lock();
        st.generation += 1;
        st.written_end = end;
        st.durable = if durable { end } else { st.durable.min(end) };
        st.active = Some(active.clone());
    }
}

/// [`wait_durable_all`] for async callers: awaits instead of blocking and runs no fsync on
/// the caller's thread (the log directory's helper threads lead the rounds), so a runtime
/// worker may await it; it does not depend on any async runtime. Returns one result per pair.
pub async fn wait_durable_all_async(waits: &[(&Durability, i64)]) -> Vec<Result<()>> {
    for (d, end) in waits {
        d.enqueue_if_behind(*end);
    }
    let mut results = Vec::with_capacity(waits.len());
    for (d, end) in waits {
        results.push(d.wait_durable_async(*end).await);
    }
    results
}

/// Waits until every `(durability, end offset)` is durable. All partitions are queued before
/// the first wait, so one round covers them together (its fsyncs side by side); blocking.
/// Returns one result per pair, as [`Durability::wait_durable`] would.
pub fn wait_durable_all(waits: &[(&Durability, i64)]) -> Vec<Result<()>> {
    for (d, end) in waits {
        d.enqueue_if_behind(*end);
    }
    waits.iter().map(|(d, end)| d.wait_durable(*end)).collect()
}
