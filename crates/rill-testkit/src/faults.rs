//! Fault hooks for tests, in one place.
//!
//! Process faults work on any child process (a `rill serve` from [`crate::process`]):
//! [`freeze`] stops it with SIGSTOP (a broker that hangs: its sockets stay open, nothing is
//! answered, its heartbeats stop) and [`thaw`] resumes it with SIGCONT; SIGKILL is
//! [`crate::RillProcess::kill`].
//!
//! Storage faults live in rill-log behind its `fault-injection` feature, which only test
//! builds may turn on (through this crate's `faults` feature in a `[dev-dependencies]`
//! entry, never a normal dependency, so the shipped `rill` binary has none of them):
//! [`storage_sim`] (a file system that keeps what was written apart from what was synced,
//! for power cuts, torn writes and failed fsyncs) and [`torn_writes`] (the real file system
//! splits each write in two with a pause, for kill -9 tests).

use rustix::process::{kill_process, Pid, Signal};

#[cfg(feature = "faults")]
pub use rill_log::io::fault as torn_writes;
#[cfg(feature = "faults")]
pub use rill_log::storage_sim;

/// Why a signal could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// The pid is not a valid process id.
    #[error("{0} is not a process id")]
    BadPid(u32),
    /// The kernel refused the signal (the process is gone, or not ours).
    #[error("signal to process {pid} failed: {source}")]
    Signal {
        /// The process.
        pid: u32,
        /// The kernel's answer.
        source: std::io::Error,
    },
}

fn signal(pid: u32, sig: Signal) -> Result<(), FaultError> {
    let raw = i32::try_from(pid).map_err(|_| FaultError::BadPid(pid))?;
    let p = Pid::from_raw(raw).ok_or(FaultError::BadPid(pid))?;
    kill_process(p, sig).map_err(|e| FaultError::Signal {
        pid,
        source: e.into(),
    })
}

/// Stops process `pid` (SIGSTOP) until [`thaw`].
///
/// # Errors
/// The process is gone or not ours.
pub fn freeze(pid: u32) -> Result<(), FaultError> {
    signal(pid, Signal::STOP)
}

/// Resumes a process stopped by [`freeze`] (SIGCONT).
///
/// # Errors
/// The process is gone or not ours.
pub fn thaw(pid: u32) -> Result<(), FaultError> {
    signal(pid, Signal::CONT)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The state letter of `/proc/<pid>/stat` (R, S, T, ...).
    fn state(pid: u32) -> char {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        after.chars().next().unwrap()
    }

    fn wait_state(pid: u32, want: impl Fn(char) -> bool) -> char {
        for _ in 0..200 {
            let s = state(pid);
            if want(s) {
                return s;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        state(pid)
    }

    #[test]
    fn freeze_stops_a_process_and_thaw_resumes_it() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        freeze(pid).unwrap();
        assert_eq!(wait_state(pid, |s| s == 'T'), 'T');
        thaw(pid).unwrap();
        assert_ne!(wait_state(pid, |s| s != 'T'), 'T');
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(matches!(freeze(pid), Err(FaultError::Signal { .. })));
    }
}
