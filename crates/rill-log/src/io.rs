//! Small file helpers with error context: positioned reads and writes, fsync, atomic replace.
//!
//! Every helper maps `std::io::Error` to [`LogError`] naming the operation and path. Positioned
//! I/O (`pread`/`pwrite`) never moves a shared cursor, so one `File` may serve many threads.
//! Atomic replace: write `<name>.tmp`, fsync it, rename over `<name>`, fsync the directory.
//! With feature `test-util`, [`fault`] is the seam crash tests use to make writes tear.

use crate::error::{LogError, Result};
use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Write};
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
    #[cfg(feature = "test-util")]
    if fault::torn_writes() && buf.len() > 1 {
        let half = buf.len() / 2;
        file.write_all_at(&buf[..half], pos)
            .map_err(|e| LogError::io("write", path, e))?;
        std::thread::sleep(std::time::Duration::from_millis(2));
        return file
            .write_all_at(&buf[half..], pos + half as u64)
            .map_err(|e| LogError::io("write", path, e));
    }
    file.write_all_at(buf, pos)
        .map_err(|e| LogError::io("write", path, e))
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
    #[cfg(feature = "test-util")]
    if fault::torn_writes() && head.len() + body.len() > 1 {
        let mut joined = head.to_vec();
        joined.extend_from_slice(body);
        return write_at(file, path, pos, &joined);
    }
    let total = head.len() + body.len();
    let mut done = 0usize;
    while done < total {
        let parts: [&[u8]; 2] = if done < head.len() {
            [&head[done..], body]
        } else {
            [&[], &body[done - head.len()..]]
        };
        let iov = [IoSlice::new(parts[0]), IoSlice::new(parts[1])];
        match rustix::io::pwritev(file, &iov, pos + done as u64) {
            Ok(0) => {
                let e = std::io::Error::from(std::io::ErrorKind::WriteZero);
                return Err(LogError::io("write", path, e));
            }
            Ok(n) => done += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(LogError::io("write", path, e.into())),
        }
    }
    Ok(())
}

/// Fault injection for crash tests (feature `test-util`): the I/O seam of this crate.
#[cfg(feature = "test-util")]
pub mod fault {
    use std::sync::atomic::{AtomicBool, Ordering};

    static TORN_WRITES: AtomicBool = AtomicBool::new(false);

    /// When on, every data write is split in two `pwrite`s with a 2 ms pause between them,
    /// so a process killed at a random moment leaves torn batches on disk.
    pub fn set_torn_writes(on: bool) {
        TORN_WRITES.store(on, Ordering::Relaxed);
    }

    pub(crate) fn torn_writes() -> bool {
        TORN_WRITES.load(Ordering::Relaxed)
    }
}

/// Opens (creating if missing) a file for positioned reads and writes.
///
/// # Errors
/// [`LogError::Io`].
pub(crate) fn open_rw(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| LogError::io("open", path, e))
}

/// fsyncs a directory so renames and creations in it are durable.
///
/// # Errors
/// [`LogError::Io`].
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| LogError::io("open dir", dir, e))?;
    d.sync_all().map_err(|e| LogError::io("sync dir", dir, e))
}

/// Atomically replaces `path` with `contents` (temp file, fsync, rename, fsync dir).
///
/// # Errors
/// [`LogError::Io`] or [`LogError::NoSpace`]; the old file is untouched on failure.
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    {
        let mut f = File::create(&tmp).map_err(|e| LogError::io("create", &tmp, e))?;
        f.write_all(contents)
            .map_err(|e| LogError::io("write", &tmp, e))?;
        f.sync_all().map_err(|e| LogError::io("sync", &tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| LogError::io("rename", path, e))?;
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
    std::fs::write(&tmp, contents).map_err(|e| LogError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| LogError::io("rename", path, e))
}

/// fsyncs the file or directory at `path`; one that no longer exists is skipped.
///
/// # Errors
/// [`LogError::Io`] for failures other than not-found.
pub(crate) fn sync_path_if_exists(path: &Path) -> Result<()> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(LogError::io("open", path, e)),
    };
    f.sync_all().map_err(|e| LogError::io("sync", path, e))
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
    match std::fs::remove_file(path) {
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
