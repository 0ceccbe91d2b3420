//! openraft's `RaftLogStorage` over our durable [`LogFile`].
//!
//! Every write (append, truncate, purge, vote) is done and fsynced inside the call, before it
//! returns and before `append`'s flush callback fires, so Raft never acknowledges an entry or
//! grants a vote that a crash could lose. The disk writes run on the calling task: metadata
//! entries are small and rare. Thread-safety: the store and its readers share the file behind
//! one mutex; openraft serializes the writes.

use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, OptionalSend, RaftLogReader, StorageIOError};

use crate::log_file::LogFile;
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};
use crate::Result;

/// The Raft log and vote of one controller, shared with its log readers.
#[derive(Debug, Clone)]
pub(crate) struct LogStore {
    /// The durable log.
    inner: Arc<Mutex<LogFile>>,
}

impl LogStore {
    /// Opens the log in `dir` (see [`LogFile::open`]).
    ///
    /// # Errors
    /// I/O errors or corrupt files.
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        Ok(LogStore {
            inner: Arc::new(Mutex::new(LogFile::open(dir)?)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, LogFile> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn io_err(e: &crate::QuorumError) -> AnyError {
    AnyError::new(e)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> std::result::Result<Vec<Entry>, StorageError> {
        Ok(self.lock().read(range))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> std::result::Result<LogState<TypeConfig>, StorageError> {
        let log = self.lock();
        Ok(LogState {
            last_purged_log_id: log.purged,
            last_log_id: log.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> std::result::Result<(), StorageError> {
        self.lock()
            .save_vote(*vote)
            .map_err(|e| StorageIOError::write_vote(io_err(&e)).into())
    }

    async fn read_vote(&mut self) -> std::result::Result<Option<Vote>, StorageError> {
        Ok(self.lock().vote)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> std::result::Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let result = self.lock().append(entries.into_iter().collect());
        match result {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(StorageIOError::write_logs(io_err(&e)).into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> std::result::Result<(), StorageError> {
        self.lock()
            .truncate(log_id.index)
            .map_err(|e| StorageIOError::write_logs(io_err(&e)).into())
    }

    async fn purge(&mut self, log_id: LogId) -> std::result::Result<(), StorageError> {
        self.lock()
            .purge(log_id)
            .map_err(|e| StorageIOError::write_logs(io_err(&e)).into())
    }
}
