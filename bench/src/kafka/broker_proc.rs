//! A `rill serve` child process for the benchmark: a free port on 127.0.0.1, a temporary data
//! directory, Kafka config overrides; its memory (VmHWM/VmRSS from `/proc/PID/status`); and
//! an optional count of its fsync calls through `perf stat` on the syscall tracepoints.
//! Dropping a [`BrokerProc`] stops the broker (SIGTERM, then SIGKILL after 10 s) and removes
//! its data directory.

use anyhow::{Context, Result};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running broker started by the benchmark.
pub struct BrokerProc {
    /// The `rill serve` process.
    child: Child,
    /// `127.0.0.1:PORT`.
    pub bootstrap: String,
    /// Data directory, deleted on drop.
    _dir: tempfile::TempDir,
}

impl BrokerProc {
    /// Starts `rill serve` from `bin` with data under `base` and the given `key=value`
    /// overrides, and waits (up to 30 s) until it accepts connections.
    pub fn start(bin: &Path, base: &Path, overrides: &[&str]) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("rill-bench-broker-")
            .tempdir_in(base)?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let bootstrap = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(dir.path().join("broker.log"))?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--listen")
            .arg(&bootstrap)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--admin-listen")
            .arg("127.0.0.1:0");
        for o in overrides {
            cmd.arg("--override").arg(o);
        }
        let child = cmd
            .env("RUST_LOG", "warn")
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        let mut me = Self {
            child,
            bootstrap,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = me.child.try_wait()? {
                anyhow::bail!("rill serve exited with {status}: {}", me.log_tail());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "rill serve did not start in 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(me)
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident set size so far (VmHWM), MiB.
    pub fn peak_rss_mib(&self) -> Result<f64> {
        status_kib(self.pid(), "VmHWM:").map(|k| k as f64 / 1024.0)
    }

    /// Current resident set size (VmRSS), MiB.
    pub fn rss_mib(&self) -> Result<f64> {
        status_kib(self.pid(), "VmRSS:").map(|k| k as f64 / 1024.0)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self._dir.path().join("broker.log")).unwrap_or_default();
        let start = text.len().saturating_sub(2000);
        text.get(start..).unwrap_or_default().to_string()
    }
}

impl Drop for BrokerProc {
    fn drop(&mut self) {
        let _ = signal(self.child.id(), "-TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A field of `/proc/PID/status` in KiB.
fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = text
        .lines()
        .find(|l| l.starts_with(field))
        .with_context(|| format!("no {field} in /proc/{pid}/status"))?;
    let kib = line
        .split_whitespace()
        .nth(1)
        .context("empty status field")?;
    Ok(kib.parse()?)
}

fn signal(pid: u32, sig: &str) -> Result<()> {
    let status = Command::new("kill")
        .arg(sig)
        .arg(pid.to_string())
        .status()?;
    anyhow::ensure!(status.success(), "kill {sig} {pid} failed");
    Ok(())
}

/// Counts fsync + fdatasync calls of one process with `perf stat` while it runs.
pub struct FsyncCounter {
    /// The `perf stat` process.
    child: Child,
    /// Where perf writes its CSV counts.
    out: PathBuf,
}

impl FsyncCounter {
    /// Attaches `perf stat` to `pid`; `None` when perf is missing or cannot attach.
    pub fn attach(pid: u32, scratch: &Path) -> Option<Self> {
        let out = scratch.join(format!("perf-fsync-{pid}.csv"));
        let child = Command::new("perf")
            .args(["stat", "-x", ",", "-e", "syscalls:sys_enter_fdatasync"])
            .args([
                "-e",
                "syscalls:sys_enter_fsync",
                "-p",
                &pid.to_string(),
                "-o",
            ])
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        std::thread::sleep(Duration::from_millis(300));
        let mut me = Self { child, out };
        match me.child.try_wait() {
            Ok(None) => Some(me),
            _ => None,
        }
    }

    /// Stops counting and returns the number of fsync + fdatasync calls.
    pub fn finish(mut self) -> Option<u64> {
        signal(self.child.id(), "-INT").ok()?;
        self.child.wait().ok()?;
        let text = std::fs::read_to_string(&self.out).ok()?;
        let _ = std::fs::remove_file(&self.out);
        let counts: Vec<u64> = text
            .lines()
            .filter(|l| l.contains("syscalls:sys_enter_f"))
            .filter_map(|l| l.split(',').next()?.trim().parse().ok())
            .collect();
        (!counts.is_empty()).then(|| counts.iter().sum())
    }
}

impl Drop for FsyncCounter {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
