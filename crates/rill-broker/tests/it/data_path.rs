#![allow(clippy::unwrap_used)]
//! The data path over real sockets. Contracts: a fetch returns exactly the bytes of the
//! segment file, sent with `sendfile` when they are in the page cache and read on the
//! blocking pool when they are not; requests beyond `queued.max.request.bytes` wait (the
//! client feels backpressure) instead of the broker holding more, and all of them are
//! answered once memory frees up.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support::*;
use tokio::io::AsyncWriteExt;

/// The bytes of partition 0's first segment file.
fn segment_bytes(dir: &std::path::Path, topic: &str) -> (std::path::PathBuf, Vec<u8>) {
    let path = dir
        .join(format!("{topic}-0"))
        .join(format!("{:020}.log", 0));
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetched_records_are_the_segment_bytes_sent_with_sendfile() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]).await;
    let mut conn = Conn::open(node.addr).await;
    create_topic(&mut conn, "zc", 1).await;
    let mut offsets = Vec::new();
    for i in 0..40u8 {
        let (err, base) = produce(&mut conn, "zc", 0, batch_of(10, 8 << 10, i)).await;
        assert_eq!(err, 0);
        offsets.push(base);
    }
    let (_, on_disk) = segment_bytes(dir.path(), "zc");
    assert!(on_disk.len() > 3 << 20, "{}", on_disk.len());
    let (_, sendfile_before, copied_before) = node.net.send_stats.snapshot();
    // Non-flexible (v11) and flexible (v12) encodings, everything in one response.
    for version in [11, 12] {
        let pd = fetch(&mut conn, "zc", 0, 0, 16 << 20, version).await;
        assert_eq!(pd.error_code, 0);
        assert_eq!(pd.high_watermark, 400);
        let records = pd.records.unwrap();
        assert_eq!(records.len(), on_disk.len(), "v{version}");
        assert!(
            records[..] == on_disk[..],
            "v{version}: bytes differ from the segment"
        );
    }
    let (_, sendfile_after, copied_after) = node.net.send_stats.snapshot();
    assert_eq!(
        (
            sendfile_after - sendfile_before,
            copied_after - copied_before
        ),
        (2 * on_disk.len() as u64, 0),
        "record bytes must go out with sendfile, none copied"
    );
    // From the middle, with a limit: whole batches from the one holding the offset.
    let pd = fetch(&mut conn, "zc", 0, offsets[7] + 3, 200 << 10, 12).await;
    let records = pd.records.unwrap();
    let batch_len = on_disk.len() / 40;
    assert_eq!(
        records.len(),
        2 * batch_len,
        "two whole ~82 KiB batches fit 200 KiB"
    );
    assert!(records[..] == on_disk[7 * batch_len..9 * batch_len]);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_not_in_the_page_cache_are_read_off_the_workers_and_arrive_intact() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]).await;
    let mut conn = Conn::open(node.addr).await;
    create_topic(&mut conn, "cold", 1).await;
    for i in 0..24u8 {
        assert_eq!(
            produce(&mut conn, "cold", 0, batch_of(8, 12 << 10, i))
                .await
                .0,
            0
        );
    }
    let (path, on_disk) = segment_bytes(dir.path(), "cold");
    // acks=all waited for the fsync, so the pages are clean and DONTNEED drops them.
    let file = std::fs::File::open(&path).unwrap();
    let fs = rustix::fs::fstatfs(&file).unwrap();
    #[allow(clippy::unnecessary_cast)]
    if fs.f_type as i64 == 0x0102_1994 {
        eprintln!("data dir on tmpfs: pages cannot be dropped; cold path not checked");
        node.shutdown().await;
        return;
    }
    rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
    let (_, sendfile_before, copied_before) = node.net.send_stats.snapshot();
    let pd = fetch(&mut conn, "cold", 0, 0, 16 << 20, 12).await;
    let records = pd.records.unwrap();
    assert!(records[..] == on_disk[..], "cold read returned other bytes");
    let (_, sendfile_after, copied_after) = node.net.send_stats.snapshot();
    let copied = copied_after - copied_before;
    assert!(copied > 0, "cold pages were sent without the read fallback");
    assert_eq!(
        copied + (sendfile_after - sendfile_before),
        on_disk.len() as u64
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_queued_max_request_bytes_wait_and_are_then_all_answered() {
    const BUDGET: u64 = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let budget = BUDGET.to_string();
    let node = start(dir.path(), &[("queued.max.request.bytes", budget.as_str())]).await;
    let mut setup = Conn::open(node.addr).await;
    create_topic(&mut setup, "bp", 2).await;

    // A: a 700 KiB produce whose body arrives only in part: it holds 700 KiB of the budget.
    let mut a = Conn::open(node.addr).await;
    let (a_id, a_frame) = a.frame(&produce_request("bp", 0, batch_of(1, 700 << 10, 1)), 9);
    a.stream.write_all(&a_frame[..1000]).await.unwrap();
    // B: a complete 500 KiB produce: 700 + 500 KiB exceed the budget, so it must wait.
    let mut b = Conn::open(node.addr).await;
    let (b_id, b_frame) = b.frame(&produce_request("bp", 1, batch_of(1, 500 << 10, 2)), 9);
    b.stream.write_all(&b_frame).await.unwrap();
    let early = tokio::time::timeout(Duration::from_millis(700), b.read_frame()).await;
    assert!(early.is_err(), "B was read beyond the request budget");
    assert!(node.net.request_budget.held() <= BUDGET);
    // A sends the rest: A is answered, its bytes go back, then B gets in and is answered.
    a.stream.write_all(&a_frame[1000..]).await.unwrap();
    let ra = a.read_frame().await.unwrap();
    let ra = Conn::decode::<kafka_protocol::messages::ProduceRequest>(ra, a_id, 9);
    assert_eq!(ra.responses[0].partition_responses[0].error_code, 0);
    let rb = tokio::time::timeout(Duration::from_secs(10), b.read_frame())
        .await
        .unwrap()
        .unwrap();
    let rb = Conn::decode::<kafka_protocol::messages::ProduceRequest>(rb, b_id, 9);
    assert_eq!(rb.responses[0].partition_responses[0].error_code, 0);

    // A flood: one connection pipelines 40 produces of 200 KiB (8 MiB) without reading.
    let mut c = Conn::open(node.addr).await;
    let mut ids = Vec::new();
    let mut wire = Vec::new();
    for i in 0..40u8 {
        let (id, f) = c.frame(&produce_request("bp", 0, batch_of(1, 200 << 10, i)), 9);
        ids.push(id);
        wire.extend_from_slice(&f);
    }
    let (mut rd, mut wr) = c.stream.into_split();
    let writer = tokio::spawn(async move { wr.write_all(&wire).await.map(|_| wr) });
    for id in ids {
        let mut len = [0u8; 4];
        use tokio::io::AsyncReadExt;
        tokio::time::timeout(Duration::from_secs(20), rd.read_exact(&mut len))
            .await
            .unwrap()
            .unwrap();
        let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
        rd.read_exact(&mut buf).await.unwrap();
        let r = Conn::decode::<kafka_protocol::messages::ProduceRequest>(buf.into(), id, 9);
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    }
    writer.await.unwrap().unwrap();
    let peak = node.net.request_budget.peak();
    assert!(
        peak <= BUDGET,
        "held {peak} bytes with a budget of {BUDGET}"
    );
    assert!(peak >= 700 << 10, "the budget was never used: {peak}");
    assert_eq!(node.net.request_budget.held(), 0);
    assert!(node.net.send_stats.memory_bytes.load(Ordering::Relaxed) > 0);
    node.shutdown().await;
}

/// A node in Kafka's page-cache mode (`relaxed`: never fsync on append) or in group commit.
async fn start_in_flush_mode(dir: &std::path::Path, relaxed: bool) -> Node {
    let never = "9223372036854775807";
    let extra: &[(&str, &str)] = if relaxed {
        &[
            ("log.flush.interval.messages", never),
            ("log.flush.interval.ms", never),
        ]
    } else {
        &[]
    };
    start(dir, extra).await
}

/// Page-cache mode (Kafka's default flush settings: never on the append path) answers acks=1
/// and acks=all without any fsync round of the log directory; the default group commit
/// answers each produce only after a round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_cache_mode_answers_without_an_fsync_and_group_commit_after_one() {
    for relaxed in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let node = start_in_flush_mode(dir.path(), relaxed).await;
        let mut conn = Conn::open(node.addr).await;
        create_topic(&mut conn, "pc", 1).await;
        let sync = rill_log::dir_sync::DirSync::for_dir(dir.path());
        let before = sync.rounds();
        for i in 0..20u8 {
            let mut req = produce_request("pc", 0, batch_of(5, 100, i));
            req.acks = if i % 2 == 0 { 1 } else { -1 };
            let resp = conn.call(&req, 9).await;
            let pr = &resp.responses[0].partition_responses[0];
            assert_eq!(
                (pr.error_code, pr.base_offset),
                (0, 5 * i64::from(i)),
                "relaxed={relaxed} acks={}",
                req.acks
            );
        }
        let rounds = sync.rounds() - before;
        if relaxed {
            assert_eq!(
                rounds, 0,
                "page-cache mode must not fsync on the append path"
            );
        } else {
            assert!(
                rounds >= 20,
                "{rounds} rounds for 20 produces answered one by one"
            );
        }
        let pd = fetch(&mut conn, "pc", 0, 0, 1 << 20, 12).await;
        assert_eq!((pd.error_code, pd.high_watermark), (0, 100));
        node.shutdown().await;
    }
}

/// What one pipelined request expects back.
enum Expect {
    /// A produce answer with this base offset.
    Produce(i32, i64),
    /// An ApiVersions answer.
    Versions(i32),
}

/// One connection's pipelined requests (more than it may owe at once, some answered at once,
/// some after a round, some acks=0 with no answer) are all answered, in request order, with
/// the offsets of the order they were sent in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order_in_both_flush_modes() {
    use kafka_protocol::messages::{ApiVersionsRequest, ProduceRequest};
    for relaxed in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let node = start_in_flush_mode(dir.path(), relaxed).await;
        let mut conn = Conn::open(node.addr).await;
        create_topic(&mut conn, "pl", 3).await;
        // 1500 requests written before any answer is read: far more than a connection may
        // owe at once, answers of both kinds (done at once, and waiting for a round), acks=0
        // produces that get no answer in between, ApiVersions among them.
        let mut wire = Vec::new();
        let mut expect = Vec::new();
        let mut next_offset = [0i64; 3];
        for i in 0..1500u32 {
            if i % 97 == 0 {
                let (id, f) = conn.frame(&ApiVersionsRequest::default(), 3);
                wire.extend_from_slice(&f);
                expect.push(Expect::Versions(id));
                continue;
            }
            let p = (i % 3) as usize;
            let mut req = produce_request("pl", p as i32, batch_of(2, 100, i as u8));
            req.acks = match i % 5 {
                0 => 0,
                1 | 2 => 1,
                _ => -1,
            };
            let (id, f) = conn.frame(&req, 9);
            wire.extend_from_slice(&f);
            if req.acks != 0 {
                expect.push(Expect::Produce(id, next_offset[p]));
            }
            next_offset[p] += 2;
        }
        {
            let stream = &mut conn.stream;
            let (mut rd, mut wr) = stream.split();
            let send = async { wr.write_all(&wire).await.unwrap() };
            let check = async {
                use tokio::io::AsyncReadExt;
                for e in &expect {
                    let mut len = [0u8; 4];
                    tokio::time::timeout(Duration::from_secs(20), rd.read_exact(&mut len))
                        .await
                        .expect("an answer in time")
                        .unwrap();
                    let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
                    rd.read_exact(&mut buf).await.unwrap();
                    match *e {
                        Expect::Versions(id) => {
                            let r = Conn::decode::<ApiVersionsRequest>(buf.into(), id, 3);
                            assert_eq!(r.error_code, 0);
                        }
                        Expect::Produce(id, base) => {
                            let r = Conn::decode::<ProduceRequest>(buf.into(), id, 9);
                            let pr = &r.responses[0].partition_responses[0];
                            assert_eq!(
                                (pr.error_code, pr.base_offset),
                                (0, base),
                                "relaxed={relaxed} id {id}"
                            );
                        }
                    }
                }
            };
            tokio::join!(send, check);
        }
        for (p, end) in next_offset.iter().enumerate() {
            let pd = fetch(&mut conn, "pl", p as i32, 0, 1 << 20, 12).await;
            assert_eq!(
                (pd.error_code, pd.high_watermark),
                (0, *end),
                "relaxed={relaxed}"
            );
        }
        node.shutdown().await;
    }
}
