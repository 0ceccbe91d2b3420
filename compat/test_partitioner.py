"""Key routing: the same key always lands in the same partition, the one murmur2 picks.

librdkafka's `murmur2_random` partitioner and kafka-python's DefaultPartitioner both implement
Java's `murmur2(key) & 0x7fffffff % partitions`; the broker must report the partition count they
rely on and store each record in the partition the producer chose.
"""

from __future__ import annotations

from kafka import KafkaProducer
from kafka.partitioner.default import DefaultPartitioner

from clients import by_partition, ck_consume, create_topic, produce_all, producer

PARTITIONS = 6
KEYS = [f"user-{i}".encode() for i in range(50)] + [b"\x00\xff", "ключ".encode()]


def test_murmur2_routing_matches_kafka_python(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=PARTITIONS)
    p = producer(broker.bootstrap, partitioner="murmur2_random")
    rounds = 3
    msgs = [{"key": k, "value": f"{r}".encode()} for r in range(rounds) for k in KEYS]
    delivered = produce_all(p, topic_name, msgs)

    expected = {k: DefaultPartitioner()(k, list(range(PARTITIONS)), list(range(PARTITIONS))) for k in KEYS}
    chosen: dict[bytes, set[int]] = {}
    for m, d in zip(msgs, delivered):
        chosen.setdefault(m["key"], set()).add(d.partition())
    assert chosen == {k: {v} for k, v in expected.items()}
    assert len(set(expected.values())) > 1

    # kafka-python's producer agrees, and every record is stored where it was acknowledged.
    kp = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    try:
        kp_parts = {k: kp.send(topic_name, key=k, value=b"kp").get(timeout=30).partition for k in KEYS}
    finally:
        kp.close(timeout=10)
    assert kp_parts == expected

    total = len(msgs) + len(KEYS)
    stored = by_partition(ck_consume(broker.bootstrap, topic_name, range(PARTITIONS), total))
    for part, recs in stored.items():
        for r in recs:
            assert expected[r.key] == part, f"key {r.key!r} stored in partition {part}"
