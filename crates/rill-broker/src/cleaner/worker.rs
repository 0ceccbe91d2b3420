//! One cleaner thread's loop: choose, plan, clean, commit, delete (see the module docs).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rill_log::cleaner::throttle::aborted;
use rill_log::{Cleaner, CleanerConfig, CommitOutcome, LogError};

use super::select::{filthiest, Candidate};
use super::{LogKey, Shared};
use crate::clock::now_ms;
use crate::replica::{Partition, ReplicaManager};

/// Bytes of cleaner I/O between checks that the partition is still hosted here.
const HOSTED_CHECK_BYTES: u64 = 1 << 20;
/// Longest single sleep of the throttle (so a stop is noticed quickly).
const MAX_THROTTLE_SLEEP: Duration = Duration::from_millis(100);
/// Pause between cuts when deleting replaced segment files.
const DELETE_PAUSE: Duration = Duration::from_millis(1);

/// Counts the thread as dead (`DeadThreadCount`) if it unwinds.
struct DeathWatch<'a>(&'a Shared);

impl Drop for DeathWatch<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!("a log cleaner thread died");
            self.0.metrics.record_dead_thread();
        }
    }
}

/// Removes a log from the in-progress set when its pass ends, however it ends.
struct InProgress<'a>(&'a Shared, LogKey);

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        lock(&self.0.in_progress).remove(&self.1);
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Thread `id`'s loop until stopped.
pub(super) fn run(id: usize, shared: &Shared, replicas: &ReplicaManager) {
    let _watch = DeathWatch(shared);
    // The offset map (up to the thread's share of the dedupe buffer) is allocated at the
    // first pass: a broker without compacted topics never pays for it.
    let mut cleaner: Option<Cleaner> = None;
    let backoff = Duration::from_millis(shared.settings.backoff_ms);
    while !shared.stop.is_set() {
        let worked = clean_filthiest(id, shared, replicas, &mut cleaner);
        if !worked && shared.stop.wait(backoff) {
            break;
        }
    }
}

/// Picks the dirtiest cleanable log and cleans it; false when there was nothing to do.
fn clean_filthiest(
    id: usize,
    shared: &Shared,
    replicas: &ReplicaManager,
    cleaner: &mut Option<Cleaner>,
) -> bool {
    let now = now_ms();
    // Chosen and marked in progress under one lock, so two threads never pick the same log.
    let (p, _guard) = {
        let mut in_progress = lock(&shared.in_progress);
        let uncleanable = lock(&shared.uncleanable).clone();
        let mut parts: Vec<Arc<Partition>> = Vec::new();
        let mut cands = Vec::new();
        for p in replicas.all() {
            let key = (p.topic_id, p.index);
            if in_progress.contains(&key) || uncleanable.contains(&key) {
                continue;
            }
            match p.cleaner_state(now) {
                Ok(Some((info, max_compaction_lag_ms))) => {
                    cands.push(Candidate {
                        info,
                        max_compaction_lag_ms,
                    });
                    parts.push(p);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "cleaner could not read the log's state")
                }
            }
        }
        let (pick, check) = filthiest(&cands, now);
        shared.metrics.record_check(id, check);
        let Some(i) = pick else { return false };
        let p = parts.swap_remove(i);
        let key = (p.topic_id, p.index);
        in_progress.insert(key);
        (p, InProgress(shared, key))
    };
    let cleaner = cleaner.get_or_insert_with(|| {
        Cleaner::new(CleanerConfig {
            dedupe_buffer_bytes: shared.settings.dedupe_bytes_per_thread(),
            load_factor: shared.settings.load_factor,
            ..CleanerConfig::default()
        })
    });
    match clean_one(id, shared, replicas, &p, cleaner, now) {
        Ok(()) => {}
        Err(LogError::CleanerAborted { reason }) => {
            shared.metrics.record_abandoned();
            tracing::info!(topic = %p.topic, partition = p.index, %reason, "cleaning pass aborted");
        }
        Err(e) if !still_hosted(replicas, &p) => {
            shared.metrics.record_abandoned();
            tracing::info!(topic = %p.topic, partition = p.index, error = %e, "cleaning pass of a removed partition stopped");
        }
        Err(e) => {
            tracing::error!(topic = %p.topic, partition = p.index, error = %e, "cleaning failed: partition marked uncleanable");
            let mut u = lock(&shared.uncleanable);
            u.insert((p.topic_id, p.index));
            shared.metrics.set_uncleanable(u.len());
        }
    }
    true
}

/// Whether `p` is still the partition hosted under its name (not deleted or recreated).
fn still_hosted(replicas: &ReplicaManager, p: &Arc<Partition>) -> bool {
    replicas
        .get(&p.topic, p.index)
        .is_some_and(|q| Arc::ptr_eq(&q, p))
}

/// One pass over `p`.
fn clean_one(
    id: usize,
    shared: &Shared,
    replicas: &ReplicaManager,
    p: &Arc<Partition>,
    cleaner: &mut Cleaner,
    now: i64,
) -> Result<(), LogError> {
    let started = Instant::now();
    let Some(plan) = p.plan_clean(now)? else {
        return Ok(());
    };
    let unlimited = shared.settings.io_max_bytes_per_second.is_infinite();
    let mut since_check = 0u64;
    let mut throttle = |bytes: u64| -> rill_log::Result<()> {
        if shared.stop.is_set() {
            return Err(aborted("broker shutting down"));
        }
        since_check += bytes;
        if since_check >= HOSTED_CHECK_BYTES {
            since_check = 0;
            if !still_hosted(replicas, p) {
                return Err(aborted("partition no longer hosted here"));
            }
        }
        if unlimited {
            return Ok(());
        }
        let wait = lock(&shared.bucket).take(bytes, shared.epoch.elapsed());
        let until = Instant::now() + wait;
        loop {
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            if shared.stop.wait((until - now).min(MAX_THROTTLE_SLEEP)) {
                return Err(aborted("broker shutting down"));
            }
        }
    };
    let cleaned = cleaner.clean(plan, &mut throttle)?;
    if !still_hosted(replicas, p) {
        cleaned.discard()?;
        return Err(aborted("partition no longer hosted here"));
    }
    match p.commit_clean(cleaned)? {
        CommitOutcome::Swapped { stats, obsolete } => {
            let secs = started.elapsed().as_secs_f64();
            tracing::info!(
                topic = %p.topic, partition = p.index,
                bytes_read = stats.bytes_read + stats.map_bytes_read,
                bytes_written = stats.bytes_written,
                records_removed = stats.records_removed,
                first_dirty = stats.first_dirty_offset, end = stats.end_offset,
                secs, "log cleaned"
            );
            shared.metrics.record_pass(id, &stats, secs);
            if let Err(e) = obsolete.delete(DELETE_PAUSE) {
                // The next open removes what is left.
                tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "deleting replaced segment files failed");
            }
        }
        CommitOutcome::Abandoned { reason } => {
            shared.metrics.record_abandoned();
            tracing::info!(topic = %p.topic, partition = p.index, %reason, "cleaning pass abandoned");
        }
    }
    Ok(())
}
