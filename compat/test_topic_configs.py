"""Kafka 4.1 topic configs through confluent-kafka's AdminClient, and the produce rules they
switch on: a compacted topic refuses keyless records (INVALID_RECORD), a topic with
compression.type=lz4 stores and serves what librdkafka writes."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource

from clients import admin, ck_consume, create_topic, error_code, produce_all, producer

INVALID_CONFIG = 40
INVALID_RECORD = 87

CONFIGS = {
    "cleanup.policy": "compact",
    "compression.type": "lz4",
    "min.cleanable.dirty.ratio": "0.2",
    "segment.bytes": "2097152",
    "delete.retention.ms": "1000",
    "max.compaction.lag.ms": "600000",
    "message.timestamp.after.max.ms": "7200000",
    "preallocate": "true",
}


def describe(bootstrap: str, name: str) -> dict:
    res = ConfigResource(ConfigResource.Type.TOPIC, name)
    return admin(bootstrap).describe_configs([res])[res].result(timeout=15)


def test_create_with_kafka_topic_configs_and_describe_them(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, config=CONFIGS)
    entries = describe(broker.bootstrap, topic_name)
    for k, v in CONFIGS.items():
        assert entries[k].value == v, k
        assert entries[k].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value, k
        assert not entries[k].is_default, k
    # Defaults are shown too, with Kafka 4's values.
    assert entries["retention.ms"].value == "604800000" and entries["retention.ms"].is_default
    assert entries["compression.zstd.level"].value == "3"
    assert entries["remote.storage.enable"].value == "false"
    assert entries["message.timestamp.before.max.ms"].value == "9223372036854775807"


def test_bad_topic_configs_get_invalid_config_with_kafkas_message(broker, topic_name):
    from confluent_kafka.admin import NewTopic

    bad = {"cleanup.policy": "compact,forever"}
    fs = admin(broker.bootstrap).create_topics([NewTopic(topic_name, 1, 1, config=bad)], request_timeout=15)
    with pytest.raises(KafkaException) as e:
        fs[topic_name].result(timeout=15)
    assert error_code(e.value) == INVALID_CONFIG
    assert "Invalid value forever for configuration cleanup.policy: String must be one of: compact, delete" in str(
        e.value
    )

    create_topic(broker.bootstrap, topic_name)
    res = ConfigResource(
        ConfigResource.Type.TOPIC,
        topic_name,
        incremental_configs=[ConfigEntry("segment.bytes", "1024", incremental_operation=AlterConfigOpType.SET)],
    )
    with pytest.raises(KafkaException) as e:
        admin(broker.bootstrap).incremental_alter_configs([res])[res].result(timeout=15)
    assert error_code(e.value) == INVALID_CONFIG
    assert "Value must be at least 1048576" in str(e.value)


def test_keyless_produce_to_a_compacted_topic_gets_invalid_record(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, config={"cleanup.policy": "compact"})
    p = producer(broker.bootstrap, **{"retries": 0})
    errors: list = []
    p.produce(topic_name, value=b"no key", on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(30) == 0
    assert len(errors) == 1 and errors[0] is not None
    assert errors[0].code() == KafkaError.INVALID_RECORD
    # Keyed records and tombstones go in.
    msgs = [{"key": b"a", "value": b"1"}, {"key": b"b", "value": b"2"}, {"key": b"a", "value": None}]
    produce_all(producer(broker.bootstrap), topic_name, msgs)
    got = ck_consume(broker.bootstrap, topic_name, [0], 3)
    assert [(r.key, r.value) for r in got] == [(b"a", b"1"), (b"b", b"2"), (b"a", None)]


@pytest.mark.parametrize("client_codec", ["none", "gzip", "lz4"])
def test_produce_and_consume_on_an_lz4_topic(broker, topic_name, client_codec):
    create_topic(broker.bootstrap, topic_name, config={"compression.type": "lz4"})
    msgs = [
        {"key": f"k{i}".encode(), "value": (f"value {i} " * 20).encode(), "headers": [("h", b"x")]}
        for i in range(500)
    ]
    p = producer(broker.bootstrap, **{"compression.type": client_codec, "linger.ms": 20})
    produce_all(p, topic_name, msgs)
    got = ck_consume(broker.bootstrap, topic_name, [0], len(msgs))
    assert [(r.offset, r.key, r.value, r.headers) for r in got] == [
        (i, m["key"], m["value"], (("h", b"x"),)) for i, m in enumerate(msgs)
    ]


def test_dynamic_broker_defaults_reach_topics_and_keyless_records_are_refused(broker, topic_name):
    """A cluster-wide dynamic log.cleanup.policy=compact (AlterConfigs on the BROKER resource "",
    from kafka-python: confluent-kafka refuses an empty resource name) becomes the topic's
    cleanup.policy, shown as DYNAMIC_DEFAULT_BROKER_CONFIG, and the partition acts on it; this
    broker's own value (IncrementalAlterConfigs from confluent-kafka) wins over it."""
    from kafka.admin import ConfigResource as KpConfigResource
    from kafka.admin import ConfigResourceType as KpConfigResourceType
    from kafka.admin import KafkaAdminClient

    create_topic(broker.bootstrap, topic_name)
    kp = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=15000)
    try:
        resp = kp.alter_configs(
            [KpConfigResource(KpConfigResourceType.BROKER, "", configs={"log.cleanup.policy": "compact"})]
        )
        assert [r[0] for r in resp.resources] == [0], resp
    finally:
        kp.close()
    policy = describe(broker.bootstrap, topic_name)["cleanup.policy"]
    assert (policy.value, policy.source) == ("compact", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)
    p = producer(broker.bootstrap, **{"retries": 0})
    errors: list = []
    p.produce(topic_name, value=b"no key", on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(30) == 0
    assert [e.code() for e in errors] == [KafkaError.INVALID_RECORD]

    a = admin(broker.bootstrap)

    def alter_broker(key: str, value: str | None, op: AlterConfigOpType):
        res = ConfigResource(
            ConfigResource.Type.BROKER, "1", incremental_configs=[ConfigEntry(key, value, incremental_operation=op)]
        )
        a.incremental_alter_configs([res])[res].result(timeout=15)

    alter_broker("log.cleanup.policy", "delete", AlterConfigOpType.SET)
    policy = describe(broker.bootstrap, topic_name)["cleanup.policy"]
    assert (policy.value, policy.source) == ("delete", ConfigSource.DYNAMIC_BROKER_CONFIG.value)
    alter_broker("log.cleanup.policy", None, AlterConfigOpType.DELETE)
    policy = describe(broker.bootstrap, topic_name)["cleanup.policy"]
    assert (policy.value, policy.source) == ("compact", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)

    # Kafka's refusal of a key it cannot change while running.
    with pytest.raises(KafkaException) as e:
        alter_broker("num.partitions", "3", AlterConfigOpType.SET)
    assert error_code(e.value) == 42
    assert "Cannot update these configs dynamically: [num.partitions]" in str(e.value)
