//! Small file helpers with error context: positioned reads and writes, fsync, atomic replace.
//!
//! Every helper maps `std::io::Error` to [`LogError`] naming the operation and path. Positioned
//! I/O (`pread`/`pwrite`) never moves a shared cursor, so one `File` may serve many threads.
//! Atomic replace: write `<name>.tmp`, fsync it, rename over `<name>`, fsync the directory.
//! Every helper that changes the disk goes through [`crate::storage`] (the storage seam);
//! reads use the real handle directly. With feature `fault-injection`, [`fault`] makes the
//! real file system's writes tear (crash tests that kill a process).

use crate::error::{LogError, Result};
use crate::storage;
// Needed where `storage::for_path` returns `&FileSystem` (builds without fault injection).
#[cfg_attr(feature = "fault-injection", allow(unused_imports))]
use crate::storage::Storage as _;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Reads up to `buf.len()` bytes at `pos`, stopping early only at end of file; returns the count.
///
/// # Errors
/// [`LogError::Io`] on a read failure.
pub(crate) fn read_at(file: &File, path: &Path, pos: u64, buf: &mut [u8]) -> Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], pos + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(LogError::io("read", path, e)),
        }
    }
    Ok(done)
}

/// Writes all of `buf` at `pos`.
///
/// # Errors
/// [`LogError::Io`] or [`LogError::NoSpace`].
pub(crate) fn write_at(file: &File, path: &Path, pos: u64, buf: &[u8]) -> Result<()> {
    write_parts_at(file, path, pos, buf, &[])
}

/// Writes `head` then `body` contiguously at `pos` with vectored `pwritev`s (no copy joins
/// them), continuing after partial writes.
///
/// # Errors
/// [`LogError::Io`] or [`LogError::NoSpace`].
pub(crate) fn write_parts_at(
    file: &File,
    path: &Path,
    pos: u64,
    head: &[u8],
    body: &[u8],
) -> Result<()> {
    storage::for_path(path)
        .write_at(file, path, pos, head, body)
        .map_err(|e| LogError::io("write", path, e))
}

/// Sets the length of `file` (at `path`).
///
/// # Errors
/// [`LogError::Io`] or [`LogError::NoSpace`].
pub(crate) fn set_len(file: &File, path: &Path, len: u64) -> Result<()> {
    storage::for_path(path)
        .set_len(file, path, len)
        .map_err(|e| LogError::io("truncate", path, e))
}

/// `fdatasync`s `file` (at `path`).
///
/// # Errors
/// [`LogError::Io`] or [`LogError::NoSpace`].
pub(crate) fn sync_data(file: &File, path: &Path) -> Result<()> {
    storage::for_path(path)
        .sync_data(file, path)
        .map_err(|e| LogError::io("sync", path, e))
}

/// Renames a file or directory.
///
/// # Errors
/// [`LogError::Io`] (`NotFound` included).
pub(crate) fn rename(from: &Path, to: &Path) -> Result<()> {
    storage::for_path(from)
        .rename(from, to)
        .map_err(|e| LogError::io("rename", from, e))
}

/// The names of the entries of `dir`.
///
/// # Errors
/// [`LogError::Io`] (`NotFound` included).
pub(crate) fn list(dir: &Path) -> Result<Vec<std::ffi::OsString>> {
    storage::for_path(dir)
        .list(dir)
        .map_err(|e| LogError::io("list", dir, e))
}

/// Creates a directory and its missing parents.
///
/// # Errors
/// [`LogError::Io`].
pub(crate) fn create_dir_all(dir: &Path) -> Result<()> {
    storage::for_path(dir)
        .create_dir_all(dir)
        .map_err(|e| LogError::io("create dir", dir, e))
}

/// Removes a directory with everything in it.
///
/// # Errors
/// [`LogError::Io`] (`NotFound` included).
pub(crate) fn remove_dir_all(dir: &Path) -> Result<()> {
    storage::for_path(dir)
        .remove_dir_all(dir)
        .map_err(|e| LogError::io("remove dir", dir, e))
}

/// Fault injection for crash tests (feature `fault-injection`, never in the shipped binary).
#[cfg(feature = "fault-injection")]
pub mod fault {
    use std::fs::File;
    use std::os::unix::fs::FileExt;
    use std::sync::atomic::{AtomicBool, Ordering};

    static TORN_WRITES: AtomicBool = AtomicBool::new(false);

    /// When on, every data write of the real file system is split in two `pwrite`s with a
    /// 2 ms pause between them, so a process killed at a random moment leaves torn batches on
    /// disk. (Power cuts with torn writes: [`crate::storage_sim`].)
    pub fn set_torn_writes(on: bool) {
        TORN_WRITES.store(on, Ordering::Relaxed);
    }

    pub(crate) fn torn_writes() -> bool {
        TORN_WRITES.load(Ordering::Relaxed)
    }

    /// Writes `head` + `body` at `pos` as two halves with a pause between them.
    pub(crate) fn write_torn(
        file: &File,
        pos: u64,
        head: &[u8],
        body: &[u8],
    ) -> std::io::Result<()> {
        let mut joined = head.to_vec();
        joined.extend_from_slice(body);
        let half = joined.len() / 2;
        file.write_all_at(&joined[..half], pos)?;
        std::thread::sleep(std::time::Duration::from_millis(2));
        file.write_all_at(&joined[half..], pos + half as u64)
    }
}

/// Opens (creating if missing) a file for positioned reads and writes.
///
/// # Errors
/// [`LogError::Io`].
pub(crate) fn open_rw(path: &Path) -> Result<File> {
    storage::for_path(path)
        .open(path, true)
        .map_err(|e| LogError::io("open", path, e))
}

/// Opens an existing file for positioned reads and writes.
///
/// # Errors
/// [`LogError::Io`] (`NotFound` included).
pub(crate) fn open_existing(path: &Path) -> Result<File> {
    storage::for_path(path)
        .open(path, false)
        .map_err(|e| LogError::io("open", path, e))
}

/// fsyncs a directory so renames and creations in it are durable.
///
/// # Errors
/// [`LogError::Io`].
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    storage::for_path(dir)
        .sync_dir(dir)
        .map_err(|e| LogError::io("sync dir", dir, e))
}

/// Atomically replaces `path` with `contents` (temp file, fsync, rename, fsync dir).
///
/// # Errors
/// [`LogError::Io`] or [`LogError::NoSpace`]; the old file is untouched on failure.
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    {
        let f = write_new(&tmp, contents)?;
        storage::for_path(&tmp)
            .sync_all(&f, &tmp)
            .map_err(|e| LogError::io("sync", &tmp, e))?;
    }
    rename(&tmp, path)?;
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

/// Replaces `path` with `contents` through a temp file and a rename, with no fsync: readers
/// never see a half-written file, but a crash may lose or tear it (callers check its content).
///
/// # Errors
/// [`LogError::Io`] or [`LogError::NoSpace`]; the old file is untouched on failure.
pub(crate) fn write_replace_unsynced(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    write_new(&tmp, contents)?;
    rename(&tmp, path)
}

/// Creates (or empties) the file at `path` and writes `contents` into it, with no fsync.
fn write_new(path: &Path, contents: &[u8]) -> Result<File> {
    let f = open_rw(path)?;
    set_len(&f, path, 0)?;
    write_at(&f, path, 0, contents)?;
    Ok(f)
}

/// fsyncs the file or directory at `path`; one that no longer exists is skipped.
///
/// # Errors
/// [`LogError::Io`] for failures other than not-found.
pub(crate) fn sync_path_if_exists(path: &Path) -> Result<()> {
    match storage::for_path(path).sync_path(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LogError::io("sync", path, e)),
    }
}

/// The temp file beside `path` that a replacement is written to first (`<path>.tmp`; recovery
/// removes leftovers).
fn tmp_path(path: &Path) -> std::path::PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::path::PathBuf::from(tmp)
}

/// Reads a whole small file; `Ok(None)` if it does not exist.
///
/// # Errors
/// [`LogError::Io`] for failures other than not-found.
pub(crate) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LogError::io("read", path, e)),
    }
}

/// Removes a file; a missing file is not an error.
///
/// # Errors
/// [`LogError::Io`].
pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    match storage::for_path(path).remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LogError::io("remove", path, e)),
    }
}

/// A directory told apart from one deleted and made again under the same name: device,
/// inode (which the filesystem may hand out again at once) and birth time where the
/// filesystem records one.
pub(crate) type DirIdentity = (u64, u64, Option<std::time::SystemTime>);

/// Which directory `path` is now, `None` if it does not exist.
pub(crate) fn dir_identity(path: &Path) -> Option<DirIdentity> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino(), m.created().ok()))
}
