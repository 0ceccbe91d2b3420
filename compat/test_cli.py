"""The `rill` command-line tools (`rill topics|produce|consume|groups`) checked by clients
written by others: confluent-kafka (librdkafka) and kafka-python read what the CLI wrote, and
their partitioners (librdkafka's murmur2_random, kafka-python's DefaultPartitioner) agree with
the partition `rill produce` chose for each key.
"""

from __future__ import annotations

import json
import os
import subprocess

from confluent_kafka.admin import ConfigResource
from kafka import KafkaConsumer, TopicPartition as KpTopicPartition
from kafka.partitioner.default import DefaultPartitioner

from clients import admin, by_partition, ck_consume, produce_all, producer
from rillkit import rill_bin

PARTITIONS = 5
KEYS = [f"cli-user-{i}".encode() for i in range(60)] + [b"a", b"21", "ключ".encode()]


def rill(broker, *args: str, stdin: bytes = b"") -> bytes:
    env = dict(os.environ, RILL_BROKERS=broker.bootstrap)
    out = subprocess.run([str(rill_bin()), *args], input=stdin, capture_output=True, env=env, timeout=60)
    assert out.returncode == 0, f"rill {args}: {out.returncode}\n{out.stderr.decode(errors='replace')}"
    return out.stdout


def test_cli_keys_land_where_librdkafka_and_kafka_python_put_them(broker, topic_name):
    rill(broker, "topics", "create", topic_name, "--partitions", str(PARTITIONS))
    lines = b"".join(k + b"\x01" + str(i).encode() + b"\n" for i, k in enumerate(KEYS))
    rill(broker, "produce", topic_name, "--key-separator", "\x01", stdin=lines)

    got = {r.key: r.partition for r in ck_consume(broker.bootstrap, topic_name, range(PARTITIONS), len(KEYS))}
    parts = list(range(PARTITIONS))
    expected_kp = {k: DefaultPartitioner()(k, parts, parts) for k in KEYS}
    ck_topic = topic_name + "-ck"
    rill(broker, "topics", "create", ck_topic, "--partitions", str(PARTITIONS))
    delivered = produce_all(
        producer(broker.bootstrap, partitioner="murmur2_random"), ck_topic, [{"key": k, "value": b"x"} for k in KEYS]
    )
    expected_ck = {k: d.partition() for k, d in zip(KEYS, delivered)}
    assert got == expected_kp == expected_ck
    assert len(set(got.values())) == PARTITIONS


def test_cli_topics_are_seen_by_confluent_admin(broker, topic_name):
    rill(broker, "topics", "create", topic_name, "-p", "3", "-c", "retention.ms=3600000")
    md = admin(broker.bootstrap).list_topics(timeout=30)
    assert len(md.topics[topic_name].partitions) == 3
    res = ConfigResource(ConfigResource.Type.TOPIC, topic_name)
    configs = admin(broker.bootstrap).describe_configs([res])[res].result(timeout=30)
    assert configs["retention.ms"].value == "3600000"
    rill(broker, "topics", "add-partitions", topic_name, "-p", "4")
    assert len(admin(broker.bootstrap).list_topics(topic_name, timeout=30).topics[topic_name].partitions) == 4
    listed = json.loads(rill(broker, "topics", "list", "-O", "json"))
    assert {"name": topic_name, "partitions": 4, "replication_factor": 1, "internal": False} in listed


def test_cli_group_commits_are_read_by_kafka_python(broker, topic_name):
    rill(broker, "topics", "create", topic_name, "-p", "2")
    rill(broker, "produce", topic_name, "-p", "1", stdin=b"".join(b"v%d\n" % i for i in range(7)))
    out = rill(broker, "consume", topic_name, "-g", "cli-kp", "--from-beginning", "-e", "-O", "json")
    docs = [json.loads(line) for line in out.splitlines()]
    assert [d["value"] for d in docs] == [f"v{i}" for i in range(7)]
    assert {d["partition"] for d in docs} == {1}

    kc = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="cli-kp", enable_auto_commit=False)
    try:
        assert kc.committed(KpTopicPartition(topic_name, 1)) == 7
        assert kc.committed(KpTopicPartition(topic_name, 0)) in (None, 0)
    finally:
        kc.close()

    rill(broker, "groups", "reset-offsets", "cli-kp", "--topic", topic_name, "--to-offset", "3", "--execute")
    kc = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="cli-kp", enable_auto_commit=False)
    try:
        assert kc.committed(KpTopicPartition(topic_name, 1)) == 3
    finally:
        kc.close()
    again = rill(broker, "consume", topic_name, "-g", "cli-kp", "-e")
    assert again.splitlines() == [b"v3", b"v4", b"v5", b"v6"]
    by = by_partition(ck_consume(broker.bootstrap, topic_name, [0, 1], 7))
    assert [r.value for r in by[1]] == [b"v%d" % i for i in range(7)]


def test_cli_reset_offsets_to_timestamp(broker, topic_name):
    rill(broker, "topics", "create", topic_name, "-p", "1")
    base = 1_700_000_000_000
    produce_all(
        producer(broker.bootstrap),
        topic_name,
        [{"value": b"r%d" % i, "partition": 0, "timestamp": base + i * 1000} for i in range(10)],
    )
    to = str(base + 6500)
    doc = json.loads(rill(broker, "groups", "reset-offsets", "ts-group", "--topic", topic_name, "--to-timestamp", to, "-O", "json"))
    assert doc["executed"] is False and doc["offsets"][0]["new_offset"] == 7
    kc = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="ts-group", enable_auto_commit=False)
    try:
        assert kc.committed(KpTopicPartition(topic_name, 0)) is None  # dry run
    finally:
        kc.close()
    rill(broker, "groups", "reset-offsets", "ts-group", "--topic", topic_name, "--to-timestamp", to, "--execute")
    kc = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="ts-group", enable_auto_commit=False)
    try:
        assert kc.committed(KpTopicPartition(topic_name, 0)) == 7
    finally:
        kc.close()
