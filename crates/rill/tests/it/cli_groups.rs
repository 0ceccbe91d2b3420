//! `rill groups` and `rill consume --group` against a live `rill serve`, with librdkafka
//! (rdkafka) as the witness: it reads the committed offsets the CLI wrote, and it is the live
//! group member that `rill groups describe` must show.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::cli_support::{json, Broker, TIMEOUT};
use anyhow::{bail, ensure, Context as _};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

/// Committed offsets of `group` for partitions 0..n of `topic`, as librdkafka reads them.
fn committed(b: &Broker, group: &str, topic: &str, n: i32) -> anyhow::Result<Vec<Option<i64>>> {
    let c: BaseConsumer = b
        .config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..n {
        tpl.add_partition(topic, p);
    }
    let got = c.committed_offsets(tpl, TIMEOUT)?;
    Ok((0..n)
        .map(|p| match got.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => Some(o),
            _ => None,
        })
        .collect())
}

fn lines(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn consume_with_group_commits_and_resumes() -> anyhow::Result<()> {
    let b = Broker::start()?;
    b.rill_ok(&["topics", "create", "gt", "-p", "3"], b"")?;
    let input: String = (0..30).map(|i| format!("k{i}:v{i}\n")).collect();
    b.rill_ok(&["produce", "gt", "-K", ":"], input.as_bytes())?;
    let ends: Vec<i64> = (0..3)
        .map(|p| b.watermarks("gt", p).map(|w| w.1))
        .collect::<anyhow::Result<_>>()?;

    let first = lines(&b.rill_ok(
        &[
            "consume",
            "gt",
            "-g",
            "simple",
            "--from-beginning",
            "-n",
            "10",
        ],
        b"",
    )?);
    ensure!(first.len() == 10);
    let after_first = committed(&b, "simple", "gt", 3)?;
    ensure!(
        after_first.iter().map(|o| o.unwrap_or(0)).sum::<i64>() == 10,
        "librdkafka sees commits {after_first:?}"
    );

    let rest = lines(&b.rill_ok(&["consume", "gt", "-g", "simple", "-e"], b"")?);
    let all: BTreeSet<String> = first.iter().chain(rest.iter()).cloned().collect();
    ensure!(
        first.len() + rest.len() == 30 && all.len() == 30,
        "resumed without loss or repeats: {} + {}",
        first.len(),
        rest.len()
    );
    ensure!(committed(&b, "simple", "gt", 3)? == ends.iter().map(|e| Some(*e)).collect::<Vec<_>>());

    // --group with --partition: a simple consumer, committing with generation -1.
    let solo = lines(&b.rill_ok(
        &[
            "consume",
            "gt",
            "-g",
            "solo",
            "-p",
            "1",
            "--from-beginning",
            "-e",
        ],
        b"",
    )?);
    ensure!(solo.len() as i64 == ends[1]);
    ensure!(committed(&b, "solo", "gt", 3)? == vec![None, Some(ends[1]), None]);

    let doc = json(&b.rill_ok(&["groups", "describe", "simple", "-O", "json"], b"")?)?;
    let offs = doc["offsets"].as_array().cloned().unwrap_or_default();
    ensure!(
        offs.len() == 3
            && offs
                .iter()
                .all(|o| o["lag"] == 0 && o["committed_offset"] == o["log_end_offset"]),
        "{doc}"
    );

    // Dry run changes nothing; --execute moves offsets (checked through librdkafka).
    let plan = lines(&b.rill_ok(
        &[
            "groups",
            "reset-offsets",
            "simple",
            "--topic",
            "gt",
            "--to-earliest",
        ],
        b"",
    )?);
    ensure!(plan.iter().any(|l| l.contains("dry run")), "{plan:?}");
    ensure!(
        committed(&b, "simple", "gt", 3)? == ends.iter().map(|e| Some(*e)).collect::<Vec<_>>(),
        "dry run changed offsets"
    );
    b.rill_ok(
        &[
            "groups",
            "reset-offsets",
            "simple",
            "--topic",
            "gt",
            "--to-earliest",
            "--execute",
        ],
        b"",
    )?;
    ensure!(committed(&b, "simple", "gt", 3)? == vec![Some(0); 3]);
    b.rill_ok(
        &[
            "groups",
            "reset-offsets",
            "simple",
            "--topic",
            "gt",
            "--partition",
            "1",
            "--to-offset",
            "1",
            "--execute",
        ],
        b"",
    )?;
    ensure!(committed(&b, "simple", "gt", 3)? == vec![Some(0), Some(1.min(ends[1])), Some(0)]);
    b.rill_ok(
        &[
            "groups",
            "reset-offsets",
            "simple",
            "--topic",
            "gt",
            "--to-latest",
            "--execute",
        ],
        b"",
    )?;
    ensure!(committed(&b, "simple", "gt", 3)? == ends.iter().map(|e| Some(*e)).collect::<Vec<_>>());
    let lag_doc = json(&b.rill_ok(&["groups", "describe", "simple", "-O", "json"], b"")?)?;
    ensure!(
        lag_doc["offsets"]
            .as_array()
            .is_some_and(|a| a.iter().all(|o| o["lag"] == 0)),
        "{lag_doc}"
    );

    b.rill_ok(&["groups", "delete", "simple"], b"")?;
    let listed = json(&b.rill_ok(&["groups", "list", "-O", "json"], b"")?)?;
    ensure!(!listed.to_string().contains("\"simple\""), "{listed}");
    ensure!(
        committed(&b, "simple", "gt", 3)? == vec![None; 3],
        "offsets survive deletion"
    );
    Ok(())
}

#[test]
fn describe_shows_a_live_librdkafka_member() -> anyhow::Result<()> {
    let b = Broker::start()?;
    b.rill_ok(&["topics", "create", "live", "-p", "3"], b"")?;
    b.rill_ok(&["produce", "live"], b"a\nb\nc\n")?;
    let member: BaseConsumer = b
        .config()
        .set("group.id", "watchers")
        .set("client.id", "witness-client")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .create()?;
    member.subscribe(&["live"])?;
    let deadline = Instant::now() + TIMEOUT;
    while member.assignment()?.count() < 3 {
        if Instant::now() > deadline {
            bail!("librdkafka never got its assignment");
        }
        let _ = member.poll(Duration::from_millis(100));
    }
    let doc = json(&b.rill_ok(&["groups", "describe", "watchers", "-O", "json"], b"")?)?;
    ensure!(
        doc["state"] == "Stable" && doc["protocol_type"] == "consumer",
        "{doc}"
    );
    let members = doc["members"].as_array().cloned().unwrap_or_default();
    ensure!(
        members.len() == 1 && members[0]["client_id"] == "witness-client",
        "{doc}"
    );
    ensure!(
        members[0]["assignment"]["live"] == serde_json::json!([0, 1, 2]),
        "{doc}"
    );
    let human = String::from_utf8(b.rill_ok(&["groups", "describe", "watchers"], b"")?)?;
    ensure!(
        human.contains("witness-client") && human.contains("live:0,1,2"),
        "{human}"
    );
    let list = String::from_utf8(b.rill_ok(&["groups", "list"], b"")?)?;
    ensure!(list.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["watchers", "consumer", "Stable"]), "{list}");

    let reset = b.rill(
        &[
            "groups",
            "reset-offsets",
            "watchers",
            "--topic",
            "live",
            "--to-earliest",
            "--execute",
        ],
        b"",
    )?;
    ensure!(
        reset.status.code() == Some(1)
            && String::from_utf8_lossy(&reset.stderr).contains("active members")
    );
    let del = b.rill(&["groups", "delete", "watchers"], b"")?;
    ensure!(
        del.status.code() == Some(1)
            && String::from_utf8_lossy(&del.stderr).contains("NON_EMPTY_GROUP"),
        "{}",
        String::from_utf8_lossy(&del.stderr)
    );
    drop(member);
    let deadline = Instant::now() + TIMEOUT;
    while !b
        .rill(&["groups", "delete", "watchers"], b"")?
        .status
        .success()
    {
        ensure!(
            Instant::now() < deadline,
            "group never became deletable after the member left"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

#[test]
fn two_rill_consumers_join_and_share_partitions() -> anyhow::Result<()> {
    let b = Broker::start()?;
    b.rill_ok(&["topics", "create", "shared", "-p", "4"], b"")?;
    let input: String = (0..400).map(|i| format!("k{i}:v{i}\n")).collect();
    b.rill_ok(&["produce", "shared", "-K", ":"], input.as_bytes())?;
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_rill"))
            .args([
                "consume",
                "shared",
                "-g",
                "sharers",
                "--from-beginning",
                "--idle-timeout-ms",
                "5000",
            ])
            .env("RILL_BROKERS", b.bootstrap())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
    };
    let (c1, c2) = (spawn()?, spawn()?);
    // While both run, the coordinator shows two members splitting the four partitions.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        // Until the first member has joined, the group does not exist (exit 4).
        let out = b.rill(&["groups", "describe", "sharers", "-O", "json"], b"")?;
        if !out.status.success() {
            ensure!(
                Instant::now() < deadline,
                "group never appeared: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        let doc = json(&out.stdout)?;
        let members = doc["members"].as_array().cloned().unwrap_or_default();
        let mut parts: Vec<i64> = members
            .iter()
            .flat_map(|m| {
                m["assignment"]["shared"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|p| p.as_i64())
            .collect();
        parts.sort_unstable();
        if doc["state"] == "Stable" && members.len() == 2 && parts == [0, 1, 2, 3] {
            ensure!(
                members.iter().all(|m| m["assignment"]["shared"]
                    .as_array()
                    .is_some_and(|a| a.len() == 2)),
                "range split: {doc}"
            );
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "never saw two stable members: {doc}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (o1, o2) = (c1.wait_with_output()?, c2.wait_with_output()?);
    ensure!(
        o1.status.success() && o2.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o1.stderr),
        String::from_utf8_lossy(&o2.stderr)
    );
    let (l1, l2) = (lines(&o1.stdout), lines(&o2.stdout));
    let all: BTreeSet<String> = l1.iter().chain(l2.iter()).cloned().collect();
    ensure!(
        !l1.is_empty() && !l2.is_empty(),
        "one consumer read nothing: {} / {}",
        l1.len(),
        l2.len()
    );
    ensure!(
        l1.len() + l2.len() == 400 && all.len() == 400,
        "{} + {} records, {} distinct",
        l1.len(),
        l2.len(),
        all.len()
    );
    let ends: Vec<Option<i64>> = (0..4)
        .map(|p| b.watermarks("shared", p).map(|w| Some(w.1)))
        .collect::<anyhow::Result<_>>()?;
    ensure!(
        committed(&b, "sharers", "shared", 4)? == ends,
        "commits in the joined generation"
    );
    let doc = json(&b.rill_ok(&["groups", "describe", "sharers", "-O", "json"], b"")?)?;
    ensure!(doc["state"] == "Empty", "members left on exit: {doc}");
    Ok(())
}

#[test]
fn ctrl_c_commits_and_leaves_and_unknown_groups_exit_4() -> anyhow::Result<()> {
    let b = Broker::start()?;
    let missing = b.rill(&["groups", "describe", "nobody"], b"")?;
    ensure!(missing.status.code() == Some(4), "{:?}", missing.status);
    ensure!(String::from_utf8_lossy(&missing.stderr).contains("GROUP_ID_NOT_FOUND"));

    b.rill_ok(&["topics", "create", "tail", "-p", "2"], b"")?;
    b.rill_ok(&["produce", "tail"], b"a\nb\nc\nd\n")?;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(["consume", "tail", "-g", "tailers", "--from-beginning"])
        .env("RILL_BROKERS", b.bootstrap())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let mut out = std::io::BufReader::new(child.stdout.take().context("stdout")?);
    for _ in 0..4 {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line)?;
    }
    // All four printed; it keeps waiting until Ctrl-C.
    ensure!(child.try_wait()?.is_none(), "consumer exited before Ctrl-C");
    ensure!(std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()?
        .success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        ensure!(Instant::now() < deadline, "consumer ignored Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    };
    ensure!(status.success(), "{status}");
    let ends: Vec<Option<i64>> = (0..2)
        .map(|p| b.watermarks("tail", p).map(|w| Some(w.1)))
        .collect::<anyhow::Result<_>>()?;
    let got = committed(&b, "tailers", "tail", 2)?;
    ensure!(
        got.iter()
            .zip(&ends)
            .all(|(c, e)| c.unwrap_or(0) == e.unwrap_or(0)),
        "committed {got:?} vs ends {ends:?}"
    );
    let doc = json(&b.rill_ok(&["groups", "describe", "tailers", "-O", "json"], b"")?)?;
    ensure!(
        doc["state"] == "Empty" && doc["members"] == serde_json::json!([]),
        "left the group: {doc}"
    );
    Ok(())
}
