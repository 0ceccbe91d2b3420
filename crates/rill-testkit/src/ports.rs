//! Ports for test servers that must be named before they start (a `rill serve` child, a
//! cluster's controller ports), reserved without the bind-then-drop race.
//!
//! The usual trick, bind port 0 and drop the listener, hands out a port from the kernel's
//! ephemeral range: until the server binds it, any outgoing connection on the machine may take
//! it as its source port, and a readiness probe may even connect to itself (TCP simultaneous
//! open). Here ports come from below the ephemeral range (`ip_local_port_range`), where the
//! kernel never picks source ports, and each is held by an exclusive `flock` on a file under
//! the system temp dir, so concurrent test processes (cargo's test binaries, the compat suite's
//! own allocator excepted) never pick the same one. A port is only handed out when nothing
//! listens on it. The reservation lasts until the [`PortReservation`] is dropped.

use std::fs::{File, OpenOptions};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use rustix::fs::{flock, FlockOperation};

/// Why no port could be reserved.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The lock directory could not be created or a lock file opened.
    #[error("port lock file {path}: {source}")]
    LockFile {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Every port of the range is taken.
    #[error("no free port in {low}..{high}")]
    Exhausted {
        /// First port tried.
        low: u16,
        /// One past the last.
        high: u16,
    },
}

/// A port on 127.0.0.1 that no other reservation (in any process) holds; free when reserved.
#[derive(Debug)]
pub struct PortReservation {
    /// The port.
    port: u16,
    /// The locked file; the lock goes with it.
    _lock: File,
}

impl PortReservation {
    /// The port number.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// The range ports are taken from: below the kernel's ephemeral range, or above it when
/// that leaves too little room.
fn candidate_range() -> (u16, u16) {
    let (low, high) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|v| v.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999));
    if low >= 12_000 {
        (10_000, low)
    } else {
        (high.saturating_add(1).max(1025), u16::MAX)
    }
}

/// Tries one port: its lock, then whether anything listens there already.
fn try_port(dir: &std::path::Path, port: u16) -> Result<Option<PortReservation>, PortError> {
    let path = dir.join(format!("{port}.lock"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| PortError::LockFile { path, source })?;
    if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
        return Ok(None);
    }
    // Taken by something that does not use these locks (a server of another program).
    if TcpListener::bind(("127.0.0.1", port)).is_err() {
        return Ok(None);
    }
    Ok(Some(PortReservation { port, _lock: file }))
}

/// Reserves one port.
///
/// # Errors
/// [`PortError`] when the lock directory is unusable or every port is taken.
pub fn reserve_port() -> Result<PortReservation, PortError> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join("rill-testkit-ports");
    std::fs::create_dir_all(&dir).map_err(|source| PortError::LockFile {
        path: dir.clone(),
        source,
    })?;
    let (low, high) = candidate_range();
    let span = u32::from(high - low);
    // Start where other processes are unlikely to be: spread by pid, then walk.
    let start = std::process::id()
        .wrapping_mul(7919)
        .wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(13));
    for i in 0..span {
        let port = low + ((start + i) % span) as u16;
        if let Some(r) = try_port(&dir, port)? {
            return Ok(r);
        }
    }
    Err(PortError::Exhausted { low, high })
}

/// Reserves `n` distinct ports.
///
/// # Errors
/// As [`reserve_port`].
pub fn reserve_ports(n: usize) -> Result<Vec<PortReservation>, PortError> {
    (0..n).map(|_| reserve_port()).collect()
}

/// Whether something accepts connections on 127.0.0.1:`port`. A connection to itself does not
/// count (a connect in the ephemeral range can pick the target as its own source port and
/// "succeed" by simultaneous open before the server has bound it).
pub fn listens(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok_and(|s| s.local_addr().ok() != s.peer_addr().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_distinct_free_and_outside_the_ephemeral_range() {
        let (low, high) = candidate_range();
        let held = reserve_ports(20).expect("ports");
        let mut ports: Vec<u16> = held.iter().map(PortReservation::port).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 20);
        for p in &ports {
            assert!((low..high).contains(p), "{p} outside {low}..{high}");
            assert!(!listens(*p));
        }
        // A held port is not handed out again, in this process or another.
        let again = reserve_ports(20).expect("ports");
        assert!(again.iter().all(|r| !ports.contains(&r.port())));
        // Dropped, it can be had again.
        let first = ports[0];
        drop(held);
        let dir = std::env::temp_dir().join("rill-testkit-ports");
        assert!(try_port(&dir, first).expect("lock file").is_some());
    }
}
