#![allow(clippy::unwrap_used)]
//! Topic configs over real sockets: CreateTopics (and validate_only) with every Kafka 4.1
//! topic config, Kafka's INVALID_CONFIG messages from CreateTopics, AlterConfigs and
//! IncrementalAlterConfigs, DescribeConfigs values, sources, types and synonyms. The produce
//! rules the configs switch on are in `produce_rules`.

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::support::{start, Conn};

const INVALID_CONFIG: i16 = 40;
const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const GROUP: i8 = 32;
const INVALID_REQUEST: i16 = 42;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// CreateTopics v7 of one topic with `configs`; returns the topic's result.
pub async fn create(
    conn: &mut Conn,
    name: &str,
    configs: &[(&str, &str)],
    validate_only: bool,
) -> create_topics_response::CreatableTopicResult {
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = TopicName(s(name));
    t.num_partitions = 1;
    t.replication_factor = 1;
    t.configs = configs
        .iter()
        .map(|(k, v)| {
            let mut c = create_topics_request::CreatableTopicConfig::default();
            c.name = s(k);
            c.value = Some(s(v));
            c
        })
        .collect();
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 5000;
    req.validate_only = validate_only;
    conn.call(&req, 7).await.topics.remove(0)
}

/// DescribeConfigs v4 of one resource.
async fn describe(
    conn: &mut Conn,
    resource_type: i8,
    name: &str,
    keys: Option<&[&str]>,
    synonyms: bool,
) -> describe_configs_response::DescribeConfigsResult {
    let mut r = describe_configs_request::DescribeConfigsResource::default();
    r.resource_type = resource_type;
    r.resource_name = s(name);
    r.configuration_keys = keys.map(|k| k.iter().map(|k| s(k)).collect());
    let mut req = DescribeConfigsRequest::default();
    req.resources = vec![r];
    req.include_synonyms = synonyms;
    req.include_documentation = synonyms;
    conn.call(&req, 4).await.results.remove(0)
}

fn config<'a>(
    res: &'a describe_configs_response::DescribeConfigsResult,
    name: &str,
) -> &'a describe_configs_response::DescribeConfigsResourceResult {
    res.configs
        .iter()
        .find(|c| c.name.as_str() == name)
        .unwrap_or_else(|| panic!("{name} is not described"))
}

/// One valid non-default value for every Kafka 4.1 topic config.
const EVERY_CONFIG: &[(&str, &str)] = &[
    ("cleanup.policy", "compact,delete"),
    ("compression.gzip.level", "5"),
    ("compression.lz4.level", "4"),
    ("compression.type", "lz4"),
    ("compression.zstd.level", "7"),
    ("delete.retention.ms", "1000"),
    ("file.delete.delay.ms", "500"),
    ("flush.messages", "1"),
    ("flush.ms", "1000"),
    ("follower.replication.throttled.replicas", "0:1"),
    ("index.interval.bytes", "8192"),
    ("leader.replication.throttled.replicas", "*"),
    ("local.retention.bytes", "-2"),
    ("local.retention.ms", "-2"),
    ("max.compaction.lag.ms", "600000"),
    ("max.message.bytes", "2000000"),
    ("message.downconversion.enable", "false"),
    ("message.timestamp.after.max.ms", "7200000"),
    ("message.timestamp.before.max.ms", "86400000"),
    ("message.timestamp.type", "CreateTime"),
    ("min.cleanable.dirty.ratio", "0.1"),
    ("min.compaction.lag.ms", "100"),
    ("min.insync.replicas", "1"),
    ("preallocate", "true"),
    ("remote.log.copy.disable", "false"),
    ("remote.log.delete.on.disable", "false"),
    ("remote.storage.enable", "false"),
    ("retention.bytes", "100000000"),
    ("retention.ms", "86400000"),
    ("segment.bytes", "2097152"),
    ("segment.index.bytes", "1048576"),
    ("segment.jitter.ms", "10"),
    ("segment.ms", "3600000"),
    ("unclean.leader.election.enable", "false"),
];

#[tokio::test]
async fn every_kafka_topic_config_is_accepted_and_described_as_set() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]).await;
    let mut conn = Conn::open(node.addr).await;
    let r = create(&mut conn, "every", EVERY_CONFIG, true).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert_eq!(
        describe(&mut conn, TOPIC, "every", None, false)
            .await
            .error_code,
        3
    );
    let r = create(&mut conn, "every", EVERY_CONFIG, false).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let res = describe(&mut conn, TOPIC, "every", None, true).await;
    assert_eq!(res.error_code, 0);
    assert_eq!(res.configs.len(), EVERY_CONFIG.len());
    for (k, v) in EVERY_CONFIG {
        let c = config(&res, k);
        assert_eq!(
            c.value.as_ref().map(|v| v.to_string()).as_deref(),
            Some(*v),
            "{k}"
        );
        assert_eq!(c.config_source, 1, "{k}: DYNAMIC_TOPIC_CONFIG");
        assert!(!c.read_only && !c.is_sensitive, "{k}");
        assert_eq!(
            c.synonyms[0].source, 1,
            "{k}: the override is the first synonym"
        );
        assert!(
            c.documentation.as_ref().is_some_and(|d| !d.is_empty()),
            "{k}"
        );
    }
    // Kafka's ConfigType codes.
    for (k, code) in [
        ("cleanup.policy", 7),
        ("min.cleanable.dirty.ratio", 6),
        ("retention.ms", 5),
        ("segment.bytes", 3),
        ("compression.type", 2),
        ("preallocate", 1),
    ] {
        assert_eq!(config(&res, k).config_type, code, "{k}");
    }
    node.shutdown().await;
}

#[tokio::test]
async fn describe_configs_shows_sources_defaults_and_synonyms() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[("log.retention.ms", "3600000")]).await;
    let mut conn = Conn::open(node.addr).await;
    let r = create(&mut conn, "plain", &[("segment.ms", "60000")], false).await;
    assert_eq!(r.error_code, 0);
    // CreateTopics v5+ answers with the topic's configs.
    let listed = r.configs.unwrap();
    assert!(listed
        .iter()
        .any(|c| c.name.as_str() == "segment.ms" && c.config_source == 1));

    let res = describe(&mut conn, TOPIC, "plain", None, true).await;
    let want = [
        ("segment.ms", "60000", 1),
        ("retention.ms", "3600000", 4),
        ("cleanup.policy", "delete", 5),
        ("compression.type", "producer", 5),
        ("message.timestamp.after.max.ms", "3600000", 5),
        ("message.timestamp.before.max.ms", "9223372036854775807", 5),
        ("min.cleanable.dirty.ratio", "0.5", 5),
        ("segment.bytes", "1073741824", 5),
        ("remote.storage.enable", "false", 5),
        ("message.downconversion.enable", "true", 5),
    ];
    for (k, v, source) in want {
        let c = config(&res, k);
        assert_eq!(c.value.as_ref().unwrap().as_str(), v, "{k}");
        assert_eq!(c.config_source, source, "{k}");
    }
    // The broker file's value, then Kafka's default, as synonyms of retention.ms.
    let syn: Vec<(String, String, i8)> = config(&res, "retention.ms")
        .synonyms
        .iter()
        .map(|s| {
            (
                s.name.to_string(),
                s.value.as_ref().unwrap().to_string(),
                s.source,
            )
        })
        .collect();
    assert_eq!(
        syn,
        vec![
            ("log.retention.ms".into(), "3600000".into(), 4),
            ("log.retention.ms".into(), "604800000".into(), 5)
        ]
    );
    // A config without a broker synonym has none.
    assert!(config(&res, "remote.storage.enable").synonyms.is_empty());
    // Internal configs are not listed unless set.
    assert!(res
        .configs
        .iter()
        .all(|c| c.name.as_str() != "internal.segment.bytes"));

    // Asked keys only; an empty list asks for all.
    let some = describe(
        &mut conn,
        TOPIC,
        "plain",
        Some(&["cleanup.policy", "nope"]),
        false,
    )
    .await;
    assert_eq!(some.configs.len(), 1);
    assert!(some.configs[0].synonyms.is_empty() && some.configs[0].documentation.is_none());
    let all = describe(&mut conn, TOPIC, "plain", Some(&[]), false).await;
    assert_eq!(all.configs.len(), res.configs.len());

    // Unknown topic; the broker resource still works (read-only static configs).
    assert_eq!(
        describe(&mut conn, TOPIC, "missing", None, false)
            .await
            .error_code,
        3
    );
    let b = describe(
        &mut conn,
        BROKER,
        "1",
        Some(&["log.retention.ms", "log.cleanup.policy"]),
        true,
    )
    .await;
    assert_eq!(b.error_code, 0);
    let c = config(&b, "log.retention.ms");
    assert_eq!(
        (c.value.as_ref().unwrap().as_str(), c.config_source),
        ("3600000", 4)
    );
    // Kafka updates the topic defaults dynamically (cluster-wide or per broker).
    assert!(!c.read_only);
    assert_eq!(c.config_type, 5);
    assert_eq!(config(&b, "log.cleanup.policy").config_source, 5);
    let wrong = describe(&mut conn, BROKER, "7", None, false).await;
    assert_eq!(wrong.error_code, 42);
    assert_eq!(
        wrong.error_message.unwrap().as_str(),
        "Unexpected broker id, expected 1 or empty string, but received 7"
    );
    node.shutdown().await;
}

#[tokio::test]
async fn create_topics_refuses_bad_configs_with_kafkas_messages() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]).await;
    let mut conn = Conn::open(node.addr).await;
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("cleanup.policy", "forever")],
            "Invalid value forever for configuration cleanup.policy: String must be one of: compact, delete"),
        (&[("compression.type", "brotli")],
            "Invalid value brotli for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"),
        (&[("segment.bytes", "4096")],
            "Invalid value 4096 for configuration segment.bytes: Value must be at least 1048576"),
        (&[("min.cleanable.dirty.ratio", "1.5")],
            "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"),
        (&[("compression.gzip.level", "12")],
            "Invalid value 12 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1"),
        (&[("max.compaction.lag.ms", "0")],
            "Invalid value 0 for configuration max.compaction.lag.ms: Value must be at least 1"),
        (&[("message.timestamp.difference.max.ms", "1000")],
            "Unknown topic config name: message.timestamp.difference.max.ms"),
        (&[("min.compaction.lag.ms", "500"), ("max.compaction.lag.ms", "100")],
            "conflict topic config setting min.compaction.lag.ms (500) > max.compaction.lag.ms (100)"),
        (&[("remote.storage.enable", "true")],
            "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."),
    ];
    for validate_only in [true, false] {
        for (configs, message) in cases {
            let r = create(&mut conn, "bad", configs, validate_only).await;
            assert_eq!(r.error_code, INVALID_CONFIG, "{configs:?}");
            assert_eq!(r.error_message.unwrap().as_str(), *message);
        }
    }
    assert_eq!(
        describe(&mut conn, TOPIC, "bad", None, false)
            .await
            .error_code,
        3
    );
    node.shutdown().await;
}

/// IncrementalAlterConfigs v1 of one op on a topic: (error code, message).
async fn incremental(
    conn: &mut Conn,
    topic: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> (i16, Option<String>) {
    incremental_on(conn, TOPIC, topic, ops, validate_only).await
}

/// IncrementalAlterConfigs v1 on any resource: (error code, message).
async fn incremental_on(
    conn: &mut Conn,
    resource_type: i8,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> (i16, Option<String>) {
    let mut r = incremental_alter_configs_request::AlterConfigsResource::default();
    r.resource_type = resource_type;
    r.resource_name = s(name);
    r.configs = ops
        .iter()
        .map(|(k, op, v)| {
            let mut c = incremental_alter_configs_request::AlterableConfig::default();
            c.name = s(k);
            c.config_operation = *op;
            c.value = v.map(s);
            c
        })
        .collect();
    let mut req = IncrementalAlterConfigsRequest::default();
    req.resources = vec![r];
    req.validate_only = validate_only;
    let resp = conn.call(&req, 1).await;
    let x = &resp.responses[0];
    (
        x.error_code,
        x.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// AlterConfigs v2 (the whole set of overrides): (error code, message).
pub async fn alter(
    conn: &mut Conn,
    topic: &str,
    configs: &[(&str, &str)],
) -> (i16, Option<String>) {
    alter_on(conn, TOPIC, topic, configs).await
}

/// AlterConfigs v2 on any resource: (error code, message).
async fn alter_on(
    conn: &mut Conn,
    resource_type: i8,
    name: &str,
    configs: &[(&str, &str)],
) -> (i16, Option<String>) {
    let mut r = alter_configs_request::AlterConfigsResource::default();
    r.resource_type = resource_type;
    r.resource_name = s(name);
    r.configs = configs
        .iter()
        .map(|(k, v)| {
            let mut c = alter_configs_request::AlterableConfig::default();
            c.name = s(k);
            c.value = Some(s(v));
            c
        })
        .collect();
    let mut req = AlterConfigsRequest::default();
    req.resources = vec![r];
    let resp = conn.call(&req, 2).await;
    let x = &resp.responses[0];
    (
        x.error_code,
        x.error_message.as_ref().map(|m| m.to_string()),
    )
}

#[tokio::test]
async fn alter_configs_validate_with_kafkas_messages() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]).await;
    let mut conn = Conn::open(node.addr).await;
    assert_eq!(create(&mut conn, "alt", &[], false).await.error_code, 0);

    let (code, msg) = alter(&mut conn, "alt", &[("retention.ms", "-5")]).await;
    assert_eq!(code, INVALID_CONFIG);
    assert_eq!(
        msg.unwrap(),
        "Invalid value -5 for configuration retention.ms: Value must be at least -1"
    );
    let (code, msg) = alter(&mut conn, "alt", &[("no.such", "1")]).await;
    assert_eq!(
        (code, msg.unwrap().as_str()),
        (INVALID_CONFIG, "Unknown topic config name: no.such")
    );
    assert_eq!(
        alter(&mut conn, "alt", &[("cleanup.policy", "compact")])
            .await
            .0,
        0
    );

    // SET, APPEND, SUBTRACT, DELETE.
    let (code, msg) = incremental(&mut conn, "alt", &[("retention.ms", 2, Some("5"))], false).await;
    assert_eq!(code, INVALID_CONFIG);
    assert_eq!(
        msg.unwrap(),
        "Can't APPEND to key retention.ms because its type is not LIST."
    );
    assert_eq!(
        incremental(
            &mut conn,
            "alt",
            &[("cleanup.policy", 2, Some("delete"))],
            false
        )
        .await
        .0,
        0
    );
    let policy = |r: &describe_configs_response::DescribeConfigsResult| {
        config(r, "cleanup.policy")
            .value
            .as_ref()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        policy(&describe(&mut conn, TOPIC, "alt", None, false).await),
        "compact,delete"
    );
    let (code, msg) = incremental(
        &mut conn,
        "alt",
        &[("min.insync.replicas", 0, Some("0"))],
        false,
    )
    .await;
    assert_eq!(code, INVALID_CONFIG);
    assert_eq!(
        msg.unwrap(),
        "Invalid value 0 for configuration min.insync.replicas: Value must be at least 1"
    );
    let (code, msg) = incremental(
        &mut conn,
        "alt",
        &[("compression.zstd.level", 0, None)],
        false,
    )
    .await;
    assert_eq!(
        (code, msg.unwrap().as_str()),
        (
            INVALID_CONFIG,
            "Null value not supported for topic configs: compression.zstd.level"
        )
    );
    // validate_only changes nothing.
    assert_eq!(
        incremental(
            &mut conn,
            "alt",
            &[("cleanup.policy", 3, Some("compact"))],
            true
        )
        .await
        .0,
        0
    );
    assert_eq!(
        policy(&describe(&mut conn, TOPIC, "alt", None, false).await),
        "compact,delete"
    );
    assert_eq!(
        incremental(
            &mut conn,
            "alt",
            &[("cleanup.policy", 3, Some("compact"))],
            false
        )
        .await
        .0,
        0
    );
    assert_eq!(
        policy(&describe(&mut conn, TOPIC, "alt", None, false).await),
        "delete"
    );
    assert_eq!(
        incremental(&mut conn, "alt", &[("cleanup.policy", 1, None)], false)
            .await
            .0,
        0
    );
    let res = describe(&mut conn, TOPIC, "alt", None, false).await;
    assert_eq!(
        (
            policy(&res).as_str(),
            config(&res, "cleanup.policy").config_source
        ),
        ("delete", 5)
    );
    node.shutdown().await;
}

/// (value, source) of config `k` in a DescribeConfigs result.
fn value_source(r: &describe_configs_response::DescribeConfigsResult, k: &str) -> (String, i8) {
    let c = config(r, k);
    (c.value.as_ref().unwrap().to_string(), c.config_source)
}

#[tokio::test]
async fn dynamic_broker_configs_default_topics_as_kafkas_do() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]).await;
    let mut conn = Conn::open(node.addr).await;
    assert_eq!(create(&mut conn, "dyn", &[], false).await.error_code, 0);
    assert_eq!(
        create(&mut conn, "own", &[("retention.ms", "77")], false)
            .await
            .error_code,
        0
    );
    const SET: i8 = 0;
    const DELETE: i8 = 1;
    const APPEND: i8 = 2;
    const SUBTRACT: i8 = 3;

    // Kafka's refusals.
    type Op<'a> = (&'a str, i8, Option<&'a str>);
    let cases: &[(&str, Op, &str)] = &[
        (
            "1",
            ("background.threads", SET, Some("9")),
            "Cannot update these configs dynamically: [background.threads]",
        ),
        (
            "",
            ("sasl.kerberos.min.time.before.relogin", SET, Some("58000")),
            "Cannot update these configs at default cluster level, broker id must be specified: \
             [sasl.kerberos.min.time.before.relogin]",
        ),
        (
            "7",
            ("log.retention.ms", SET, Some("1")),
            "Unexpected broker id, expected 1, but received 7",
        ),
        (
            "one",
            ("log.retention.ms", SET, Some("1")),
            "Node id must be an integer, but it is: one",
        ),
        (
            "1",
            ("log.retention.ms", APPEND, Some("1")),
            "Config value append is not allowed for config key: log.retention.ms",
        ),
        (
            "",
            ("log.cleanup.policy", SET, Some("shred")),
            "Invalid value shred for configuration log.cleanup.policy: String must be one of: \
             compact, delete",
        ),
    ];
    for (name, op, message) in cases {
        let (code, msg) = incremental_on(&mut conn, BROKER, name, &[*op], false).await;
        assert_eq!(
            (code, msg.unwrap().as_str()),
            (INVALID_REQUEST, *message),
            "{name} {op:?}"
        );
    }

    // A cluster-wide default, then this broker's own value over it; a topic override wins.
    let set = |k, v| [(k, SET, Some(v))];
    assert_eq!(
        incremental_on(
            &mut conn,
            BROKER,
            "",
            &set("log.retention.ms", "1234"),
            false
        )
        .await
        .0,
        0
    );
    let d = describe(&mut conn, TOPIC, "dyn", Some(&["retention.ms"]), true).await;
    assert_eq!(value_source(&d, "retention.ms"), ("1234".into(), 3));
    let syn: Vec<(String, i8)> = config(&d, "retention.ms")
        .synonyms
        .iter()
        .map(|s| (s.name.to_string(), s.source))
        .collect();
    assert_eq!(
        syn,
        [
            ("log.retention.ms".to_string(), 3),
            ("log.retention.ms".to_string(), 5)
        ]
    );
    assert_eq!(
        incremental_on(
            &mut conn,
            BROKER,
            "1",
            &set("log.retention.ms", "999"),
            false
        )
        .await
        .0,
        0
    );
    let d = describe(&mut conn, TOPIC, "dyn", Some(&["retention.ms"]), false).await;
    assert_eq!(value_source(&d, "retention.ms"), ("999".into(), 2));
    let d = describe(&mut conn, TOPIC, "own", Some(&["retention.ms"]), false).await;
    assert_eq!(value_source(&d, "retention.ms"), ("77".into(), 1));
    let b = describe(&mut conn, BROKER, "1", Some(&["log.retention.ms"]), true).await;
    assert_eq!(value_source(&b, "log.retention.ms"), ("999".into(), 2));
    let sources: Vec<i8> = config(&b, "log.retention.ms")
        .synonyms
        .iter()
        .map(|s| s.source)
        .collect();
    assert_eq!(sources, [2, 3, 5]);
    let b = describe(&mut conn, BROKER, "", None, false).await;
    assert_eq!(b.error_code, 0);
    assert_eq!(b.configs.len(), 1);
    assert_eq!(value_source(&b, "log.retention.ms"), ("1234".into(), 3));

    // A list key: APPEND and SUBTRACT start from the effective value.
    let op = |k, o, v| [(k, o, Some(v))];
    assert_eq!(
        incremental_on(
            &mut conn,
            BROKER,
            "1",
            &op("log.cleanup.policy", APPEND, "compact"),
            false
        )
        .await
        .0,
        0
    );
    let d = describe(&mut conn, TOPIC, "dyn", Some(&["cleanup.policy"]), false).await;
    assert_eq!(
        value_source(&d, "cleanup.policy"),
        ("delete,compact".into(), 2)
    );
    // The hosted partition took the new default (a compacted topic's produce rules).
    let p = node.broker.replicas.get("dyn", 0).unwrap();
    assert!(
        p.produce_rules().compacted,
        "the partition follows the default"
    );
    assert_eq!(
        incremental_on(
            &mut conn,
            BROKER,
            "1",
            &op("log.cleanup.policy", SUBTRACT, "compact"),
            false
        )
        .await
        .0,
        0
    );
    let d = describe(&mut conn, TOPIC, "dyn", Some(&["cleanup.policy"]), false).await;
    assert_eq!(value_source(&d, "cleanup.policy"), ("delete".into(), 2));
    assert_eq!(
        incremental_on(
            &mut conn,
            BROKER,
            "1",
            &[("log.cleanup.policy", DELETE, None)],
            false
        )
        .await
        .0,
        0
    );
    let d = describe(&mut conn, TOPIC, "dyn", Some(&["cleanup.policy"]), false).await;
    assert_eq!(value_source(&d, "cleanup.policy"), ("delete".into(), 5));

    // A default that would break a topic's stored config is refused.
    assert_eq!(
        create(
            &mut conn,
            "lag",
            &[("max.compaction.lag.ms", "1000")],
            false
        )
        .await
        .error_code,
        0
    );
    let (code, msg) = incremental_on(
        &mut conn,
        BROKER,
        "",
        &set("log.cleaner.min.compaction.lag.ms", "5000"),
        false,
    )
    .await;
    assert_eq!(code, INVALID_REQUEST);
    assert!(msg.unwrap().contains("(the config of topic lag)"));

    // The per-broker SASL settings are kept and shown; legacy AlterConfigs replaces the set.
    assert_eq!(
        alter_on(
            &mut conn,
            BROKER,
            "1",
            &[("sasl.kerberos.min.time.before.relogin", "58000")]
        )
        .await
        .0,
        0
    );
    let b = describe(&mut conn, BROKER, "1", None, false).await;
    let c = config(&b, "sasl.kerberos.min.time.before.relogin");
    assert_eq!(
        (
            c.value.as_ref().unwrap().as_str(),
            c.config_source,
            c.read_only
        ),
        ("58000", 2, false)
    );
    assert_eq!(value_source(&b, "log.retention.ms"), ("1234".into(), 3));
    assert!(config(&b, "num.partitions").read_only);

    // Dynamic configs survive a restart (they are in the metadata log).
    node.shutdown().await;
    let node = start(dir.path(), &[]).await;
    let mut conn = Conn::open(node.addr).await;
    let d = describe(&mut conn, TOPIC, "dyn", Some(&["retention.ms"]), false).await;
    assert_eq!(value_source(&d, "retention.ms"), ("1234".into(), 3));
    let b = describe(
        &mut conn,
        BROKER,
        "1",
        Some(&["sasl.kerberos.min.time.before.relogin"]),
        false,
    )
    .await;
    assert_eq!(
        value_source(&b, "sasl.kerberos.min.time.before.relogin"),
        ("58000".into(), 2)
    );
    node.shutdown().await;
}

#[tokio::test]
async fn group_configs_validate_and_describe_as_kafkas_do() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[]).await;
    let mut conn = Conn::open(node.addr).await;
    let ops = [("consumer.session.timeout.ms", 0, Some("50000"))];
    assert_eq!(
        incremental_on(&mut conn, GROUP, "my-group", &ops, false)
            .await
            .0,
        0
    );
    let d = describe(&mut conn, GROUP, "my-group", None, true).await;
    assert_eq!(d.error_code, 0);
    assert_eq!(d.configs.len(), 6);
    assert_eq!(
        value_source(&d, "consumer.session.timeout.ms"),
        ("50000".into(), 8)
    );
    assert_eq!(
        value_source(&d, "consumer.heartbeat.interval.ms"),
        ("5000".into(), 5)
    );
    let syn: Vec<(String, i8)> = config(&d, "consumer.session.timeout.ms")
        .synonyms
        .iter()
        .map(|s| (s.name.to_string(), s.source))
        .collect();
    assert_eq!(
        syn,
        [
            ("consumer.session.timeout.ms".to_string(), 8),
            ("group.consumer.session.timeout.ms".to_string(), 5)
        ]
    );
    // Any group has the defaults, existing or not.
    let other = describe(&mut conn, GROUP, "no-such-group", None, false).await;
    assert_eq!(
        (
            other.error_code,
            value_source(&other, "consumer.session.timeout.ms")
        ),
        (0, ("45000".into(), 5))
    );
    let cases: &[(&str, &str, &str)] = &[
        (
            "session.timeout.ms",
            "1",
            "Unknown group config name: session.timeout.ms",
        ),
        (
            "consumer.session.timeout.ms",
            "70000",
            "consumer.session.timeout.ms must be less than or equal to \
             group.consumer.max.session.timeout.ms",
        ),
        (
            "consumer.heartbeat.interval.ms",
            "fast",
            "Invalid value fast for configuration consumer.heartbeat.interval.ms: Not a number \
             of type INT",
        ),
        (
            "share.auto.offset.reset",
            "none",
            "Invalid value none for configuration share.auto.offset.reset: String must be one \
             of: latest, earliest",
        ),
    ];
    for (k, v, message) in cases {
        let (code, msg) =
            incremental_on(&mut conn, GROUP, "my-group", &[(k, 0, Some(v))], false).await;
        assert_eq!(
            (code, msg.unwrap().as_str()),
            (INVALID_CONFIG, *message),
            "{k}"
        );
    }
    // DELETE goes back to the default; legacy AlterConfigs replaces the whole set.
    let del = [("consumer.session.timeout.ms", 1, None)];
    assert_eq!(
        incremental_on(&mut conn, GROUP, "my-group", &del, false)
            .await
            .0,
        0
    );
    let d = describe(&mut conn, GROUP, "my-group", None, false).await;
    assert_eq!(
        value_source(&d, "consumer.session.timeout.ms"),
        ("45000".into(), 5)
    );
    assert_eq!(
        alter_on(
            &mut conn,
            GROUP,
            "my-group",
            &[("share.auto.offset.reset", "earliest")]
        )
        .await
        .0,
        0
    );
    let d = describe(&mut conn, GROUP, "my-group", None, false).await;
    assert_eq!(
        value_source(&d, "share.auto.offset.reset"),
        ("earliest".into(), 8)
    );
    let empty = describe(&mut conn, GROUP, "", None, false).await;
    assert_eq!(
        (empty.error_code, empty.error_message.unwrap().as_str()),
        (INVALID_REQUEST, "Group name must not be empty")
    );
    node.shutdown().await;
}
