//! `rill-bench secure`: the cost of SASL_SSL. One `rill serve` with a PLAINTEXT and a
//! SASL_SSL (SCRAM-SHA-512 over TLS 1.3) listener; through each, librdkafka produces at
//! acks=all to 12 partitions (unlimited, `--secs`), then one consumer reads a one-partition
//! topic of `--consume-mib` from the start. Each SASL_SSL row is reported as a ratio of the
//! PLAINTEXT row measured in the same run against the same broker (issue 24's targets:
//! produce >= 0.8x, consume >= 0.5x: TLS must encrypt every byte that `sendfile` sent untouched
//! on plaintext). The rows run in turn `--rounds` times, alternating which goes first; the
//! table gives each row's best round, and the median of the per-round ratios is printed too.
//!
//! The certificates are made with the `openssl` command line (a CA and a server certificate
//! for 127.0.0.1), and the SCRAM user with `rill format --add-scram`.

use super::broker_proc::BrokerProc;
use super::consume;
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

/// Best (highest MiB/s) of the rounds.
fn best(values: &[f64]) -> f64 {
    values.iter().copied().fold(0.0, f64::max)
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
    produce::create_topic(&broker.bootstrap, "secure-produce", 12)?;
    produce::create_consume_topic(&broker.bootstrap, "secure-consume", 1)
        .map_err(produce::CreateError::into_anyhow)?;
    let spec = Spec {
        acks: "all",
        partitions: 12,
        rate: None,
        duration: Duration::from_secs(args.secs),
        max_records: u64::MAX,
        linger_ms: 5,
    };
    // Fill the consume topic once (plaintext), then read it through each listener.
    let fill = Spec {
        partitions: 1,
        duration: Duration::from_secs(600),
        max_records: args.consume_mib * 1024 * 1024 / RECORD_BYTES as u64,
        ..spec.clone()
    };
    let filled = produce::run(&broker.bootstrap, "secure-consume", &fill)?;
    anyhow::ensure!(filled.failed == 0, "filling the consume topic failed");
    let want = filled.records * RECORD_BYTES as u64;
    let (mut p_plain, mut p_secure, mut c_plain, mut c_secure) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let limit = Duration::from_secs(300);
    for round in 1..=args.rounds {
        // The rows alternate which goes first: a produce row's rate depends on the state the
        // one before it left (page cache, segments, retention), so neither gains from it.
        let (p, s) = if round % 2 == 1 {
            let p = produce::run(&broker.bootstrap, "secure-produce", &spec)?;
            (
                p,
                produce::run_with(&secure_bootstrap, "secure-produce", &spec, &secure)?,
            )
        } else {
            let s = produce::run_with(&secure_bootstrap, "secure-produce", &spec, &secure)?;
            (produce::run(&broker.bootstrap, "secure-produce", &spec)?, s)
        };
        anyhow::ensure!(
            p.failed == 0 && s.failed == 0,
            "produce failures: {:?} {:?}",
            p.first_error,
            s.first_error
        );
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
            "round {round}: produce plaintext {:.1} MiB/s, SASL_SSL {:.1} MiB/s; consume \
             plaintext {:.1} MiB/s, SASL_SSL {:.1} MiB/s",
            p.mib_s(),
            s.mib_s(),
            cp.mib_s(),
            cs.mib_s()
        );
        p_plain.push(p.mib_s());
        p_secure.push(s.mib_s());
        c_plain.push(cp.mib_s());
        c_secure.push(cs.mib_s());
    }
    let (pp, ps, cp, cs) = (
        best(&p_plain),
        best(&p_secure),
        best(&c_plain),
        best(&c_secure),
    );
    let paired = |plain: &[f64], secure: &[f64]| {
        let mut r: Vec<f64> = plain
            .iter()
            .zip(secure)
            .map(|(p, s)| s / p.max(1e-9))
            .collect();
        r.sort_by(f64::total_cmp);
        r.get(r.len() / 2).copied().unwrap_or(0.0)
    };
    println!(
        "median of the per-round ratios: produce {:.2}x, consume {:.2}x",
        paired(&p_plain, &p_secure),
        paired(&c_plain, &c_secure)
    );
    let verdict = |ratio: f64, target: f64| if ratio >= target { "PASS" } else { "MISS" };
    println!();
    println!("| row (1 node, librdkafka) | PLAINTEXT MiB/s | SASL_SSL MiB/s | ratio | target |");
    println!("|---|---|---|---|---|");
    let pr = ps / pp.max(1e-9);
    let cr = cs / cp.max(1e-9);
    println!(
        "| produce acks=all, 12 partitions, 1 KiB | {pp:.1} | {ps:.1} | {pr:.2}x | >= 0.8x {} |",
        verdict(pr, 0.8)
    );
    println!(
        "| one consumer, 1 partition, {} MiB | {cp:.1} | {cs:.1} | {cr:.2}x | >= 0.5x {} |",
        want >> 20,
        verdict(cr, 0.5)
    );
    drop(broker);
    Ok(())
}
