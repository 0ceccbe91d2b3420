//! `rill dev cluster`: a local playground. `--nodes 1` starts one `rill serve` child on a
//! free port with a temporary data directory, prints the bootstrap string and stops it on
//! Ctrl-C. More nodes need clustering, which Rill does not have yet: that fails clearly.

use std::process::Stdio;

use anyhow::Context;
use clap::{Args, Subcommand};

/// `rill dev` subcommands.
#[derive(Debug, Subcommand)]
pub enum DevCmd {
    /// Start a local cluster.
    Cluster {
        /// Number of broker nodes.
        #[arg(long, default_value_t = 1)]
        nodes: u32,
        /// Port for the (first) broker (default: a free one).
        #[arg(long)]
        port: Option<u16>,
    },
}

/// `rill dev ...`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// What to do.
    #[command(subcommand)]
    pub cmd: DevCmd,
}

/// Runs `rill dev`.
///
/// # Errors
/// More than one node; the child cannot start.
pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    let DevCmd::Cluster { nodes, port } = args.cmd;
    if nodes != 1 {
        anyhow::bail!(
            "rill dev cluster --nodes {nodes}: multi-node clusters need replication and the Raft metadata quorum, which Rill does not have yet; use --nodes 1"
        );
    }
    let port = match port {
        Some(p) => p,
        None => std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port(),
    };
    let dir = std::env::temp_dir().join(format!("rill-dev-{}-{port}", std::process::id()));
    let exe = std::env::current_exe().context("cannot find the rill executable")?;
    let mut child = tokio::process::Command::new(exe)
        .arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(&dir)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start `rill serve`")?;
    let bootstrap = format!("127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while tokio::net::TcpStream::connect(&bootstrap).await.is_err() {
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("rill serve exited with {status} before listening");
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!("rill serve did not listen on {bootstrap} within 20 s");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    println!("{bootstrap}");
    eprintln!("rill dev: 1 node at {bootstrap} (data in {}); export RILL_BROKERS={bootstrap}; Ctrl-C stops it", dir.display());
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        status = child.wait() => anyhow::bail!("rill serve stopped: {:?}", status),
    }
    stop(&mut child).await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Asks the child to stop (SIGTERM through `kill`), then kills it if it lingers.
async fn stop(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = tokio::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .await;
        if tokio::time::timeout(std::time::Duration::from_secs(10), child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = child.kill().await;
}
