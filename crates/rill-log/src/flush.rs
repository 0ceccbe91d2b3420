//! Group commit: one fsync round makes every append that arrived before it started durable,
//! in every partition of the same log directory.
//!
//! The log (under its lock) reports each append with [`Durability::note_written`]: the new
//! written end offset and the active segment's file key, updated together. A caller that
//! needs durability calls [`Durability::wait_durable`] *after releasing the log's lock*: if
//! the durable offset already covers it, it returns; otherwise it queues its partition on the
//! log directory's [`DirSync`] (once) and, if no round runs there, becomes the directory's
//! syncer: it yields once (lets runnable writers append), takes every queued partition,
//! captures each one's (written end, active file, generation), fdatasyncs those files outside
//! every mutex, publishes each captured end as durable and wakes all waiters; otherwise it
//! waits for the running round and re-checks. So the appends of all partitions of a log
//! directory that arrive during a round share the next one, and one thread (per directory)
//! drives the fsyncs. Rolled segments are fsynced by the roll itself, which then calls
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
//! how long each of its partition's group-commit fsyncs took; without one no clock is read.
//!
//! Lock order: a [`DirSync`]'s mutex before a partition's; the log's own lock is never held
//! here. Thread-safety: `Send + Sync`, shared as `Arc<Durability>`.

use crate::error::{LogError, Result};
use crate::file_cache::{FileCache, FileKey};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

/// Told the duration of every group-commit fsync of a partition (called on the syncing
/// thread, outside every lock; keep it short).
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

/// One partition's durability state.
#[derive(Debug)]
struct State {
    /// Offset after the last byte handed to the OS.
    written_end: i64,
    /// Offset after the last byte known durable.
    durable: i64,
    /// The file the bytes between `durable` and `written_end` live in.
    active: Option<Arc<FileKey>>,
    /// Bumped by truncation; a round publishes only if it is unchanged.
    generation: u64,
    /// Set after an fsync failure.
    failed: Option<String>,
    /// Whether the partition is in its directory's queue for the next round.
    queued: bool,
}

/// The part of a partition a round works on (shared with the directory's queue).
#[derive(Debug)]
struct PartitionSync {
    /// The partition directory (for errors).
    dir: PathBuf,
    /// See [`State`].
    state: Mutex<State>,
    /// Group-commit fsyncs that covered this partition.
    syncs: AtomicU64,
    /// Told each fsync's duration, if set.
    observer: OnceLock<SyncObserver>,
}

impl PartitionSync {
    fn lock(&self) -> MutexGuard<'_, State> {
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
    /// The log directory's round coordinator.
    dir_sync: Arc<DirSync>,
}

/// The state of a log directory's rounds.
#[derive(Debug, Default)]
struct DirState {
    /// Partitions waiting for the next round.
    queue: Vec<Arc<PartitionSync>>,
    /// Whether a round runs now (being prepared when `round` is `None`).
    syncing: bool,
    /// The running round's fsyncs, once captured.
    round: Option<Arc<Round>>,
    /// Rounds completed.
    rounds: u64,
    /// Helper threads alive.
    helpers: usize,
    /// Helper threads waiting for work.
    idle_helpers: usize,
}

/// One partition's part of a round: fsync `key`, then publish `target` if the partition's
/// generation is still `generation`.
#[derive(Debug)]
struct Job {
    /// The partition.
    part: Arc<PartitionSync>,
    /// Written end captured at the start of the round.
    target: i64,
    /// Generation captured with it.
    generation: u64,
    /// The file to fsync (`None`: already durable).
    key: Option<Arc<FileKey>>,
}

/// The fsyncs of one round. The leader, the directory's helper threads and every thread
/// waiting on the directory take jobs until none is left, so the round's fsyncs run side by
/// side (one after another, each would wait for its own journal commit or device flush).
#[derive(Debug)]
struct Round {
    /// The jobs.
    jobs: Vec<Job>,
    /// Next job to hand out.
    next: AtomicUsize,
    /// Jobs finished.
    finished: AtomicUsize,
}

/// Group commit across the partitions of one log directory: at most one fsync round runs at
/// a time, covering every partition queued when it started.
#[derive(Debug, Default)]
pub struct DirSync {
    /// Queue and round state.
    state: Mutex<DirState>,
    /// Signalled when a round's jobs are ready and when a round ends.
    changed: Condvar,
    /// Signalled once per job for the helper threads.
    work: Condvar,
}

/// Most fsync helper threads per log directory.
const MAX_HELPERS: usize = 16;

/// A helper thread without work for this long exits.
const HELPER_IDLE: Duration = Duration::from_secs(30);

/// Process-wide map from log directory to its [`DirSync`].
fn registry() -> &'static Mutex<HashMap<PathBuf, Weak<DirSync>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<PathBuf, Weak<DirSync>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

impl DirSync {
    /// The coordinator shared by every partition directory under `log_dir`.
    pub fn for_dir(log_dir: &Path) -> Arc<DirSync> {
        let key = std::fs::canonicalize(log_dir).unwrap_or_else(|_| log_dir.to_path_buf());
        let mut map = registry().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = map.get(&key).and_then(Weak::upgrade) {
            return existing;
        }
        map.retain(|_, w| w.strong_count() > 0);
        let fresh = Arc::new(DirSync::default());
        map.insert(key, Arc::downgrade(&fresh));
        fresh
    }

    fn lock(&self) -> MutexGuard<'_, DirState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rounds completed so far (for benchmarks and tests).
    pub fn rounds(&self) -> u64 {
        self.lock().rounds
    }

    /// Helper threads alive now (for tests).
    pub fn helper_threads(&self) -> usize {
        self.lock().helpers
    }

    /// Starts a round as its leader (the caller set `syncing`): captures every queued
    /// partition, publishes the jobs, and wakes (or starts) helper threads for all but one.
    fn start_round(self: &Arc<Self>) -> Arc<Round> {
        // Let writers that are runnable right now append first: more batches per round.
        std::thread::yield_now();
        let queue = std::mem::take(&mut self.lock().queue);
        let jobs: Vec<Job> = queue
            .into_iter()
            .map(|part| {
                let mut st = part.lock();
                st.queued = false;
                // Nothing to do when a roll or flush made it durable since it was queued.
                let key = (st.durable < st.written_end)
                    .then(|| st.active.clone())
                    .flatten();
                let (target, generation) = (st.written_end, st.generation);
                drop(st);
                Job {
                    part,
                    target,
                    generation,
                    key,
                }
            })
            .collect();
        #[cfg(feature = "test-util")]
        hooks::after_capture(
            &jobs
                .iter()
                .map(|j| j.part.dir.as_path())
                .collect::<Vec<_>>(),
        );
        let round = Arc::new(Round {
            jobs,
            next: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
        });
        let extra = round.jobs.len().saturating_sub(1);
        let mut d = self.lock();
        d.round = Some(round.clone());
        self.changed.notify_all();
        let wake = extra.min(d.idle_helpers);
        for _ in 0..wake {
            self.work.notify_one();
        }
        let start = (extra - wake).min(MAX_HELPERS - d.helpers);
        d.helpers += start;
        drop(d);
        for _ in 0..start {
            let dir = Arc::downgrade(self);
            let spawned = std::thread::Builder::new()
                .name("rill-fsync".into())
                .spawn(move || helper_loop(dir));
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start an fsync helper thread");
                self.lock().helpers -= 1;
            }
        }
        round
    }

    /// A round with jobs nobody took yet, if any.
    fn open_round(d: &DirState) -> Option<Arc<Round>> {
        d.round
            .as_ref()
            .filter(|r| r.next.load(Ordering::Acquire) < r.jobs.len())
            .cloned()
    }

    /// Runs jobs of `round` until none is left; whoever finishes the last one ends the round.
    fn help(&self, round: &Round) {
        loop {
            let i = round.next.fetch_add(1, Ordering::AcqRel);
            let Some(job) = round.jobs.get(i) else { break };
            let started = job.part.observer.get().map(|_| Instant::now());
            let res = sync_key(job.key.as_deref());
            if let (Some(o), Some(t)) = (job.part.observer.get(), started) {
                if job.key.is_some() {
                    (o.0)(t.elapsed());
                }
            }
            if job.key.is_some() {
                job.part.syncs.fetch_add(1, Ordering::Relaxed);
            }
            {
                let mut st = job.part.lock();
                match res {
                    Ok(()) if st.generation == job.generation => {
                        st.durable = st.durable.max(job.target)
                    }
                    Ok(()) => {}
                    Err(e) => st.failed = Some(e.to_string()),
                }
            }
            if round.finished.fetch_add(1, Ordering::AcqRel) + 1 == round.jobs.len() {
                self.end_round();
            }
        }
        if round.jobs.is_empty() {
            self.end_round();
        }
    }

    fn end_round(&self) {
        let mut d = self.lock();
        d.syncing = false;
        d.round = None;
        d.rounds += 1;
        self.changed.notify_all();
    }
}

impl Durability {
    pub(crate) fn new(dir: PathBuf, end: i64, group_commit: bool) -> Durability {
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
                observer: OnceLock::new(),
            }),
            group_commit: AtomicBool::new(group_commit),
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
            {
                let st = self.part.lock();
                if let Some(reason) = &st.failed {
                    return Err(LogError::StorageOffline {
                        path: self.part.dir.clone(),
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
            }
            let dir = &self.dir_sync;
            let mut d = dir.lock();
            self.enqueue(&mut d);
            if !d.syncing {
                d.syncing = true;
                drop(d);
                let round = dir.start_round();
                dir.help(&round);
                continue;
            }
            // A round runs: help with its fsyncs, then wait for its end and re-check.
            let started = d.rounds;
            while d.syncing && d.rounds == started {
                if let Some(round) = DirSync::open_round(&d) {
                    drop(d);
                    dir.help(&round);
                    d = dir.lock();
                    continue;
                }
                d = dir.changed.wait(d).unwrap_or_else(|p| p.into_inner());
            }
        }
    }

    /// Puts this partition in its directory's queue unless it is there already.
    fn enqueue(&self, d: &mut DirState) {
        let mut st = self.part.lock();
        if !st.queued {
            st.queued = true;
            d.queue.push(self.part.clone());
        }
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
        self.enqueue(&mut self.dir_sync.lock());
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

    pub(crate) fn set_group_commit(&self, on: bool) {
        self.group_commit.store(on, Ordering::Relaxed);
    }

    /// Bytes up to `end` were written to the file `active`.
    pub(crate) fn note_written(&self, end: i64, active: &Arc<FileKey>) {
        let mut st = self.part.lock();
        st.written_end = end;
        if st.active.as_ref().is_none_or(|k| !Arc::ptr_eq(k, active)) {
            st.active = Some(active.clone());
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

/// A helper thread of a log directory: takes round jobs as they come; exits after
/// [`HELPER_IDLE`] without work or when the directory's [`DirSync`] is gone.
fn helper_loop(dir: Weak<DirSync>) {
    loop {
        let Some(dir) = dir.upgrade() else { return };
        let mut d = dir.lock();
        let round = loop {
            if let Some(round) = DirSync::open_round(&d) {
                break round;
            }
            d.idle_helpers += 1;
            let (guard, waited) = dir
                .work
                .wait_timeout(d, HELPER_IDLE)
                .unwrap_or_else(|p| p.into_inner());
            d = guard;
            d.idle_helpers -= 1;
            if waited.timed_out() && DirSync::open_round(&d).is_none() {
                d.helpers -= 1;
                return;
            }
        };
        drop(d);
        dir.help(&round);
    }
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

/// Test hooks into a round (feature `test-util`).
#[cfg(feature = "test-util")]
pub mod hooks {
    use std::path::Path;
    use std::sync::Mutex;

    /// A function given the partition directories a round captured, run before any of their
    /// fsyncs starts (a test may truncate or append meanwhile).
    type Hook = Box<dyn Fn(&[&Path]) + Send + Sync>;

    static AFTER_CAPTURE: Mutex<Option<Hook>> = Mutex::new(None);

    /// Installs (or with `None` removes) the after-capture hook, for every directory.
    pub fn set_after_capture(hook: Option<Hook>) {
        *AFTER_CAPTURE.lock().unwrap_or_else(|p| p.into_inner()) = hook;
    }

    pub(crate) fn after_capture(dirs: &[&Path]) {
        if let Some(h) = AFTER_CAPTURE
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            h(dirs);
        }
    }
}
