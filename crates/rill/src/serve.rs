//! `rill serve`: load the config (file, then overrides), start the node (a broker, with or
//! without a controller, or a controller-only node), stop cleanly on Ctrl-C or SIGTERM.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rill_broker::config::parse_properties;
use rill_broker::{BrokerConfig, ControllerNode, Server};

/// Flags of `rill serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A Kafka-style server.properties file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Set a config with Kafka's name, e.g. `--override log.dirs=/data` (repeatable; wins
    /// over the file).
    #[arg(long = "override", short = 'o', value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Shortcut for `--override listeners=PLAINTEXT://ADDR`.
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// Shortcut for `--override log.dirs=DIR`.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Shortcut for `--override admin.listen=ADDR`: the HTTP listener of the web console,
    /// /metrics, /health and the admin API (default 127.0.0.1:9644; `none` turns it off).
    #[arg(long, value_name = "HOST:PORT")]
    admin_listen: Option<String>,
}

/// Reads the config as `rill serve` does: the file, then overrides, then the shortcuts.
///
/// # Errors
/// An unreadable file, a malformed override, a bad value.
pub fn load_config(args: &ServeArgs) -> anyhow::Result<BrokerConfig> {
    let pairs = config_pairs(args)?;
    Ok(BrokerConfig::from_pairs(pairs, |w| tracing::warn!("{w}"))?)
}

fn config_pairs(args: &ServeArgs) -> anyhow::Result<Vec<(String, String)>> {
    let mut pairs = config_pairs_of(
        args.config.as_deref(),
        &args.overrides,
        args.listen.as_deref(),
        args.data_dir.as_deref(),
    )?;
    if let Some(addr) = &args.admin_listen {
        pairs.push(("admin.listen".into(), addr.clone()));
    }
    Ok(pairs)
}

/// The key/value pairs of a config file plus overrides and the shortcut flags, in order.
///
/// # Errors
/// An unreadable file or a malformed override.
pub fn config_pairs_of(
    config: Option<&std::path::Path>,
    overrides: &[String],
    listen: Option<&str>,
    data_dir: Option<&std::path::Path>,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    if let Some(path) = config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        pairs.extend(parse_properties(&text)?);
    }
    for o in overrides {
        let (k, v) = o
            .split_once('=')
            .with_context(|| format!("--override '{o}' is not KEY=VALUE"))?;
        pairs.push((k.trim().to_string(), v.trim().to_string()));
    }
    if let Some(addr) = listen {
        pairs.push(("listeners".into(), format!("PLAINTEXT://{addr}")));
    }
    if let Some(dir) = data_dir {
        pairs.push(("log.dirs".into(), dir.display().to_string()));
    }
    Ok(pairs)
}

/// Runs the broker until a signal.
///
/// # Errors
/// Startup errors (config, data directory, bind).
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = load_config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let outcome = runtime.block_on(async move {
        let data_dir = config.log_dir.clone();
        // Handlers first: a signal that arrives once the port accepts must stop us cleanly.
        let signals = Signals::install()?;
        if !config.cluster.roles.broker {
            return run_controller(config, signals).await;
        }
        let server = Server::bind(config).await?;
        let addr = server.local_addr()?;
        tracing::info!(%addr, data_dir = %data_dir.display(), cluster_id = %server.broker.cluster_id, "rill is serving");
        if let Some(admin) = server.admin_url() {
            tracing::info!(console = %format!("{admin}/"), metrics = %format!("{admin}/metrics"), "web console and metrics");
        }
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            signals.wait().await;
            tracing::info!("signal received: shutting down");
            let _ = tx.send(true);
        });
        server.run(rx).await;
        anyhow::Ok(())
    });
    // A metadata commit still waiting for a quorum that is gone must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    outcome
}

/// Runs a controller-only node until a signal.
async fn run_controller(config: BrokerConfig, signals: Signals) -> anyhow::Result<()> {
    let data_dir = config.log_dir.clone();
    let node = ControllerNode::start(config).await?;
    tracing::info!(controller = %node.controller_addr, data_dir = %data_dir.display(),
        cluster_id = %node.cluster_id, "rill controller is serving (no Kafka listener)");
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        signals.wait().await;
        tracing::info!("signal received: shutting down");
        let _ = tx.send(true);
    });
    node.run(rx).await?;
    Ok(())
}

/// SIGTERM and SIGINT, listened for from the moment they are installed.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
