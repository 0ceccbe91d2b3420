//! `rill serve`: load the config (file, then overrides), start the server, stop cleanly on
//! Ctrl-C or SIGTERM.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rill_broker::config::parse_properties;
use rill_broker::{BrokerConfig, Server};

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

fn load_config(args: &ServeArgs) -> anyhow::Result<BrokerConfig> {
    let mut pairs = Vec::new();
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        pairs.extend(parse_properties(&text)?);
    }
    for o in &args.overrides {
        let (k, v) = o
            .split_once('=')
            .with_context(|| format!("--override '{o}' is not KEY=VALUE"))?;
        pairs.push((k.trim().to_string(), v.trim().to_string()));
    }
    if let Some(addr) = &args.listen {
        pairs.push(("listeners".into(), format!("PLAINTEXT://{addr}")));
    }
    if let Some(dir) = &args.data_dir {
        pairs.push(("log.dirs".into(), dir.display().to_string()));
    }
    if let Some(addr) = &args.admin_listen {
        pairs.push(("admin.listen".into(), addr.clone()));
    }
    Ok(BrokerConfig::from_pairs(pairs, |w| tracing::warn!("{w}"))?)
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
    runtime.block_on(async move {
        let data_dir = config.log_dir.clone();
        // Handlers first: a signal that arrives once the port accepts must stop us cleanly.
        let signals = Signals::install()?;
        let server = Server::bind(config).await?;
        let addr = server.local_addr()?;
        tracing::info!(%addr, data_dir = %data_dir.display(), cluster_id = %server.broker.cluster_id, "rill is serving");
        if let Some(admin) = server.admin_addr() {
            tracing::info!(console = %format!("http://{admin}/"), metrics = %format!("http://{admin}/metrics"), "web console and metrics");
        }
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            signals.wait().await;
            tracing::info!("signal received: shutting down");
            let _ = tx.send(true);
        });
        server.run(rx).await;
        anyhow::Ok(())
    })
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
