//! The machine's limits, measured in the same run as the broker figures.
//!
//! - Disk: sequential writes to a file in the data directory with an fdatasync after every
//!   `sync_every` bytes, through the storage benchmark's raw writer; or, to match the broker's
//!   group commit across partitions ([`disk_rounds`]), one file per partition written side by
//!   side and fdatasynced together in rounds of the broker's size (rounds counted during the
//!   acks=all 12-partition run).
//! - Loopback: TCP throughput between two processes, like iperf3: this binary runs itself as a
//!   child sink (`rill-bench loopback-sink`) on 127.0.0.1 and the parent sends 128 KiB writes.
//! - Loopback into disk (not a target's base, a ceiling): the same TCP stream written into
//!   fsync'd files by the sink (`rill-bench loopback-disk-sink`) in the broker's group-commit
//!   rounds: what a broker that did nothing but receive and write would reach here.

use super::stats::mib_per_sec;
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Size of each loopback write, as iperf3's default for TCP.
const WRITE_BYTES: usize = 128 << 10;

/// A measured limit.
#[derive(Debug, Clone)]
pub struct Limit {
    /// MiB/s.
    pub mib_s: f64,
    /// How it was measured (pattern, volume), for the table.
    pub note: String,
}

/// Fsync'd sequential write throughput to `dir`: chunks of `chunk` bytes, fdatasync every
/// `sync_every` bytes. A short probe sizes the real run to about `secs` seconds (8..256 MiB),
/// so a slow disk cannot stretch the benchmark.
pub fn disk(dir: &Path, chunk: usize, sync_every: u64, secs: f64) -> Result<Limit> {
    let path = dir.join("raw-disk-limit");
    crate::storage::settle()?;
    let probe = 8u64 << 20;
    let probe_secs = crate::storage::append_raw(&path, chunk, probe, Some(sync_every))?;
    let per_sec = probe as f64 / probe_secs.max(1e-6);
    let total = ((per_sec * secs) as u64).clamp(8 << 20, 256 << 20);
    crate::storage::settle()?;
    let run_secs = crate::storage::append_raw(&path, chunk, total, Some(sync_every))?;
    std::fs::remove_file(&path).with_context(|| format!("remove {}", path.display()))?;
    Ok(Limit {
        mib_s: mib_per_sec(total, run_secs),
        note: format!(
            "one file, {} KiB writes, fdatasync per {} KiB, {} MiB",
            chunk >> 10,
            sync_every >> 10,
            total >> 20
        ),
    })
}

/// Fsync'd write throughput of `files` files in `dir`, written side by side in rounds: each
/// round every file gets `round_bytes / files` more bytes and an fdatasync, the files' syncs
/// running at the same time (one thread per file, a barrier ends the round), which is what the
/// broker's log-directory group commit does. A short probe sizes the run to about `secs`
/// seconds (16..512 MiB).
pub fn disk_rounds(dir: &Path, files: usize, round_bytes: u64, secs: f64) -> Result<Limit> {
    let files = files.max(1);
    let per_file = (round_bytes / files as u64).max(4096);
    crate::storage::settle()?;
    let probe = (16u64 << 20).max(per_file * files as u64);
    let (probed, probe_secs) = write_rounds(dir, files, per_file, probe, true)?;
    let per_sec = probed as f64 / probe_secs.max(1e-6);
    let total = ((per_sec * secs) as u64).clamp(16 << 20, 512 << 20);
    crate::storage::settle()?;
    let (written, run_secs) = write_rounds(dir, files, per_file, total, true)?;
    Ok(rounds_limit(files, per_file, written, run_secs))
}

/// The [`Limit`] of a [`write_rounds`] run.
fn rounds_limit(files: usize, per_file: u64, written: u64, secs: f64) -> Limit {
    Limit {
        mib_s: mib_per_sec(written, secs),
        note: format!(
            "{files} files side by side, fdatasync of each per {} KiB round ({} KiB per file), {} MiB",
            (per_file * files as u64) >> 10,
            per_file >> 10,
            written >> 20
        ),
    }
}

/// Like [`disk_rounds`] but writes `total` bytes (no probe): the volume the broker wrote in the
/// run it is compared with, measured right after that run so the page cache is in the same
/// state. On a VM that hands memory back to its host, page-cache pages the guest has not
/// touched lately cost a host fault each, and a short run into recycled pages would measure a
/// different machine than the broker's long run saw. The files stay in `dir` (their pages stay
/// cached rather than being freed for the next measurement to reuse); the caller removes them.
pub fn disk_rounds_volume(dir: &Path, files: usize, round_bytes: u64, total: u64) -> Result<Limit> {
    let files = files.max(1);
    let per_file = (round_bytes / files as u64).max(4096);
    let total = total.clamp(64 << 20, 4 << 30);
    crate::storage::settle()?;
    let (written, run_secs) = write_rounds(dir, files, per_file, total, false)?;
    Ok(rounds_limit(files, per_file, written, run_secs))
}

/// Writes about `total` bytes over `files` files in rounds of `per_file` bytes per file, then
/// removes them if `remove`; returns (bytes written, seconds).
fn write_rounds(
    dir: &Path,
    files: usize,
    per_file: u64,
    total: u64,
    remove: bool,
) -> Result<(u64, f64)> {
    use std::os::unix::fs::FileExt;
    let rounds = (total / (per_file * files as u64)).max(1);
    let barrier = std::sync::Barrier::new(files);
    let buf = vec![0x5au8; per_file.min(1 << 20) as usize];
    let paths: Vec<_> = (0..files)
        .map(|i| dir.join(format!("raw-round-{i}")))
        .collect();
    let start = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let workers: Vec<_> = paths
            .iter()
            .map(|path| {
                let (barrier, buf) = (&barrier, &buf);
                s.spawn(move || -> Result<()> {
                    let f = std::fs::File::create(path)
                        .with_context(|| format!("create {}", path.display()))?;
                    let mut pos = 0u64;
                    for _ in 0..rounds {
                        let mut left = per_file;
                        while left > 0 {
                            let n = left.min(buf.len() as u64) as usize;
                            f.write_all_at(&buf[..n], pos)?;
                            pos += n as u64;
                            left -= n as u64;
                        }
                        f.sync_data()?;
                        barrier.wait();
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join()
                .map_err(|_| anyhow::anyhow!("disk limit writer panicked"))??;
        }
        Ok(())
    })?;
    let secs = start.elapsed().as_secs_f64();
    for p in paths.iter().filter(|_| remove) {
        std::fs::remove_file(p).with_context(|| format!("remove {}", p.display()))?;
    }
    Ok((rounds * per_file * files as u64, secs))
}

/// TCP loopback throughput from this process to a child `rill-bench loopback-sink`, sending
/// 128 KiB writes for `secs` seconds (at most 64 GiB).
pub fn loopback(secs: f64) -> Result<Limit> {
    let exe = std::env::current_exe().context("find rill-bench's own path")?;
    let mut child = Command::new(exe)
        .arg("loopback-sink")
        .stdout(Stdio::piped())
        .spawn()
        .context("spawn the loopback sink")?;
    let result = drive_sink(&mut child, secs, 64 << 30);
    if result.is_err() {
        let _ = child.kill();
    }
    let _ = child.wait();
    result
}

fn drive_sink(child: &mut std::process::Child, secs: f64, max_bytes: u64) -> Result<Limit> {
    let stdout = child.stdout.take().context("sink stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let port: u16 = lines.next().context("sink gave no port")??.trim().parse()?;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).context("connect to sink")?;
    let buf = vec![0x5au8; WRITE_BYTES];
    let (start, limit) = (Instant::now(), Duration::from_secs_f64(secs));
    let mut sent = 0u64;
    while start.elapsed() < limit && sent < max_bytes {
        stream.write_all(&buf)?;
        sent += WRITE_BYTES as u64;
    }
    stream.shutdown(Shutdown::Write)?;
    let line = lines.next().context("sink gave no result")??;
    let (bytes, nanos) = line
        .trim()
        .split_once(' ')
        .context("sink result is not 'bytes nanos'")?;
    let (bytes, nanos): (u64, u64) = (bytes.parse()?, nanos.parse()?);
    anyhow::ensure!(bytes == sent, "sink read {bytes} of {sent} bytes");
    Ok(Limit {
        mib_s: mib_per_sec(bytes, nanos as f64 / 1e9),
        note: format!(
            "2 processes, 128 KiB writes, {:.1} GiB in {:.1} s",
            bytes as f64 / (1u64 << 30) as f64,
            nanos as f64 / 1e9
        ),
    })
}

/// The child side of [`loopback`]: bind 127.0.0.1:0, print the port, read one connection to EOF
/// in 128 KiB reads, print `bytes nanos` (first byte to EOF).
pub fn sink_main() -> Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    println!("{}", listener.local_addr()?.port());
    std::io::stdout().flush()?;
    let (mut conn, _) = listener.accept()?;
    let mut buf = vec![0u8; WRITE_BYTES];
    let (mut total, mut start) = (0u64, None);
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        start.get_or_insert_with(Instant::now);
        total += n as u64;
    }
    let nanos = start.map_or(0, |s| s.elapsed().as_nanos());
    println!("{total} {nanos}");
    Ok(())
}

/// Most bytes [`loopback_into_disk`] sends, so a fast machine cannot fill the disk.
const PIPE_MAX_BYTES: u64 = 4 << 30;

/// Receive buffers between the sink's reader and writer threads (4 MiB in all).
const PIPE_BUFFERS: usize = 32;

/// A ceiling for the acks=all group-commit figures on this machine: TCP loopback into fsync'd
/// files, with no protocol at all (what a process that only receives and writes reaches). A
/// child `rill-bench loopback-disk-sink` receives 128 KiB writes from this process for about
/// `secs` seconds (at most 4 GiB) and writes them round-robin into `files` files in `dir`,
/// `round_bytes / files` bytes per file per round (one thread reads the socket, another writes
/// the files); a syncer fdatasyncs every file of a finished round at once (one thread per file)
/// while the writer goes on with the next one, as the broker's group commit overlaps appends
/// with its fsyncs. The figure runs from the first byte received to the last fsync; the files
/// are removed.
pub fn loopback_into_disk(dir: &Path, files: usize, round_bytes: u64, secs: f64) -> Result<Limit> {
    let mut limit = loopback_into_files(dir, files, round_bytes, secs, true)?;
    limit.note = format!(
        "{}, into {files} files fdatasynced per {} KiB round",
        limit.note,
        round_bytes >> 10
    );
    Ok(limit)
}

/// A ceiling for the relaxed-fsync (page-cache mode) figures on this machine: as
/// [`loopback_into_disk`], but nothing is fsynced; the files take `round_bytes / files` bytes
/// each in turn. What a process that only receives and copies into the page cache reaches,
/// including what the page cache's new pages cost here (on a VM, a host fault for memory the
/// guest has not touched lately).
pub fn loopback_into_page_cache(
    dir: &Path,
    files: usize,
    round_bytes: u64,
    secs: f64,
) -> Result<Limit> {
    let mut limit = loopback_into_files(dir, files, round_bytes, secs, false)?;
    limit.note = format!(
        "{}, into {files} files in turn ({} KiB each), no fsync",
        limit.note,
        (round_bytes / files.max(1) as u64) >> 10
    );
    Ok(limit)
}

/// Runs the `loopback-disk-sink` child for [`loopback_into_disk`] (`sync`) or
/// [`loopback_into_page_cache`].
fn loopback_into_files(
    dir: &Path,
    files: usize,
    round_bytes: u64,
    secs: f64,
    sync: bool,
) -> Result<Limit> {
    let exe = std::env::current_exe().context("find rill-bench's own path")?;
    let files = files.max(1);
    let mut cmd = Command::new(exe);
    cmd.arg("loopback-disk-sink")
        .arg("--dir")
        .arg(dir)
        .arg("--files")
        .arg(files.to_string())
        .arg("--round-bytes")
        .arg(round_bytes.to_string());
    if !sync {
        cmd.arg("--no-sync");
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .context("spawn the loopback-into-disk sink")?;
    let result = drive_sink(&mut child, secs, PIPE_MAX_BYTES);
    if result.is_err() {
        let _ = child.kill();
    }
    let _ = child.wait();
    result
}

/// The child side of [`loopback_into_disk`] and [`loopback_into_page_cache`]: bind
/// 127.0.0.1:0, print the port, read one connection to EOF and write it into `files` files in
/// `dir` in rounds of `round_bytes`, with `sync` fsyncing each finished round while the next is
/// written; print `bytes nanos` (first byte to the last fsync, or the last write) and remove
/// the files.
pub fn disk_sink_main(dir: &Path, files: usize, round_bytes: u64, sync: bool) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let files = files.max(1);
    let per_file = (round_bytes / files as u64).max(4096);
    let paths: Vec<_> = (0..files)
        .map(|i| dir.join(format!("raw-pipe-{i}")))
        .collect();
    let handles = paths
        .iter()
        .map(|p| std::fs::File::create(p).with_context(|| format!("create {}", p.display())))
        .collect::<Result<Vec<_>>>()?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    println!("{}", listener.local_addr()?.port());
    std::io::stdout().flush()?;
    let (mut conn, _) = listener.accept()?;
    let result = std::thread::scope(|s| -> Result<(u64, u128)> {
        // One round may wait while the syncer works on the previous one: the writer runs at
        // most two rounds ahead of the disk, as acks=all producers wait for their fsync.
        let (round_tx, round_rx) = std::sync::mpsc::sync_channel::<()>(1);
        let handles = &handles;
        let syncer = s.spawn(move || sync_rounds(handles, round_rx, sync));
        // A reader thread takes the socket and a writer (this thread) the files, so the
        // receive copy and the page-cache copy can run on different cores, as a broker's
        // network and append work can; PIPE_BUFFERS buffers of WRITE_BYTES go round.
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(Vec<u8>, usize)>(PIPE_BUFFERS);
        let (free_tx, free_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(PIPE_BUFFERS);
        for _ in 0..PIPE_BUFFERS {
            free_tx.send(vec![0u8; WRITE_BYTES])?;
        }
        let reader = s.spawn(move || -> Result<(u64, Option<Instant>)> {
            let (mut total, mut start) = (0u64, None);
            while let Ok(mut buf) = free_rx.recv() {
                let n = conn.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                start.get_or_insert_with(Instant::now);
                total += n as u64;
                if full_tx.send((buf, n)).is_err() {
                    break;
                }
            }
            Ok((total, start))
        });
        let write = move || -> Result<()> {
            let (mut cur, mut pos, mut in_file) = (0usize, vec![0u64; files], 0u64);
            for (buf, n) in full_rx {
                let mut data = &buf[..n];
                while !data.is_empty() {
                    let take = data.len().min((per_file - in_file) as usize);
                    handles[cur].write_all_at(&data[..take], pos[cur])?;
                    pos[cur] += take as u64;
                    in_file += take as u64;
                    data = &data[take..];
                    if in_file == per_file {
                        in_file = 0;
                        cur = (cur + 1) % files;
                        if cur == 0 {
                            round_tx.send(())?;
                        }
                    }
                }
                let _ = free_tx.send(buf);
            }
            // The last, partial round.
            round_tx.send(())?;
            Ok(())
        };
        let written = write();
        let (total, start) = reader
            .join()
            .map_err(|_| anyhow::anyhow!("loopback-into-disk reader panicked"))??;
        syncer
            .join()
            .map_err(|_| anyhow::anyhow!("loopback-into-disk syncer panicked"))??;
        written?;
        Ok((total, start.map_or(0, |s| s.elapsed().as_nanos())))
    });
    for p in &paths {
        let _ = std::fs::remove_file(p);
    }
    let (total, nanos) = result?;
    println!("{total} {nanos}");
    Ok(())
}

/// The syncer of [`disk_sink_main`]: for each round asked for on `rounds`, fdatasyncs every
/// file at once (a thread per file; with `sync` false, only takes the round), returning when
/// `rounds` closes.
fn sync_rounds(
    handles: &[std::fs::File],
    rounds: std::sync::mpsc::Receiver<()>,
    sync: bool,
) -> Result<()> {
    if !sync {
        while rounds.recv().is_ok() {}
        return Ok(());
    }
    let go = std::sync::Barrier::new(handles.len() + 1);
    let done = std::sync::Barrier::new(handles.len() + 1);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let failed = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for f in handles {
            let (go, done, stop, failed) = (&go, &done, &stop, &failed);
            s.spawn(move || loop {
                go.wait();
                if stop.load(std::sync::atomic::Ordering::Acquire) {
                    return;
                }
                if f.sync_data().is_err() {
                    failed.store(true, std::sync::atomic::Ordering::Release);
                }
                done.wait();
            });
        }
        while rounds.recv().is_ok() {
            go.wait();
            done.wait();
        }
        stop.store(true, std::sync::atomic::Ordering::Release);
        go.wait();
    });
    anyhow::ensure!(
        !failed.load(std::sync::atomic::Ordering::Acquire),
        "fdatasync failed in the loopback-into-disk sink"
    );
    Ok(())
}

/// Disk a full run's brokers may hold at once: retention keeps each partition near
/// [`super::broker_proc::PARTITION_RETAINED_BYTES`] (a few partitions fill that far; the
/// 3-node cluster holds three copies of its topics), plus the segment files retention keeps
/// for recycling (`rill_log::recycle`), plus the disk-limit files. The group-commit broker
/// alone held 35 GiB at its peak (27 on the 12-partition topic, 8.4 on the 1-partition one,
/// spares included) when the disk-limit files came on top; 40 GiB left under 3 GiB free.
pub const RUN_DISK_BYTES: u64 = 44 << 30;

/// Files that hold the page cache full for the whole run (see [`fill_page_cache`]); removed
/// when dropped.
pub struct PageCacheFill {
    dir: std::path::PathBuf,
    paths: Vec<std::path::PathBuf>,
    /// Bytes written by the first fill.
    pub bytes: u64,
    /// Seconds it took, fsync included.
    pub secs: f64,
}

impl Drop for PageCacheFill {
    fn drop(&mut self) {
        for p in &self.paths {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A `/proc/meminfo` figure in bytes.
fn meminfo_bytes(key: &str) -> Result<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").context("read /proc/meminfo")?;
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib << 10)
        .with_context(|| format!("{key} not in /proc/meminfo"))
}

/// Bytes of fill that take `memory` less 1 GiB while leaving [`RUN_DISK_BYTES`] of `dir`'s
/// filesystem free, in whole chunks of `chunk`.
fn fill_bytes(dir: &Path, memory: u64, chunk: u64) -> Result<u64> {
    let fs = rustix::fs::statvfs(dir).with_context(|| format!("statvfs {}", dir.display()))?;
    let free_disk = fs.f_bavail.saturating_mul(fs.f_frsize);
    Ok(memory
        .saturating_sub(1 << 30)
        .min(free_disk.saturating_sub(RUN_DISK_BYTES))
        / chunk
        * chunk)
}

/// Writes `bytes` to a new file `path` and fsyncs it; returns the seconds it took. Removes the
/// file if it fails.
fn write_fill(path: &Path, bytes: u64, chunk: usize) -> Result<f64> {
    let start = Instant::now();
    let written = (|| -> Result<()> {
        let mut file =
            std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
        let buf = vec![0xa5u8; chunk];
        for _ in 0..bytes / chunk as u64 {
            file.write_all(&buf)
                .with_context(|| format!("write {}", path.display()))?;
        }
        file.sync_data()
            .with_context(|| format!("fsync {}", path.display()))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written.map(|()| start.elapsed().as_secs_f64())
}

/// Size of each write of a fill.
const FILL_CHUNK: usize = 4 << 20;

/// Fills the page cache with one file in `dir` (MemAvailable less 1 GiB, leaving
/// [`RUN_DISK_BYTES`] of `dir`'s filesystem free for the run; nothing when that is under
/// 1 GiB), fsynced so its pages are clean. A machine that has run for a while has a full page
/// cache and new writes recycle its pages; a fresh VM instead hands the guest memory it has
/// never touched (or has taken back: see [`PageCacheFill::top_up`]), each page at the price of
/// a fault in the host, which would be measured as the broker's (or the raw writer's) cost.
/// Keep the returned value alive while measuring.
pub fn fill_page_cache(dir: &Path) -> Result<Option<PageCacheFill>> {
    let want = fill_bytes(dir, meminfo_bytes("MemAvailable")?, FILL_CHUNK as u64)?;
    if want < 1 << 30 {
        return Ok(None);
    }
    let path = dir.join("page-cache-fill");
    let secs = write_fill(&path, want, FILL_CHUNK)?;
    Ok(Some(PageCacheFill {
        dir: dir.to_path_buf(),
        paths: vec![path],
        bytes: want,
        secs,
    }))
}

impl PageCacheFill {
    /// Takes the guest's free memory again with one more fill file (MemFree less 1 GiB, the
    /// same disk rule as the first fill; nothing under 256 MiB); returns (bytes, seconds).
    /// Free memory comes back during a run: a broker's data directory is deleted after its
    /// phase, and a VM may page out cold page cache on its own (DAMON) and report free pages
    /// to its host (virtio-balloon free page reporting), which takes them back. Writes then
    /// land in free pages first, each a host fault: the same relaxed-fsync produce measured
    /// 200-250 MiB/s with 12 GiB free and 486 MiB/s right after 10 GiB of fill took it.
    ///
    /// # Errors
    /// I/O failures (the partial file is removed).
    pub fn top_up(&mut self) -> Result<(u64, f64)> {
        let want = fill_bytes(&self.dir, meminfo_bytes("MemFree")?, FILL_CHUNK as u64)?;
        if want < 256 << 20 {
            return Ok((0, 0.0));
        }
        let path = self
            .dir
            .join(format!("page-cache-fill-{}", self.paths.len()));
        let secs = write_fill(&path, want, FILL_CHUNK)?;
        self.paths.push(path);
        Ok((want, secs))
    }
}
