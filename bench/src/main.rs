//! Rill benchmarks: each figure is printed beside the machine's own limit measured in the same
//! run, with the ratio. `rill-bench storage` measures the storage engine (crate rill-log),
//! `rill-bench cleaner` its log cleaner;
//! `rill-bench kafka` measures a broker through Kafka clients (issue 9); `rill-bench
//! idle-fetch` what idle long-polling consumers cost a broker taking writes (issue 21).

mod cleaner;
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
    /// The log cleaner's MiB/s of dirty log versus the disk's sequential write rate.
    Cleaner(cleaner::CleanerArgs),
    /// Produce throughput on another partition while the broker's log cleaner runs, versus
    /// with the cleaner idle, in one run.
    CleanerLoad(kafka::CleanerLoadArgs),
    /// Transactional produce (100 and 10,000 records per transaction) and read_committed
    /// consume, each against the non-transactional row of the same run.
    Txn(kafka::TxnArgs),
    /// Produce (acks=all, 12 partitions) and one consumer over SASL_SSL (SCRAM-SHA-512, TLS),
    /// each against the PLAINTEXT row of the same run.
    Secure(kafka::SecureArgs),
    /// Produce and fetch with 1,000 ACLs loaded against none (the authorizer on the request
    /// path), in the same run.
    Acls(kafka::AclsArgs),
    /// A broker through librdkafka (produce, consume, latency, RSS) versus disk and loopback.
    Kafka(kafka::KafkaArgs),
    /// Idle long-polling consumers (1, 100, 1000 by default) beside one producer: the broker's
    /// CPU per produced MiB and produce p99, optionally against a baseline `rill` binary.
    IdleFetch(kafka::IdleArgs),
    /// One librdkafka consumer reading partition 0 of a topic of an already running broker
    /// from the beginning (the consume measurement of `kafka`, alone: for profiling).
    ConsumeOnce {
        /// The broker.
        #[arg(long, default_value = "127.0.0.1:9092")]
        bootstrap: String,
        /// The topic.
        #[arg(long)]
        topic: String,
        /// MiB of record values to read.
        #[arg(long, default_value_t = 4096)]
        mib: u64,
        /// First fill the topic (created with one partition) with this many MiB of 1 KiB
        /// records from librdkafka, as the `kafka` run fills its consume topic.
        #[arg(long)]
        fill_mib: Option<u64>,
        /// Bytes of record values to read (instead of `--mib`).
        #[arg(long, hide = true)]
        bytes: Option<u64>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        limit_secs: u64,
        /// The consumer's `isolation.level` (read_uncommitted or read_committed).
        #[arg(long, default_value = "read_uncommitted")]
        isolation: String,
        /// Print the figures as one JSON object (what `kafka` reads from this as a child).
        #[arg(long)]
        json: bool,
    },
    /// (internal) The receiving side of the TCP loopback limit.
    #[command(hide = true)]
    LoopbackSink,
    /// (internal) The receiving side of the loopback-into-disk ceiling.
    #[command(hide = true)]
    LoopbackDiskSink {
        /// Directory for the files.
        #[arg(long)]
        dir: std::path::PathBuf,
        /// Files written round-robin.
        #[arg(long)]
        files: usize,
        /// Bytes per fsync round over all files.
        #[arg(long)]
        round_bytes: u64,
        /// Write only: no fsync (the relaxed-fsync ceiling).
        #[arg(long)]
        no_sync: bool,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Storage(args) => storage::run(&args),
        Command::Cleaner(args) => cleaner::run(&args),
        Command::Kafka(args) => kafka::run(&args),
        Command::IdleFetch(args) => kafka::idle_main(&args),
        Command::CleanerLoad(args) => kafka::cleaner_load_main(&args),
        Command::Txn(args) => kafka::txn_main(&args),
        Command::Secure(args) => kafka::secure_main(&args),
        Command::Acls(args) => kafka::acls_main(&args),
        Command::ConsumeOnce {
            bootstrap,
            topic,
            mib,
            fill_mib,
            bytes,
            limit_secs,
            isolation,
            json,
        } => kafka::consume_once(&kafka::ConsumeOnce {
            bootstrap,
            topic,
            bytes: bytes.unwrap_or(mib << 20),
            fill_mib,
            limit: std::time::Duration::from_secs(limit_secs),
            isolation,
            json,
        }),
        Command::LoopbackSink => kafka::sink_main(),
        Command::LoopbackDiskSink {
            dir,
            files,
            round_bytes,
            no_sync,
        } => kafka::disk_sink_main(&dir, files, round_bytes, !no_sync),
    }
}
