"""Keyed records with headers and timestamps round-trip byte-exact, in per-partition order."""

from __future__ import annotations

import random

from clients import Rec, by_partition, ck_consume, create_topic, kp_consume, produce_all, producer

N = 10_000
PARTITIONS = 4
BASE_TS = 1_700_000_000_000


def make_messages(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    msgs = []
    for i in range(n):
        size = rng.choice([0, 1, 17, 100, 1000, 4000])
        headers = [("idx", str(i).encode()), ("bin", rng.randbytes(rng.randint(0, 20)))]
        if i % 7 == 0:
            headers.append(("null", None))
        if i % 11 == 0:
            headers.append(("idx", b"duplicate header key"))
        msgs.append(
            {
                "key": f"key-{i % 97}".encode() if i % 13 else None,
                "value": rng.randbytes(size) if i % 29 else None,
                "headers": headers,
                "timestamp": BASE_TS + i * 3,
            }
        )
    return msgs


def expected_records(msgs: list[dict], delivered: list) -> list[Rec]:
    return [
        Rec(d.partition(), d.offset(), m["key"], m["value"], tuple(m["headers"]), m["timestamp"])
        for m, d in zip(msgs, delivered)
    ]


def test_10k_keyed_records_with_headers_byte_exact(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=PARTITIONS)
    msgs = make_messages(N, seed=1)
    delivered = produce_all(producer(broker.bootstrap, acks="all"), topic_name, msgs)

    # Acknowledged offsets are dense per partition, in send order.
    expected = by_partition(expected_records(msgs, delivered))
    assert sorted(expected) == list(range(PARTITIONS)), "keys should spread over all partitions"
    for p, recs in expected.items():
        assert [r.offset for r in recs] == list(range(len(recs))), f"partition {p} offsets"

    got = by_partition(ck_consume(broker.bootstrap, topic_name, range(PARTITIONS), N))
    for p in range(PARTITIONS):
        assert len(got[p]) == len(expected[p]), f"partition {p} count"
        for g, e in zip(got[p], expected[p]):
            assert g == e, f"partition {p} offset {e.offset}"


def test_kafka_python_reads_confluent_records(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=2)
    msgs = [m for m in make_messages(500, seed=2)]
    # kafka-python returns headers as a list of (str, bytes); null header values stay None.
    delivered = produce_all(producer(broker.bootstrap, acks=1), topic_name, msgs)
    expected = by_partition(expected_records(msgs, delivered))
    got = by_partition(kp_consume(broker.bootstrap, topic_name, range(2), len(msgs)))
    assert got == expected


def test_acks_zero_records_arrive(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=1)
    msgs = [{"key": b"k", "value": f"v{i}".encode()} for i in range(200)]
    produce_all(producer(broker.bootstrap, acks=0), topic_name, msgs)
    got = ck_consume(broker.bootstrap, topic_name, [0], len(msgs))
    assert [(r.offset, r.value) for r in got] == [(i, f"v{i}".encode()) for i in range(200)]


def test_auto_create_on_produce_uses_num_partitions(start_broker, topic_name):
    b = start_broker(**{"num.partitions": 3})
    msgs = [{"key": f"k{i}".encode(), "value": b"x"} for i in range(30)]
    delivered = produce_all(producer(b.bootstrap), topic_name, msgs)
    assert {d.partition() for d in delivered} <= {0, 1, 2}
    got = ck_consume(b.bootstrap, topic_name, range(3), 30)
    assert len(got) == 30


def test_concurrent_producers_one_partition(broker, topic_name):
    import threading

    create_topic(broker.bootstrap, topic_name, partitions=1)
    results: dict[int, list] = {}

    def run(w: int):
        msgs = [{"value": b"w%d-%d" % (w, i)} for i in range(1000)]
        results[w] = produce_all(producer(broker.bootstrap, **{"linger.ms": 1}), topic_name, msgs)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == list(range(6))
    offsets = sorted(d.offset() for ds in results.values() for d in ds)
    assert offsets == list(range(6000)), "acknowledged offsets must be unique and dense"
    got = ck_consume(broker.bootstrap, topic_name, [0], 6000)
    by_offset = {r.offset: r.value for r in got}
    for w, ds in results.items():
        assert [by_offset[d.offset()] for d in ds] == [b"w%d-%d" % (w, i) for i in range(1000)]
