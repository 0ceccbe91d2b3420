//! Is a file range in the page cache? A probe that never blocks: one-byte `preadv2` reads with
//! `RWF_NOWAIT` at the start of the range, every [`PROBE_STEP`] bytes and at its last byte. A
//! read that would have to wait for the disk fails with `EAGAIN` instead (and starts the
//! kernel's readahead), so the probe is safe on an async worker thread. It samples, so a page
//! evicted between two probes, or between the probe and the `sendfile`, can still cost one
//! disk read on the worker; readahead brings pages in as runs, which keeps that rare.

use std::fs::File;
use std::io::IoSliceMut;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::io::{Errno, ReadWriteFlags};

/// Distance between probes (the kernel's default readahead window).
pub const PROBE_STEP: u64 = 128 * 1024;

/// Whether the bytes `[pos, pos + len)` of `file` look resident. `true` as well when the
/// file system cannot tell (no `RWF_NOWAIT` support): sending then behaves like Kafka's.
pub fn is_resident(file: &File, pos: u64, len: u64) -> bool {
    if len == 0 {
        return true;
    }
    let last = pos + len - 1;
    let mut at = pos;
    loop {
        match probe(file, at) {
            Probe::Resident => {}
            Probe::Cold => return false,
            Probe::Unknown => return true,
        }
        if at == last {
            return true;
        }
        at = (at + PROBE_STEP).min(last);
    }
}

/// What one probe found.
enum Probe {
    /// The byte's page is in memory.
    Resident,
    /// Reading it would wait for the disk (or it is past the end of the file).
    Cold,
    /// The file system does not support the probe.
    Unknown,
}

fn probe(file: &File, at: u64) -> Probe {
    static UNSUPPORTED_LOGGED: AtomicBool = AtomicBool::new(false);
    let mut byte = [0u8; 1];
    match rustix::io::preadv2(
        file,
        &mut [IoSliceMut::new(&mut byte)],
        at,
        ReadWriteFlags::NOWAIT,
    ) {
        Ok(1) => Probe::Resident,
        // End of file: the range is not all there (a truncated segment); the read path on
        // the blocking pool finds out.
        Ok(_) | Err(Errno::AGAIN) => Probe::Cold,
        Err(e) => {
            if !UNSUPPORTED_LOGGED.swap(true, Ordering::Relaxed) {
                tracing::info!(error = %e, "RWF_NOWAIT reads unsupported: fetches send file data without a page cache check");
            }
            Probe::Unknown
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn written_data_is_resident_and_dropped_pages_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut f = File::create(&path).unwrap();
        f.write_all(&vec![7u8; 1 << 20]).unwrap();
        f.sync_all().unwrap();
        let f = File::open(&path).unwrap();
        assert!(is_resident(&f, 0, 1 << 20));
        if on_tmpfs(&f) {
            eprintln!("temp dir on tmpfs: its pages cannot be dropped; eviction not checked");
            return;
        }
        // Clean pages are dropped by DONTNEED: the probe must see that without blocking.
        rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).unwrap();
        assert!(!is_resident(&f, 0, 1 << 20));
        // Past the end of the file is not resident either.
        assert!(!is_resident(&f, 2 << 20, 10));
    }

    // `f_type` is i64 on x86_64 but narrower elsewhere.
    #[allow(clippy::unnecessary_cast)]
    fn on_tmpfs(f: &File) -> bool {
        const TMPFS_MAGIC: i64 = 0x0102_1994;
        rustix::fs::fstatfs(f).is_ok_and(|s| s.f_type as i64 == TMPFS_MAGIC)
    }
}
