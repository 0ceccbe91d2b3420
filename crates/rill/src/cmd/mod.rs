//! The client subcommands (`topics`, `produce`, `consume`, `groups`, `users`, `perf`, `dev`):
//! shared connection flags (bootstrap servers, and TLS/SASL through
//! [`security::SecurityArgs`]), the runtime, and the mapping from errors to exit codes.
//!
//! Exit codes: 0 success; 1 the operation failed (a Kafka error, bad input); 2 usage errors
//! (clap); 3 the broker cannot be reached; 4 the topic, group or user does not exist.

pub mod acls;
pub mod consume;
pub mod dev;
pub mod dev_secure;
pub mod groups;
pub mod membership;
pub mod output;
pub mod perf;
pub mod produce;
pub mod quotas;
pub mod security;
pub mod topics;
pub mod transactions;
pub mod users;

use std::time::Duration;

use clap::Args;
use rill_client::{Client, ClientConfig, ClientError};

pub use output::Format;

/// Flags every client subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Brokers to bootstrap from, `host:port[,host:port...]`.
    #[arg(
        long = "bootstrap-server",
        short = 'b',
        env = "RILL_BROKERS",
        default_value = "127.0.0.1:9092",
        global = true
    )]
    pub bootstrap: String,
    /// Output format.
    #[arg(long, short = 'O', value_enum, default_value = "human", global = true)]
    pub output: Format,
    /// Per-request timeout in milliseconds.
    #[arg(long = "request-timeout-ms", default_value_t = 30_000, global = true)]
    pub request_timeout_ms: u64,
    /// TLS and SASL: `--command-config FILE` and the `--security-protocol`, `--sasl-*`,
    /// `--ssl-*` flags.
    #[command(flatten)]
    pub security: security::SecurityArgs,
}

impl Global {
    /// Connects a client to the bootstrap brokers.
    ///
    /// # Errors
    /// [`ClientError::Config`] for bad security settings, [`ClientError::Connect`] when no
    /// broker answers, TLS and SASL failures.
    pub async fn connect(&self) -> Result<Client, ClientError> {
        Client::connect(self.client_config()?).await
    }

    /// The client settings these flags describe (bootstrap, timeout, security).
    ///
    /// # Errors
    /// [`ClientError::Config`] for bad security settings.
    pub fn client_config(&self) -> Result<ClientConfig, ClientError> {
        let mut config = ClientConfig::new(&self.bootstrap);
        config.client_id = "rill-cli".into();
        config.request_timeout = Duration::from_millis(self.request_timeout_ms);
        config.security = self.security.security()?;
        Ok(config)
    }

    /// Whether JSON output is wanted.
    pub fn json(&self) -> bool {
        self.output == Format::Json
    }
}

/// Runs an async command on a fresh runtime.
///
/// # Errors
/// The command's error.
pub fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    runtime.block_on(f)
}

/// The exit code for an error (see the module docs).
pub fn exit_code(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<ClientError>() {
        Some(ClientError::Connect { .. }) => 3,
        Some(ClientError::UnknownTopic { .. }) => 4,
        // 91 RESOURCE_NOT_FOUND: a SCRAM user without that credential.
        Some(ClientError::Kafka {
            code: 3 | 69 | 91, ..
        }) => 4,
        _ => 1,
    }
}

/// Parses `KEY=VALUE`.
///
/// # Errors
/// A message naming the flag when there is no `=`.
pub fn key_value(s: &str, flag: &str) -> anyhow::Result<(String, String)> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .ok_or_else(|| anyhow::anyhow!("{flag} '{s}' is not KEY=VALUE"))
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
