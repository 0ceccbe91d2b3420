//! `rill topics` against a live `rill serve`: every change the CLI makes is checked with
//! librdkafka (rdkafka) as the independent client, and errors get the documented exit codes.

use crate::cli_support::{json, rill_with, Broker};
use anyhow::ensure;
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_describe_alter_grow_delete() -> anyhow::Result<()> {
    let b = Broker::start()?;
    b.rill_ok(
        &[
            "topics",
            "create",
            "orders",
            "--partitions",
            "3",
            "--replication-factor",
            "1",
            "-c",
            "retention.ms=123456",
        ],
        b"",
    )?;
    ensure!(
        b.partition_count("orders")? == Some(3),
        "librdkafka sees 3 partitions"
    );

    // Records written by librdkafka show up in describe's end offsets.
    let producer: FutureProducer = b.config().create()?;
    for (p, n) in [(0, 2), (2, 5)] {
        for i in 0..n {
            let payload = format!("v{i}");
            producer
                .send(
                    FutureRecord::<(), _>::to("orders")
                        .partition(p)
                        .payload(&payload),
                    crate::cli_support::TIMEOUT,
                )
                .await
                .map_err(|(e, _)| e)?;
        }
    }
    let doc = json(&b.rill_ok(&["topics", "describe", "orders", "-O", "json"], b"")?)?;
    let t = &doc[0];
    ensure!(
        t["name"] == "orders" && t["configs"]["retention.ms"] == "123456",
        "{doc}"
    );
    let ends: Vec<i64> = t["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["log_end_offset"].as_i64().unwrap())
        .collect();
    ensure!(ends == vec![2, 0, 5], "end offsets {ends:?}");
    // No transactions: the last stable offset is the high watermark.
    let stable: Vec<i64> = t["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["last_stable_offset"].as_i64().unwrap())
        .collect();
    ensure!(stable == ends, "last stable offsets {stable:?}");
    ensure!(
        t["partitions"][0]["leader"] == 1 && t["partitions"][0]["isr"] == serde_json::json!([1]),
        "{t}"
    );

    let human = String::from_utf8(b.rill_ok(&["topics", "describe", "orders"], b"")?)?;
    ensure!(
        human.contains("PARTITION  LEADER  REPLICAS  ISR  LOG-START  LOG-END  LAST-STABLE"),
        "{human}"
    );
    ensure!(
        human.lines().any(
            |l| l.split_whitespace().collect::<Vec<_>>() == ["2", "1", "1", "1", "0", "5", "5"]
        ),
        "{human}"
    );

    // alter-config: librdkafka's DescribeConfigs sees the change.
    b.rill_ok(
        &[
            "topics",
            "alter-config",
            "orders",
            "--set",
            "retention.ms=999",
            "--set",
            "cleanup.policy=delete",
        ],
        b"",
    )?;
    let admin: AdminClient<DefaultClientContext> = b.config().create()?;
    let res = admin
        .describe_configs(&[ResourceSpecifier::Topic("orders")], &AdminOptions::new())
        .await?;
    let cfg = res[0].as_ref().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    ensure!(
        cfg.get("retention.ms").and_then(|e| e.value.as_deref()) == Some("999"),
        "retention.ms not altered"
    );

    // add-partitions grows the topic.
    b.rill_ok(
        &["topics", "add-partitions", "orders", "--partitions", "5"],
        b"",
    )?;
    ensure!(b.partition_count("orders")? == Some(5));

    let list = json(&b.rill_ok(&["topics", "list", "-O", "json"], b"")?)?;
    ensure!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "orders" && t["partitions"] == 5),
        "{list}"
    );

    b.rill_ok(&["topics", "delete", "orders"], b"")?;
    ensure!(
        b.partition_count("orders")?.is_none(),
        "deleted topic still listed by librdkafka"
    );
    Ok(())
}

#[test]
fn errors_say_what_to_do_and_exit_codes_differ() -> anyhow::Result<()> {
    let b = Broker::start()?;
    b.rill_ok(&["topics", "create", "t1", "-p", "1"], b"")?;
    let again = b.rill(&["topics", "create", "t1", "-p", "1"], b"")?;
    ensure!(again.status.code() == Some(1), "exists: {:?}", again.status);
    ensure!(String::from_utf8_lossy(&again.stderr).contains("TOPIC_ALREADY_EXISTS"));
    b.rill_ok(
        &["topics", "create", "t1", "-p", "1", "--if-not-exists"],
        b"",
    )?;

    let missing = b.rill(&["topics", "describe", "nope"], b"")?;
    ensure!(
        missing.status.code() == Some(4),
        "unknown topic: {:?}",
        missing.status
    );
    ensure!(String::from_utf8_lossy(&missing.stderr).contains("rill topics create nope"));

    // A reserved port nothing listens on.
    let port = rill_testkit::reserve_port()?;
    let down = rill_with(
        &format!("127.0.0.1:{}", port.port()),
        &["topics", "list"],
        b"",
    )?;
    ensure!(
        down.status.code() == Some(3),
        "unreachable: {:?}",
        down.status
    );
    let err = String::from_utf8_lossy(&down.stderr);
    ensure!(
        err.contains("cannot reach") && err.contains("rill serve"),
        "{err}"
    );

    let bad = b.rill(&["topics", "create", "t2", "-p", "0"], b"")?;
    ensure!(
        bad.status.code() == Some(1)
            && String::from_utf8_lossy(&bad.stderr).contains("INVALID_PARTITIONS"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    Ok(())
}

/// `rill topics create -c cleanup.policy=compact` makes a compacted topic (librdkafka's
/// DescribeConfigs sees it, a keyless record is refused), describe shows the policy and the
/// dirty ratio, and a bad config is refused with Kafka's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacted_topics_from_the_cli() -> anyhow::Result<()> {
    let b = Broker::start()?;
    b.rill_ok(
        &[
            "topics",
            "create",
            "state",
            "-c",
            "cleanup.policy=compact",
            "-c",
            "min.cleanable.dirty.ratio=0.25",
        ],
        b"",
    )?;
    let admin: AdminClient<DefaultClientContext> = b.config().create()?;
    let res = admin
        .describe_configs(&[ResourceSpecifier::Topic("state")], &AdminOptions::new())
        .await?;
    let cfg = res[0].as_ref().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    ensure!(
        cfg.get("cleanup.policy").and_then(|e| e.value.as_deref()) == Some("compact"),
        "cleanup.policy not set"
    );

    let producer: FutureProducer = b.config().create()?;
    let keyless = producer
        .send(
            FutureRecord::<(), _>::to("state").payload("no key"),
            crate::cli_support::TIMEOUT,
        )
        .await;
    ensure!(
        matches!(
            keyless,
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::InvalidRecord
                ),
                _
            ))
        ),
        "keyless record to a compacted topic: {keyless:?}"
    );

    let human = String::from_utf8(b.rill_ok(&["topics", "describe", "state"], b"")?)?;
    ensure!(
        human.contains("cleanup.policy=compact")
            && human.contains("min.cleanable.dirty.ratio=0.25"),
        "{human}"
    );
    b.rill_ok(&["topics", "create", "plain"], b"")?;
    let doc = json(&b.rill_ok(&["topics", "describe", "plain", "-O", "json"], b"")?)?;
    let configs = &doc[0]["configs"];
    ensure!(
        configs["cleanup.policy"] == "delete" && configs.get("min.cleanable.dirty.ratio").is_none(),
        "{doc}"
    );

    let bad = b.rill(&["topics", "create", "t", "-c", "segment.bytes=1000"], b"")?;
    let err = String::from_utf8_lossy(&bad.stderr);
    ensure!(
        bad.status.code() == Some(1)
            && err.contains("Invalid value 1000 for configuration segment.bytes: Value must be at least 1048576"),
        "{err}"
    );
    Ok(())
}
