//! Deletes files on one background thread: segment files that DeleteRecords took out of a log
//! (the request is answered once the new log start is checkpointed, not after the files are
//! gone) and the directories of deleted partitions (renamed out of the way at once by
//! `PartitionLog::trash`). Each `.log` is cut down a few MiB at a time with pauses (about
//! 1.5 s per GiB), to spare the fsyncs of every other partition. Kafka, too, deletes such
//! files asynchronously. A crash before the deletion leaves segments below the log start,
//! which opening the log deletes, or renamed directories, which the broker queues here at
//! start.

use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Mutex, OnceLock};

use rill_log::RemovedFiles;

/// Deletions queued at most (a few words each); past it (or if the thread cannot start) the
/// caller deletes.
const QUEUE: usize = 1024;

/// One deletion.
enum Job {
    /// Segment files below a log start.
    Files(RemovedFiles),
    /// A deleted partition's renamed directory.
    Dir(PathBuf),
}

static DELETER: OnceLock<Mutex<Option<SyncSender<Job>>>> = OnceLock::new();

/// Queues segment files for the background thread (started on first use); deletes them on
/// the caller's thread when the queue is full or the thread is gone.
pub fn delete_later(files: RemovedFiles) {
    queue(Job::Files(files));
}

/// Queues a deleted partition's renamed directory ([`rill_log::trash`]) for deletion, as
/// [`delete_later`].
pub fn delete_dir_later(dir: PathBuf) {
    queue(Job::Dir(dir));
}

fn queue(job: Job) {
    let slot = DELETER.get_or_init(|| Mutex::new(start()));
    let rejected = match slot.lock() {
        Ok(guard) => match guard.as_ref() {
            Some(tx) => match tx.try_send(job) {
                Ok(()) => None,
                Err(TrySendError::Full(j) | TrySendError::Disconnected(j)) => Some(j),
            },
            None => Some(job),
        },
        Err(poisoned) => {
            drop(poisoned);
            Some(job)
        }
    };
    if let Some(job) = rejected {
        run(job);
    }
}

fn start() -> Option<SyncSender<Job>> {
    let (tx, rx) = sync_channel::<Job>(QUEUE);
    let spawned = std::thread::Builder::new()
        .name("rill-file-delete".into())
        .spawn(move || {
            for job in rx {
                run(job);
            }
        });
    match spawned {
        Ok(_) => Some(tx),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the file-deleting thread; deleting inline");
            None
        }
    }
}

fn run(job: Job) {
    match job {
        Job::Files(files) => {
            let bytes = files.bytes();
            if let Err(e) = files.delete() {
                tracing::error!(bytes, error = %e, "deleting segment files below the log start failed");
            }
        }
        Job::Dir(dir) => match rill_log::trash::delete_trashed_dir(&dir) {
            Ok(()) => tracing::debug!(dir = %dir.display(), "deleted partition directory"),
            Err(e) => {
                tracing::error!(dir = %dir.display(), error = %e, "deleting a deleted partition's directory failed")
            }
        },
    }
}
