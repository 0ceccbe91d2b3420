//! `rill dev cluster` against live processes: one node, three nodes forming a cluster that
//! librdkafka (the `rdkafka` crate) sees as three brokers, creates a topic on and produces to
//! and consumes from, and three controller-only plus two broker-only nodes; Ctrl-C (SIGINT)
//! stops every child.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(30);

/// A running `rill dev cluster`: its bootstrap string and the children's pids, read from the
/// lines it prints. Killed (SIGKILL, with its children left to the test's checks) on drop.
struct Dev {
    proc: Child,
    bootstrap: String,
    pids: Vec<u32>,
}

impl Dev {
    /// Starts `rill dev cluster ARGS`, one node per broker in the bootstrap string.
    fn start(args: &[&str]) -> anyhow::Result<Dev> {
        Self::start_nodes(args, None)
    }

    /// Starts `rill dev cluster ARGS` with `nodes` node lines (default: one per broker).
    fn start_nodes(args: &[&str], nodes: Option<usize>) -> anyhow::Result<Dev> {
        let mut proc = Command::new(env!("CARGO_BIN_EXE_rill"))
            .args(["dev", "cluster"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let out: ChildStdout = proc.stdout.take().context("stdout")?;
        let mut lines = BufReader::new(out).lines();
        let bootstrap = lines.next().context("no bootstrap line")??;
        let n = nodes.unwrap_or_else(|| bootstrap.split(',').count());
        let mut pids = Vec::new();
        for _ in 0..n {
            let line = lines.next().context("missing node line")??;
            let pid = line
                .split_whitespace()
                .skip_while(|w| *w != "pid")
                .nth(1)
                .with_context(|| format!("no pid in {line:?}"))?
                .parse()?;
            pids.push(pid);
        }
        Ok(Dev {
            proc,
            bootstrap,
            pids,
        })
    }

    /// SIGINT, then the exit status; every child must be gone and no port may still listen.
    fn interrupt(&mut self) -> anyhow::Result<()> {
        let killed = Command::new("kill")
            .args(["-INT", &self.proc.id().to_string()])
            .status()?;
        ensure!(killed.success());
        let status = self.proc.wait()?;
        ensure!(status.success(), "rill dev exited with {status}");
        for pid in &self.pids {
            ensure!(
                !std::path::Path::new(&format!("/proc/{pid}")).exists(),
                "child {pid} is still there after rill dev exited"
            );
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for addr in self.bootstrap.split(',') {
            while TcpStream::connect(addr).is_ok() {
                ensure!(
                    Instant::now() < deadline,
                    "{addr} still listens after Ctrl-C"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.proc.kill();
        let _ = self.proc.wait();
    }
}

fn config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_cluster_three_nodes_serve_librdkafka_and_stop_on_ctrl_c() -> anyhow::Result<()> {
    let mut dev = Dev::start(&["--nodes", "3"])?;
    ensure!(dev.bootstrap.split(',').count() == 3, "{}", dev.bootstrap);
    ensure!(dev.pids.len() == 3);
    let result = async {
        let bootstrap = dev.bootstrap.clone();
        let consumer: BaseConsumer = config(&bootstrap)
            .set("group.id", "dev-test")
            .set("enable.auto.commit", "false")
            .create()?;
        let md = consumer.fetch_metadata(None, TIMEOUT)?;
        let mut ids: Vec<i32> = md.brokers().iter().map(|b| b.id()).collect();
        ids.sort_unstable();
        ensure!(ids == [1, 2, 3], "librdkafka sees brokers {ids:?}");
        let ports: Vec<String> = md
            .brokers()
            .iter()
            .map(|b| format!("{}:{}", b.host(), b.port()))
            .collect();
        for p in &ports {
            ensure!(
                bootstrap.split(',').any(|a| a == p),
                "{p} not in {bootstrap}"
            );
        }

        let admin: AdminClient<DefaultClientContext> = config(&bootstrap).create()?;
        let res = admin
            .create_topics(
                [&NewTopic::new("devtopic", 3, TopicReplication::Fixed(1))],
                &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
            )
            .await?;
        for r in res {
            r.map_err(|(t, e)| anyhow::anyhow!("create {t}: {e}"))?;
        }
        let deadline = Instant::now() + TIMEOUT;
        let leaders = loop {
            let md = consumer.fetch_metadata(Some("devtopic"), TIMEOUT)?;
            let t = &md.topics()[0];
            let leaders: Vec<i32> = t.partitions().iter().map(|p| p.leader()).collect();
            if leaders.len() == 3 && leaders.iter().all(|l| *l > 0) {
                break leaders;
            }
            ensure!(Instant::now() < deadline, "devtopic not led: {leaders:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let mut distinct = leaders.clone();
        distinct.sort_unstable();
        distinct.dedup();
        ensure!(
            distinct.len() == 3,
            "3 partitions on 3 brokers, leaders {leaders:?}"
        );

        let producer: FutureProducer = config(&bootstrap).set("acks", "all").create()?;
        for p in 0..3 {
            for i in 0..10 {
                let value = format!("p{p}-r{i}");
                producer
                    .send(
                        FutureRecord::<(), _>::to("devtopic")
                            .partition(p)
                            .payload(&value),
                        TIMEOUT,
                    )
                    .await
                    .map_err(|(e, _)| e)?;
            }
        }
        let mut tpl = TopicPartitionList::new();
        for p in 0..3 {
            tpl.add_partition_offset("devtopic", p, Offset::Beginning)?;
        }
        consumer.assign(&tpl)?;
        let mut got: Vec<(i32, i64, String)> = Vec::new();
        let deadline = Instant::now() + TIMEOUT;
        while got.len() < 30 {
            ensure!(Instant::now() < deadline, "consumed {} of 30", got.len());
            if let Some(m) = consumer.poll(Duration::from_millis(200)) {
                let m = m?;
                let v = String::from_utf8(m.payload().unwrap_or_default().to_vec())?;
                got.push((m.partition(), m.offset(), v));
            }
        }
        got.sort();
        let want: Vec<(i32, i64, String)> = (0..3)
            .flat_map(|p| (0..10).map(move |i| (p, i64::from(i), format!("p{p}-r{i}"))))
            .collect();
        ensure!(got == want, "consumed {got:?}");
        Ok(())
    }
    .await;
    let stopped = dev.interrupt();
    result?;
    stopped
}

#[test]
fn dev_cluster_one_node_runs_and_stops() -> anyhow::Result<()> {
    let mut dev = Dev::start(&["--nodes", "1"])?;
    ensure!(!dev.bootstrap.contains(','), "{}", dev.bootstrap);
    let consumer: BaseConsumer = config(&dev.bootstrap).create()?;
    let md = consumer.fetch_metadata(None, TIMEOUT)?;
    ensure!(md.brokers().len() == 1);
    drop(consumer);
    dev.interrupt()
}

#[test]
fn dev_cluster_refuses_ten_nodes() -> anyhow::Result<()> {
    let out = Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(["dev", "cluster", "--nodes", "10"])
        .stdin(Stdio::null())
        .output()?;
    ensure!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(err.contains("1..=9") || err.contains("10"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_cluster_separate_controllers_and_brokers() -> anyhow::Result<()> {
    let mut dev = Dev::start_nodes(&["--controllers", "3", "--brokers", "2"], Some(5))?;
    ensure!(dev.bootstrap.split(',').count() == 2, "{}", dev.bootstrap);
    ensure!(dev.pids.len() == 5);
    let result = async {
        let bootstrap = dev.bootstrap.clone();
        let consumer: BaseConsumer = config(&bootstrap).create()?;
        let md = consumer.fetch_metadata(None, TIMEOUT)?;
        let mut ids: Vec<i32> = md.brokers().iter().map(|b| b.id()).collect();
        ids.sort_unstable();
        ensure!(ids == [4, 5], "librdkafka sees brokers {ids:?}");
        let admin: AdminClient<DefaultClientContext> = config(&bootstrap).create()?;
        let res = admin
            .create_topics(
                [&NewTopic::new("split", 4, TopicReplication::Fixed(2))],
                &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
            )
            .await?;
        for r in res {
            r.map_err(|(t, e)| anyhow::anyhow!("create {t}: {e}"))?;
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let md = consumer.fetch_metadata(Some("split"), TIMEOUT)?;
            let t = &md.topics()[0];
            let placed: Vec<(i32, Vec<i32>)> = t
                .partitions()
                .iter()
                .map(|p| (p.leader(), p.replicas().to_vec()))
                .collect();
            let done = placed.len() == 4
                && placed.iter().all(|(l, r)| {
                    [4, 5].contains(l) && r.len() == 2 && r.iter().all(|b| [4, 5].contains(b))
                });
            if done {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "split not placed on 4 and 5: {placed:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }
    .await;
    let stopped = dev.interrupt();
    result?;
    stopped
}

/// `rill dev cluster --secure`: librdkafka reaches the three brokers only with the printed
/// SASL_SSL settings (SCRAM-SHA-512 as `admin`, the generated CA), and a topic replicated on
/// all three is written and read back through them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_cluster_secure_serves_librdkafka_over_sasl_ssl_only() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().display().to_string();
    let mut dev = Dev::start(&["--nodes", "3", "--secure", "--data-dir", &data])?;
    let result = async {
        let props = std::fs::read_to_string(dir.path().join("client.properties"))?;
        let secure = |c: &mut ClientConfig| {
            for line in props.lines() {
                if let Some((k, v)) = line.split_once('=') {
                    c.set(k, v);
                }
            }
        };
        let mut admin_cfg = config(&dev.bootstrap);
        secure(&mut admin_cfg);
        let admin: AdminClient<DefaultClientContext> = admin_cfg.create()?;
        let res = admin
            .create_topics(
                [&NewTopic::new("sectopic", 1, TopicReplication::Fixed(3))],
                &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
            )
            .await?;
        for r in res {
            r.map_err(|(t, e)| anyhow::anyhow!("create {t}: {e}"))?;
        }
        let mut producer_cfg = config(&dev.bootstrap);
        secure(&mut producer_cfg);
        let producer: FutureProducer = producer_cfg.set("acks", "all").create()?;
        for i in 0..10 {
            let value = format!("s{i}");
            producer
                .send(
                    FutureRecord::<(), _>::to("sectopic")
                        .partition(0)
                        .payload(&value),
                    TIMEOUT,
                )
                .await
                .map_err(|(e, _)| e)?;
        }
        let mut consumer_cfg = config(&dev.bootstrap);
        secure(&mut consumer_cfg);
        let consumer: BaseConsumer = consumer_cfg
            .set("group.id", "dev-secure")
            .set("enable.auto.commit", "false")
            .create()?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("sectopic", 0, Offset::Beginning)?;
        consumer.assign(&tpl)?;
        let mut got = Vec::new();
        let deadline = Instant::now() + TIMEOUT;
        while got.len() < 10 {
            ensure!(Instant::now() < deadline, "consumed {} of 10", got.len());
            if let Some(m) = consumer.poll(Duration::from_millis(200)) {
                got.push(String::from_utf8(
                    m?.payload().unwrap_or_default().to_vec(),
                )?);
            }
        }
        ensure!(got == (0..10).map(|i| format!("s{i}")).collect::<Vec<_>>());
        // Without the settings nothing is served.
        let plain: BaseConsumer = config(&dev.bootstrap)
            .set("group.id", "dev-plain")
            .set("socket.timeout.ms", "3000")
            .create()?;
        ensure!(
            plain.fetch_metadata(None, Duration::from_secs(3)).is_err(),
            "a plaintext client got metadata from a --secure cluster"
        );
        Ok(())
    }
    .await;
    dev.interrupt()?;
    result
}
