//! A file of fixed-width entries read with `pread` on demand: the shared base of the offset
//! and time indexes.
//!
//! Nothing is loaded into memory: only the entry count and the last entry are kept, and
//! lookups binary-search the file through the page cache (about 20 `pread`s of 8-12 bytes for
//! a full index). That keeps an idle partition's heap cost at a few dozen bytes per index and
//! needs no `mmap`. Entries are appended at `count * W`; the file length is always a multiple
//! of `W` after [`IndexFile::open`] (a torn tail entry is cut).
//!
//! Thread-safety: `&self` methods only read; mutation needs `&mut self` (the log's lock).

use crate::error::{LogError, Result};
use crate::file_cache::{FileCache, FileKey};
use crate::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Fixed-width entry file of `W`-byte entries.
#[derive(Debug)]
pub(crate) struct IndexFile<const W: usize> {
    key: Arc<FileKey>,
    count: u64,
    last: Option<[u8; W]>,
}

impl<const W: usize> IndexFile<W> {
    /// Creates (or empties) the file.
    pub(crate) fn create(path: PathBuf) -> Result<Self> {
        let file = io::open_rw(&path)?;
        io::set_len(&file, &path, 0)?;
        let key = FileKey::new(path);
        FileCache::global().insert(&key, Arc::new(file));
        Ok(IndexFile {
            key,
            count: 0,
            last: None,
        })
    }

    /// Opens an existing file, cutting a partial trailing entry. `Ok(None)` if it is missing.
    pub(crate) fn open(path: PathBuf) -> Result<Option<Self>> {
        let len = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LogError::io("stat", &path, e)),
        };
        let key = FileKey::new(path);
        let mut idx = IndexFile {
            key,
            count: len / W as u64,
            last: None,
        };
        if len % W as u64 != 0 {
            let f = FileCache::global().get(&idx.key)?;
            io::set_len(&f, idx.key.path(), idx.count * W as u64)?;
        }
        if idx.count > 0 {
            idx.last = Some(idx.read_entry(idx.count - 1)?);
        }
        Ok(Some(idx))
    }

    pub(crate) fn path(&self) -> &Path {
        self.key.path()
    }

    pub(crate) fn len(&self) -> u64 {
        self.count
    }

    pub(crate) fn size_bytes(&self) -> u64 {
        self.count * W as u64
    }

    pub(crate) fn last(&self) -> Option<[u8; W]> {
        self.last
    }

    /// Reads entry `i` (< len).
    pub(crate) fn read_entry(&self, i: u64) -> Result<[u8; W]> {
        let f = FileCache::global().get(&self.key)?;
        let mut buf = [0u8; W];
        let n = io::read_at(&f, self.key.path(), i * W as u64, &mut buf)?;
        if n != W {
            return Err(LogError::corrupt(format!(
                "index {} ends inside entry {i}",
                self.key.path().display()
            )));
        }
        Ok(buf)
    }

    /// Index of the last entry for which `le(entry)` holds, assuming it is monotonic
    /// (true for a prefix of the entries); `None` if it holds for none.
    pub(crate) fn search(&self, le: impl Fn(&[u8; W]) -> bool) -> Result<Option<(u64, [u8; W])>> {
        let (mut lo, mut hi) = (0u64, self.count);
        let mut found = None;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let e = self.read_entry(mid)?;
            if le(&e) {
                found = Some((mid, e));
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(found)
    }

    /// Appends one entry.
    pub(crate) fn append(&mut self, entry: [u8; W]) -> Result<()> {
        let f = FileCache::global().get(&self.key)?;
        io::write_at(&f, self.key.path(), self.count * W as u64, &entry)?;
        self.count += 1;
        self.last = Some(entry);
        Ok(())
    }

    /// Keeps only the first `n` entries.
    pub(crate) fn truncate_entries(&mut self, n: u64) -> Result<()> {
        if n >= self.count {
            return Ok(());
        }
        let f = FileCache::global().get(&self.key)?;
        io::set_len(&f, self.key.path(), n * W as u64)?;
        self.count = n;
        self.last = if n > 0 {
            Some(self.read_entry(n - 1)?)
        } else {
            None
        };
        Ok(())
    }

    /// Replaces the whole content with `entries`.
    pub(crate) fn rewrite(&mut self, entries: &[[u8; W]]) -> Result<()> {
        let f = FileCache::global().get(&self.key)?;
        io::set_len(&f, self.key.path(), 0)?;
        let bytes: Vec<u8> = entries.iter().flatten().copied().collect();
        io::write_at(&f, self.key.path(), 0, &bytes)?;
        self.count = entries.len() as u64;
        self.last = entries.last().copied();
        Ok(())
    }

    /// The file's key in the handle cache.
    pub(crate) fn key(&self) -> &Arc<FileKey> {
        &self.key
    }

    /// fsyncs the file.
    pub(crate) fn sync(&self) -> Result<()> {
        let f = FileCache::global().get(&self.key)?;
        io::sync_data(&f, self.key.path())
    }

    /// Forgets the cached handle (before deleting or renaming the file).
    pub(crate) fn forget(&self) {
        FileCache::global().invalidate(&self.key);
    }
}
