//! Where a produce request's appends run: on the async worker that handles the request, or on
//! the blocking pool.
//!
//! A hop to the blocking pool and back costs two thread wake-ups. On a small VM that was
//! about 90 us per request, and since a connection's requests are appended one after another
//! it capped one connection at about 11k requests/s: librdkafka at linger.ms=0 (small
//! requests, many in flight) then queued megabytes in the socket and saw 200 ms round trips
//! at 60k records/s. So appends run inline unless they might block for long:
//! - an append that may fsync on its own (the interval flush policy with a threshold) always
//!   goes to the pool;
//! - under group commit appends are inline (the page cache holds about a round of unsynced
//!   bytes, so a write does not wait for writeback);
//! - in Kafka's page-cache mode (never fsync on append) dirty bytes can pile up until the
//!   kernel throttles writers (`balance_dirty_pages`), which would park the worker. Such
//!   appends are inline while they are small ([`INLINE_MAX_BYTES`]) and the kernel's dirty
//!   pages are well below the point where it starts throttling (read from `/proc/vmstat`
//!   at most every [`PRESSURE_SAMPLE`], see [`DirtyPages::near_throttling`]).
//!
//! Not covered: a cgroup's own dirty limits (a container with a small memory limit), which
//! `/proc/vmstat` does not show; there a throttled append parks its worker, as it parks a
//! request handler thread in Kafka. An earlier version also sent appends to the pool for a
//! second after any inline append slower than 5 or 50 ms; on this VM such a stall came now
//! and then without any throttling, and the second of pool hops that followed queued more
//! than the stall itself (p99 410 ms instead of 60 ms at 150k records/s).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Largest request (bytes of record batches) whose page-cache-mode appends may run inline.
pub const INLINE_MAX_BYTES: usize = 1 << 20;

/// How often the kernel's dirty page counts are read again.
pub const PRESSURE_SAMPLE: Duration = Duration::from_millis(50);

/// The kernel's dirty page counts and thresholds (pages), from `/proc/vmstat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirtyPages {
    /// `nr_dirty`.
    pub dirty: u64,
    /// `nr_writeback`.
    pub writeback: u64,
    /// `nr_dirty_background_threshold`: background writeback starts here.
    pub background: u64,
    /// `nr_dirty_threshold`: the hard limit.
    pub limit: u64,
}

impl DirtyPages {
    /// Parses the text of `/proc/vmstat`; `None` when a field is missing.
    pub fn parse(vmstat: &str) -> Option<DirtyPages> {
        let field = |name: &str| {
            vmstat.lines().find_map(|l| {
                let (k, v) = l.split_once(' ')?;
                (k == name).then(|| v.trim().parse::<u64>().ok()).flatten()
            })
        };
        Some(DirtyPages {
            dirty: field("nr_dirty")?,
            writeback: field("nr_writeback")?,
            background: field("nr_dirty_background_threshold")?,
            limit: field("nr_dirty_threshold")?,
        })
    }

    /// Whether dirty and writeback pages are past a quarter of the way from the background
    /// threshold to the hard limit. The kernel throttles no writer below the midpoint (its
    /// "freerun" ceiling), so this leaves a margin of a quarter of that range for the bytes
    /// written between two samples.
    pub fn near_throttling(&self) -> bool {
        let limit = self.limit.max(self.background);
        self.dirty + self.writeback >= self.background + (limit - self.background) / 4
    }
}

/// Reads `/proc/vmstat`; `None` where it cannot be read (then only the size limit sends
/// page-cache-mode appends to the pool).
fn read_dirty_pages() -> Option<DirtyPages> {
    std::fs::read_to_string("/proc/vmstat")
        .ok()
        .and_then(|s| DirtyPages::parse(&s))
}

/// What a request's partitions ask of their appends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendNeeds {
    /// Some partition's append may fsync inline.
    pub may_fsync: bool,
    /// Some partition is in page-cache mode (no group commit).
    pub page_cache: bool,
    /// Record batch bytes in the request.
    pub bytes: usize,
}

/// The broker's choice of where appends run, with its last sample of the dirty pages.
#[derive(Debug)]
pub struct AppendRouting {
    /// When this was made; times below are milliseconds since then.
    origin: Instant,
    /// When the dirty page counts were last read (ms since `origin`, +1; 0: never).
    sampled_ms: AtomicU64,
    /// What that read said: near throttling.
    pressure: AtomicBool,
}

impl Default for AppendRouting {
    fn default() -> Self {
        AppendRouting {
            origin: Instant::now(),
            sampled_ms: AtomicU64::new(0),
            pressure: AtomicBool::new(false),
        }
    }
}

impl AppendRouting {
    fn ms_at(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.origin).as_millis() as u64
    }

    /// Whether appends with these needs run inline at `now`.
    pub fn inline(&self, needs: AppendNeeds, now: Instant) -> bool {
        self.inline_with(needs, now, read_dirty_pages)
    }

    /// [`AppendRouting::inline`] with the dirty page counts from `read`.
    fn inline_with(
        &self,
        needs: AppendNeeds,
        now: Instant,
        read: impl FnOnce() -> Option<DirtyPages>,
    ) -> bool {
        if needs.may_fsync {
            return false;
        }
        if !needs.page_cache {
            return true;
        }
        needs.bytes <= INLINE_MAX_BYTES && !self.near_throttling(now, read)
    }

    /// The last sample of the kernel's dirty pages, read again (by one caller) when older
    /// than [`PRESSURE_SAMPLE`].
    fn near_throttling(&self, now: Instant, read: impl FnOnce() -> Option<DirtyPages>) -> bool {
        let at = self.ms_at(now) + 1;
        let last = self.sampled_ms.load(Ordering::Relaxed);
        let stale = last == 0 || at >= last + PRESSURE_SAMPLE.as_millis() as u64;
        if stale
            && self
                .sampled_ms
                .compare_exchange(last, at, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let near = read().is_some_and(|d| d.near_throttling());
            self.pressure.store(near, Ordering::Relaxed);
        }
        self.pressure.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `inline` with no dirty page counts (this machine's are not the test's).
    fn inline(r: &AppendRouting, needs: AppendNeeds, now: Instant) -> bool {
        r.inline_with(needs, now, || None)
    }

    const SMALL: AppendNeeds = AppendNeeds {
        may_fsync: false,
        page_cache: true,
        bytes: 16 << 10,
    };

    #[test]
    fn appends_that_may_fsync_never_run_inline() {
        let r = AppendRouting::default();
        let needs = AppendNeeds {
            may_fsync: true,
            page_cache: false,
            bytes: 1,
        };
        assert!(!inline(&r, needs, Instant::now()));
    }

    #[test]
    fn group_commit_appends_run_inline_whatever_their_size() {
        let r = AppendRouting::default();
        let needs = AppendNeeds {
            may_fsync: false,
            page_cache: false,
            bytes: 64 << 20,
        };
        assert!(inline(&r, needs, Instant::now()));
    }

    #[test]
    fn large_page_cache_appends_go_to_the_pool() {
        let r = AppendRouting::default();
        let now = Instant::now();
        assert!(inline(&r, SMALL, now));
        let large = AppendNeeds {
            bytes: INLINE_MAX_BYTES + 1,
            ..SMALL
        };
        assert!(!inline(&r, large, now));
    }

    fn vmstat(dirty: u64, writeback: u64) -> String {
        format!(
            "nr_free_pages 5\nnr_dirty {dirty}\nnr_writeback {writeback}\n\
             nr_dirty_threshold 1000\nnr_dirty_background_threshold 600\n"
        )
    }

    #[test]
    fn dirty_pages_parse_from_vmstat() {
        let d = DirtyPages::parse(&vmstat(7, 3)).unwrap();
        assert_eq!(
            d,
            DirtyPages {
                dirty: 7,
                writeback: 3,
                background: 600,
                limit: 1000
            }
        );
        assert_eq!(DirtyPages::parse("nr_dirty 1\n"), None);
        assert_eq!(DirtyPages::parse(""), None);
        assert!(
            DirtyPages::parse(&std::fs::read_to_string("/proc/vmstat").unwrap()).is_some(),
            "this kernel's /proc/vmstat has the fields"
        );
    }

    #[test]
    fn near_throttling_is_a_quarter_of_the_way_past_the_background_threshold() {
        let at = |dirty, wb| {
            DirtyPages::parse(&vmstat(dirty, wb))
                .unwrap()
                .near_throttling()
        };
        assert!(!at(0, 0));
        assert!(!at(699, 0));
        assert!(at(700, 0));
        assert!(at(650, 50), "writeback counts too");
        let odd = DirtyPages {
            dirty: 10,
            writeback: 0,
            background: 10,
            limit: 5,
        };
        assert!(
            odd.near_throttling(),
            "a limit below the background one is read as equal"
        );
    }

    #[test]
    fn dirty_pages_near_throttling_send_page_cache_appends_to_the_pool() {
        let r = AppendRouting::default();
        let t0 = Instant::now();
        let near = || DirtyPages::parse(&vmstat(900, 0));
        let far = || DirtyPages::parse(&vmstat(10, 0));
        assert!(r.near_throttling(t0, near));
        // Not read again within the sample interval.
        assert!(r.near_throttling(t0 + Duration::from_millis(10), far));
        assert!(!r.near_throttling(t0 + PRESSURE_SAMPLE + Duration::from_millis(2), far));
        // Unreadable counts say nothing about pressure.
        assert!(!r.near_throttling(t0 + PRESSURE_SAMPLE * 3, || None));
        let fresh = AppendRouting::default();
        assert!(!fresh.inline_with(SMALL, t0, near));
        let group_commit = AppendNeeds {
            page_cache: false,
            ..SMALL
        };
        assert!(fresh.inline_with(group_commit, t0, near));
    }
}
