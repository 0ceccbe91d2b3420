"""Log compaction with real clients: confluent-kafka writes 100,000 keyed records over 10,000
keys (updates and deletes) to a compacted topic with small segments; once the broker's
cleaner ran, a new consumer reads exactly the latest record per key, and kafka-python and
kcat read the compacted topic with its offset gaps."""

from __future__ import annotations

import random
import subprocess
import time

from adminhttp import get_json
from clients import ck_consume, create_topic, kp_consume, produce_all, producer
from confluent_kafka import Consumer, TopicPartition

KEYS = 10_000
RECORDS = 100_000


def high_watermark(bootstrap: str, topic: str) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "wm"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        c.close()


def read_all(bootstrap: str, topic: str):
    """Every record up to the high watermark with confluent-kafka (a new consumer)."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
        c.assign([TopicPartition(topic, 0, 0)])
        out, last = [], -1
        deadline = time.monotonic() + 60
        while last < high - 1:
            assert time.monotonic() < deadline, f"read up to {last} of {high}"
            for m in c.consume(num_messages=1000, timeout=0.5):
                assert m.error() is None, m.error()
                assert m.offset() > last
                last = m.offset()
                out.append((m.offset(), m.key(), m.value()))
        return out
    finally:
        c.close()


def test_compacted_topic_keeps_latest_per_key_for_every_client(start_broker, topic_name, kcat):
    broker = start_broker(log_cleaner_backoff_ms=100)
    create_topic(
        broker.bootstrap,
        topic_name,
        config={
            "cleanup.policy": "compact",
            "internal.segment.bytes": "262144",
            "min.cleanable.dirty.ratio": "0.01",
        },
    )
    rng = random.Random(22)
    expected: dict[bytes, bytes | None] = {}
    msgs = []
    for i in range(RECORDS):
        key = f"key-{rng.randrange(KEYS):05}".encode()
        value = None if rng.random() < 0.1 else f"value-{i}-{'x' * 40}".encode()
        msgs.append({"key": key, "value": value})
        expected[key] = value
    produce_all(producer(broker.bootstrap, **{"linger.ms": 20}), topic_name, msgs)
    # A large record rolls the segment, so nearly everything is below the cleaner point.
    produce_all(producer(broker.bootstrap), topic_name, [{"key": b"sentinel", "value": b"s" * 300_000}])
    expected[b"sentinel"] = b"s" * 300_000

    deadline = time.monotonic() + 120
    while True:
        recs = read_all(broker.bootstrap, topic_name)
        if len(recs) <= len(expected) + 10:
            break
        assert time.monotonic() < deadline, f"still {len(recs)} records for {len(expected)} keys"
        time.sleep(1)

    latest = {}
    for _, k, v in recs:
        latest[k] = v
    assert latest == expected
    offsets = [o for o, _, _ in recs]
    assert offsets == sorted(set(offsets))
    assert any(b > a + 1 for a, b in zip(offsets, offsets[1:])), "no offset gaps"

    # confluent-kafka's helper and kafka-python read the same records across the gaps.
    ck = ck_consume(broker.bootstrap, topic_name, [0], len(recs))
    assert [(r.offset, r.key, r.value) for r in ck] == recs
    kp = kp_consume(broker.bootstrap, topic_name, [0], len(recs))
    assert [(r.offset, r.key, r.value) for r in kp] == recs

    out = subprocess.run(
        [kcat, "-b", broker.bootstrap, "-C", "-t", topic_name, "-o", "beginning", "-e", "-f", "%o %k\n"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"{o} {k.decode()}" for o, k, _ in recs]

    # The admin API (and the console's topic page) shows the policy and each partition's dirty
    # ratio: once cleaned, most of the log is clean, so the ratio is well under a half.

    detail = get_json(f"{broker.admin_url}/api/v1/topics/{topic_name}")
    assert detail["configs"]["cleanup.policy"] == "compact"
    [part] = detail["partitions"]
    assert part["dirty_ratio"] is not None and 0.0 <= part["dirty_ratio"] < 0.5, part
