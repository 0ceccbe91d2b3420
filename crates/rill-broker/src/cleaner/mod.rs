//! The log cleaner service (Kafka's `LogCleaner` and `LogCleanerManager`): the blocking
//! threads that compact the `cleanup.policy=compact` logs this node hosts.
//!
//! `log.cleaner.threads` std threads (cleaning is blocking file work and never runs on the
//! async workers) each repeat: pick the dirtiest cleanable log not being cleaned by another
//! thread ([`select`]), plan under the partition's log lock, clean without it (paced by the
//! shared `log.cleaner.io.max.bytes.per.second` token bucket), commit under the lock, and
//! delete the replaced files after; with nothing cleanable a thread sleeps
//! `log.cleaner.backoff.ms`. Every replica cleans its own log, bounded by its high watermark.
//! Shutdown aborts a pass in progress at its next I/O ([`rill_log::cleaner::throttle::aborted`])
//! and joins the threads; a partition deleted or truncated during a pass makes the pass
//! abort or `commit_clean` abandon it. A partition whose pass fails (a damaged batch, an I/O
//! error) is given up on until restart (`uncleanable-partitions-count`), as Kafka does.
//!
//! Thread-safety: the threads share [`Shared`] (stop flag, the set of logs in progress, the
//! uncleanable set, the token bucket, the metrics), all behind short mutexes or atomics.

mod metrics;
mod select;
mod settings;
mod worker;

pub use metrics::{CleanerMetrics, CleanerSnapshot, LastCheck, LastPass};
pub use select::{filthiest, Candidate};
pub use settings::CleanerSettings;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rill_log::TokenBucket;
use uuid::Uuid;

use crate::replica::ReplicaManager;

/// A partition's identity across recreations of its topic.
pub(crate) type LogKey = (Uuid, i32);

/// A stop signal a sleeping thread wakes up for.
#[derive(Debug, Default)]
pub(crate) struct Stop {
    flag: AtomicBool,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Stop {
    fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    fn set(&self) {
        self.flag.store(true, Ordering::Release);
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.cv.notify_all();
    }

    /// Sleeps `d` or until stopped; true when stopped.
    fn wait(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        while !self.is_set() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            g = match self.cv.wait_timeout(g, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        self.is_set()
    }
}

/// What the cleaner threads share.
#[derive(Debug)]
pub(crate) struct Shared {
    settings: CleanerSettings,
    stop: Stop,
    /// Logs a thread is cleaning now.
    in_progress: Mutex<HashSet<LogKey>>,
    /// Logs given up on after an error.
    uncleanable: Mutex<HashSet<LogKey>>,
    /// `log.cleaner.io.max.bytes.per.second`, shared by all threads as Kafka's throttler.
    bucket: Mutex<TokenBucket>,
    /// The bucket's clock origin.
    epoch: Instant,
    metrics: Arc<CleanerMetrics>,
}

/// The running cleaner threads.
#[derive(Debug)]
pub struct CleanerService {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl CleanerService {
    /// Starts `settings.threads` cleaner threads over the partitions `host` holds (nothing
    /// when `log.cleaner.enable` is false).
    ///
    /// # Errors
    /// The OS refusing a thread.
    pub fn start<H>(
        host: Arc<H>,
        settings: CleanerSettings,
        metrics: Arc<CleanerMetrics>,
    ) -> std::io::Result<CleanerService>
    where
        H: AsRef<ReplicaManager> + Send + Sync + 'static,
    {
        let n = if settings.runs() { settings.threads } else { 0 };
        metrics.set_threads(n);
        let shared = Arc::new(Shared {
            bucket: Mutex::new(TokenBucket::new(settings.io_max_bytes_per_second)),
            settings,
            stop: Stop::default(),
            in_progress: Mutex::new(HashSet::new()),
            uncleanable: Mutex::new(HashSet::new()),
            epoch: Instant::now(),
            metrics,
        });
        let mut threads = Vec::with_capacity(n);
        for i in 0..n {
            let (s, h) = (shared.clone(), host.clone());
            let t = std::thread::Builder::new()
                .name(format!("rill-log-cleaner-{i}"))
                .spawn(move || worker::run(i, &s, (*h).as_ref()));
            match t {
                Ok(t) => threads.push(t),
                Err(e) => {
                    let svc = CleanerService { shared, threads };
                    svc.shutdown();
                    return Err(e);
                }
            }
        }
        if n > 0 {
            tracing::info!(threads = n, "log cleaner started");
        }
        Ok(CleanerService { shared, threads })
    }

    /// Stops the threads (a pass in progress is aborted at its next I/O and its `.cleaned`
    /// files removed) and waits for them. Blocking.
    pub fn shutdown(self) {
        self.shared.stop.set();
        for t in self.threads {
            let _ = t.join();
        }
    }
}
