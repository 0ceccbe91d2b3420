//! The storage seam: every operation of this crate that changes what is on disk (open,
//! write, truncate, sync, rename, remove, list) goes through the [`Storage`] trait.
//!
//! Implementations:
//! - [`FileSystem`], the real file system, used always in a build without feature
//!   `fault-injection` (the shipped binary): [`for_path`] then returns `&'static FileSystem`,
//!   so every call is a direct, inlinable call to the syscall wrapper (no dynamic dispatch,
//!   no allocation, no lookup).
//! - With feature `fault-injection` (enabled only by this crate's dev-dependencies),
//!   [`crate::storage_sim::SimulatedPowerLoss`], a test double that keeps what was written
//!   apart from what was synced and can cut power. A test *mounts* it on a directory
//!   ([`crate::storage_sim::SimulatedPowerLoss::mount`]); [`for_path`] then hands it out for
//!   every path under that directory and [`FileSystem`] for the rest (one atomic load when
//!   nothing is mounted, a table lookup and one virtual call per operation otherwise).
//!   Mounting by directory fits how the crate finds its other process-wide services (the
//!   file handle cache, the group-commit registry): a `PartitionLog` and everything it hands
//!   out (`RollSyncs`, `RemovedSegments`, group-commit rounds) name files by path, so no
//!   signature changes and the broker's code is unchanged.
//!
//! Contracts every implementation keeps:
//! - Handles are real [`File`]s: reads (`pread`, and `sendfile` in the broker's zero-copy
//!   fetch path) use them directly and are not part of the seam, since they change nothing.
//! - `path` arguments name the file a handle was opened at (its current name); an
//!   implementation may use it for bookkeeping and error context.
//! - Nothing is durable until synced: file content by [`Storage::sync_data`] /
//!   [`Storage::sync_all`] of that file, directory entries (creations, renames, removals)
//!   by [`Storage::sync_dir`] of their directory. A failed sync (`Err`) makes no promise,
//!   and the caller must assume the unsynced data is lost even if a later sync succeeds.

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// File operations that change what is on disk. See the module docs for the contracts.
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// Opens `path` for positioned reads and writes, creating it (empty) if `create` and it
    /// does not exist; an existing file is never truncated.
    ///
    /// # Errors
    /// As `open(2)`; `NotFound` if missing and not `create`.
    fn open(&self, path: &Path, create: bool) -> io::Result<File>;

    /// Writes all of `head` then `body` contiguously at `pos` (vectored, no copy joins them).
    ///
    /// # Errors
    /// As `pwritev(2)`; part of the bytes may have been written.
    fn write_at(
        &self,
        file: &File,
        path: &Path,
        pos: u64,
        head: &[u8],
        body: &[u8],
    ) -> io::Result<()>;

    /// Sets the file's length (cuts or extends with zeros).
    ///
    /// # Errors
    /// As `ftruncate(2)`.
    fn set_len(&self, file: &File, path: &Path, len: u64) -> io::Result<()>;

    /// `fdatasync`: the file's content (and the length needed to read it) is durable.
    ///
    /// # Errors
    /// As `fdatasync(2)`; see the module docs for what a failure means.
    fn sync_data(&self, file: &File, path: &Path) -> io::Result<()>;

    /// `fsync`: as [`Storage::sync_data`] plus all metadata.
    ///
    /// # Errors
    /// As `fsync(2)`.
    fn sync_all(&self, file: &File, path: &Path) -> io::Result<()>;

    /// fsyncs the file or directory at `path` (opened read-only for it).
    ///
    /// # Errors
    /// `NotFound` if it does not exist; as `fsync(2)`.
    fn sync_path(&self, path: &Path) -> io::Result<()>;

    /// fsyncs directory `dir`: the creations, renames and removals of entries in it so far
    /// become durable.
    ///
    /// # Errors
    /// As `open(2)` and `fsync(2)`.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;

    /// Renames `from` to `to` (replacing `to`), files or directories.
    ///
    /// # Errors
    /// As `rename(2)`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Removes the file at `path`.
    ///
    /// # Errors
    /// As `unlink(2)`.
    fn remove_file(&self, path: &Path) -> io::Result<()>;

    /// Creates `dir` and its missing parents.
    ///
    /// # Errors
    /// As `mkdir(2)`.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;

    /// Removes `dir` with everything in it.
    ///
    /// # Errors
    /// As `std::fs::remove_dir_all`.
    fn remove_dir_all(&self, dir: &Path) -> io::Result<()>;

    /// The names of the entries of `dir` (not sorted; not on a hot path).
    ///
    /// # Errors
    /// As `readdir(3)`.
    fn list(&self, dir: &Path) -> io::Result<Vec<std::ffi::OsString>>;
}

/// The real file system (`std::fs` and `rustix`). Stateless.
#[derive(Debug, Default, Clone, Copy)]
pub struct FileSystem;

impl Storage for FileSystem {
    #[inline]
    fn open(&self, path: &Path, create: bool) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(path)
    }

    #[inline]
    fn write_at(
        &self,
        file: &File,
        _path: &Path,
        pos: u64,
        head: &[u8],
        body: &[u8],
    ) -> io::Result<()> {
        #[cfg(feature = "fault-injection")]
        if crate::io::fault::torn_writes() && head.len() + body.len() > 1 {
            return crate::io::fault::write_torn(file, pos, head, body);
        }
        let total = head.len() + body.len();
        let mut done = 0usize;
        while done < total {
            if done >= head.len() {
                // One buffer left: a plain `pwrite`.
                let n = file.write_at(&body[done - head.len()..], pos + done as u64);
                match n {
                    Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                    Ok(n) => done += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
                continue;
            }
            let iov = [IoSlice::new(&head[done..]), IoSlice::new(body)];
            match rustix::io::pwritev(file, &iov, pos + done as u64) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => done += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    #[inline]
    fn set_len(&self, file: &File, _path: &Path, len: u64) -> io::Result<()> {
        file.set_len(len)
    }

    #[inline]
    fn sync_data(&self, file: &File, _path: &Path) -> io::Result<()> {
        file.sync_data()
    }

    #[inline]
    fn sync_all(&self, file: &File, _path: &Path) -> io::Result<()> {
        file.sync_all()
    }

    fn sync_path(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::remove_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<std::ffi::OsString>> {
        std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.file_name()))
            .collect()
    }
}

/// The storage that serves `path`: always [`FileSystem`] in a build without feature
/// `fault-injection` (static dispatch).
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub(crate) fn for_path(_path: &Path) -> &'static FileSystem {
    &FileSystem
}

/// The storage that serves `path`: the one mounted on a directory holding it, else
/// [`FileSystem`] (see the module docs).
#[cfg(feature = "fault-injection")]
#[inline]
pub(crate) fn for_path(path: &Path) -> mounts::Backend {
    mounts::lookup(path)
}

/// The mount table of test doubles (feature `fault-injection`).
#[cfg(feature = "fault-injection")]
pub(crate) mod mounts {
    use super::{FileSystem, Storage};
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, RwLock};

    /// Mounted storages by root directory.
    type Table = Vec<(PathBuf, Arc<dyn Storage>)>;

    static MOUNTED: AtomicUsize = AtomicUsize::new(0);
    static TABLE: RwLock<Table> = RwLock::new(Vec::new());

    /// What [`super::for_path`] hands out: the real file system or a mounted storage.
    pub(crate) enum Backend {
        /// [`FileSystem`].
        Real,
        /// A storage mounted on a directory holding the path.
        Mounted(Arc<dyn Storage>),
    }

    impl std::ops::Deref for Backend {
        type Target = dyn Storage;

        fn deref(&self) -> &(dyn Storage + 'static) {
            match self {
                Backend::Real => &FileSystem,
                Backend::Mounted(s) => &**s,
            }
        }
    }

    pub(crate) fn lookup(path: &Path) -> Backend {
        if MOUNTED.load(Ordering::Acquire) == 0 {
            return Backend::Real;
        }
        let table = TABLE.read().unwrap_or_else(|p| p.into_inner());
        table
            .iter()
            .find(|(root, _)| path.starts_with(root))
            .map_or(Backend::Real, |(_, s)| Backend::Mounted(s.clone()))
    }

    /// Serves every path under `root` with `storage` until [`unmount`].
    pub(crate) fn mount(root: PathBuf, storage: Arc<dyn Storage>) {
        let mut table = TABLE.write().unwrap_or_else(|p| p.into_inner());
        table.push((root, storage));
        MOUNTED.store(table.len(), Ordering::Release);
    }

    /// Removes the mount on `root`.
    pub(crate) fn unmount(root: &Path) {
        let mut table = TABLE.write().unwrap_or_else(|p| p.into_inner());
        table.retain(|(r, _)| r != root);
        MOUNTED.store(table.len(), Ordering::Release);
    }
}
