//! 10,000 partitions in one process. Contract: with `RLIMIT_NOFILE` at 1024, 10,000 partition
//! logs can be opened, appended to, made durable (every tenth) and read at once (file handles live in the
//! bounded shared cache and are reopened lazily), and an idle partition costs at most 64 KiB
//! of heap. Heap is measured with a counting global allocator (this test binary only).
#![allow(clippy::unwrap_used)]
#![allow(unsafe_code)]

use rill_log::testutil::simple_batch;
use rill_log::{FileCache, LogConfig, PartitionLog};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is upheld by `System`; the counter is only arithmetic on an atomic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const PARTITIONS: usize = 10_000;

#[test]
fn ten_thousand_partitions_under_1024_fds_and_64k_heap_each() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let old = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(1024),
            maximum: old.maximum,
        },
    )
    .unwrap();
    FileCache::global().set_capacity(256);
    let root = tempfile::tempdir().unwrap();
    let config = LogConfig::default();
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let mut logs = Vec::with_capacity(PARTITIONS);
    for i in 0..PARTITIONS {
        let (mut log, _) =
            PartitionLog::open(&root.path().join(format!("t-{i}")), config.clone()).unwrap();
        let info = log
            .append(&mut simple_batch(2, 200, i as i64), 0, 0)
            .unwrap();
        if i % 10 == 0 {
            // fsyncs are slow on a shared disk: make every tenth partition durable.
            log.durability().wait_durable(info.last_offset + 1).unwrap();
        }
        logs.push(log);
    }
    let after = LIVE_BYTES.load(Ordering::Relaxed);
    let per_partition = (after - before) / PARTITIONS as isize;
    println!(
        "heap per idle partition: {per_partition} bytes; cached fds {}",
        FileCache::global().cached()
    );
    assert!(
        per_partition <= 64 * 1024,
        "{per_partition} bytes per partition"
    );
    assert!(FileCache::global().cached() <= 256);
    let fds = std::fs::read_dir("/proc/self/fd").unwrap().count();
    assert!(fds < 1024, "{fds} descriptors open");
    for (i, log) in logs.iter_mut().enumerate() {
        let mut buf = Vec::new();
        assert_eq!(
            log.read_into(0, u64::MAX, i64::MAX, true, &mut buf)
                .unwrap(),
            261
        );
        assert_eq!(
            rill_log::validate_batch(&buf).unwrap().max_timestamp,
            i as i64
        );
        if i % 100 == 90 {
            log.append(&mut simple_batch(1, 10, 0), 0, 0).unwrap();
            log.flush().unwrap();
        }
    }
    drop(logs);
    let (log, report) = PartitionLog::open(&root.path().join("t-9990"), config).unwrap();
    assert_eq!((log.log_end_offset(), report.batches_scanned), (3, 0));
}
