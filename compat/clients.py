"""Helpers over the real client libraries (confluent-kafka, kafka-python) used by the tests.

Consumers use manual assignment only: Rill has no consumer groups yet, so nothing here
subscribes or commits offsets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer
from kafka import TopicPartition as KpTopicPartition

TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Rec:
    """One record as read back, normalised so both clients compare equal."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple
    timestamp: int


_ADMINS: dict[str, AdminClient] = {}


def admin(bootstrap: str) -> AdminClient:
    """One AdminClient per bootstrap, kept alive for the session: a client that is garbage
    collected while its futures are pending fails them with _DESTROY."""
    if bootstrap not in _ADMINS:
        _ADMINS[bootstrap] = AdminClient({"bootstrap.servers": bootstrap})
    return _ADMINS[bootstrap]


def forget_admin(bootstrap: str) -> None:
    """Drop the cached AdminClient of a broker that is going away (its futures are done)."""
    _ADMINS.pop(bootstrap, None)


def create_topic(bootstrap: str, name: str, partitions: int = 1, config: dict | None = None):
    """Create a topic with confluent-kafka's AdminClient and wait until metadata shows it."""
    futures = admin(bootstrap).create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=10,
        request_timeout=15,
    )
    futures[name].result(timeout=TIMEOUT_S)
    wait_for_topic(bootstrap, name, partitions)


def wait_for_topic(bootstrap: str, name: str, partitions: int) -> None:
    a = admin(bootstrap)
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        md = a.list_topics(topic=name, timeout=10).topics.get(name)
        if md is not None and md.error is None and len(md.partitions) == partitions:
            return
        assert time.monotonic() < deadline, f"topic {name} not visible with {partitions} partitions: {md}"
        time.sleep(0.1)


def producer(bootstrap: str, **conf) -> Producer:
    base = {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5}
    base.update(conf)
    return Producer(base)


def produce_all(p: Producer, topic: str, messages: list[dict]) -> list:
    """Produce every message (dicts of Producer.produce kwargs), flush, and return the
    delivered `Message` objects in send order. Any delivery error fails the test."""
    delivered: list = [None] * len(messages)
    errors: list = []

    def on_delivery(i):
        def cb(err, msg):
            if err is not None:
                errors.append((i, err))
            delivered[i] = msg

        return cb

    for i, m in enumerate(messages):
        while True:
            try:
                p.produce(topic, on_delivery=on_delivery(i), **m)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    remaining = p.flush(TIMEOUT_S)
    assert remaining == 0, f"{remaining} messages not delivered within {TIMEOUT_S}s"
    assert not errors, f"delivery errors (first 5): {errors[:5]}"
    return delivered


def ck_consumer(bootstrap: str, **conf) -> Consumer:
    base = {
        "bootstrap.servers": bootstrap,
        "group.id": "rill-compat-manual",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
    }
    base.update(conf)
    return Consumer(base)


def ck_consume(bootstrap: str, topic: str, partitions, count: int, start: int = 0, **conf) -> list[Rec]:
    """Read exactly `count` records with confluent-kafka from `start` on each partition."""
    c = ck_consumer(bootstrap, **conf)
    try:
        c.assign([TopicPartition(topic, p, start) for p in partitions])
        out: list[Rec] = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(out) < count:
            assert time.monotonic() < deadline, f"read {len(out)} of {count} records from {topic}"
            for m in c.consume(num_messages=min(1000, count - len(out)), timeout=0.5):
                if m.error() is not None:
                    raise AssertionError(f"consumer error: {m.error()}")
                out.append(
                    Rec(
                        m.partition(),
                        m.offset(),
                        m.key(),
                        m.value(),
                        tuple(m.headers() or ()),
                        m.timestamp()[1],
                    )
                )
        # Nothing beyond what was produced.
        extra = [m for m in c.consume(num_messages=10, timeout=0.5) if m.error() is None]
        assert not extra, f"unexpected extra records: {[(m.partition(), m.offset()) for m in extra]}"
        return out
    finally:
        c.close()


def kp_consume(bootstrap: str, topic: str, partitions, count: int) -> list[Rec]:
    """Read exactly `count` records with kafka-python from the beginning of each partition."""
    c = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=1000,
    )
    try:
        tps = [KpTopicPartition(topic, p) for p in partitions]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        out: list[Rec] = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(out) < count:
            assert time.monotonic() < deadline, f"read {len(out)} of {count} records from {topic}"
            for _tp, msgs in c.poll(timeout_ms=500, max_records=1000).items():
                for m in msgs:
                    out.append(
                        Rec(m.partition, m.offset, m.key, m.value, tuple(m.headers or ()), m.timestamp)
                    )
        extra = c.poll(timeout_ms=500)
        assert not any(extra.values()), f"unexpected extra records: {extra}"
        return out
    finally:
        c.close()


def by_partition(recs: list[Rec]) -> dict[int, list[Rec]]:
    out: dict[int, list[Rec]] = {}
    for r in recs:
        out.setdefault(r.partition, []).append(r)
    return out


def error_code(exc: BaseException) -> int:
    """The Kafka error code inside a confluent-kafka KafkaException."""
    err = exc.args[0]
    assert isinstance(err, KafkaError), f"not a KafkaError: {exc!r}"
    return err.code()
