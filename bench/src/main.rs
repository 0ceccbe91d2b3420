//! Rill benchmarks: each figure is printed beside the machine's own limit measured in the same
//! run, with the ratio. `rill-bench storage` measures the storage engine (crate rill-log);
//! `rill-bench kafka` measures a broker through Kafka clients (issue 9).

mod kafka;
mod storage;

use clap::{Parser, Subcommand};

/// Command line.
#[derive(Parser)]
#[command(
    name = "rill-bench",
    about = "Rill benchmarks beside the machine's limits"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Append and read throughput of rill-log versus raw sequential file I/O.
    Storage(storage::StorageArgs),
    /// A broker through librdkafka (produce, consume, latency, RSS) versus disk and loopback.
    Kafka(kafka::KafkaArgs),
    /// (internal) The receiving side of the TCP loopback limit.
    #[command(hide = true)]
    LoopbackSink,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Storage(args) => storage::run(&args),
        Command::Kafka(args) => kafka::run(&args),
        Command::LoopbackSink => kafka::sink_main(),
    }
}
