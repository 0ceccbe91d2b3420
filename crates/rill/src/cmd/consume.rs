//! `rill consume TOPIC`: print records like kafka-console-consumer / kcat -C. Starts from the
//! beginning, the end, an offset or a timestamp; one partition or all; stops after `--count`
//! records, at the end (`--exit-at-end`) or after `--idle-timeout-ms` without records.
//!
//! With `--group` it starts from the group's committed offsets (the `--from-*` flag applies to
//! partitions without one) and commits its position after each batch it prints. `--group`
//! alone joins the group (range assignor; several `rill consume` share the partitions);
//! `--group` with `--partition` is a simple consumer that commits with generation -1 (see
//! [`super::membership`]).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use clap::Args;
use rill_client::fetch::{FetchOptions, EARLIEST, LATEST};
use rill_client::records::ConsumedRecord;
use rill_client::Client;
use serde_json::json;

use super::membership::Membership;
use super::output::bytes_json;
use super::Global;

/// Flags of `rill consume`.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Topic to read.
    pub topic: String,
    /// Read only this partition.
    #[arg(long, short = 'p')]
    pub partition: Option<i32>,
    /// Consumer group: start from its committed offsets and commit progress.
    #[arg(long, short = 'g')]
    pub group: Option<String>,
    /// Start at the log start offset.
    #[arg(long, conflicts_with_all = ["from_end", "offset", "from_timestamp"])]
    pub from_beginning: bool,
    /// Start at the log end offset (the default without a group).
    #[arg(long, conflicts_with_all = ["offset", "from_timestamp"])]
    pub from_end: bool,
    /// Start at this offset (every selected partition).
    #[arg(long, short = 'o')]
    pub offset: Option<i64>,
    /// Start at the first record with a timestamp at or after this time (ms since epoch).
    #[arg(long)]
    pub from_timestamp: Option<i64>,
    /// Stop after this many records.
    #[arg(long, short = 'n')]
    pub count: Option<u64>,
    /// Stop when every partition is read to its end (as it was when reached).
    #[arg(long, short = 'e')]
    pub exit_at_end: bool,
    /// Stop after this long without a record.
    #[arg(long = "idle-timeout-ms")]
    pub idle_timeout_ms: Option<u64>,
    /// Human output template: {topic} {partition} {offset} {timestamp} {key} {value}
    /// {headers}; escapes \n \t \\. A newline follows each record.
    #[arg(long, short = 'F', default_value = "{value}")]
    pub format: String,
    /// With --group: do not commit.
    #[arg(long)]
    pub no_commit: bool,
    /// read_uncommitted (everything up to the high watermark) or read_committed (up to the
    /// last stable offset, without the records of aborted transactions).
    #[arg(long, value_enum, default_value_t = Isolation::ReadUncommitted)]
    pub isolation: Isolation,
}

/// `--isolation`: Kafka's `isolation.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Isolation {
    /// Every record up to the high watermark.
    ReadUncommitted,
    /// Committed records only, up to the last stable offset.
    ReadCommitted,
}

impl Isolation {
    fn level(self) -> i8 {
        match self {
            Isolation::ReadUncommitted => 0,
            Isolation::ReadCommitted => 1,
        }
    }
}

/// Runs `rill consume`.
///
/// # Errors
/// Connection errors, unknown topic/partition, group errors.
pub async fn run(args: ConsumeArgs, g: Global) -> anyhow::Result<()> {
    let client = g.connect().await?;
    let topic = client.topic(&args.topic, true).await?;
    let partitions: Vec<i32> = match args.partition {
        Some(p) => {
            client.partition(&args.topic, p, false).await?;
            vec![p]
        }
        None => topic.partitions.iter().map(|p| p.partition).collect(),
    };
    let (mut membership, partitions) = Membership::start(
        &client,
        args.group.as_deref(),
        args.partition,
        &args.topic,
        partitions,
    )
    .await?;
    let result = consume_loop(&client, &args, &g, &mut membership, partitions).await;
    membership.finish().await;
    result
}

async fn consume_loop(
    client: &Client,
    args: &ConsumeArgs,
    g: &Global,
    membership: &mut Membership,
    partitions: Vec<i32>,
) -> anyhow::Result<()> {
    let mut positions = start_positions(client, args, &partitions).await?;
    let template = unescape(&args.format);
    let mut printed = 0u64;
    let mut last_record = Instant::now();
    let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
    let mut committed = positions.clone();
    let opts = FetchOptions {
        max_wait_ms: 200,
        isolation_level: args.isolation.level(),
        ..FetchOptions::default()
    };
    let mut stdout = std::io::stdout().lock();
    // Ctrl-C ends the loop between fetches, so the last position is committed and a joined
    // member leaves its group.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    });
    loop {
        if stop.load(std::sync::atomic::Ordering::Relaxed)
            || args.count.is_some_and(|c| printed >= c)
        {
            break;
        }
        if args.exit_at_end
            && ends.len() == positions.len()
            && positions
                .iter()
                .all(|(p, o)| ends.get(p).is_some_and(|e| o >= e))
        {
            break;
        }
        if args
            .idle_timeout_ms
            .is_some_and(|t| last_record.elapsed() >= Duration::from_millis(t))
        {
            break;
        }
        if let Some(parts) = membership.tick(&args.topic, &positions).await? {
            positions = start_positions(client, args, &parts).await?;
            committed = positions.clone();
            ends.clear();
        }
        if positions.is_empty() {
            tokio::time::sleep(Membership::idle_pause()).await;
            continue;
        }
        let list: Vec<(i32, i64)> = positions.iter().map(|(p, o)| (*p, *o)).collect();
        let fetched = match client.fetch(&args.topic, &list, opts).await {
            Ok(f) => f,
            Err(e) if e.is_retriable() => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let _ = client.topic(&args.topic, true).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        for part in fetched {
            match part.error_code {
                0 => {}
                1 => {
                    let reset = client
                        .list_offsets(&args.topic, &[(part.partition, EARLIEST)])
                        .await?;
                    let to = reset.get(&part.partition).copied().unwrap_or(0);
                    eprintln!(
                        "rill: partition {} offset out of range; resetting to {to}",
                        part.partition
                    );
                    positions.insert(part.partition, to);
                    continue;
                }
                code if rill_client::error::is_retriable_code(code) => {
                    let _ = client.topic(&args.topic, true).await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                code => rill_client::ClientError::check(
                    code,
                    || format!("fetch {}-{}", args.topic, part.partition),
                    None,
                )?,
            }
            let end = if args.isolation == Isolation::ReadCommitted && part.last_stable_offset >= 0
            {
                part.last_stable_offset
            } else {
                part.high_watermark
            };
            ends.insert(part.partition, end);
            for r in &part.records {
                if args.count.is_some_and(|c| printed >= c) {
                    break;
                }
                print_record(
                    &mut stdout,
                    &args.topic,
                    part.partition,
                    r,
                    &template,
                    g.json(),
                )?;
                printed += 1;
                last_record = Instant::now();
                positions.insert(part.partition, r.offset + 1);
            }
            if args.count.is_none_or(|c| printed < c) {
                if let Some(next) = part.next_offset {
                    let pos = positions.entry(part.partition).or_insert(next);
                    *pos = (*pos).max(next);
                }
            }
        }
        stdout.flush()?;
        if !args.no_commit && committed != positions {
            membership.commit(client, &args.topic, &positions).await?;
            committed = positions.clone();
        }
    }
    Ok(())
}

async fn start_positions(
    client: &Client,
    args: &ConsumeArgs,
    partitions: &[i32],
) -> anyhow::Result<BTreeMap<i32, i64>> {
    let mut out = BTreeMap::new();
    if let Some(group) = &args.group {
        let committed = client
            .committed_offsets(group, Some(&[(args.topic.clone(), partitions.to_vec())]))
            .await?;
        for ((_, p), o) in committed {
            out.insert(p, o);
        }
    }
    let missing: Vec<i32> = partitions
        .iter()
        .copied()
        .filter(|p| !out.contains_key(p))
        .collect();
    if missing.is_empty() {
        return Ok(out);
    }
    if let Some(o) = args.offset {
        for p in missing {
            out.insert(p, o);
        }
        return Ok(out);
    }
    let spec = match args.from_timestamp {
        Some(ts) => ts,
        None if args.from_beginning => EARLIEST,
        None => LATEST,
    };
    let found = client
        .list_offsets_isolated(
            &args.topic,
            &missing.iter().map(|&p| (p, spec)).collect::<Vec<_>>(),
            args.isolation.level(),
        )
        .await?;
    let mut unresolved = Vec::new();
    for p in missing {
        match found.get(&p) {
            Some(&o) if o >= 0 => {
                out.insert(p, o);
            }
            _ => unresolved.push(p),
        }
    }
    // A timestamp after the last record: start at the end.
    if !unresolved.is_empty() {
        let ends = client
            .list_offsets_isolated(
                &args.topic,
                &unresolved.iter().map(|&p| (p, LATEST)).collect::<Vec<_>>(),
                args.isolation.level(),
            )
            .await?;
        out.extend(ends);
    }
    Ok(out)
}

/// Turns `\n`, `\t`, `\\` into their characters.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Renders a record with the template (bytes are written as they are).
pub fn render(topic: &str, partition: i32, r: &ConsumedRecord, template: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.extend_from_slice(&rest.as_bytes()[..start]);
        let after = &rest[start..];
        let Some(end) = after.find('}') else { break };
        let name = &after[1..end];
        match name {
            "topic" => out.extend_from_slice(topic.as_bytes()),
            "partition" => out.extend_from_slice(partition.to_string().as_bytes()),
            "offset" => out.extend_from_slice(r.offset.to_string().as_bytes()),
            "timestamp" => out.extend_from_slice(r.timestamp_ms.to_string().as_bytes()),
            "key" => out.extend_from_slice(r.key.as_deref().unwrap_or_default()),
            "value" => out.extend_from_slice(r.value.as_deref().unwrap_or_default()),
            "headers" => {
                for (i, (k, v)) in r.headers.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(k.as_bytes());
                    out.push(b'=');
                    out.extend_from_slice(v.as_deref().unwrap_or_default());
                }
            }
            _ => out.extend_from_slice(&after.as_bytes()[..=end]),
        }
        rest = &after[end + 1..];
    }
    out.extend_from_slice(rest.as_bytes());
    out
}

fn print_record(
    out: &mut impl Write,
    topic: &str,
    partition: i32,
    r: &ConsumedRecord,
    template: &str,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let headers: Vec<_> = r
            .headers
            .iter()
            .map(|(k, v)| json!([k, bytes_json(v.as_deref())]))
            .collect();
        let doc = json!({
            "topic": topic, "partition": partition, "offset": r.offset, "timestamp": r.timestamp_ms,
            "key": bytes_json(r.key.as_deref()), "value": bytes_json(r.value.as_deref()), "headers": headers,
        });
        writeln!(out, "{doc}")?;
    } else {
        out.write_all(&render(topic, partition, r, template))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn template_renders_fields() {
        let r = ConsumedRecord {
            offset: 7,
            timestamp_ms: 9,
            log_append_time: false,
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from_static(b"\xffv")),
            headers: vec![("a".into(), Some(Bytes::from_static(b"1")))],
        };
        let t =
            unescape("{topic}/{partition}@{offset} {timestamp}\\t{key}={value} [{headers}] {nope}");
        assert_eq!(
            render("t", 2, &r, &t),
            b"t/2@7 9\tk=\xffv [a=1] {nope}".to_vec()
        );
    }
}
