"""Topic administration with confluent-kafka's AdminClient and kafka-python's KafkaAdminClient."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import ConfigResource, NewPartitions, NewTopic
from kafka.admin import ConfigResource as KpConfigResource
from kafka.admin import ConfigResourceType as KpConfigResourceType
from kafka.admin import KafkaAdminClient
from kafka.admin import NewTopic as KpNewTopic
from kafka.errors import InvalidTopicError, TopicAlreadyExistsError, UnknownTopicOrPartitionError

from clients import admin, create_topic, error_code, wait_for_topic

TOPIC_ALREADY_EXISTS = 36
INVALID_TOPIC_EXCEPTION = 17
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_PARTITIONS = 37

INVALID_NAMES = ["bad name", "a/b", "no*stars", ".", "..", "x" * 250]


def topics(bootstrap: str) -> dict:
    return admin(bootstrap).list_topics(timeout=10).topics


def describe_topic_config(bootstrap: str, name: str) -> dict:
    res = ConfigResource(ConfigResource.Type.TOPIC, name)
    entries = admin(bootstrap).describe_configs([res])[res].result(timeout=15)
    return {k: v.value for k, v in entries.items()}


def test_create_describe_delete_confluent(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=3, config={"retention.ms": "123456"})
    md = topics(broker.bootstrap)[topic_name]
    assert sorted(md.partitions) == [0, 1, 2]
    for p in md.partitions.values():
        assert p.leader == 1 and list(p.replicas) == [1] and list(p.isrs) == [1]

    configs = describe_topic_config(broker.bootstrap, topic_name)
    assert configs["retention.ms"] == "123456"
    assert configs["cleanup.policy"] == "delete"

    fs = admin(broker.bootstrap).delete_topics([topic_name], operation_timeout=10)
    fs[topic_name].result(timeout=15)
    deadline = time.monotonic() + 10
    while topic_name in topics(broker.bootstrap):
        assert time.monotonic() < deadline, "deleted topic still listed"
        time.sleep(0.1)


def test_create_existing_topic_is_topic_already_exists(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=2)
    fs = admin(broker.bootstrap).create_topics([NewTopic(topic_name, 2, 1)])
    with pytest.raises(KafkaException) as e:
        fs[topic_name].result(timeout=15)
    assert error_code(e.value) == TOPIC_ALREADY_EXISTS


@pytest.mark.parametrize("name", INVALID_NAMES, ids=lambda n: repr(n[:12]))
def test_create_invalid_name_is_invalid_topic(broker, name):
    fs = admin(broker.bootstrap).create_topics([NewTopic(name, 1, 1)])
    with pytest.raises(KafkaException) as e:
        fs[name].result(timeout=15)
    assert error_code(e.value) == INVALID_TOPIC_EXCEPTION
    assert name not in topics(broker.bootstrap)


def test_validate_only_creates_nothing(broker, topic_name):
    fs = admin(broker.bootstrap).create_topics([NewTopic(topic_name, 4, 1)], validate_only=True)
    assert fs[topic_name].result(timeout=15) is None
    assert topic_name not in topics(broker.bootstrap)
    # validate_only still reports the errors a real create would.
    fs = admin(broker.bootstrap).create_topics([NewTopic("bad name", 1, 1)], validate_only=True)
    with pytest.raises(KafkaException) as e:
        fs["bad name"].result(timeout=15)
    assert error_code(e.value) == INVALID_TOPIC_EXCEPTION


def test_create_partitions(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=2)
    fs = admin(broker.bootstrap).create_partitions([NewPartitions(topic_name, 5)])
    fs[topic_name].result(timeout=15)
    wait_for_topic(broker.bootstrap, topic_name, 5)
    # Shrinking is refused with INVALID_PARTITIONS.
    fs = admin(broker.bootstrap).create_partitions([NewPartitions(topic_name, 3)])
    with pytest.raises(KafkaException) as e:
        fs[topic_name].result(timeout=15)
    assert error_code(e.value) == INVALID_PARTITIONS
    wait_for_topic(broker.bootstrap, topic_name, 5)


def test_delete_unknown_topic_is_unknown_topic(broker, topic_name):
    fs = admin(broker.bootstrap).delete_topics([topic_name], operation_timeout=10)
    with pytest.raises(KafkaException) as e:
        fs[topic_name].result(timeout=15)
    assert error_code(e.value) == UNKNOWN_TOPIC_OR_PARTITION


def test_alter_configs_incremental(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry

    res = ConfigResource(
        ConfigResource.Type.TOPIC,
        topic_name,
        incremental_configs=[
            ConfigEntry("retention.ms", "7777", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    admin(broker.bootstrap).incremental_alter_configs([res])[res].result(timeout=15)
    assert describe_topic_config(broker.bootstrap, topic_name)["retention.ms"] == "7777"


def test_kafka_python_admin(broker, topic_name):
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=15000)
    try:
        a.create_topics(
            [KpNewTopic(topic_name, 3, 1, topic_configs={"retention.ms": "654321"})],
            timeout_ms=10000,
        )
        assert topic_name in a.list_topics()
        desc = a.describe_topics([topic_name])
        assert len(desc) == 1 and desc[0]["error_code"] == 0
        assert sorted(p["partition"] for p in desc[0]["partitions"]) == [0, 1, 2]

        configs = a.describe_configs([KpConfigResource(KpConfigResourceType.TOPIC, topic_name)])
        resources = configs[0].resources
        assert len(resources) == 1
        err, _msg, _type, name, entries = resources[0][:5]
        assert (err, name) == (0, topic_name)
        values = {e[0]: e[1] for e in entries}
        assert values["retention.ms"] == "654321"

        with pytest.raises(TopicAlreadyExistsError):
            a.create_topics([KpNewTopic(topic_name, 3, 1)], timeout_ms=10000)
        with pytest.raises(InvalidTopicError):
            a.create_topics([KpNewTopic("bad name", 1, 1)], timeout_ms=10000)

        a.delete_topics([topic_name], timeout_ms=10000)
        deadline = time.monotonic() + 10
        while topic_name in a.list_topics():
            assert time.monotonic() < deadline, "deleted topic still listed"
            time.sleep(0.1)
        with pytest.raises(UnknownTopicOrPartitionError):
            a.delete_topics([topic_name], timeout_ms=10000)
    finally:
        a.close()


def test_describe_cluster(broker):
    md = admin(broker.bootstrap).describe_cluster(request_timeout=15).result(timeout=15)
    assert [n.id for n in md.nodes] == [1]
    assert (md.nodes[0].host, md.nodes[0].port) == ("127.0.0.1", broker.port)
    assert md.controller.id == 1
    assert md.cluster_id


def test_describe_topics_and_admin_list_offsets(broker, topic_name):
    from confluent_kafka import TopicCollection, TopicPartition
    from confluent_kafka.admin import OffsetSpec

    from clients import produce_all, producer

    create_topic(broker.bootstrap, topic_name, partitions=2)
    desc = admin(broker.bootstrap).describe_topics(TopicCollection([topic_name]))[topic_name].result(timeout=15)
    assert desc.name == topic_name and not desc.is_internal
    assert str(desc.topic_id) not in ("", "AAAAAAAAAAAAAAAAAAAAAA"), "a topic id is expected"
    assert [p.id for p in desc.partitions] == [0, 1]
    assert all(p.leader.id == 1 and [r.id for r in p.replicas] == [1] for p in desc.partitions)

    base = 1_720_000_000_000
    stamps = [base + 5, base + 50, base + 20, base + 1]  # the maximum is at offset 1
    produce_all(producer(broker.bootstrap), topic_name, [{"value": b"x", "partition": 0, "timestamp": t} for t in stamps])
    tp = TopicPartition(topic_name, 0)
    for spec, want in [
        (OffsetSpec.earliest(), 0),
        (OffsetSpec.latest(), 4),
        (OffsetSpec.for_timestamp(base + 10), 1),
        (OffsetSpec.max_timestamp(), 1),
    ]:
        res = admin(broker.bootstrap).list_offsets({tp: spec}, request_timeout=15)[tp].result(timeout=15)
        assert res.offset == want, (spec, res.offset)
