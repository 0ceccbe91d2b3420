//! The `rill` binary: `rill serve` runs a broker; more tools come as subcommands.

mod serve;

use clap::{Parser, Subcommand};

/// Rill: a Kafka-compatible event-streaming platform in one binary.
#[derive(Debug, Parser)]
#[command(name = "rill", version, about)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run a broker (single node: broker and controller in one process).
    Serve(serve::ServeArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rill: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
