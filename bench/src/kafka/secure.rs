//! `rill-bench secure`: the cost of SASL_SSL. One `rill serve` with a PLAINTEXT and a
//! SASL_SSL (SCRAM-SHA-512 over TLS 1.3) listener; through each, librdkafka produces at
//! acks=all to 12 partitions, first as fast as it can (`--secs`), then paced at `--rate-mib`;
//! then one consumer reads a one-partition topic of `--consume-mib` from the start. Each
//! SASL_SSL row is reported as a ratio of the PLAINTEXT row measured in the same run against
//! the same broker (issue 24's targets: produce >= 0.8x, consume >= 0.5x: TLS must encrypt
//! every byte that `sendfile` sent untouched on plaintext).
//!
//! Client and broker share the machine, and librdkafka encrypts in its one thread per broker
//! connection, so the unpaced SASL_SSL row measures that thread as much as the broker
//! (`--producers` runs several producers, each with its own connection). The paced rows give
//! the broker's own figure: its CPU per MiB at the same load on both listeners, whose ratio is
//! the share of its plaintext capacity it keeps over TLS. The rows run in turn `--rounds`
//! times, alternating which goes first; the table gives each throughput row's best round and
//! the median CPU figures, and the medians of the per-round ratios are printed too.
//!
//! The certificates are made with the `openssl` command line (a CA and a server certificate
//! for 127.0.0.1), and the SCRAM user with `rill format --add-scram`.

use super::broker_proc::BrokerProc;
use super::consume;
use super::idle;
use super::produce::{self, Spec, RECORD_BYTES};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Options of the SASL_SSL benchmark.
#[derive(clap::Args, Debug)]
pub struct SecureArgs {
    /// Seconds of each produce row.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// MiB the consume rows read.
    #[arg(long, default_value_t = 1024)]
    consume_mib: u64,
    /// Rounds (each row reports its best).
    #[arg(long, default_value_t = 2)]
    rounds: u32,
    /// librdkafka producers per produce row (each its own connection and broker thread).
    #[arg(long, default_value_t = 1)]
    producers: u32,
    /// The paced produce rows' rate, MiB/s: the broker's CPU per MiB is compared at this one
    /// load (below what either listener's client reaches), so the client's own TLS cost does
    /// not set the figure.
    #[arg(long, default_value_t = 150.0)]
    rate_mib: f64,
    /// The `rill` binary (default: `rill` beside this executable).
    #[arg(long)]
    rill_bin: Option<PathBuf>,
    /// Directory for broker data and certificates (default: the system temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Runs `openssl` with `args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .context("run openssl (the benchmark makes its certificates with it)")?;
    anyhow::ensure!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A CA and a server keystore (key and chain in one PEM file) for 127.0.0.1, in `dir`.
fn make_certificates(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=rill-bench CA",
        ],
    )?;
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    )?;
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\n")?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    )?;
    let keystore = dir.join("keystore.pem");
    let mut pem = std::fs::read(dir.join("server.key"))?;
    pem.extend(std::fs::read(dir.join("server.pem"))?);
    std::fs::write(&keystore, pem)?;
    Ok((dir.join("ca.pem"), keystore))
}

/// One produce row's figures.
struct Row {
    /// Acknowledged MiB/s.
    mib_s: f64,
    /// The broker's CPU milliseconds per acknowledged MiB.
    cpu_ms_per_mib: f64,
    /// The client's (this process: librdkafka and the sending loop) CPU ms per MiB.
    client_ms_per_mib: f64,
}

/// One round's (plaintext, SASL_SSL) figures.
struct Round {
    /// Unlimited produce, MiB/s.
    produce: (f64, f64),
    /// The client's CPU ms per MiB in the unlimited rows.
    client_cpu: (f64, f64),
    /// Broker CPU ms per MiB at the fixed rate.
    cpu_at_rate: (f64, f64),
    /// Consume, MiB/s.
    consume: (f64, f64),
}

/// Runs the benchmark.
///
/// # Errors
/// A broker that does not start, a client error, openssl missing.
pub fn run(args: &SecureArgs) -> Result<()> {
    let bin = match &args.rill_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("executable directory")?
            .join("rill"),
    };
    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let certs = tempfile::Builder::new()
        .prefix("rill-bench-secure-")
        .tempdir_in(&base)?;
    let (ca, keystore) = make_certificates(certs.path())?;
    let keystore_setting = format!("ssl.keystore.location={}", keystore.display());
    let (broker, secure_port) = BrokerProc::start_two_listeners(
        &bin,
        &base,
        |plain, secure| {
            vec![
                format!("listeners=PLAINTEXT://127.0.0.1:{plain},SASL_SSL://127.0.0.1:{secure}"),
                "sasl.enabled.mechanisms=SCRAM-SHA-512".into(),
                "inter.broker.listener.name=PLAINTEXT".into(),
            ]
        },
        &[&keystore_setting],
    )?;
    // The SCRAM user, through the admin API on the plaintext listener.
    let made = Command::new(&bin)
        .args([
            "users",
            "create",
            "bench",
            "--password",
            "bench-secret",
            "--mechanism",
            "SCRAM-SHA-512",
            "--bootstrap-server",
            &broker.bootstrap,
        ])
        .output()
        .context("run rill users create")?;
    anyhow::ensure!(
        made.status.success(),
        "rill users create: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let secure_bootstrap = format!("127.0.0.1:{secure_port}");
    let secure: Vec<(String, String)> = [
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.username", "bench"),
        ("sasl.password", "bench-secret"),
        ("ssl.ca.location", &ca.display().to_string()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    // The consume topic is filled once (plaintext, no ACLs), then read in every row.
    let (spec, want) = produce::ab_setup(
        &broker.bootstrap,
        "secure-produce",
        "secure-consume",
        args.secs,
        args.consume_mib,
    )?;
    let mut rounds = Vec::new();
    let limit = Duration::from_secs(300);
    let n = args.producers;
    let paced = Spec {
        rate: Some(args.rate_mib * 1024.0 * 1024.0 / RECORD_BYTES as f64),
        ..spec.clone()
    };
    // One produce row: the outcome and the broker's CPU seconds while it ran.
    let row = |bootstrap: &str, spec: &Spec, extra: &[(String, String)]| -> Result<Row> {
        let me = std::process::id();
        let (cpu, client) = (idle::cpu_secs(broker.pid())?, idle::cpu_secs(me)?);
        let o = produce::run_parallel(bootstrap, "secure-produce", spec, extra, n)?;
        let cpu = idle::cpu_secs(broker.pid())? - cpu;
        let client = idle::cpu_secs(me)? - client;
        anyhow::ensure!(o.failed == 0, "produce failures: {:?}", o.first_error);
        let mib = (o.records as f64 * RECORD_BYTES as f64 / 1048576.0).max(1e-9);
        Ok(Row {
            mib_s: o.mib_s(),
            cpu_ms_per_mib: 1000.0 * cpu / mib,
            client_ms_per_mib: 1000.0 * client / mib,
        })
    };
    for round in 1..=args.rounds {
        // The rows alternate which goes first: a produce row's rate depends on the state the
        // one before it left (page cache, segments, disk write-back), so neither gains from it.
        let pair = |spec: &Spec| -> Result<(Row, Row)> {
            Ok(if round % 2 == 1 {
                let p = row(&broker.bootstrap, spec, &[])?;
                (p, row(&secure_bootstrap, spec, &secure)?)
            } else {
                let s = row(&secure_bootstrap, spec, &secure)?;
                (row(&broker.bootstrap, spec, &[])?, s)
            })
        };
        let (p, s) = pair(&spec)?;
        let (pp, ps) = pair(&paced)?;
        let cp = consume::run(
            &broker.bootstrap,
            "secure-consume",
            want,
            limit,
            "read_uncommitted",
        )?;
        let cs = consume::run_with(
            &secure_bootstrap,
            "secure-consume",
            want,
            limit,
            "read_uncommitted",
            &secure,
        )?;
        println!(
            "round {round}: produce plaintext {:.1} MiB/s ({:.2} ms broker CPU/MiB), SASL_SSL \
             {:.1} MiB/s ({:.2} ms); at {} MiB/s: plaintext {:.2} ms, SASL_SSL {:.2} ms; \
             consume plaintext {:.1} MiB/s, SASL_SSL {:.1} MiB/s",
            p.mib_s,
            p.cpu_ms_per_mib,
            s.mib_s,
            s.cpu_ms_per_mib,
            args.rate_mib,
            pp.cpu_ms_per_mib,
            ps.cpu_ms_per_mib,
            cp.mib_s(),
            cs.mib_s()
        );
        rounds.push(Round {
            produce: (p.mib_s, s.mib_s),
            client_cpu: (p.client_ms_per_mib, s.client_ms_per_mib),
            cpu_at_rate: (pp.cpu_ms_per_mib, ps.cpu_ms_per_mib),
            consume: (cp.mib_s(), cs.mib_s()),
        });
    }
    let median = |f: &dyn Fn(&Round) -> f64| {
        let mut r: Vec<f64> = rounds.iter().map(f).collect();
        r.sort_by(f64::total_cmp);
        match r.len() {
            0 => 0.0,
            n if n % 2 == 1 => r[n / 2],
            n => (r[n / 2 - 1] + r[n / 2]) / 2.0,
        }
    };
    let best = |f: &dyn Fn(&Round) -> (f64, f64)| {
        rounds
            .iter()
            .map(f)
            .fold((0.0f64, 0.0f64), |(a, b), (x, y)| (a.max(x), b.max(y)))
    };
    let (pp, ps) = best(&|r| r.produce);
    let (cp, cs) = best(&|r| r.consume);
    // Capacity: how many MiB one broker CPU second carries, SASL_SSL over plaintext.
    let capacity = median(&|r| r.cpu_at_rate.0 / r.cpu_at_rate.1.max(1e-9));
    let (cpu_plain, cpu_secure) = (median(&|r| r.cpu_at_rate.0), median(&|r| r.cpu_at_rate.1));
    println!(
        "median of the per-round ratios: produce {:.2}x, consume {:.2}x",
        median(&|r| r.produce.1 / r.produce.0.max(1e-9)),
        median(&|r| r.consume.1 / r.consume.0.max(1e-9))
    );
    let verdict = |ratio: f64, target: f64| if ratio >= target { "PASS" } else { "MISS" };
    println!();
    println!(
        "| row (1 node, librdkafka, {n} producer(s)) | PLAINTEXT | SASL_SSL | ratio | target |"
    );
    println!("|---|---|---|---|---|");
    let pr = ps / pp.max(1e-9);
    let cr = cs / cp.max(1e-9);
    println!(
        "| produce acks=all, 12 partitions, 1 KiB, MiB/s | {pp:.1} | {ps:.1} | {pr:.2}x | >= 0.8x {} |",
        verdict(pr, 0.8)
    );
    println!(
        "| broker CPU ms per MiB at {} MiB/s (capacity ratio) | {cpu_plain:.2} | {cpu_secure:.2} | {capacity:.2}x | >= 0.8x {} |",
        args.rate_mib,
        verdict(capacity, 0.8)
    );
    // What the machine allows whatever the broker: the SASL_SSL client alone, given every
    // core, against the plaintext row.
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get()) as f64;
    let (client_plain, client_secure) = (median(&|r| r.client_cpu.0), median(&|r| r.client_cpu.1));
    let client_cap = 1000.0 * cores / client_secure.max(1e-9);
    println!(
        "| client CPU ms per MiB, unpaced (librdkafka, same machine) | {client_plain:.2} | {client_secure:.2} | {:.2}x | |",
        client_plain / client_secure.max(1e-9)
    );
    println!(
        "| SASL_SSL ceiling of this client on all {cores} cores, broker free (MiB/s, x plaintext) | {pp:.1} | {client_cap:.1} | {:.2}x | |",
        client_cap / pp.max(1e-9)
    );
    println!(
        "| one consumer, 1 partition, {} MiB, MiB/s | {cp:.1} | {cs:.1} | {cr:.2}x | >= 0.5x {} |",
        want >> 20,
        verdict(cr, 0.5)
    );
    drop(broker);
    Ok(())
}
