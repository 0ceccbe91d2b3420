//! The table of `rill-bench kafka`: (1) the limits, (2) Rill single node, (3) three nodes,
//! (4) the targets, each Rill figure beside its limit as a ratio with PASS/MISS.

use super::consume::ConsumeOutcome;
use super::limits::Limit;
use super::produce::Outcome;
use super::stats::{fmt_pct, ratio};

/// Which limit a produce row is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Against {
    /// Fsync'd sequential disk writes (group commit rows).
    Disk,
    /// TCP loopback (relaxed-fsync rows, consume).
    Loopback,
}

/// One produce measurement with its labels.
#[derive(Debug, Clone)]
pub struct ProduceRow {
    /// "1 node" or "3 nodes rf=3".
    pub setup: &'static str,
    /// "librdkafka" or "rill perf".
    pub client: &'static str,
    /// "group commit" or "relaxed".
    pub fsync: &'static str,
    /// "1" or "all".
    pub acks: &'static str,
    /// Partitions written.
    pub partitions: i32,
    /// `None`: unlimited; else the target records/s.
    pub rate: Option<f64>,
    /// The producer's `linger.ms`.
    pub linger_ms: u32,
    /// The figures.
    pub outcome: Outcome,
    /// The limit it is compared with.
    pub against: Against,
}

/// Peak RSS of one broker process.
#[derive(Debug, Clone)]
pub struct Rss {
    /// Which broker.
    pub label: &'static str,
    /// VmHWM one second after start, MiB.
    pub idle_mib: f64,
    /// VmHWM after its load, MiB.
    pub after_mib: f64,
}

/// Everything one run measured.
#[derive(Debug, Default)]
pub struct Results {
    /// Header lines (what ran where).
    pub notes: Vec<String>,
    /// TCP loopback limit (the loopback ratios' base), measured first.
    pub loopback: Option<Limit>,
    /// TCP loopback measured again right before the relaxed broker's produce runs and right
    /// after its consumers: no target's base, it shows how far the machine moved between the
    /// start of the run and the phase whose targets use loopback.
    pub loopback_beside: Vec<Limit>,
    /// Fsync'd disk limit (the ratios' base): the broker's pattern and volume, measured right
    /// after the counted run; else the short run.
    pub disk: Option<Limit>,
    /// The short disk-limit run at the end (into page cache freed by then), when `disk` is the
    /// volume-matched one.
    pub disk_short: Option<Limit>,
    /// TCP loopback into fsync'd files in the broker's rounds: no target's base, the ceiling
    /// of the group-commit rows on this machine.
    pub pipe: Option<Limit>,
    /// TCP loopback into files with no fsync, measured right after the relaxed produce rows:
    /// no target's base, the ceiling of the relaxed rows on this machine.
    pub pipe_relaxed: Option<Limit>,
    /// Produce rows in run order.
    pub produce: Vec<ProduceRow>,
    /// Lines for measurements that did not run, and why.
    pub skipped: Vec<String>,
    /// Consume by one consumer (librdkafka).
    pub consume: Option<ConsumeOutcome>,
    /// The same read by `rill perf consume`.
    pub consume_rill: Option<ConsumeOutcome>,
    /// The same read by the librdkafka consumer in a child process whose glibc malloc keeps
    /// freed memory (`consume::MALLOC_KEEPS_FREED`): no target's base.
    pub consume_kept: Option<ConsumeOutcome>,
    /// Broker memory (only for brokers this run started).
    pub rss: Vec<Rss>,
    /// Section 3: the three-node cluster.
    pub cluster: ClusterResults,
}

/// What the three-node run measured (section 3).
#[derive(Debug, Default)]
pub struct ClusterResults {
    /// Why it did not run, if it did not.
    pub skipped: Option<String>,
    /// Consume by one consumer from a replicated topic.
    pub consume: Option<ConsumeOutcome>,
    /// Memory of each node.
    pub rss: Vec<Rss>,
}

/// The `linger.ms` of the throughput runs.
pub const LINGER_MS: u32 = 5;

/// The setup label of single-node rows.
pub const SINGLE: &str = "1 node";
/// The setup label of three-node rows.
pub const CLUSTER: &str = "3 nodes rf=3";

fn print_rss(r: &Rss) {
    println!(
        "   peak RSS (VmHWM), {}: idle {:.1} MiB, after its load {:.1} MiB",
        r.label, r.idle_mib, r.after_mib
    );
}

/// One of the targets: (name, (figure, goal) when measured, whether figure >= goal
/// passes (else figure <= goal)).
type Target = (String, Option<(f64, f64)>, bool);

/// The mean MiB/s of `limits`, `None` when there are none.
fn mean_mib_s(limits: &[Limit]) -> Option<f64> {
    (!limits.is_empty()).then(|| limits.iter().map(|l| l.mib_s).sum::<f64>() / limits.len() as f64)
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{:.2}x", r))
}

impl Results {
    fn limit_of(&self, a: Against) -> Option<f64> {
        match a {
            Against::Disk => self.disk.as_ref().map(|l| l.mib_s),
            Against::Loopback => self.loopback.as_ref().map(|l| l.mib_s),
        }
    }

    /// The single-node acks=all 12-partition unlimited row of `client` with the default
    /// linger (what the throughput targets use).
    fn peak_row(&self, client: &str, fsync: &str) -> Option<&ProduceRow> {
        self.produce.iter().find(|r| {
            r.setup == SINGLE
                && r.client == client
                && r.fsync == fsync
                && r.acks == "all"
                && r.partitions == 12
                && r.rate.is_none()
                && r.linger_ms == LINGER_MS
        })
    }

    fn find(&self, fsync: &str, acks: &str, parts: i32, half: bool) -> Option<&ProduceRow> {
        self.find_in(SINGLE, fsync, acks, parts, half)
    }

    /// The half-peak row of `client` with `linger.ms` = `linger_ms`.
    fn find_half(
        &self,
        client: &str,
        acks: &str,
        parts: i32,
        linger_ms: u32,
    ) -> Option<&ProduceRow> {
        self.produce.iter().find(|r| {
            r.setup == SINGLE
                && r.client == client
                && r.fsync == "group commit"
                && r.acks == acks
                && r.partitions == parts
                && r.rate.is_some()
                && r.linger_ms == linger_ms
        })
    }

    fn find_in(
        &self,
        setup: &str,
        fsync: &str,
        acks: &str,
        parts: i32,
        half: bool,
    ) -> Option<&ProduceRow> {
        self.produce.iter().find(|r| {
            r.setup == setup
                && r.client == "librdkafka"
                && r.fsync == fsync
                && r.acks == acks
                && r.partitions == parts
                && r.rate.is_some() == half
                && (r.rate.is_none() || r.linger_ms == LINGER_MS)
        })
    }

    /// Prints the whole table to stdout.
    pub fn print(&self) {
        println!();
        for n in &self.notes {
            println!("{n}");
        }
        println!("\n1. Limits (same run)");
        for (name, l) in [
            ("disk, fsync'd sequential write", &self.disk),
            ("disk, short run (not a ratio base)", &self.disk_short),
            ("TCP loopback", &self.loopback),
            ("loopback into disk (a ceiling)", &self.pipe),
            ("loopback into page cache (ceil.)", &self.pipe_relaxed),
        ] {
            if (name.starts_with("disk, short") || name.starts_with("loopback into")) && l.is_none()
            {
                continue;
            }
            match l {
                Some(l) => println!("   {name:<32} {:>8.0} MiB/s   {}", l.mib_s, l.note),
                None => println!("   {name:<32} {:>8}         not measured", "-"),
            }
        }
        for (l, when) in self
            .loopback_beside
            .iter()
            .zip(["before relaxed", "after consumers"])
        {
            println!(
                "   {:<32} {:>8.0} MiB/s   {}",
                format!("TCP loopback, {when}"),
                l.mib_s,
                l.note
            );
        }
        if self.disk_short.is_some() {
            println!(
                "   (the ratio base is the first disk line: the broker's fsync pattern and the volume it \
                 wrote, measured right after that run. The short run writes into page cache freed \
                 shortly before; on a VM that returns free memory to its host, pages new to the \
                 guest cost a host fault each, so the two differ by the price of fresh memory)"
            );
        }
        self.print_produce();
        self.print_cluster();
        self.print_targets();
    }

    fn print_produce(&self) {
        println!(
            "\n2. Single node: produce 1 KiB records (batch.size=1000000; linger.ms=5; the \
             group-commit rows also with linger.ms=0, unlimited and at half of that peak)"
        );
        self.print_rows(SINGLE);
        println!(
            "   (steal: the share of all CPU time the host took from this VM during the row, from \
             /proc/stat; a shared VM runs slower by about as much)"
        );
        for s in &self.skipped {
            println!("   {s}");
        }
        if let Some(c) = &self.consume {
            self.print_consume("librdkafka", c);
        }
        if let Some(c) = &self.consume_rill {
            self.print_consume("rill perf", c);
        }
        if let Some(c) = &self.consume_kept {
            self.print_consume("librdkafka, malloc keeping freed memory", c);
        }
        for r in &self.rss {
            print_rss(r);
        }
    }

    fn print_cluster(&self) {
        println!("\n3. Rill, 3 nodes on this machine, rf=3, acks=all");
        if let Some(why) = &self.cluster.skipped {
            println!("   skipped: {why}");
            return;
        }
        self.print_rows(CLUSTER);
        if let Some(c) = &self.cluster.consume {
            self.print_consume("librdkafka", c);
        }
        for r in &self.cluster.rss {
            print_rss(r);
        }
    }

    fn print_rows(&self, setup: &str) {
        println!(
            "   {:<10} {:<12} {:>4} {:>5} {:>11} {:>6} {:>8} {:>9} {:>8} {:>8} {:>8} {:>7}  {:<8} {:>5}",
            "client",
            "fsync",
            "acks",
            "parts",
            "rate",
            "linger",
            "MiB/s",
            "rec/s",
            "p50 ms",
            "p99 ms",
            "p999 ms",
            "ratio",
            "of",
            "steal"
        );
        for r in self.produce.iter().filter(|r| r.setup == setup) {
            let o = &r.outcome;
            let rate = r
                .rate
                .map_or_else(|| "unlimited".into(), |x| format!("{x:.0}/s"));
            let of = match r.against {
                Against::Disk => "disk",
                Against::Loopback => "loopback",
            };
            let failed = if o.failed > 0 {
                format!(
                    "  ({} failed, first: {})",
                    o.failed,
                    o.first_error.as_deref().unwrap_or("?")
                )
            } else {
                String::new()
            };
            println!(
                "   {:<10} {:<12} {:>4} {:>5} {:>11} {:>6} {:>8.1} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>7}  {of:<8} {:>5}{failed}",
                r.client, r.fsync, r.acks, r.partitions, rate, r.linger_ms, o.mib_s(), o.records_s(),
                o.latency.p50_ms, o.latency.p99_ms, o.latency.p999_ms,
                fmt_ratio(ratio(o.mib_s(), self.limit_of(r.against))),
                fmt_pct(o.steal_pct),
            );
        }
    }

    /// What the loopback-into-disk ceiling says about the group-commit throughput targets. The
    /// ceiling is measured at the end of the run, like the short disk run, so it is set beside
    /// that one (the same page-cache state); without it, beside the ratio base.
    fn print_ceiling(&self) {
        let Some(pipe) = &self.pipe else {
            return;
        };
        let (disk, which) = match (&self.disk_short, &self.disk) {
            (Some(d), _) => (d.mib_s, "the short disk run, measured beside it"),
            (None, Some(d)) => (d.mib_s, "disk"),
            (None, None) => return,
        };
        let of_pipe = |client| {
            fmt_ratio(
                self.peak_row(client, "group commit")
                    .and_then(|r| ratio(r.outcome.mib_s(), Some(pipe.mib_s))),
            )
        };
        println!(
            "   (ceiling of the group-commit rows: TCP loopback into files fsynced in the broker's \
             rounds, with no protocol, client or broker work, reaches {} of {which}; acks=all \
             12 partitions is {} (librdkafka) and {} (rill perf) of that ceiling)",
            fmt_ratio(ratio(pipe.mib_s, Some(disk))),
            of_pipe("librdkafka"),
            of_pipe("rill perf"),
        );
    }

    /// What the loopback-into-page-cache ceiling (measured right after the relaxed produce
    /// rows) says about the relaxed throughput targets, set beside the loopback measured just
    /// before those rows.
    fn print_relaxed_ceiling(&self) {
        let (Some(pipe), Some(before)) = (&self.pipe_relaxed, self.loopback_beside.first()) else {
            return;
        };
        let of_pipe = |client| {
            fmt_ratio(
                self.peak_row(client, "relaxed")
                    .and_then(|r| ratio(r.outcome.mib_s(), Some(pipe.mib_s))),
            )
        };
        println!(
            "   (ceiling of the relaxed rows: TCP loopback into files with no fsync, with no \
             protocol, client or broker work, reaches {} of the loopback measured before those \
             rows; acks=all 12 partitions is {} (librdkafka) and {} (rill perf) of that ceiling)",
            fmt_ratio(ratio(pipe.mib_s, Some(before.mib_s))),
            of_pipe("librdkafka"),
            of_pipe("rill perf"),
        );
    }

    /// The loopback targets again, against the mean of the loopback runs measured beside the
    /// relaxed phase instead of the one at the start of the run (a second view, not the
    /// targets' base: on a shared VM the machine can move between the two).
    fn print_beside(&self) {
        let Some(beside) = mean_mib_s(&self.loopback_beside) else {
            return;
        };
        let of = |v: Option<f64>| fmt_ratio(v.and_then(|x| ratio(x, Some(beside))));
        let relaxed = |client| of(self.peak_row(client, "relaxed").map(|r| r.outcome.mib_s()));
        let consume = |c: &Option<ConsumeOutcome>| of(c.as_ref().map(|c| c.mib_s()));
        println!(
            "   (against the loopback measured beside the relaxed phase, {beside:.0} MiB/s (mean of \
             {}): relaxed acks=all 12 partitions {} (librdkafka) and {} (rill perf); one \
             consumer {} (librdkafka) and {} (rill perf))",
            self.loopback_beside
                .iter()
                .map(|l| format!("{:.0}", l.mib_s))
                .collect::<Vec<_>>()
                .join(" and "),
            relaxed("librdkafka"),
            relaxed("rill perf"),
            consume(&self.consume),
            consume(&self.consume_rill),
        );
    }

    fn print_consume(&self, client: &str, c: &ConsumeOutcome) {
        println!(
            "   consume, 1 consumer ({client}, 16 MiB fetches), 1 partition, page cache: {:.0} MiB/s ({:.0} MiB, {:.0} rec/s)  {} of loopback, host steal {}{}",
            c.mib_s(),
            c.bytes as f64 / (1u64 << 20) as f64,
            c.records as f64 / c.secs.max(1e-9),
            fmt_ratio(ratio(c.mib_s(), self.limit_of(Against::Loopback))),
            fmt_pct(c.steal_pct),
            c.faults
                .map_or(String::new(), |f| format!(", {f} page faults in the consumer")),
        );
    }

    /// The librdkafka consumer again with an allocator that keeps freed memory, beside the
    /// default one: what librdkafka's own buffer handling costs (no target's figure).
    fn print_consume_kept(&self) {
        let (Some(kept), Some(default)) = (&self.consume_kept, &self.consume) else {
            return;
        };
        let faults = |c: &ConsumeOutcome| c.faults.map_or("?".into(), |f| f.to_string());
        println!(
            "   (the librdkafka consumer in a process whose glibc malloc keeps freed memory \
             (GLIBC_TUNABLES={}) read {:.0} MiB/s, {} of loopback, with {} page faults; with the \
             default allocator {:.0} MiB/s with {}. The default may give a freed fetch answer's \
             buffer back to the kernel, and the next answer's is faulted in again; how often \
             follows glibc's adaptive mmap threshold, so it varies from run to run. Not a \
             target's figure: the targets keep librdkafka's defaults)",
            super::consume::MALLOC_KEEPS_FREED,
            kept.mib_s(),
            fmt_ratio(ratio(kept.mib_s(), self.limit_of(Against::Loopback))),
            faults(kept),
            default.mib_s(),
            faults(default),
        );
    }

    fn print_targets(&self) {
        println!("\n4. Targets (issue 9)");
        let mut targets: Vec<Target> = Vec::new();
        let tput = |row: Option<&ProduceRow>, lim: Option<f64>| {
            row.and_then(|r| ratio(r.outcome.mib_s(), lim))
        };
        let disk = self.limit_of(Against::Disk);
        let lo = self.limit_of(Against::Loopback);
        for (fsync, limit, goal) in [("group commit", disk, 0.8), ("relaxed", lo, 0.3)] {
            let of = if fsync == "relaxed" {
                "loopback"
            } else {
                "disk"
            };
            for client in ["librdkafka", "rill perf"] {
                let row = self.peak_row(client, fsync);
                targets.push((
                    format!("acks=all, 12 partitions, {fsync}, {client} >= {goal:.2} x {of}"),
                    tput(row, limit).map(|r| (r, goal)),
                    true,
                ));
            }
        }
        for (client, c) in [
            ("librdkafka", &self.consume),
            ("rill perf", &self.consume_rill),
        ] {
            let con = c.as_ref().and_then(|c| ratio(c.mib_s(), lo));
            targets.push((
                format!("one consumer ({client}) >= 0.75 x loopback"),
                con.map(|r| (r, 0.75)),
                true,
            ));
        }
        for client in ["librdkafka", "rill perf"] {
            for (acks, parts) in [("1", 1), ("1", 12), ("all", 1), ("all", 12)] {
                let p99 = self
                    .find_half(client, acks, parts, 0)
                    .map(|r| (r.outcome.latency.p99_ms, 5.0));
                targets.push((
                    format!("p99 half peak, {client}, acks={acks}, {parts}p, linger 0 <= 5 ms"),
                    p99,
                    false,
                ));
            }
        }
        let single = self.find("group commit", "all", 12, false);
        let three = self.find_in(CLUSTER, "group commit", "all", 12, false);
        let vs_single = three
            .zip(single)
            .and_then(|(c, s)| ratio(c.outcome.mib_s(), Some(s.outcome.mib_s())));
        targets.push((
            "3 nodes rf=3 acks=all 12 part. >= 0.40 x single node".into(),
            vs_single.map(|r| (r, 0.4)),
            true,
        ));
        let idle = self.rss.iter().map(|r| r.idle_mib).reduce(f64::max);
        let after = self.rss.iter().map(|r| r.after_mib).reduce(f64::max);
        targets.push((
            "broker idle RSS <= 30 MiB".into(),
            idle.map(|v| (v, 30.0)),
            false,
        ));
        targets.push((
            "broker RSS after the run <= 100 MiB".into(),
            after.map(|v| (v, 100.0)),
            false,
        ));
        for (name, v, at_least) in targets {
            let (fig, verdict) = match v {
                Some((x, goal)) => {
                    let pass = if at_least { x >= goal } else { x <= goal };
                    let fig = if at_least {
                        format!("{x:.2}x")
                    } else {
                        format!("{x:.1}")
                    };
                    (fig, if pass { "PASS" } else { "MISS" })
                }
                None => ("-".into(), "not measured"),
            };
            println!("   {name:<58} {fig:>9}  {verdict}");
        }
        self.print_ceiling();
        self.print_relaxed_ceiling();
        self.print_consume_kept();
        self.print_beside();
        println!(
            "   (latency = librdkafka send() to delivery callback. The latency targets use the \
             linger.ms=0 runs at half of the linger.ms=0 peak: with linger.ms=5 the record that opens a batch \
             waits up to 5 ms in the client before it is sent, which alone uses the budget; \
             those rows are in section 2)"
        );
    }
}
