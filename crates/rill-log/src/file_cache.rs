//! A process-wide, bounded cache of open file handles shared by every partition log.
//!
//! Segments and indexes do not hold file descriptors; they hold a [`FileKey`] (unique id +
//! path) and ask the cache for an `Arc<File>` when they do I/O. The cache keeps at most
//! `capacity` handles (default: a quarter of the soft `RLIMIT_NOFILE`, 256 under 1024) and
//! closes the least recently used one when full, so
//! 10,000 partitions fit under a 1024 `RLIMIT_NOFILE`. A handle handed out stays valid while
//! its `Arc` lives (a `FileSlice` being sent, a running fsync); eviction only drops the
//! cache's reference. On Linux an fsync through any descriptor of a file flushes all of the
//! file's dirty pages, so a reopened handle can complete a group commit.
//!
//! Thread-safety: one `Mutex` around a map and an LRU order; opening a file happens outside it.

use crate::error::Result;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// Identity of one file in the cache: a process-unique id and the path.
#[derive(Debug)]
pub struct FileKey {
    /// Unique per key so that a renamed or recreated path never hits a stale handle.
    id: u64,
    /// Where the file lives.
    path: PathBuf,
}

impl FileKey {
    /// A fresh key for `path`.
    pub fn new(path: PathBuf) -> Arc<FileKey> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Arc::new(FileKey {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            path,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[derive(Default)]
struct Inner {
    /// id → (handle, last-use tick).
    map: HashMap<u64, (Arc<File>, u64)>,
    /// last-use tick → id, oldest first.
    lru: BTreeMap<u64, u64>,
    /// Monotonic use counter.
    tick: u64,
}

/// The bounded handle cache; use [`FileCache::global`].
pub struct FileCache {
    inner: Mutex<Inner>,
    capacity: AtomicUsize,
}

/// Default number of cached descriptors: a quarter of the soft `RLIMIT_NOFILE` (256 under the
/// common 1024), between 64 and 16384, leaving the rest to sockets and everything else.
fn default_capacity() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1 << 20);
    (soft / 4).clamp(64, 16384) as usize
}

impl FileCache {
    /// The process-wide cache.
    pub fn global() -> &'static FileCache {
        static CACHE: OnceLock<FileCache> = OnceLock::new();
        CACHE.get_or_init(|| FileCache {
            inner: Mutex::new(Inner::default()),
            capacity: AtomicUsize::new(default_capacity()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets how many descriptors the cache may keep open (at least 4).
    pub fn set_capacity(&self, capacity: usize) {
        self.capacity.store(capacity.max(4), Ordering::Relaxed);
        let mut inner = self.lock();
        self.evict(&mut inner);
    }

    /// Number of handles currently cached.
    pub fn cached(&self) -> usize {
        self.lock().map.len()
    }

    /// Returns a handle to an existing file, opening it (read + write, no create) on a miss.
    ///
    /// # Errors
    /// [`LogError::Io`] if the file cannot be opened (including when it does not exist).
    pub fn get(&self, key: &FileKey) -> Result<Arc<File>> {
        {
            let mut inner = self.lock();
            inner.tick += 1;
            let tick = inner.tick;
            if let Some((file, old)) = inner.map.get_mut(&key.id) {
                let file = file.clone();
                let old = std::mem::replace(old, tick);
                inner.lru.remove(&old);
                inner.lru.insert(tick, key.id);
                return Ok(file);
            }
        }
        let file = crate::io::open_existing(&key.path)?;
        let file = Arc::new(file);
        self.insert(key, file.clone());
        Ok(file)
    }

    /// Puts a freshly created handle into the cache.
    pub(crate) fn insert(&self, key: &FileKey, file: Arc<File>) {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        if let Some((_, old)) = inner.map.insert(key.id, (file, tick)) {
            inner.lru.remove(&old);
        }
        inner.lru.insert(tick, key.id);
        self.evict(&mut inner);
    }

    /// Drops the cached handle of `key` (file deleted, truncated away or renamed).
    pub(crate) fn invalidate(&self, key: &FileKey) {
        let mut inner = self.lock();
        if let Some((_, tick)) = inner.map.remove(&key.id) {
            inner.lru.remove(&tick);
        }
    }

    fn evict(&self, inner: &mut Inner) {
        let cap = self.capacity.load(Ordering::Relaxed);
        while inner.map.len() > cap {
            let Some((_, id)) = inner.lru.pop_first() else {
                break;
            };
            inner.map.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_is_bounded_and_reopens_evicted_files() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache {
            inner: Mutex::new(Inner::default()),
            capacity: AtomicUsize::new(4),
        };
        let keys: Vec<_> = (0..10)
            .map(|i| {
                let p = dir.path().join(format!("f{i}"));
                std::fs::write(&p, [i as u8]).unwrap();
                FileKey::new(p)
            })
            .collect();
        for k in &keys {
            cache.get(k).unwrap();
            assert!(cache.cached() <= 4);
        }
        let mut b = [0u8; 1];
        std::os::unix::fs::FileExt::read_at(&*cache.get(&keys[0]).unwrap(), &mut b, 0).unwrap();
        assert_eq!(b[0], 0);
        cache.invalidate(&keys[0]);
        std::fs::remove_file(keys[0].path()).unwrap();
        assert!(cache.get(&keys[0]).is_err());
    }
}
