//! `rill-bench acls`: the cost of authorization on the request path (issue 25's target:
//! produce and fetch with 1,000 ACLs loaded >= 0.95x of no ACLs, in the same run).
//!
//! One `rill serve` with Kafka's StandardAuthorizer and `allow.everyone.if.no.acl.found=true`;
//! librdkafka connects on PLAINTEXT as `User:ANONYMOUS`, which is not a super user, so every
//! request is checked. Each round measures with no ACLs, then with 1,000 ACLs loaded through
//! CreateAcls (literal and prefixed topic and group ACLs of 250 other users, a few DENYs, and
//! the ALLOWs that let the benchmark's principal in, ALL on the cluster among them so it may
//! manage the ACLs), then deletes them again; the
//! rounds alternate which goes first. Rows: produce acks=all to 12 partitions as fast as the
//! client can (`--secs`), the broker's CPU per MiB at a paced `--rate-mib`, and one consumer
//! reading a one-partition topic of `--consume-mib`. Ratios are given two ways: of the best
//! figures of each configuration, and the median of each round's ratio (its two runs are back
//! to back, so drift between rounds cancels); the verdict uses the median. Also printed: the
//! authorizer's own cost per decision with 1,000 ACLs, measured in this process.

use super::broker_proc::BrokerProc;
use super::consume;
use super::idle;
use super::produce::{self, Spec, RECORD_BYTES};
use anyhow::{Context, Result};
use rill_client::acls::{
    AclBinding, AclBindingFilter, AclOperation, AclPermission, PatternType, ResourceType,
};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Options of the ACL benchmark.
#[derive(clap::Args, Debug)]
pub struct AclsArgs {
    /// Seconds of each produce row.
    #[arg(long, default_value_t = 8)]
    secs: u64,
    /// MiB the consume rows read.
    #[arg(long, default_value_t = 512)]
    consume_mib: u64,
    /// The paced produce rows' rate, MiB/s.
    #[arg(long, default_value_t = 150.0)]
    rate_mib: f64,
    /// Rounds.
    #[arg(long, default_value_t = 2)]
    rounds: u32,
    /// ACLs loaded in the "with ACLs" rows.
    #[arg(long, default_value_t = 1000)]
    acls: usize,
    /// The `rill` binary (default: `rill` beside this executable).
    #[arg(long)]
    rill_bin: Option<PathBuf>,
    /// Directory for broker data (default: the system temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// The benchmark's principal (librdkafka on PLAINTEXT).
const PRINCIPAL: &str = "User:ANONYMOUS";

fn binding(
    rt: ResourceType,
    name: &str,
    pattern: PatternType,
    principal: &str,
    op: AclOperation,
    permission: AclPermission,
) -> AclBinding {
    AclBinding {
        resource_type: rt,
        resource_name: name.to_string(),
        pattern_type: pattern,
        principal: principal.to_string(),
        host: "*".to_string(),
        operation: op,
        permission,
    }
}

/// `n` ACLs: what lets the benchmark in, and the rest for other users and resources.
fn acl_set(n: usize) -> Vec<AclBinding> {
    use AclOperation::*;
    use AclPermission::*;
    use PatternType::*;
    use ResourceType::*;
    let mut out = vec![
        binding(Topic, "acl-bench-", Prefixed, PRINCIPAL, All, Allow),
        binding(Group, "acl-bench-", Prefixed, PRINCIPAL, All, Allow),
        binding(
            Cluster,
            rill_auth::acl::CLUSTER_RESOURCE_NAME,
            Literal,
            PRINCIPAL,
            All,
            Allow,
        ),
        // Applies to the benchmark's topics, for others: checked on every request.
        binding(Topic, "acl-bench-", Prefixed, "User:intruder", Read, Deny),
    ];
    let mut i = 0;
    while out.len() < n {
        let user = format!("User:user-{}", i % 250);
        let b = match i % 4 {
            0 => binding(Topic, &format!("orders-{i}"), Literal, &user, Write, Allow),
            1 => binding(Topic, &format!("team-{i}-"), Prefixed, &user, Read, Allow),
            2 => binding(Group, &format!("svc-{i}"), Literal, &user, Read, Allow),
            _ => binding(Topic, &format!("secret-{i}"), Literal, &user, All, Deny),
        };
        out.push(b);
        i += 1;
    }
    out.truncate(n.max(4));
    out
}

/// One row pair's figures.
#[derive(Default, Clone, Copy)]
struct Figures {
    produce_mib_s: f64,
    cpu_ms_per_mib: f64,
    consume_mib_s: f64,
}

/// Runs the benchmark.
///
/// # Errors
/// A broker that does not start, a client error.
pub fn run(args: &AclsArgs) -> Result<()> {
    let bin = match &args.rill_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("executable directory")?
            .join("rill"),
    };
    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let broker = BrokerProc::start(
        &bin,
        &base,
        &[
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found=true",
        ],
    )?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = rt.block_on(rill_client::Client::connect(
        rill_client::ClientConfig::new(&broker.bootstrap),
    ))?;
    // The consume topic is filled once (plaintext, no ACLs), then read in every row.
    let (spec, want) = produce::ab_setup(
        &broker.bootstrap,
        "acl-bench-produce",
        "acl-bench-consume",
        args.secs,
        args.consume_mib,
    )?;
    let paced = Spec {
        rate: Some(args.rate_mib * 1024.0 * 1024.0 / RECORD_BYTES as f64),
        ..spec.clone()
    };
    let acls = acl_set(args.acls);
    let measure = || -> Result<Figures> {
        let p = produce::run(&broker.bootstrap, "acl-bench-produce", &spec)?;
        anyhow::ensure!(p.failed == 0, "produce failures: {:?}", p.first_error);
        let cpu = idle::cpu_secs(broker.pid())?;
        let q = produce::run(&broker.bootstrap, "acl-bench-produce", &paced)?;
        let cpu = idle::cpu_secs(broker.pid())? - cpu;
        anyhow::ensure!(q.failed == 0, "produce failures: {:?}", q.first_error);
        let c = consume::run(
            &broker.bootstrap,
            "acl-bench-consume",
            want,
            Duration::from_secs(300),
            "read_uncommitted",
        )?;
        Ok(Figures {
            produce_mib_s: p.mib_s(),
            cpu_ms_per_mib: 1000.0 * cpu
                / (q.records as f64 * RECORD_BYTES as f64 / 1048576.0).max(1e-9),
            consume_mib_s: c.mib_s(),
        })
    };
    let load = |on: bool| -> Result<()> {
        if on {
            for chunk in acls.chunks(250) {
                rt.block_on(client.create_acls(chunk))?;
            }
        } else {
            rt.block_on(client.delete_acls(&[AclBindingFilter::any()]))?;
        }
        Ok(())
    };
    let mut none = Vec::new();
    let mut with = Vec::new();
    for round in 1..=args.rounds {
        let order = if round % 2 == 1 {
            [false, true]
        } else {
            [true, false]
        };
        for on in order {
            load(on)?;
            let loaded = rt
                .block_on(client.describe_acls(&AclBindingFilter::any()))?
                .len();
            let f = measure()?;
            println!(
                "round {round}: {loaded} ACLs: produce {:.1} MiB/s, broker CPU {:.2} ms/MiB at {} \
                 MiB/s, consume {:.1} MiB/s",
                f.produce_mib_s, f.cpu_ms_per_mib, args.rate_mib, f.consume_mib_s
            );
            if on {
                with.push(f)
            } else {
                none.push(f)
            }
        }
    }
    let best = |v: &[Figures], f: fn(&Figures) -> f64| v.iter().map(f).fold(0.0, f64::max);
    let least = |v: &[Figures], f: fn(&Figures) -> f64| v.iter().map(f).fold(f64::MAX, f64::min);
    let (p0, p1) = (
        best(&none, |f| f.produce_mib_s),
        best(&with, |f| f.produce_mib_s),
    );
    let (c0, c1) = (
        best(&none, |f| f.consume_mib_s),
        best(&with, |f| f.consume_mib_s),
    );
    let (u0, u1) = (
        least(&none, |f| f.cpu_ms_per_mib),
        least(&with, |f| f.cpu_ms_per_mib),
    );
    // The authorizer alone: decisions per second with the same ACLs, in this process.
    let settings = rill_auth::acl::AuthorizerSettings {
        super_users: Vec::new(),
        allow_everyone_if_no_acl_found: true,
    };
    let authorizer = rill_auth::acl::Authorizer::new(settings, acls.clone());
    let n = 1_000_000u32;
    let start = Instant::now();
    let mut allowed = 0u32;
    for i in 0..n {
        let topic = if i % 2 == 0 {
            "acl-bench-produce"
        } else {
            "acl-bench-consume"
        };
        allowed += u32::from(authorizer.authorize(
            PRINCIPAL,
            "127.0.0.1",
            AclOperation::Write,
            ResourceType::Topic,
            topic,
        ));
    }
    let ns = start.elapsed().as_nanos() as f64 / f64::from(n);
    anyhow::ensure!(allowed == n, "the benchmark principal was refused");
    let verdict = |r: f64| if r >= 0.95 { "PASS" } else { "MISS" };
    // The two runs of one round are back to back, so their ratio is free of the drift
    // between rounds (on a shared VM the same configuration varies 2-3x across rounds):
    // the median of the per-round ratios is the second column of ratios.
    let paired = |f: fn(&Figures) -> f64, higher_is_better: bool| -> f64 {
        let mut r: Vec<f64> = none
            .iter()
            .zip(&with)
            .map(|(a, b)| {
                if higher_is_better {
                    f(b) / f(a).max(1e-9)
                } else {
                    f(a) / f(b).max(1e-9)
                }
            })
            .collect();
        r.sort_by(f64::total_cmp);
        match r.len() {
            0 => 0.0,
            n if n % 2 == 1 => r[n / 2],
            n => (r[n / 2 - 1] + r[n / 2]) / 2.0,
        }
    };
    let (pp, pu, pc) = (
        paired(|f| f.produce_mib_s, true),
        paired(|f| f.cpu_ms_per_mib, false),
        paired(|f| f.consume_mib_s, true),
    );
    println!();
    println!(
        "| row (1 node, librdkafka, User:ANONYMOUS checked) | no ACLs | {} ACLs | ratio of bests | median ratio per round | target |",
        acls.len()
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| produce acks=all, 12 partitions, MiB/s | {p0:.1} | {p1:.1} | {:.2}x | {pp:.2}x | >= 0.95x {} |",
        p1 / p0.max(1e-9),
        verdict(pp)
    );
    println!("| broker CPU ms per MiB at {} MiB/s (capacity ratio) | {u0:.2} | {u1:.2} | {:.2}x | {pu:.2}x | >= 0.95x {} |", args.rate_mib, u0 / u1.max(1e-9), verdict(pu));
    println!(
        "| fetch: one consumer, 1 partition, MiB/s | {c0:.1} | {c1:.1} | {:.2}x | {pc:.2}x | >= 0.95x {} |",
        c1 / c0.max(1e-9),
        verdict(pc)
    );
    println!(
        "| one authorization decision with {} ACLs (in-process) | | {ns:.0} ns | | | |",
        acls.len()
    );
    drop(broker);
    Ok(())
}
