"""Topic lifecycles across restarts, LogAppendTime, many partitions, waiting consumers."""

from __future__ import annotations

import signal
import threading
import time

from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, TopicPartition
from confluent_kafka.admin import NewPartitions

from clients import admin, by_partition, ck_consume, ck_consumer, create_topic, produce_all, producer, wait_for_topic


def delete_topic(bootstrap: str, name: str) -> None:
    admin(bootstrap).delete_topics([name], operation_timeout=10)[name].result(timeout=15)
    deadline = time.monotonic() + 10
    while name in admin(bootstrap).list_topics(timeout=10).topics:
        assert time.monotonic() < deadline, "deleted topic still listed"
        time.sleep(0.1)


def test_recreated_topic_starts_empty(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=2)
    produce_all(producer(broker.bootstrap), topic_name, [{"value": b"old", "partition": 0} for _ in range(10)])
    delete_topic(broker.bootstrap, topic_name)
    create_topic(broker.bootstrap, topic_name, partitions=1)
    delivered = produce_all(producer(broker.bootstrap), topic_name, [{"value": b"new"}])
    assert (delivered[0].partition(), delivered[0].offset()) == (0, 0)
    assert [r.value for r in ck_consume(broker.bootstrap, topic_name, [0], 1)] == [b"new"]


def partition_dirs(data_dir, topic: str) -> list[str]:
    """Names of the directories of `topic`'s partitions, renamed ones (`...-delete`) included."""
    return sorted(p.name for p in data_dir.iterdir() if p.is_dir() and p.name.startswith(f"{topic}-"))


def test_deleted_topic_directories_go_in_the_background_and_after_a_crash(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=2)
    produce_all(producer(broker.bootstrap), topic_name, [{"value": b"v" * 1000, "partition": i % 2} for i in range(2000)])
    assert partition_dirs(broker.data_dir, topic_name) == [f"{topic_name}-0", f"{topic_name}-1"]
    delete_topic(broker.bootstrap, topic_name)
    deadline = time.monotonic() + 20
    while partition_dirs(broker.data_dir, topic_name):
        assert time.monotonic() < deadline, partition_dirs(broker.data_dir, topic_name)
        time.sleep(0.1)
    # A crash between the rename and the deletion leaves a renamed directory: the next start
    # deletes it, and a topic of the same name starts empty beside it.
    create_topic(broker.bootstrap, topic_name, partitions=1)
    produce_all(producer(broker.bootstrap), topic_name, [{"value": b"new"}])
    left = broker.data_dir / f"{topic_name}-7.1a2b-delete"
    left.mkdir()
    (left / "00000000000000000000.log").write_bytes(b"x" * (9 << 20))
    broker.restart(signal.SIGKILL)
    deadline = time.monotonic() + 20
    while left.exists():
        assert time.monotonic() < deadline, "the renamed directory was not deleted at start"
        time.sleep(0.1)
    assert [r.value for r in ck_consume(broker.bootstrap, topic_name, [0], 1)] == [b"new"]


def test_deleted_topic_stays_deleted_after_kill9(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=1)
    produce_all(producer(broker.bootstrap), topic_name, [{"value": b"x"}])
    delete_topic(broker.bootstrap, topic_name)
    broker.restart(signal.SIGKILL)
    assert topic_name not in admin(broker.bootstrap).list_topics(timeout=10).topics


def test_added_partitions_and_log_start_survive_restart(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=1)
    admin(broker.bootstrap).create_partitions([NewPartitions(topic_name, 3)])[topic_name].result(timeout=15)
    wait_for_topic(broker.bootstrap, topic_name, 3)
    msgs = [{"value": f"p{p}-{i}".encode(), "partition": p} for p in range(3) for i in range(10)]
    produce_all(producer(broker.bootstrap), topic_name, msgs)
    fs = admin(broker.bootstrap).delete_records([TopicPartition(topic_name, 2, 4)], request_timeout=15)
    assert list(fs.values())[0].result(timeout=15).low_watermark == 4

    broker.restart(signal.SIGKILL)
    wait_for_topic(broker.bootstrap, topic_name, 3)
    c = ck_consumer(broker.bootstrap)
    try:
        marks = [c.get_watermark_offsets(TopicPartition(topic_name, p), timeout=10) for p in range(3)]
    finally:
        c.close()
    assert marks == [(0, 10), (0, 10), (4, 10)]
    got = by_partition(ck_consume(broker.bootstrap, topic_name, [0, 1], 20))
    assert {p: [r.value for r in recs] for p, recs in got.items()} == {
        p: [f"p{p}-{i}".encode() for i in range(10)] for p in (0, 1)
    }


def test_log_append_time_topic(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, config={"message.timestamp.type": "LogAppendTime"})
    before = int(time.time() * 1000)
    delivered = produce_all(
        producer(broker.bootstrap), topic_name, [{"value": b"v%d" % i, "timestamp": 1_000_000_000_000} for i in range(5)]
    )
    after = int(time.time() * 1000)
    for d in delivered:
        ts_type, ts = d.timestamp()
        assert ts_type == TIMESTAMP_LOG_APPEND_TIME and before - 1000 <= ts <= after + 1000, d.timestamp()
    c = ck_consumer(broker.bootstrap)
    try:
        c.assign([TopicPartition(topic_name, 0, 0)])
        seen = []
        deadline = time.monotonic() + 30
        while len(seen) < 5 and time.monotonic() < deadline:
            for m in c.consume(5, timeout=0.5):
                assert m.error() is None, m.error()
                seen.append(m.timestamp())
    finally:
        c.close()
    assert len(seen) == 5
    for ts_type, ts in seen:
        assert ts_type == TIMESTAMP_LOG_APPEND_TIME and before - 1000 <= ts <= after + 1000, (ts_type, ts)


def test_hundred_partitions(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=100)
    msgs = [{"value": f"{p}:{i}".encode(), "partition": p} for i in range(5) for p in range(100)]
    produce_all(producer(broker.bootstrap), topic_name, msgs)
    got = by_partition(ck_consume(broker.bootstrap, topic_name, range(100), 500))
    assert {p: [r.value for r in recs] for p, recs in got.items()} == {
        p: [f"{p}:{i}".encode() for i in range(5)] for p in range(100)
    }


def test_waiting_consumer_gets_new_records_promptly(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    c = ck_consumer(broker.bootstrap, **{"fetch.wait.max.ms": 500})
    got: list[tuple[float, bytes]] = []
    stop = threading.Event()

    def consume():
        c.assign([TopicPartition(topic_name, 0, 0)])
        while not stop.is_set() and len(got) < 3:
            for m in c.consume(10, timeout=0.2):
                if m.error() is None:
                    got.append((time.monotonic(), m.value()))

    t = threading.Thread(target=consume)
    t.start()
    try:
        time.sleep(1.5)  # the consumer is now waiting at the end of an empty log
        p = producer(broker.bootstrap, **{"linger.ms": 0})
        sent_at = []
        for i in range(3):
            sent_at.append(time.monotonic())
            produce_all(p, topic_name, [{"value": b"late%d" % i}])
            time.sleep(0.3)
        t.join(timeout=15)
    finally:
        stop.set()
        t.join(timeout=5)
        c.close()
    assert [v for _, v in got] == [b"late0", b"late1", b"late2"]
    for (recv, _), sent in zip(got, sent_at):
        assert recv - sent < 2.0, f"record arrived {recv - sent:.2f}s after it was sent"
