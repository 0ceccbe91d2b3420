//! A power-loss test double for the storage seam (feature `fault-injection`, tests only).
//!
//! [`SimulatedPowerLoss`] serves every path under one root directory
//! ([`SimulatedPowerLoss::mount`]). The *live* image is the real files in that directory,
//! so the log reads them (and the file handle cache keeps them) as usual; beside it the
//! double records the *durable* image, what a power cut would leave:
//! - per file, its content as of its last successful `fsync`/`fdatasync` (a file never
//!   synced is empty);
//! - per directory, which names point at which file as of the directory's last `fsync`
//!   (creations, renames and removals not yet synced are undone by a cut).
//!
//! [`SimulatedPowerLoss::cut_power`] rewrites the directory to the durable image, and with
//! [`PowerCut::TearLastWrite`] lays a prefix of the last write not yet synced over it (a torn
//! write: the start of a batch reached the disk, the rest did not; bytes of earlier unsynced
//! writes before it read as zeros). [`SimulatedPowerLoss::fail_next_sync`] makes the next
//! sync (of a file or directory) fail with `EIO`; a file whose sync failed then persists
//! nothing more until the next cut, however often it is synced again. That is stricter than
//! Linux (which marks the failed pages clean and writes later ones), and catches the same
//! bug: a log that retries an fsync after a failure and then reports the data durable.
//!
//! Only regular files are tracked; directories under the root count as durable once made.
//! Files are told apart by inode while they are live and by an id of the double's own in
//! the durable image (an inode may be reused once the file is gone). Cut power only while
//! the log on the directory is dropped (nothing may hold a handle to the old files).
//! Thread-safety: one mutex around the bookkeeping; the real operations run under it, so
//! the double serialises the I/O of its directory (fine for tests).

use crate::storage::{mounts, FileSystem, Storage};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// How [`SimulatedPowerLoss::cut_power`] cuts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerCut {
    /// Everything not synced is lost.
    DropUnsynced,
    /// As `DropUnsynced`, except that a prefix of the last unsynced write (of `seed` modulo
    /// its length bytes, never all of it) reached the disk.
    TearLastWrite {
        /// Picks the prefix length.
        seed: u64,
    },
}

/// Counters of a [`SimulatedPowerLoss`] (for tests to check that faults were hit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Successful file syncs that persisted content.
    pub file_syncs: u64,
    /// Successful directory syncs.
    pub dir_syncs: u64,
    /// Syncs failed on purpose.
    pub failed_syncs: u64,
    /// Power cuts.
    pub cuts: u64,
    /// Power cuts that tore a write.
    pub torn: u64,
}

/// The bookkeeping; see the module docs.
#[derive(Debug, Default)]
struct SimState {
    /// Next file id.
    next_id: u64,
    /// Live names (regular files) → file id.
    names: HashMap<PathBuf, u64>,
    /// Live inode (device, inode) → file id.
    by_ino: HashMap<(u64, u64), u64>,
    /// Durable names → file id.
    durable_names: HashMap<PathBuf, u64>,
    /// Durable content by file id (absent: never synced, empty after a cut).
    durable_data: HashMap<u64, Vec<u8>>,
    /// The last write not yet synced: (file id, position, length).
    last_write: Option<(u64, u64, u64)>,
    /// Files whose sync failed: they persist nothing more until the next cut.
    stuck: HashSet<u64>,
    /// Fail the next sync.
    fail_next_sync: bool,
    /// Counters.
    stats: SimStats,
}

/// The power-loss test double; see the module docs.
#[derive(Debug)]
pub struct SimulatedPowerLoss {
    /// The directory served.
    root: PathBuf,
    /// The bookkeeping.
    state: Mutex<SimState>,
}

/// Keeps a [`SimulatedPowerLoss`] mounted on its root; unmounts when dropped.
#[derive(Debug)]
pub struct Mount {
    sim: Arc<SimulatedPowerLoss>,
}

impl std::ops::Deref for Mount {
    type Target = SimulatedPowerLoss;

    fn deref(&self) -> &SimulatedPowerLoss {
        &self.sim
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        mounts::unmount(&self.sim.root);
    }
}

fn ino(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

fn eio() -> io::Error {
    io::Error::from_raw_os_error(libc::EIO)
}

/// Reads a whole file through its handle.
fn read_all(file: &File) -> io::Result<Vec<u8>> {
    let len = file.metadata()?.len();
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, 0)?;
    Ok(buf)
}

impl SimulatedPowerLoss {
    /// Mounts a new double on `root` (an existing directory, given as the log's paths will
    /// name it): every file already under it counts as durable. Every path under `root` is
    /// served by the double until the returned guard is dropped.
    ///
    /// # Errors
    /// I/O failures scanning `root`.
    pub fn mount(root: &Path) -> io::Result<Mount> {
        let sim = Arc::new(SimulatedPowerLoss {
            root: root.to_path_buf(),
            state: Mutex::new(SimState::default()),
        });
        sim.adopt_live()?;
        mounts::mount(root.to_path_buf(), sim.clone());
        Ok(Mount { sim })
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the bookkeeping describe the files under the root now, all durable.
    fn adopt_live(&self) -> io::Result<()> {
        let mut files = Vec::new();
        collect_files(&self.root, &mut files)?;
        let mut st = self.lock();
        let stats = st.stats;
        *st = SimState {
            stats,
            ..SimState::default()
        };
        for path in files {
            let meta = std::fs::metadata(&path)?;
            let id = st.new_id();
            st.durable_data.insert(id, std::fs::read(&path)?);
            st.by_ino.insert(ino(&meta), id);
            st.names.insert(path.clone(), id);
            st.durable_names.insert(path, id);
        }
        Ok(())
    }

    /// Makes the next sync (file or directory) fail with `EIO` without persisting anything.
    pub fn fail_next_sync(&self) {
        self.lock().fail_next_sync = true;
    }

    /// Whether a sync armed by [`SimulatedPowerLoss::fail_next_sync`] is still to fail.
    pub fn sync_failure_pending(&self) -> bool {
        self.lock().fail_next_sync
    }

    /// The counters so far.
    pub fn stats(&self) -> SimStats {
        self.lock().stats
    }

    /// Cuts power: every file under the root is replaced by its durable image (see the
    /// module docs), and the image becomes the new live and durable state. Drop the log
    /// first.
    ///
    /// # Errors
    /// I/O failures rewriting the directory.
    pub fn cut_power(&self, how: PowerCut) -> io::Result<()> {
        let mut st = self.lock();
        st.stats.cuts += 1;
        // The torn write: its file's id and the prefix that reached the disk.
        let mut tear: Option<(u64, u64, Vec<u8>)> = None;
        if let (PowerCut::TearLastWrite { seed }, Some((id, pos, len))) = (how, st.last_write) {
            let live = st.names.iter().find(|(_, i)| **i == id).map(|(p, _)| p);
            if let Some(path) = live.filter(|_| len > 1 && !st.stuck.contains(&id)) {
                let file = File::open(path)?;
                let end = file.metadata()?.len().min(pos + len);
                let n = end.saturating_sub(pos);
                if n > 1 {
                    let keep = (seed % n).max(1);
                    let mut bytes = vec![0u8; keep as usize];
                    file.read_exact_at(&mut bytes, pos)?;
                    tear = Some((id, pos, bytes));
                }
            }
        }
        let live: Vec<PathBuf> = st.names.keys().cloned().collect();
        for path in live {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        let durable: Vec<(PathBuf, u64)> = st.durable_names.drain().collect();
        for (path, id) in &durable {
            let mut content = st.durable_data.get(id).cloned().unwrap_or_default();
            if let Some((_, pos, bytes)) = tear.as_ref().filter(|(t, _, _)| t == id) {
                let (pos, end) = (*pos as usize, *pos as usize + bytes.len());
                if content.len() < end {
                    content.resize(end, 0);
                }
                content[pos..end].copy_from_slice(bytes);
                st.stats.torn += 1;
            }
            std::fs::write(path, &content)?;
        }
        drop(st);
        self.adopt_live()
    }
}

impl SimState {
    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The id of the file behind `file` (named `path`), registering it if new.
    fn id_of(&mut self, file: &File, path: &Path) -> io::Result<u64> {
        let key = ino(&file.metadata()?);
        if let Some(id) = self.by_ino.get(&key) {
            return Ok(*id);
        }
        let id = match self.names.get(path) {
            Some(id) => *id,
            None => {
                let id = self.new_id();
                self.names.insert(path.to_path_buf(), id);
                id
            }
        };
        self.by_ino.insert(key, id);
        Ok(id)
    }

    /// Takes an armed sync failure.
    fn take_failure(&mut self) -> bool {
        let fail = std::mem::take(&mut self.fail_next_sync);
        if fail {
            self.stats.failed_syncs += 1;
        }
        fail
    }

    fn sync_file(&mut self, file: &File, path: &Path) -> io::Result<()> {
        let id = self.id_of(file, path)?;
        if self.take_failure() {
            self.stuck.insert(id);
            return Err(eio());
        }
        if self.stuck.contains(&id) {
            return Ok(());
        }
        // No real fsync: the durable image is the double's own (and tests run faster).
        self.durable_data.insert(id, read_all(file)?);
        if self.last_write.is_some_and(|(w, _, _)| w == id) {
            self.last_write = None;
        }
        self.stats.file_syncs += 1;
        Ok(())
    }
}

/// Every regular file under `dir`, recursively.
fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for ent in std::fs::read_dir(dir)? {
        let ent = ent?;
        let ty = ent.file_type()?;
        if ty.is_dir() {
            collect_files(&ent.path(), out)?;
        } else if ty.is_file() {
            out.push(ent.path());
        }
    }
    Ok(())
}

impl Storage for SimulatedPowerLoss {
    fn open(&self, path: &Path, create: bool) -> io::Result<File> {
        let mut st = self.lock();
        let file = FileSystem.open(path, create)?;
        let key = ino(&file.metadata()?);
        if let Some(id) = st.names.get(path).copied() {
            st.by_ino.insert(key, id);
        } else {
            // Created now (inode numbers of removed files may be handed out again).
            let id = st.new_id();
            st.names.insert(path.to_path_buf(), id);
            st.by_ino.insert(key, id);
        }
        Ok(file)
    }

    fn write_at(
        &self,
        file: &File,
        path: &Path,
        pos: u64,
        head: &[u8],
        body: &[u8],
    ) -> io::Result<()> {
        let mut st = self.lock();
        let id = st.id_of(file, path)?;
        FileSystem.write_at(file, path, pos, head, body)?;
        st.last_write = Some((id, pos, (head.len() + body.len()) as u64));
        Ok(())
    }

    fn set_len(&self, file: &File, path: &Path, len: u64) -> io::Result<()> {
        let mut st = self.lock();
        st.id_of(file, path)?;
        FileSystem.set_len(file, path, len)
    }

    fn sync_data(&self, file: &File, path: &Path) -> io::Result<()> {
        self.lock().sync_file(file, path)
    }

    fn sync_all(&self, file: &File, path: &Path) -> io::Result<()> {
        self.lock().sync_file(file, path)
    }

    fn sync_path(&self, path: &Path) -> io::Result<()> {
        if std::fs::metadata(path)?.is_dir() {
            return self.sync_dir(path);
        }
        let file = File::open(path)?;
        self.lock().sync_file(&file, path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.lock();
        if st.take_failure() {
            return Err(eio());
        }
        if !std::fs::metadata(dir)?.is_dir() {
            return Err(io::Error::from(io::ErrorKind::NotADirectory));
        }
        st.durable_names.retain(|p, _| p.parent() != Some(dir));
        let entries: Vec<(PathBuf, u64)> = st
            .names
            .iter()
            .filter(|(p, _)| p.parent() == Some(dir))
            .map(|(p, id)| (p.clone(), *id))
            .collect();
        st.durable_names.extend(entries);
        st.stats.dir_syncs += 1;
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.lock();
        FileSystem.rename(from, to)?;
        if let Some(id) = st.names.remove(from) {
            st.names.insert(to.to_path_buf(), id);
        } else {
            // A directory: move the names under it.
            let moved: Vec<(PathBuf, u64)> = st
                .names
                .iter()
                .filter_map(|(p, id)| Some((to.join(p.strip_prefix(from).ok()?), *id)))
                .collect();
            st.names.retain(|p, _| !p.starts_with(from));
            st.names.extend(moved);
        }
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut st = self.lock();
        FileSystem.remove_file(path)?;
        st.names.remove(path);
        Ok(())
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        FileSystem.create_dir_all(dir)
    }

    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.lock();
        FileSystem.remove_dir_all(dir)?;
        st.names.retain(|p, _| !p.starts_with(dir));
        st.durable_names.retain(|p, _| !p.starts_with(dir));
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<std::ffi::OsString>> {
        FileSystem.list(dir)
    }
}
