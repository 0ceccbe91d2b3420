//! The `rill` binary: `rill serve` runs a node, `rill format` prepares its data directory;
//! `topics`, `produce`, `consume`, `groups`, `users`,
//! `perf` and `dev` are the everyday Kafka tools, speaking the Kafka protocol through
//! `rill-client`, so they work against Rill and any Kafka broker.

mod cmd;
mod format;
mod format_scram;
mod serve;

use clap::{Parser, Subcommand};

/// Rill: a Kafka-compatible event-streaming platform in one binary.
#[derive(Debug, Parser)]
#[command(name = "rill", version, about)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
    /// Connection and output flags of the client subcommands.
    #[command(flatten)]
    global: cmd::Global,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node: a broker, a controller, or both (a single node is both).
    Serve(serve::ServeArgs),
    /// Write a node's meta.properties (cluster id, node id) before its first start;
    /// `--random-uuid` prints a new cluster id.
    Format(format::FormatArgs),
    /// Create, list, describe, delete topics; alter their configs; add partitions.
    Topics(cmd::topics::TopicsArgs),
    /// Write records from stdin or a file, one per line.
    Produce(cmd::produce::ProduceArgs),
    /// Read records and print them.
    Consume(cmd::consume::ConsumeArgs),
    /// List, describe, reset offsets of and delete consumer groups.
    Groups(cmd::groups::GroupsArgs),
    /// List transactional ids and describe one (state, producer, open partitions).
    Transactions(cmd::transactions::TransactionsArgs),
    /// Create, list and delete SCRAM users (AlterUserScramCredentials).
    Users(cmd::users::UsersArgs),
    /// Create, list and delete ACLs (kafka-acls).
    Acls(cmd::acls::AclsArgs),
    /// Describe and alter client quotas (kafka-configs --entity-type users|clients).
    Quotas(cmd::quotas::QuotasArgs),
    /// Load generators: produce and consume throughput and latency.
    Perf(cmd::perf::PerfArgs),
    /// Local development helpers.
    Dev(cmd::dev::DevArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    let g = cli.global;
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Format(args) => format::run(args),
        Command::Topics(args) => cmd::block_on(cmd::topics::run(args, g)),
        Command::Produce(args) => cmd::block_on(cmd::produce::run(args, g)),
        Command::Consume(args) => cmd::block_on(cmd::consume::run(args, g)),
        Command::Groups(args) => cmd::block_on(cmd::groups::run(args, g)),
        Command::Users(args) => cmd::block_on(cmd::users::run(args, g)),
        Command::Acls(args) => cmd::block_on(cmd::acls::run(args, g)),
        Command::Quotas(args) => cmd::block_on(cmd::quotas::run(args, g)),
        Command::Perf(args) => cmd::block_on(cmd::perf::run(args, g)),
        Command::Transactions(args) => cmd::block_on(cmd::transactions::run(args, g)),
        Command::Dev(args) => cmd::block_on(cmd::dev::run(args)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rill: error: {e:#}");
            std::process::ExitCode::from(cmd::exit_code(&e))
        }
    }
}
