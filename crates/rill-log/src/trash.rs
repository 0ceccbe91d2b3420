//! Deleted partitions' directories: renamed out of the way at once (`<name>.<id>-delete`, as
//! Kafka's `-delete` suffix), so a topic of the same name can be made again, then emptied
//! gently by the caller's background thread ([`delete_trashed_dir`]): each `.log` file is cut
//! down a few MiB at a time, as retention deletes segments, because freeing a big file's blocks
//! at once holds every other fsync on the filesystem. A crash in between leaves the renamed
//! directory, which [`trashed_dirs`] finds at the next start.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{LogError, Result};
use crate::segment;
#[cfg_attr(feature = "fault-injection", allow(unused_imports))]
use crate::storage::Storage as _;

/// The suffix of a renamed, to-be-deleted partition directory.
pub const TRASH_SUFFIX: &str = "-delete";

/// Renames `dir` to a unique `<name>.<id>-delete` beside it; `Ok(None)` if `dir` does not
/// exist.
///
/// # Errors
/// I/O failures renaming.
pub fn trash_dir(dir: &Path) -> Result<Option<PathBuf>> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let id = format!("{nanos:x}{:x}", SEQ.fetch_add(1, Ordering::Relaxed));
    let to = dir.with_file_name(format!("{name}.{id}{TRASH_SUFFIX}"));
    match crate::storage::for_path(dir).rename(dir, &to) {
        Ok(()) => Ok(Some(to)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LogError::io("rename for delete", dir, e)),
    }
}

/// The renamed partition directories ([`trash_dir`]) directly under `data_dir`.
///
/// # Errors
/// I/O failures listing `data_dir` (a missing one has none).
pub fn trashed_dirs(data_dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match crate::storage::for_path(data_dir).list(data_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LogError::io("list", data_dir, e)),
    };
    let mut found = Vec::new();
    for name in entries {
        let path = data_dir.join(name);
        if path.is_dir()
            && path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(TRASH_SUFFIX))
        {
            found.push(path);
        }
    }
    Ok(found)
}

/// Deletes a renamed partition directory: its `.log` files cut down gently first, then the
/// whole directory. A directory already gone is not an error.
///
/// # Errors
/// I/O failures.
pub fn delete_trashed_dir(dir: &Path) -> Result<()> {
    let entries = match crate::storage::for_path(dir).list(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(LogError::io("list", dir, e)),
    };
    for name in entries {
        let path = dir.join(name);
        if path.extension().is_some_and(|x| x == "log") {
            segment::cut_down_gently(&path, segment::GENTLE_DELETE_PAUSE)?;
        }
    }
    match crate::storage::for_path(dir).remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LogError::io("remove dir", dir, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trashed_directory_is_renamed_found_and_deleted_gently() {
        let data = tempfile::tempdir().unwrap();
        let part = data.path().join("t-0");
        std::fs::create_dir(&part).unwrap();
        // More than two cut steps, and files that are not logs.
        let big = vec![7u8; (2 * segment::GENTLE_DELETE_STEP + 5) as usize];
        std::fs::write(part.join("00000000000000000000.log"), &big).unwrap();
        std::fs::write(part.join("00000000000000000000.index"), b"i").unwrap();
        std::fs::create_dir(data.path().join("u-1")).unwrap();

        let trashed = trash_dir(&part).unwrap().unwrap();
        assert!(!part.exists());
        assert!(trashed.to_string_lossy().ends_with(TRASH_SUFFIX));
        assert_eq!(trashed.parent(), Some(data.path()));
        // The name is free again at once, and a second trash of it does not collide.
        std::fs::create_dir(&part).unwrap();
        let again = trash_dir(&part).unwrap().unwrap();
        assert_ne!(again, trashed);
        assert_eq!(trash_dir(&part).unwrap(), None, "gone already");

        let mut found = trashed_dirs(data.path()).unwrap();
        found.sort();
        let mut want = vec![trashed.clone(), again.clone()];
        want.sort();
        assert_eq!(found, want, "u-1 is not trash");

        delete_trashed_dir(&trashed).unwrap();
        delete_trashed_dir(&again).unwrap();
        assert!(!trashed.exists() && !again.exists());
        assert!(data.path().join("u-1").exists());
        delete_trashed_dir(&trashed).unwrap();
        assert!(trashed_dirs(&data.path().join("missing"))
            .unwrap()
            .is_empty());
    }
}
