//! A `rill serve` child process for tests and benchmarks: its Kafka port reserved
//! ([`crate::ports`]), its own data directory, its stdout and stderr in a log file, killed when
//! dropped (with the log's tail printed if the test is panicking).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::ports::{listens, reserve_port, PortError, PortReservation};

/// Why a broker process did not come up.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// No port could be reserved.
    #[error(transparent)]
    Port(#[from] PortError),
    /// Spawning, the data directory or the log file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// The process exited before it listened.
    #[error("rill serve exited with {status} before listening; its log ends:\n{log}")]
    Exited {
        /// Its exit status.
        status: ExitStatus,
        /// The log's tail.
        log: String,
    },
    /// It did not listen in time.
    #[error("rill serve did not listen on port {port} within {secs} s; its log ends:\n{log}")]
    NotListening {
        /// The port.
        port: u16,
        /// The time allowed.
        secs: u64,
        /// The log's tail.
        log: String,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ProcessError {
    let what = what.into();
    move |source| ProcessError::Io { what, source }
}

/// How to start a [`RillProcess`].
#[derive(Debug)]
pub struct RillProcessBuilder {
    /// The `rill` binary.
    bin: PathBuf,
    /// `key=value` overrides, in order.
    overrides: Vec<String>,
    /// Environment variables.
    env: Vec<(String, String)>,
    /// Where the data directory goes (a temporary directory in it); the system's temp dir
    /// when `None`.
    base: Option<PathBuf>,
    /// How long to wait until it listens.
    ready_timeout: Duration,
}

impl RillProcessBuilder {
    /// Adds a `--override key=value`.
    pub fn config(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        self.overrides.push(format!("{key}={value}"));
        self
    }

    /// Adds `key=value` overrides given as strings.
    pub fn overrides<S: AsRef<str>>(mut self, pairs: &[S]) -> Self {
        self.overrides
            .extend(pairs.iter().map(|p| p.as_ref().to_string()));
        self
    }

    /// Sets an environment variable of the process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Puts the data directory under `base` instead of the system's temp dir.
    pub fn base_dir(mut self, base: &Path) -> Self {
        self.base = Some(base.to_path_buf());
        self
    }

    /// How long [`RillProcessBuilder::start`] waits for the listener (default 30 s).
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Starts the process on a reserved port and waits until it accepts connections.
    ///
    /// # Errors
    /// [`ProcessError`] when it cannot start or does not listen in time.
    pub fn start(self) -> Result<RillProcess, ProcessError> {
        let port = reserve_port()?;
        let dir = match &self.base {
            Some(base) => tempfile::Builder::new()
                .prefix("rill-serve-")
                .tempdir_in(base),
            None => tempfile::Builder::new().prefix("rill-serve-").tempdir(),
        }
        .map_err(io("creating the data directory"))?;
        let log_path = dir.path().join("rill.log");
        let log = File::create(&log_path).map_err(io("creating the log file"))?;
        let log_err = log.try_clone().map_err(io("cloning the log file"))?;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("serve")
            .arg("--override")
            .arg(format!("listeners=PLAINTEXT://127.0.0.1:{}", port.port()))
            .arg("--override")
            .arg(format!("log.dirs={}", dir.path().join("data").display()))
            .arg("--admin-listen")
            .arg("127.0.0.1:0");
        for o in &self.overrides {
            cmd.arg("--override").arg(o);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(io(format!("spawning {}", self.bin.display())))?;
        let mut process = RillProcess {
            child,
            port,
            log_path,
            dir,
        };
        process.wait_listening(self.ready_timeout)?;
        Ok(process)
    }
}

/// A running `rill serve`.
#[derive(Debug)]
pub struct RillProcess {
    /// The process; killed in `Drop`.
    child: Child,
    /// Its Kafka port (PLAINTEXT on 127.0.0.1), reserved while it lives.
    port: PortReservation,
    /// Where its stdout and stderr go.
    log_path: PathBuf,
    /// Its data directory (and the log), removed after it.
    dir: tempfile::TempDir,
}

impl RillProcess {
    /// A builder for `bin` (`env!("CARGO_BIN_EXE_rill")` in the rill crate's tests).
    pub fn builder(bin: impl Into<PathBuf>) -> RillProcessBuilder {
        RillProcessBuilder {
            bin: bin.into(),
            overrides: Vec::new(),
            env: Vec::new(),
            base: None,
            ready_timeout: Duration::from_secs(30),
        }
    }

    /// Its Kafka port.
    pub fn port(&self) -> u16 {
        self.port.port()
    }

    /// `127.0.0.1:PORT`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its data directory (`log.dirs`).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Whether it has exited (and with what).
    ///
    /// # Errors
    /// When the process cannot be asked.
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Sends SIGKILL and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn wait_listening(&mut self, timeout: Duration) -> Result<(), ProcessError> {
        let deadline = Instant::now() + timeout;
        while !listens(self.port()) {
            if let Some(status) = self.child.try_wait().map_err(io("waiting"))? {
                return Err(ProcessError::Exited {
                    status,
                    log: self.log_tail(60),
                });
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(ProcessError::NotListening {
                    port: self.port(),
                    secs: timeout.as_secs(),
                    log: self.log_tail(60),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Drop for RillProcess {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "---- rill serve (port {}) log, tail ----\n{}",
                self.port(),
                self.log_tail(60)
            );
        }
    }
}
