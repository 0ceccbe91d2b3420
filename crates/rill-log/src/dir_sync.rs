//! A log directory's group-commit rounds ([`DirSync`]): at most one round at a time per log
//! directory covers every partition queued when it started. The round's leader captures each
//! queued partition's (written end, generation, active file) and publishes the round's jobs;
//! the leader, the directory's helper threads (parked, woken one per job beyond the first,
//! started on demand up to 16, gone after 30 s without work) and every
//! thread waiting on the directory take jobs, so the round's fdatasyncs run side by side (one
//! after another each would wait for its own journal commit or device flush). A job publishes
//! its partition's captured end only if the partition's generation is unchanged (truncation
//! bumps it). See [`crate::flush`] for the waiting side.
//!
//! Async waiters ([`crate::flush::wait_durable_all_async`]) run no fsync themselves: they
//! queue their partitions, kick the directory ([`DirSync::enqueue_and_kick`]: an idle helper
//! thread, or a new one, leads the next round) and await a [`RoundEnd`]. Helper threads lead a
//! round whenever none runs and the queue is not empty, and the thread that ends a round kicks
//! the next one if partitions were queued meanwhile, so queued work never waits for a
//! blocking caller to come along. A round's end wakes every registered async waiter.
//!
//! Lock order: a [`DirSync`]'s mutex before a partition's. Thread-safety: `Send + Sync`.

use crate::error::{LogError, Result};
use crate::file_cache::{FileCache, FileKey};
use crate::flush::PartitionSync;
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

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
    /// Bumped at every round end and whenever queued partitions turn out to need no round:
    /// what async waiters wait for (see [`RoundEnd`]).
    epoch: u64,
    /// Helper threads alive.
    helpers: usize,
    /// Helper threads waiting for work.
    idle_helpers: usize,
    /// Async waiters to wake when the running round ends: (waiter id, waker).
    wakers: Vec<(u64, Waker)>,
    /// Last waiter id handed out.
    last_waiter: u64,
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

thread_local! {
    /// Whether this thread is a directory's helper thread (it leads the next round itself).
    static IS_HELPER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

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

    /// Puts `part` in the queue for the next round unless it is there already.
    pub(crate) fn enqueue(&self, part: &Arc<PartitionSync>) {
        Self::enqueue_locked(&mut self.lock(), part);
    }

    /// Puts `part` in the queue and makes sure a helper thread leads the next round if none
    /// runs, for callers that will not run the round themselves (async waiters).
    pub(crate) fn enqueue_and_kick(self: &Arc<Self>, part: &Arc<PartitionSync>) {
        let mut d = self.lock();
        Self::enqueue_locked(&mut d, part);
        let spawn = self.kick_locked(&mut d);
        drop(d);
        if spawn {
            self.spawn_helpers(1);
        }
    }

    /// If no round runs and partitions are queued, wakes an idle helper to lead one; returns
    /// whether a new helper thread must be started instead (the caller starts it unlocked).
    fn kick_locked(&self, d: &mut DirState) -> bool {
        if d.syncing || d.queue.is_empty() {
            return false;
        }
        if d.idle_helpers > 0 {
            self.work.notify_one();
            return false;
        }
        if d.helpers < MAX_HELPERS {
            d.helpers += 1;
            return true;
        }
        // Every helper is busy; each looks at the queue when its job is done.
        false
    }

    /// The directory's epoch: bumped at every round end, and when queued partitions are
    /// dropped from the queue because they need no round (durable already, or failed).
    pub(crate) fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// A future that is ready once the epoch moves past `epoch` ([`DirSync::epoch`]): read
    /// the epoch, check, queue, then await.
    pub(crate) fn round_end(&self, epoch: u64) -> RoundEnd<'_> {
        RoundEnd {
            dir: self,
            after: epoch,
            id: None,
        }
    }

    fn enqueue_locked(d: &mut DirState, part: &Arc<PartitionSync>) {
        let mut st = part.lock();
        if !st.queued {
            st.queued = true;
            d.queue.push(part.clone());
        }
    }

    /// One step of a wait for `part`: queues it, then leads a round if none runs, or else
    /// helps with the running round's fsyncs and waits for its end. The caller re-checks.
    pub(crate) fn sync_once(self: &Arc<Self>, part: &Arc<PartitionSync>) {
        let mut d = self.lock();
        Self::enqueue_locked(&mut d, part);
        if !d.syncing {
            d.syncing = true;
            drop(d);
            let round = self.start_round();
            self.help(&round);
            return;
        }
        let started = d.rounds;
        while d.syncing && d.rounds == started {
            if let Some(round) = Self::open_round(&d) {
                drop(d);
                self.help(&round);
                d = self.lock();
                continue;
            }
            d = self.changed.wait(d).unwrap_or_else(|p| p.into_inner());
        }
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
        #[cfg(feature = "fault-injection")]
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
        self.spawn_helpers(start);
        round
    }

    /// Starts `n` helper threads (already counted in `helpers`).
    fn spawn_helpers(self: &Arc<Self>, n: usize) {
        for _ in 0..n {
            let dir = Arc::downgrade(self);
            let spawned = std::thread::Builder::new()
                .name("rill-fsync".into())
                .spawn(move || helper_loop(dir));
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start an fsync helper thread");
                self.lock().helpers -= 1;
            }
        }
    }

    /// A round with jobs nobody took yet, if any.
    fn open_round(d: &DirState) -> Option<Arc<Round>> {
        d.round
            .as_ref()
            .filter(|r| r.next.load(Ordering::Acquire) < r.jobs.len())
            .cloned()
    }

    /// Runs jobs of `round` until none is left; whoever finishes the last one ends the round.
    fn help(self: &Arc<Self>, round: &Round) {
        loop {
            let i = round.next.fetch_add(1, Ordering::AcqRel);
            let Some(job) = round.jobs.get(i) else { break };
            let started = job.part.observer.get().map(|o| (o.clock)());
            let res = sync_key(job.key.as_deref());
            if let (Some(o), Some(t)) = (job.part.observer.get(), started) {
                if job.key.is_some() {
                    (o.record)((o.clock)().saturating_duration_since(t));
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
                    Err(e) => {
                        st.failed = Some(e.to_string());
                        job.part.offline.store(true, Ordering::Release);
                    }
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

    fn end_round(self: &Arc<Self>) {
        let mut d = self.lock();
        d.syncing = false;
        d.round = None;
        d.rounds += 1;
        d.epoch += 1;
        self.changed.notify_all();
        let wakers = std::mem::take(&mut d.wakers);
        // Partitions queued during this round: the next one starts even if only async
        // waiters are there to need it. A helper thread ending the round leads it itself.
        let spawn = !IS_HELPER.get() && self.kick_locked(&mut d);
        drop(d);
        if spawn {
            self.spawn_helpers(1);
        }
        for (_, w) in wakers {
            w.wake();
        }
    }

    /// Claims the next round (sets `syncing`) if none runs and partitions are queued; the
    /// caller then starts it with [`DirSync::start_round`] after unlocking. Returns the async
    /// waiters to wake (after unlocking) if queued partitions were dropped as needing no round:
    /// a waiter whose partition became durable without a round (a roll) or failed must
    /// re-check rather than wait for a round that may never come.
    fn lead_if_queued(d: &mut DirState) -> (bool, Vec<(u64, Waker)>) {
        if d.syncing {
            return (false, Vec::new());
        }
        let queued = d.queue.len();
        // A blocking waiter queues its partition again while it waits for the running round,
        // which may well cover it: such entries have nothing left to sync and are no reason
        // for a round.
        d.queue.retain(|part| {
            let mut st = part.lock();
            let behind = st.failed.is_none() && st.durable < st.written_end;
            if !behind {
                st.queued = false;
            }
            behind
        });
        let wake = if d.queue.len() < queued {
            d.epoch += 1;
            std::mem::take(&mut d.wakers)
        } else {
            Vec::new()
        };
        if d.queue.is_empty() {
            return (false, wake);
        }
        d.syncing = true;
        (true, wake)
    }
}

/// Ready once a round of its directory ends (see [`DirSync::round_end`]).
#[derive(Debug)]
pub(crate) struct RoundEnd<'a> {
    /// The directory.
    dir: &'a DirSync,
    /// The directory's epoch when the waiter last checked.
    after: u64,
    /// This waiter's id in the directory's waker list, once registered.
    id: Option<u64>,
}

impl Future for RoundEnd<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut d = self.dir.lock();
        if d.epoch > self.after {
            return Poll::Ready(());
        }
        // Re-polled: replace this waiter's waker instead of adding another.
        if let Some(id) = self.id {
            if let Some(slot) = d.wakers.iter_mut().find(|(i, _)| *i == id) {
                slot.1.clone_from(cx.waker());
                return Poll::Pending;
            }
        }
        d.last_waiter += 1;
        let id = d.last_waiter;
        d.wakers.push((id, cx.waker().clone()));
        drop(d);
        self.id = Some(id);
        Poll::Pending
    }
}

/// A helper thread of a log directory: takes round jobs as they come, and leads a round when
/// none runs and partitions are queued (async waiters run none themselves); exits after
/// [`HELPER_IDLE`] without work or when the directory's [`DirSync`] is gone.
fn helper_loop(dir: Weak<DirSync>) {
    IS_HELPER.set(true);
    loop {
        let Some(dir) = dir.upgrade() else { return };
        let mut d = dir.lock();
        let round = loop {
            if let Some(round) = DirSync::open_round(&d) {
                drop(d);
                break round;
            }
            let (lead, wake) = DirSync::lead_if_queued(&mut d);
            if lead || !wake.is_empty() {
                drop(d);
                for (_, w) in wake {
                    w.wake();
                }
                if lead {
                    break dir.start_round();
                }
                // The queue may have changed while unlocked: look again.
                d = dir.lock();
                continue;
            }
            d.idle_helpers += 1;
            let (guard, waited) = dir
                .work
                .wait_timeout(d, HELPER_IDLE)
                .unwrap_or_else(|p| p.into_inner());
            d = guard;
            d.idle_helpers -= 1;
            let work_left =
                DirSync::open_round(&d).is_some() || (!d.syncing && !d.queue.is_empty());
            if waited.timed_out() && !work_left {
                d.helpers -= 1;
                return;
            }
        };
        dir.help(&round);
    }
}

fn sync_key(key: Option<&FileKey>) -> Result<()> {
    key.map_or(Ok(()), sync_file)
}

/// fsyncs (data) the file of `key`; a file deleted meanwhile is skipped.
pub(crate) fn sync_file(key: &FileKey) -> Result<()> {
    let file = match FileCache::global().get(key) {
        Ok(f) => f,
        // Deleted by retention or truncation: the roll before it already fsynced the bytes,
        // or the bytes no longer exist (the generation check then refuses to publish).
        Err(LogError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    crate::io::sync_data(&file, key.path())
}

/// Test hooks into a round (feature `fault-injection`, never in the shipped binary).
#[cfg(feature = "fault-injection")]
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
