//! A `rill serve` child process for the benchmark: a port on 127.0.0.1 reserved by
//! rill-testkit, a temporary data
//! directory, Kafka config overrides (or N nodes of one cluster, every node a voter); its memory (VmHWM/VmRSS from `/proc/PID/status`); and
//! an optional count of its fsync calls through `perf stat` on the syscall tracepoints.
//! Dropping a [`BrokerProc`] stops the broker (SIGTERM, then SIGKILL after 10 s) and removes
//! its data directory.

use anyhow::{Context, Result};
use rill_testkit::{listens, reserve_port, reserve_ports, PortReservation};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running broker started by the benchmark.
pub struct BrokerProc {
    /// The `rill serve` process.
    child: Child,
    /// `127.0.0.1:PORT`.
    pub bootstrap: String,
    /// The client port.
    port: u16,
    /// Data directory, deleted on drop.
    _dir: tempfile::TempDir,
    /// The ports it was started on (rill-testkit's reservations), held while it runs.
    ports: Vec<PortReservation>,
}

/// Retention that keeps every bench broker's disk use bounded: at most
/// [`PARTITION_RETAINED_BYTES`] plus a segment per partition (and the spare segment files
/// retention keeps for recycling), checked every 2 s.
fn disk_bound() -> [String; 2] {
    [
        format!("log.retention.bytes={PARTITION_RETAINED_BYTES}"),
        "log.retention.check.interval.ms=2000".into(),
    ]
}

/// Bytes a bench partition keeps. At 6 GiB (all the consume topic needs) one 12-partition
/// topic grew to 27 GiB and a later, faster run filled the disk: a `rill perf` row then
/// waited on KAFKA_STORAGE_ERROR retries until the bench gave up on it. Produce rows only
/// need the bytes they write now; with 1 GiB, retention deletes (and recycles) older
/// segments as the run goes, as on a broker that has run for a while.
pub const PARTITION_RETAINED_BYTES: u64 = 1 << 30;

/// Bytes the consume topics keep (a topic config): above the 4 GiB one consumer reads.
pub const CONSUME_RETAINED_BYTES: u64 = 6 << 30;

impl BrokerProc {
    /// Starts `rill serve` from `bin` with data under `base` and the given `key=value`
    /// overrides, and waits (up to 30 s) until it accepts connections.
    pub fn start(bin: &Path, base: &Path, overrides: &[&str]) -> Result<Self> {
        let reserved = reserve_port()?;
        let port = reserved.port();
        let listeners = format!("listeners=PLAINTEXT://127.0.0.1:{port}");
        let mut all = vec![listeners.as_str()];
        all.extend_from_slice(overrides);
        let mut me = Self::spawn(bin, base, port, &all)?;
        me.ports.push(reserved);
        me.wait_listening(Instant::now() + Duration::from_secs(30))?;
        Ok(me)
    }

    /// Starts `rill serve` with two client listeners: `listeners(first, second)` gives the
    /// listener overrides for the two reserved ports (the broker is ready when the first
    /// accepts). Returns the broker and the second port.
    pub fn start_two_listeners(
        bin: &Path,
        base: &Path,
        listeners: impl Fn(u16, u16) -> Vec<String>,
        overrides: &[&str],
    ) -> Result<(Self, u16)> {
        let mut reserved = reserve_ports(2)?;
        let (first, second) = (reserved[0].port(), reserved[1].port());
        let made = listeners(first, second);
        let mut all: Vec<&str> = made.iter().map(String::as_str).collect();
        all.extend_from_slice(overrides);
        let mut me = Self::spawn(bin, base, first, &all)?;
        me.ports.append(&mut reserved);
        me.wait_listening(Instant::now() + Duration::from_secs(30))?;
        Ok((me, second))
    }

    /// Starts `n` nodes of one cluster (each broker and controller, all voters), data under
    /// `base`, with the given overrides; waits (up to 60 s) until every node accepts
    /// connections. The cluster may need a few more seconds before it accepts topics.
    pub fn start_cluster(
        bin: &Path,
        base: &Path,
        n: usize,
        overrides: &[&str],
    ) -> Result<Vec<Self>> {
        let mut reserved = reserve_ports(2 * n)?;
        let ports: Vec<u16> = reserved.iter().map(PortReservation::port).collect();
        let voters = (0..n)
            .map(|i| format!("{}@127.0.0.1:{}", i + 1, ports[n + i]))
            .collect::<Vec<_>>()
            .join(",");
        let cluster_id = new_cluster_id();
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let settings = [
                format!("node.id={}", i + 1),
                format!(
                    "listeners=PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}",
                    ports[i],
                    ports[n + i]
                ),
                format!("controller.quorum.voters={voters}"),
                format!("cluster.id={cluster_id}"),
            ];
            let mut all: Vec<&str> = settings.iter().map(String::as_str).collect();
            all.extend_from_slice(overrides);
            let mut node = Self::spawn(bin, base, ports[i], &all)?;
            // Node i holds its client port; the first node also holds the controller ports.
            node.ports.push(reserved.remove(0));
            if i == 0 {
                node.ports.extend(reserved.drain(n - 1..));
            }
            nodes.push(node);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        for node in &mut nodes {
            node.wait_listening(deadline)?;
        }
        Ok(nodes)
    }

    fn spawn(bin: &Path, base: &Path, port: u16, overrides: &[&str]) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("rill-bench-broker-")
            .tempdir_in(base)?;
        let log = std::fs::File::create(dir.path().join("broker.log"))?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--override")
            .arg(format!("log.dirs={}", dir.path().join("data").display()))
            .arg("--admin-listen")
            .arg("127.0.0.1:0");
        // Bounded disk: a warm run (see --fill-page-cache) wrote 28 GiB to one partition and
        // filled the disk; retention now deletes old segments within seconds.
        for o in disk_bound() {
            cmd.arg("--override").arg(o);
        }
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
        Ok(Self {
            child,
            bootstrap: format!("127.0.0.1:{port}"),
            port,
            _dir: dir,
            ports: Vec::new(),
        })
    }

    fn wait_listening(&mut self, deadline: Instant) -> Result<()> {
        while !listens(self.port) {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("rill serve exited with {status}: {}", self.log_tail());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "rill serve did not accept connections in time: {}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
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
        keep_log(self._dir.path(), self.child.id());
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

/// With `RILL_BENCH_KEEP_LOG=DIR` set, a broker's log is copied into DIR before its data
/// directory goes (to look into a stall or a failure after the run).
fn keep_log(dir: &Path, pid: u32) {
    let Some(keep) = std::env::var_os("RILL_BENCH_KEEP_LOG") else {
        return;
    };
    let to = Path::new(&keep).join(format!("rill-bench-broker-{pid}.log"));
    match std::fs::copy(dir.join("broker.log"), &to) {
        Ok(_) => eprintln!("broker log kept at {}", to.display()),
        Err(e) => eprintln!("cannot keep the broker log at {}: {e}", to.display()),
    }
}

/// A cluster id in Kafka's form (22 characters of URL-safe base64), from the process's random
/// hash keys and the clock.
fn new_cluster_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut words = [0u64; 2];
    for (i, w) in words.iter_mut().enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.write_usize(i);
        *w = h.finish();
    }
    let bits = (u128::from(words[0]) << 64) | u128::from(words[1]);
    (0..22)
        .map(|i| char::from(ALPHABET[((bits >> (i * 6)) & 63) as usize]))
        .collect()
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
