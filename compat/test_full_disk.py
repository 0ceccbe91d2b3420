"""A full disk: the broker answers KAFKA_STORAGE_ERROR for the batch it cannot write, every
acknowledged record stays readable and intact (no torn batch after it), and writes succeed again
once space is freed. The data dir is a small tmpfs the test mounts (the suite runs as root)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from rillkit import RillBroker

VALUE_BYTES = 10_000


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    subprocess.run(
        sudo + ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)],
        check=True,
        timeout=10,
    )
    if sudo:
        subprocess.run(sudo + ["chown", str(os.geteuid()), str(mnt)], check=True, timeout=10)
    yield mnt
    subprocess.run(sudo + ["umount", "-l", str(mnt)], check=False, timeout=10)


def value_of(i: int) -> bytes:
    seed = hashlib.sha256(str(i).encode()).digest()
    return (seed * (VALUE_BYTES // len(seed) + 1))[:VALUE_BYTES]


def test_full_disk_gives_storage_error_and_loses_nothing(tmp_path, small_disk):
    # Space the test frees later: 4 MiB of the 24 MiB disk.
    ballast = small_disk / "ballast"
    ballast.write_bytes(b"\0" * (4 << 20))
    # The broker's own stderr log lives outside the small disk.
    broker = RillBroker(tmp_path / "unused", {"log.dirs": str(small_disk / "data")})
    broker.start()
    try:
        topic = f"full-{uuid.uuid4().hex[:8]}"
        acked: dict[int, int] = {}  # offset -> message number
        errors: list[KafkaError] = []

        def on_delivery(err, msg):
            if err is not None:
                errors.append(err)
            else:
                acked[msg.offset()] = int(msg.key())

        # One message per request (no batching), no retries: every failure is reported as is.
        p = Producer(
            {
                "bootstrap.servers": broker.bootstrap,
                "acks": "1",
                "linger.ms": 0,
                "retries": 0,
                "enable.idempotence": False,
                "max.in.flight.requests.per.connection": 1,
                "message.timeout.ms": 10000,
            }
        )
        sent = 0
        while not errors and sent < 4000:  # 40 MB offered to a 24 MiB disk
            p.produce(topic, key=str(sent), value=value_of(sent), on_delivery=on_delivery)
            sent += 1
            p.flush(10)
        assert errors, f"{sent} messages of {VALUE_BYTES} B all fit a 24 MiB disk"
        assert errors[0].code() == KafkaError.KAFKA_STORAGE_ERROR, errors[0]
        n = len(acked)
        print(f"disk full after {n} acknowledged messages: {errors[0]}")
        assert n > 500, f"only {n} messages before the disk was full"
        assert sorted(acked) == list(range(n))
        assert broker.alive()

        # Every acknowledged record is there, intact (librdkafka checks CRCs), nothing else.
        c = Consumer(
            {
                "bootstrap.servers": broker.bootstrap,
                "group.id": f"g-{uuid.uuid4().hex[:6]}",
                "enable.auto.commit": False,
                "check.crcs": True,
            }
        )
        c.assign([TopicPartition(topic, 0, 0)])
        read: dict[int, bytes] = {}
        for _ in range(200):
            for m in c.consume(500, timeout=0.5):
                assert m.error() is None, m.error()
                read[m.offset()] = m.value()
                assert m.value() == value_of(acked[m.offset()]), f"offset {m.offset()} differs"
            if len(read) >= n:
                break
        c.close()
        assert sorted(read) == list(range(n)), f"read {len(read)} of {n}"

        # Space freed: the next write succeeds right after the last acknowledged one.
        ballast.unlink()
        errors.clear()
        p.produce(topic, key=str(sent), value=value_of(sent), on_delivery=on_delivery)
        p.flush(10)
        assert not errors, errors
        assert acked.get(n) == sent, f"after freeing space: {acked.get(n)} at offset {n}"
    finally:
        broker.close()
