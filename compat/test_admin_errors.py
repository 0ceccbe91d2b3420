"""Admin requests that must fail, with the error code the Java broker sends."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions, NewTopic

from clients import admin, create_topic, error_code, produce_all, producer

OFFSET_OUT_OF_RANGE = 1
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_PARTITIONS = 37
INVALID_REPLICATION_FACTOR = 38
INVALID_CONFIG = 40


def create_error(bootstrap: str, topic: NewTopic) -> int:
    fs = admin(bootstrap).create_topics([topic], operation_timeout=10)
    with pytest.raises(KafkaException) as e:
        fs[topic.topic].result(timeout=15)
    return error_code(e.value)


def test_create_topic_errors(broker, topic_name):
    b = broker.bootstrap
    assert create_error(b, NewTopic(topic_name, 1, 3)) == INVALID_REPLICATION_FACTOR
    assert create_error(b, NewTopic(topic_name, 0, 1)) == INVALID_PARTITIONS
    assert create_error(b, NewTopic(topic_name, 1, 1, config={"retention.ms": "soon"})) == INVALID_CONFIG
    assert create_error(b, NewTopic(topic_name, 1, 1, config={"no.such.config": "1"})) == INVALID_CONFIG
    assert topic_name not in admin(b).list_topics(timeout=10).topics


def test_create_topic_with_broker_default_partitions(start_broker, topic_name):
    b = start_broker(**{"num.partitions": 4})
    fs = admin(b.bootstrap).create_topics([NewTopic(topic_name, -1, -1)], operation_timeout=10)
    fs[topic_name].result(timeout=15)
    md = admin(b.bootstrap).list_topics(topic=topic_name, timeout=10).topics[topic_name]
    assert len(md.partitions) == 4


def test_config_errors(broker, topic_name):
    b = broker.bootstrap
    missing = ConfigResource(ConfigResource.Type.TOPIC, topic_name)
    with pytest.raises(KafkaException) as e:
        admin(b).describe_configs([missing])[missing].result(timeout=15)
    assert error_code(e.value) == UNKNOWN_TOPIC_OR_PARTITION

    create_topic(b, topic_name)
    bad = ConfigResource(
        ConfigResource.Type.TOPIC, topic_name,
        incremental_configs=[ConfigEntry("retention.ms", "never", incremental_operation=AlterConfigOpType.SET)],
    )
    with pytest.raises(KafkaException) as e:
        admin(b).incremental_alter_configs([bad])[bad].result(timeout=15)
    assert error_code(e.value) == INVALID_CONFIG

    # SET then DELETE goes back to the default (retention.ms 604800000 = 7 days).
    for op, value in [(AlterConfigOpType.SET, "1234"), (AlterConfigOpType.DELETE, None)]:
        res = ConfigResource(
            ConfigResource.Type.TOPIC, topic_name,
            incremental_configs=[ConfigEntry("retention.ms", value, incremental_operation=op)],
        )
        admin(b).incremental_alter_configs([res])[res].result(timeout=15)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic_name)
    entries = admin(b).describe_configs([res])[res].result(timeout=15)
    assert entries["retention.ms"].value == "604800000"
    assert entries["retention.ms"].is_default


def test_partition_and_records_errors(broker, topic_name):
    b = broker.bootstrap
    fs = admin(b).create_partitions([NewPartitions(topic_name, 3)])
    with pytest.raises(KafkaException) as e:
        fs[topic_name].result(timeout=15)
    assert error_code(e.value) == UNKNOWN_TOPIC_OR_PARTITION

    create_topic(b, topic_name, partitions=2)
    fs = admin(b).create_partitions([NewPartitions(topic_name, 2)])
    with pytest.raises(KafkaException) as e:
        fs[topic_name].result(timeout=15)
    assert error_code(e.value) == INVALID_PARTITIONS

    produce_all(producer(b), topic_name, [{"value": b"v", "partition": 0} for _ in range(5)])
    fs = admin(b).delete_records([TopicPartition(topic_name, 0, 6)], request_timeout=15)
    with pytest.raises(KafkaException) as e:
        list(fs.values())[0].result(timeout=15)
    assert error_code(e.value) == OFFSET_OUT_OF_RANGE
