"""All four codecs, written by one client library and read back by the other."""

from __future__ import annotations

import pytest
from kafka import KafkaProducer

from clients import Rec, ck_consume, create_topic, kp_consume, produce_all, producer

CODECS = ["gzip", "snappy", "lz4", "zstd"]
N = 300


def payload(i: int) -> bytes:
    # Compressible but not trivial: repeated text with a varying counter.
    return (f"record {i:05d} " * (i % 40 + 1)).encode()


@pytest.mark.parametrize("codec", CODECS)
def test_confluent_compressed_read_by_kafka_python(broker, topic_name, codec):
    create_topic(broker.bootstrap, topic_name, partitions=1)
    msgs = [
        {"key": f"k{i}".encode(), "value": payload(i), "headers": [("c", codec.encode())], "timestamp": 1_600_000_000_000 + i}
        for i in range(N)
    ]
    p = producer(broker.bootstrap, **{"compression.type": codec, "linger.ms": 50, "batch.num.messages": 100})
    produce_all(p, topic_name, msgs)
    got = kp_consume(broker.bootstrap, topic_name, [0], N)
    assert got == [
        Rec(0, i, m["key"], m["value"], (("c", codec.encode()),), m["timestamp"]) for i, m in enumerate(msgs)
    ]


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_python_compressed_read_by_confluent(broker, topic_name, codec):
    create_topic(broker.bootstrap, topic_name, partitions=1)
    p = KafkaProducer(
        bootstrap_servers=broker.bootstrap,
        acks="all",
        compression_type=codec,
        linger_ms=50,
        batch_size=64 * 1024,
    )
    try:
        futures = [
            p.send(
                topic_name,
                key=f"k{i}".encode(),
                value=payload(i),
                headers=[("c", codec.encode())],
                partition=0,
                timestamp_ms=1_600_000_000_000 + i,
            )
            for i in range(N)
        ]
        p.flush(timeout=30)
        offsets = [f.get(timeout=30).offset for f in futures]
    finally:
        p.close(timeout=10)
    assert offsets == list(range(N))
    got = ck_consume(broker.bootstrap, topic_name, [0], N)
    assert got == [
        Rec(0, i, f"k{i}".encode(), payload(i), (("c", codec.encode()),), 1_600_000_000_000 + i)
        for i in range(N)
    ]
