//! Deletes segment files that DeleteRecords took out of a log, on one background thread, so
//! the request is answered once the new log start is checkpointed rather than after the
//! files are gone: `RemovedFiles::delete` cuts each `.log` down a few MiB at a time with
//! pauses (about 1.5 s per GiB), to spare the fsyncs of every other partition. Kafka, too,
//! deletes such files asynchronously. A crash before the deletion leaves segments below the
//! log start, which opening the log deletes.

use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Mutex, OnceLock};

use rill_log::RemovedFiles;

/// Deletions queued at most; past it (or if the thread cannot start) the caller deletes.
const QUEUE: usize = 16;

static DELETER: OnceLock<Mutex<Option<SyncSender<RemovedFiles>>>> = OnceLock::new();

/// Queues `files` for the background thread (started on first use); deletes them on the
/// caller's thread when the queue is full or the thread is gone.
pub fn delete_later(files: RemovedFiles) {
    let slot = DELETER.get_or_init(|| Mutex::new(start()));
    let rejected = match slot.lock() {
        Ok(guard) => match guard.as_ref() {
            Some(tx) => match tx.try_send(files) {
                Ok(()) => None,
                Err(TrySendError::Full(f) | TrySendError::Disconnected(f)) => Some(f),
            },
            None => Some(files),
        },
        Err(poisoned) => {
            drop(poisoned);
            Some(files)
        }
    };
    if let Some(files) = rejected {
        delete_now(files);
    }
}

fn start() -> Option<SyncSender<RemovedFiles>> {
    let (tx, rx) = sync_channel::<RemovedFiles>(QUEUE);
    let spawned = std::thread::Builder::new()
        .name("rill-file-delete".into())
        .spawn(move || {
            for files in rx {
                delete_now(files);
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

fn delete_now(files: RemovedFiles) {
    let bytes = files.bytes();
    if let Err(e) = files.delete() {
        tracing::error!(bytes, error = %e, "deleting segment files below the log start failed");
    }
}
