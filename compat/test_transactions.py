"""Transactions (KIP-98) with real clients: confluent-kafka's transactional producer against
`rill serve`, read back by read_committed consumers (confluent-kafka, kafka-python, kcat).

Each test checks what a read_committed consumer sees: every record of a committed
transaction once, in order, and none of an aborted one; read_uncommitted sees both.
"""

from __future__ import annotations

import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from kafka import KafkaConsumer
from kafka import TopicPartition as KpTopicPartition

from clients import create_topic


def txn_producer(bootstrap: str, txn_id: str | None = None, **conf) -> Producer:
    settings = {
        "bootstrap.servers": bootstrap,
        "transactional.id": txn_id or f"txn-{uuid.uuid4().hex[:8]}",
        "linger.ms": 5,
    }
    settings.update(conf)
    return Producer(settings)


def read_all(bootstrap: str, topic: str, partitions: int, isolation: str, expect: int | None = None, idle: float = 3.0) -> list[tuple[int, bytes]]:
    """(partition, value) of every record from the start, by partition then offset."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"g-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": isolation,
        }
    )
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got: list[tuple[int, int, bytes]] = []
    deadline = time.monotonic() + 30
    last = time.monotonic()
    while time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None:
            if time.monotonic() - last > idle and (expect is None or len(got) >= expect):
                break
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                continue
            raise KafkaException(m.error())
        got.append((m.partition(), m.offset(), m.value()))
        last = time.monotonic()
    c.close()
    got.sort()
    return [(p, v) for p, _, v in got]


def values(recs: list[tuple[int, bytes]]) -> list[bytes]:
    return [v for _, v in recs]


def produce_txn(p: Producer, topic: str, prefix: str, n: int, partitions: int, commit: bool) -> None:
    p.begin_transaction()
    for i in range(n):
        p.produce(topic, value=f"{prefix}-{i}".encode(), partition=i % partitions)
    if commit:
        p.commit_transaction(30)
    else:
        p.flush(30)
        p.abort_transaction(30)


def expected(prefix: str, n: int, partitions: int) -> list[tuple[int, bytes]]:
    return [(i % partitions, f"{prefix}-{i}".encode()) for i in range(n)]


def by_partition_order(recs: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """Stable sort by partition (order inside a partition kept)."""
    return sorted(recs, key=lambda r: r[0])


def test_commit_abort_and_read_committed(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=2)
    p = txn_producer(broker.bootstrap)
    p.init_transactions(30)
    produce_txn(p, topic_name, "a", 100, 2, commit=True)
    produce_txn(p, topic_name, "b", 100, 2, commit=False)
    produce_txn(p, topic_name, "c", 50, 2, commit=True)
    want = by_partition_order(expected("a", 100, 2) + expected("c", 50, 2))
    committed = read_all(broker.bootstrap, topic_name, 2, "read_committed", expect=150)
    assert committed == want
    everything = read_all(broker.bootstrap, topic_name, 2, "read_uncommitted", expect=250)
    assert sorted(values(everything)) == sorted(
        values(expected("a", 100, 2) + expected("b", 100, 2) + expected("c", 50, 2))
    )


def test_kafka_python_and_kcat_read_committed(broker, topic_name, kcat):
    create_topic(broker.bootstrap, topic_name, partitions=1)
    p = txn_producer(broker.bootstrap)
    p.init_transactions(30)
    produce_txn(p, topic_name, "keep", 20, 1, commit=True)
    produce_txn(p, topic_name, "drop", 20, 1, commit=False)
    produce_txn(p, topic_name, "keep2", 5, 1, commit=True)
    want = [f"keep-{i}" for i in range(20)] + [f"keep2-{i}" for i in range(5)]

    kc = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        isolation_level="read_committed",
        enable_auto_commit=False,
        consumer_timeout_ms=4000,
    )
    tp = KpTopicPartition(topic_name, 0)
    kc.assign([tp])
    kc.seek_to_beginning(tp)
    got = [m.value.decode() for m in kc]
    kc.close()
    assert got == want

    out = subprocess.run(
        [kcat, "-C", "-b", broker.bootstrap, "-t", topic_name, "-p", "0", "-o", "beginning", "-e",
         "-X", "isolation.level=read_committed", "-f", "%s\\n"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == want


def test_second_producer_fences_the_first(broker, topic_name):
    """Two producers with one transactional id: InitProducerId of the second bumps the epoch
    and aborts the first's open transaction; the first is fenced."""
    create_topic(broker.bootstrap, topic_name, partitions=1)
    txn_id = f"fence-{uuid.uuid4().hex[:8]}"
    first = txn_producer(broker.bootstrap, txn_id)
    first.init_transactions(30)
    first.begin_transaction()
    for i in range(10):
        first.produce(topic_name, value=f"zombie-{i}".encode())
    first.flush(30)

    second = txn_producer(broker.bootstrap, txn_id)
    second.init_transactions(30)
    produce_txn(second, topic_name, "live", 10, 1, commit=True)

    with pytest.raises(KafkaException) as e:
        first.produce(topic_name, value=b"late")
        first.commit_transaction(10)
    err = e.value.args[0]
    assert err.fatal() or err.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH), err
    assert values(read_all(broker.bootstrap, topic_name, 1, "read_committed", expect=10)) == [
        f"live-{i}".encode() for i in range(10)
    ]


def test_timeout_beyond_the_maximum_is_refused(start_broker):
    b = start_broker(**{"transaction.max.timeout.ms": "5000"})
    p = txn_producer(b.bootstrap, **{"transaction.timeout.ms": 10000})
    with pytest.raises(KafkaException) as e:
        p.init_transactions(15)
    assert e.value.args[0].code() == KafkaError.INVALID_TRANSACTION_TIMEOUT


def test_transaction_past_its_timeout_is_aborted(start_broker, topic_name):
    b = start_broker(**{"transaction.abort.timed.out.transaction.cleanup.interval.ms": "200"})
    create_topic(b.bootstrap, topic_name, partitions=1)
    p = txn_producer(b.bootstrap, **{"transaction.timeout.ms": 1500})
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(5):
        p.produce(topic_name, value=f"stale-{i}".encode())
    p.flush(30)
    time.sleep(4)
    with pytest.raises(KafkaException):
        p.commit_transaction(10)
    # The coordinator aborted it: a later transaction is visible, the stale one never.
    q = txn_producer(b.bootstrap)
    q.init_transactions(30)
    produce_txn(q, topic_name, "after", 5, 1, commit=True)
    assert values(read_all(b.bootstrap, topic_name, 1, "read_committed", expect=5)) == [
        f"after-{i}".encode() for i in range(5)
    ]


def test_open_transaction_survives_kill9_and_is_aborted_by_the_next_producer(broker, topic_name):
    """kill -9 of the broker in the middle of a transaction: after the restart the same
    transactional id's next producer fences the old one, whose records are aborted; the
    committed transaction before it is intact."""
    create_topic(broker.bootstrap, topic_name, partitions=1)
    txn_id = f"crash-{uuid.uuid4().hex[:8]}"
    p = txn_producer(broker.bootstrap, txn_id)
    p.init_transactions(30)
    produce_txn(p, topic_name, "before", 20, 1, commit=True)
    p.begin_transaction()
    for i in range(20):
        p.produce(topic_name, value=f"open-{i}".encode())
    p.flush(30)
    broker.kill9()
    broker.start()
    q = txn_producer(broker.bootstrap, txn_id)
    q.init_transactions(60)
    produce_txn(q, topic_name, "after", 10, 1, commit=True)
    got = values(read_all(broker.bootstrap, topic_name, 1, "read_committed", expect=30))
    assert got == [f"before-{i}".encode() for i in range(20)] + [f"after-{i}".encode() for i in range(10)]


def test_cli_lists_describes_and_reads_committed(broker, topic_name):
    """`rill transactions list|describe` show an open transaction and its partition;
    `rill consume --isolation read_committed` prints only committed records and stops at the
    last stable offset."""
    from rillkit import rill_bin

    create_topic(broker.bootstrap, topic_name, partitions=1)
    rill = [str(rill_bin()), "-b", broker.bootstrap]
    txn_id = f"cli-{uuid.uuid4().hex[:8]}"
    p = txn_producer(broker.bootstrap, txn_id)
    p.init_transactions(30)
    produce_txn(p, topic_name, "ok", 3, 1, commit=True)
    produce_txn(p, topic_name, "no", 3, 1, commit=False)
    p.begin_transaction()
    p.produce(topic_name, value=b"open-0")
    p.flush(30)

    listed = subprocess.run(rill + ["transactions", "list", "--state", "Ongoing"], capture_output=True, text=True, timeout=30)
    assert listed.returncode == 0, listed.stderr
    assert txn_id in listed.stdout and "Ongoing" in listed.stdout
    described = subprocess.run(rill + ["-O", "json", "transactions", "describe", txn_id], capture_output=True, text=True, timeout=30)
    assert described.returncode == 0, described.stderr
    import json

    d = json.loads(described.stdout)
    assert d["state"] == "Ongoing"
    assert d["topics"] == [{"topic": topic_name, "partitions": [0]}]

    # The open transaction holds the last stable offset below it: committed records only.
    consumed = subprocess.run(
        rill + ["consume", topic_name, "--from-beginning", "-e", "--isolation", "read_committed"],
        capture_output=True, text=True, timeout=60,
    )
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout.split() == ["ok-0", "ok-1", "ok-2"]
    p.commit_transaction(30)
    consumed = subprocess.run(
        rill + ["consume", topic_name, "--from-beginning", "-e", "--isolation", "read_committed"],
        capture_output=True, text=True, timeout=60,
    )
    assert consumed.stdout.split() == ["ok-0", "ok-1", "ok-2", "open-0"]
    unknown = subprocess.run(rill + ["transactions", "describe", "no-such-id"], capture_output=True, text=True, timeout=30)
    assert unknown.returncode != 0 and "TRANSACTIONAL_ID_NOT_FOUND" in unknown.stderr


def test_metrics_and_admin_api_show_transactions(start_broker, topic_name):
    from adminhttp import get_json, scrape

    b = start_broker(**{"transaction.state.log.num.partitions": "5"})
    create_topic(b.bootstrap, topic_name, partitions=1)
    txn_id = f"metrics-{uuid.uuid4().hex[:8]}"
    p = txn_producer(b.bootstrap, txn_id)
    p.init_transactions(30)
    p.begin_transaction()
    p.produce(topic_name, value=b"x")
    p.flush(30)
    s = scrape(b.admin_url)
    assert s.value("rill_transaction_coordinator_partitions") == 5
    assert s.value("rill_transactions", state="Ongoing") == 1
    rows = {r["transactional_id"]: r for r in get_json(b.admin_url + "/api/v1/transactions")}
    assert rows[txn_id]["state"] == "Ongoing"
    assert rows[txn_id]["partitions"] == [f"{topic_name}-0"]
    assert rows[txn_id]["start_time_ms"] > 0
    p.commit_transaction(30)
    s = scrape(b.admin_url)
    assert s.value("rill_transactions", state="Ongoing") == 0
    assert s.value("rill_transactions", state="CompleteCommit") == 1
    rows = {r["transactional_id"]: r for r in get_json(b.admin_url + "/api/v1/transactions")}
    assert rows[txn_id]["state"] == "CompleteCommit" and rows[txn_id]["partitions"] is None
