//! `rill dev cluster`: a local playground. Starts `rill serve` children on free ports of
//! 127.0.0.1, each with its own data directory. `--nodes N`: with more than one node they form
//! one cluster, every node broker + controller (all voters of the metadata quorum).
//! `--controllers C --brokers B`: C controller-only nodes (ids 1..=C, the voters, no Kafka
//! listener) and B broker-only nodes (ids C+1..). Waits until every broker's Metadata lists all
//! brokers, prints the bootstrap string (first stdout line, brokers only) and one line per node,
//! and stops them all on Ctrl-C / SIGTERM (SIGTERM each, SIGKILL after 15 s). A node that dies
//! at start fails the command with the tail of its log.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use rill_client::{Client, ClientConfig};
use tokio::process::{Child, Command};
use tokio::signal::unix::{signal, Signal, SignalKind};

/// How long the nodes may take to form the cluster.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long stopped nodes get before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// `rill dev` subcommands.
#[derive(Debug, Subcommand)]
pub enum DevCmd {
    /// Start a local cluster and keep it running until Ctrl-C.
    Cluster {
        /// Number of nodes (1..=9); each is broker and controller.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=9),
              conflicts_with_all = ["controllers", "brokers"])]
        nodes: u32,
        /// Controller-only nodes (1..=5; with --brokers): the voters of the metadata quorum.
        #[arg(long, requires = "brokers", value_parser = clap::value_parser!(u32).range(1..=5))]
        controllers: Option<u32>,
        /// Broker-only nodes (1..=9; with --controllers): serve clients, follow the quorum.
        #[arg(long, requires = "controllers", value_parser = clap::value_parser!(u32).range(1..=9))]
        brokers: Option<u32>,
        /// Client port of the first node (default: a free one; the others always are).
        #[arg(long)]
        port: Option<u16>,
        /// Directory for the nodes' data (`node1`, `node2`, ...) and logs (default: a new
        /// temporary directory, removed at exit).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Fence silent brokers quickly (session 3 s, heartbeat 500 ms) instead of Kafka's 9 s.
        #[arg(long)]
        fast_fencing: bool,
        /// Secure every port: clients and brokers on SASL_SSL (SCRAM-SHA-512, user `admin`
        /// with a generated password), the controller quorum on mTLS, with certificates
        /// generated into the data directory; prints the client settings.
        #[arg(long)]
        secure: bool,
    },
}

/// `rill dev ...`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// What to do.
    #[command(subcommand)]
    pub cmd: DevCmd,
}

/// One child `rill serve`.
struct Node {
    id: u32,
    /// Its client port (`None`: controller-only).
    client_port: Option<u16>,
    /// Its controller port (`None`: broker-only).
    controller_port: Option<u16>,
    /// Its admin HTTP port (web console, /metrics).
    admin_port: u16,
    dir: PathBuf,
    log: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl Node {
    /// The client address, or the controller address of a controller-only node.
    fn addr(&self) -> String {
        let port = self.client_port.or(self.controller_port).unwrap_or(0);
        format!("127.0.0.1:{port}")
    }

    fn is_broker(&self) -> bool {
        self.client_port.is_some()
    }

    fn spawn(&mut self, exe: &Path) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open {}", self.log.display()))?;
        let child = Command::new(exe)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("cannot start `rill serve`")?;
        self.child = Some(child);
        Ok(())
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// `Some(status)` once the child has exited.
    fn exited(&mut self) -> anyhow::Result<Option<std::process::ExitStatus>> {
        match self.child.as_mut() {
            Some(c) => Ok(c.try_wait()?),
            None => Ok(None),
        }
    }
}

/// Picks `n` distinct free ports (all bound at once, then released).
fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    Ok(listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<_>>>()?)
}

/// Makes node arguments secure: the client listener becomes SASL_SSL, the controller
/// listener SSL with client certificates, and `rill format` (not `cluster.id`) sets the id.
fn secure_args(args: &mut Vec<String>, sec: &super::dev_secure::SecureSetup, id: u32) {
    for a in args.iter_mut() {
        if a.starts_with("listeners=") {
            *a = a.replace("PLAINTEXT://", "SASL_SSL://");
        }
    }
    if let Some(i) = args.iter().position(|a| a.starts_with("cluster.id=")) {
        // "--override" before it.
        args.drain(i - 1..=i);
    }
    for (k, v) in sec.overrides(id) {
        args.push("--override".into());
        args.push(format!("{k}={v}"));
    }
}

/// `rill format` for a secure node's fresh data directory, with the `admin` SCRAM user.
async fn format_secure(
    exe: &Path,
    node: &Node,
    cluster_id: &str,
    sec: &super::dev_secure::SecureSetup,
) -> anyhow::Result<()> {
    if node.dir.join("meta.properties").exists() {
        return Ok(());
    }
    let out = Command::new(exe)
        .arg("format")
        .args([
            "--cluster-id",
            cluster_id,
            "--node-id",
            &node.id.to_string(),
        ])
        .args(sec.add_scram())
        .args(node.args.iter().skip(1))
        .stdin(Stdio::null())
        .output()
        .await
        .context("cannot run `rill format`")?;
    if !out.status.success() {
        bail!(
            "rill format for node {} failed: {}",
            node.id,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Number of brokers the node at `addr` lists in its Metadata answer (None: no answer).
async fn brokers_seen(
    addr: &str,
    security: &rill_client::security::ClientSecurity,
) -> Option<usize> {
    let mut cfg = ClientConfig::new(addr);
    cfg.security = security.clone();
    cfg.request_timeout = Duration::from_secs(2);
    cfg.retries = 0;
    let client = tokio::time::timeout(Duration::from_secs(3), Client::connect(cfg))
        .await
        .ok()?
        .ok()?;
    Some(client.snapshot().brokers.len())
}

/// Runs `rill dev`.
///
/// # Errors
/// A node cannot start or dies before the cluster is formed, or stops on its own later.
pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    let DevCmd::Cluster {
        nodes,
        controllers,
        brokers,
        port,
        data_dir,
        fast_fencing,
        secure,
    } = args.cmd;
    // Roles by node: (broker, controller).
    let roles: Vec<(bool, bool)> = match (controllers, brokers) {
        (Some(c), Some(b)) => (0..c)
            .map(|_| (false, true))
            .chain((0..b).map(|_| (true, false)))
            .collect(),
        _ => (0..nodes).map(|_| (true, true)).collect(),
    };
    let n = roles.len();
    let exe = std::env::current_exe().context("cannot find the rill executable")?;
    let (root, temporary) = match data_dir {
        Some(d) => (d, false),
        None => (
            std::env::temp_dir().join(format!(
                "rill-dev-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            )),
            true,
        ),
    };
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;

    let mut ports = free_ports(3 * n)?;
    if let Some(p) = port {
        ports.retain(|&q| q != p);
        let first_broker = roles.iter().position(|r| r.0).unwrap_or(0);
        ports.insert(first_broker, p);
    }
    let cluster_id = rill_broker::metadata::new_cluster_id();
    let secure = if secure {
        Some(super::dev_secure::SecureSetup::make(&root, n)?)
    } else {
        None
    };
    let voters = (0..n)
        .filter(|i| roles[*i].1)
        .map(|i| format!("{}@127.0.0.1:{}", i + 1, ports[n + i]))
        .collect::<Vec<_>>()
        .join(",");
    let mut nodes: Vec<Node> = (0..n)
        .map(|i| {
            let id = i as u32 + 1;
            let (broker, controller) = roles[i];
            let client_port = broker.then_some(ports[i]);
            let controller_port = (controller && n > 1).then_some(ports[n + i]);
            let dir = root.join(format!("node{id}"));
            let admin_port = ports[2 * n + i];
            let mut args = serve_args(
                id,
                &dir,
                client_port,
                controller_port,
                (n > 1).then_some(voters.as_str()),
                &cluster_id,
                fast_fencing,
            );
            args.push("--override".into());
            args.push(format!("admin.listen=127.0.0.1:{admin_port}"));
            if let Some(sec) = &secure {
                secure_args(&mut args, sec, id);
            }
            Node {
                id,
                client_port,
                controller_port,
                admin_port,
                log: root.join(format!("node{id}.log")),
                dir,
                args,
                child: None,
            }
        })
        .collect();
    eprintln!(
        "rill dev: starting {n} node(s), data in {}{}",
        root.display(),
        if temporary { " (temporary)" } else { "" }
    );

    if let Some(sec) = &secure {
        for node in &nodes {
            format_secure(&exe, node, &cluster_id, sec).await?;
        }
    }
    let security = match &secure {
        Some(sec) => sec.client_security()?,
        None => rill_client::security::ClientSecurity::plaintext(),
    };
    let mut signals = Signals::new()?;
    let result =
        serve_until_signal(&exe, &mut nodes, &mut signals, &security, secure.as_ref()).await;
    stop_all(&mut nodes).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&root);
    }
    result
}

/// The `rill serve` arguments of one node; `voters` is `None` for a lone node.
fn serve_args(
    id: u32,
    dir: &Path,
    client_port: Option<u16>,
    controller_port: Option<u16>,
    voters: Option<&str>,
    cluster_id: &str,
    fast_fencing: bool,
) -> Vec<String> {
    let mut args = vec!["serve".to_string()];
    let mut set = |k: &str, v: String| {
        args.push("--override".into());
        args.push(format!("{k}={v}"));
    };
    set("log.dirs", dir.display().to_string());
    let Some(voters) = voters else {
        let port = client_port.unwrap_or(0);
        set("listeners", format!("PLAINTEXT://127.0.0.1:{port}"));
        return args;
    };
    set("node.id", id.to_string());
    let mut listeners = Vec::new();
    if let Some(p) = client_port {
        listeners.push(format!("PLAINTEXT://127.0.0.1:{p}"));
    }
    if let Some(p) = controller_port {
        listeners.push(format!("CONTROLLER://127.0.0.1:{p}"));
    }
    set("listeners", listeners.join(","));
    let roles = match (client_port.is_some(), controller_port.is_some()) {
        (true, false) => "broker",
        (false, true) => "controller",
        _ => "broker,controller",
    };
    set("process.roles", roles.into());
    set("controller.quorum.voters", voters.to_string());
    // Only a fresh data dir takes the id; a reused one keeps its meta.properties.
    if !dir.join("meta.properties").exists() {
        set("cluster.id", cluster_id.to_string());
    }
    if fast_fencing {
        set("broker.session.timeout.ms", "3000".into());
        set("broker.heartbeat.interval.ms", "500".into());
    }
    args
}

/// SIGINT (Ctrl-C) and SIGTERM, listened to from the start so none is lost.
struct Signals {
    int: Signal,
    term: Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Self> {
        Ok(Signals {
            int: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
            term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
        })
    }

    /// True when a signal arrived within `wait`.
    async fn within(&mut self, wait: Duration) -> bool {
        tokio::select! {
            _ = self.int.recv() => true,
            _ = self.term.recv() => true,
            _ = tokio::time::sleep(wait) => false,
        }
    }
}

/// Starts the nodes, waits for the cluster, prints it, and waits for a signal.
async fn serve_until_signal(
    exe: &Path,
    nodes: &mut [Node],
    signals: &mut Signals,
    security: &rill_client::security::ClientSecurity,
    secure: Option<&super::dev_secure::SecureSetup>,
) -> anyhow::Result<()> {
    let n = nodes.len();
    let brokers = nodes.iter().filter(|node| node.is_broker()).count();
    for node in nodes.iter_mut() {
        node.spawn(exe)?;
    }
    let deadline = Instant::now() + START_TIMEOUT;
    let mut ready = vec![false; n];
    while ready.iter().any(|r| !r) {
        for (i, node) in nodes.iter_mut().enumerate() {
            if let Some(status) = node.exited()? {
                let tail = node.log_tail(20);
                bail!(
                    "node {} ({}) exited with {status} while starting; its log ({}) ends:\n{tail}",
                    node.id,
                    node.addr(),
                    node.log.display()
                );
            }
            if !ready[i] {
                // A controller-only node serves no Kafka: it is ready once it runs.
                ready[i] = !node.is_broker()
                    || brokers_seen(&node.addr(), security).await == Some(brokers);
            }
        }
        if Instant::now() > deadline {
            let waiting: Vec<String> = nodes
                .iter()
                .zip(&ready)
                .filter(|(_, r)| !**r)
                .map(|(node, _)| format!("node {}:\n{}", node.id, node.log_tail(10)))
                .collect();
            bail!(
                "the cluster did not form within {} s; still waiting for {}",
                START_TIMEOUT.as_secs(),
                waiting.join("\n")
            );
        }
        if ready.iter().any(|r| !r) && signals.within(Duration::from_millis(200)).await {
            eprintln!("rill dev: signal received while starting: stopping");
            return Ok(());
        }
    }

    let bootstrap = nodes
        .iter()
        .filter(|node| node.is_broker())
        .map(Node::addr)
        .collect::<Vec<_>>()
        .join(",");
    println!("{bootstrap}");
    for node in nodes.iter() {
        let pid = node
            .child
            .as_ref()
            .and_then(Child::id)
            .map_or_else(|| "?".into(), |p| p.to_string());
        let mut what = Vec::new();
        if let Some(p) = node.client_port {
            what.push(format!("client 127.0.0.1:{p}"));
        }
        if let Some(p) = node.controller_port {
            what.push(format!("controller 127.0.0.1:{p}"));
        }
        // A secure node's console is HTTPS (the client listener's certificate) behind a
        // login as `admin`.
        let scheme = if secure.is_some() { "https" } else { "http" };
        println!(
            "node {}: {} pid {pid} data {} log {} console {scheme}://127.0.0.1:{}/",
            node.id,
            what.join(" "),
            node.dir.display(),
            node.log.display(),
            node.admin_port
        );
    }
    if let Some(sec) = secure {
        println!(
            "client settings ({}, for --command-config, kcat -F, any Kafka client):",
            sec.client_properties.display()
        );
        for (k, v) in sec.client_settings() {
            println!("  {k}={v}");
        }
    }
    eprintln!(
        "rill dev: {n} node(s) up; export RILL_BROKERS={bootstrap}; Ctrl-C stops {}",
        if n == 1 { "it" } else { "them" }
    );

    loop {
        if signals.within(Duration::from_millis(500)).await {
            eprintln!("rill dev: stopping {n} node(s)");
            return Ok(());
        }
        for node in nodes.iter_mut() {
            if let Some(status) = node.exited()? {
                bail!(
                    "node {} ({}) stopped on its own with {status}; its log ({}) ends:\n{}",
                    node.id,
                    node.addr(),
                    node.log.display(),
                    node.log_tail(20)
                );
            }
        }
    }
}

/// SIGTERM to every running node at once, then wait; SIGKILL whoever lingers past the grace.
async fn stop_all(nodes: &mut [Node]) {
    let pids: Vec<String> = nodes
        .iter()
        .filter_map(|n| n.child.as_ref().and_then(Child::id))
        .map(|p| p.to_string())
        .collect();
    if !pids.is_empty() {
        let _ = Command::new("kill")
            .arg("-TERM")
            .args(&pids)
            .stderr(Stdio::null())
            .status()
            .await;
    }
    let deadline = tokio::time::Instant::now() + STOP_GRACE;
    for node in nodes.iter_mut() {
        let Some(child) = node.child.as_mut() else {
            continue;
        };
        match tokio::time::timeout_at(deadline, child.wait()).await {
            Ok(Ok(status)) if !status.success() => {
                eprintln!("rill dev: node {} exited with {status}", node.id);
            }
            Ok(_) => {}
            Err(_) => {
                eprintln!(
                    "rill dev: node {} did not stop within {} s: killing it",
                    node.id,
                    STOP_GRACE.as_secs()
                );
                let _ = child.kill().await;
            }
        }
    }
}
