"""Idempotent producer: InitProducerId, sequence numbers, no duplicates."""

from __future__ import annotations

import signal

from clients import by_partition, ck_consume, create_topic, produce_all, producer

N = 3000


def test_idempotent_producer_no_duplicates(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=3)
    p = producer(
        broker.bootstrap,
        **{"enable.idempotence": True, "max.in.flight.requests.per.connection": 5, "linger.ms": 1},
    )
    msgs = [{"key": f"k{i % 10}".encode(), "value": f"value-{i}".encode()} for i in range(N)]
    delivered = produce_all(p, topic_name, msgs)

    got = ck_consume(broker.bootstrap, topic_name, range(3), N)
    values = [r.value for r in got]
    assert len(values) == len(set(values)) == N
    # Per partition, records are in send order, at the offsets that were acknowledged.
    sent: dict[int, list] = {}
    for m, d in zip(msgs, delivered):
        sent.setdefault(d.partition(), []).append((d.offset(), m["value"]))
    stored = {part: [(r.offset, r.value) for r in recs] for part, recs in by_partition(got).items()}
    assert stored == sent


def test_idempotent_producer_survives_second_session(broker, topic_name):
    """A second idempotent producer gets a new producer id/epoch and appends after the first."""
    create_topic(broker.bootstrap, topic_name, partitions=1)
    for session in range(2):
        p = producer(broker.bootstrap, **{"enable.idempotence": True})
        delivered = produce_all(p, topic_name, [{"value": f"s{session}-{i}".encode()} for i in range(100)])
        assert [d.offset() for d in delivered] == list(range(100 * session, 100 * (session + 1)))
    got = ck_consume(broker.bootstrap, topic_name, [0], 200)
    assert [r.value for r in got] == [f"s{s}-{i}".encode() for s in range(2) for i in range(100)]


def test_idempotent_producer_across_broker_kill9(broker, topic_name):
    """A producer keeps sending while the broker is killed and restarted: every record is
    delivered exactly once and in order (retries deduplicated by the recovered producer state)."""
    import threading
    import time

    create_topic(broker.bootstrap, topic_name, partitions=1)
    p = producer(
        broker.bootstrap,
        **{"enable.idempotence": True, "linger.ms": 2, "message.timeout.ms": 60_000, "retry.backoff.ms": 50},
    )
    n = 20_000
    errors: list = []
    sent = threading.Event()
    progress = [0]

    def send():
        for i in range(n):
            progress[0] = i
            while True:
                try:
                    p.produce(topic_name, value=b"m%06d" % i, on_delivery=lambda err, msg: err and errors.append(err))
                    break
                except BufferError:
                    p.poll(0.05)
            if i % 100 == 0:
                p.poll(0)
                time.sleep(0.005)
        sent.set()

    t = threading.Thread(target=send)
    t.start()
    time.sleep(0.6)
    at_kill = progress[0]
    broker.restart(signal.SIGKILL)
    assert 0 < at_kill < n, f"the kill should land mid-stream (at record {at_kill})"
    t.join(timeout=120)
    assert sent.is_set()
    assert p.flush(60) == 0
    assert not errors, errors[:5]
    got = ck_consume(broker.bootstrap, topic_name, [0], n)
    assert [r.value for r in got] == [b"m%06d" % i for i in range(n)]


def test_kafka_python_idempotent_producer(broker, topic_name):
    from kafka import KafkaProducer

    create_topic(broker.bootstrap, topic_name, partitions=2)
    kp = KafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=True, acks="all", linger_ms=5)
    try:
        futures = [kp.send(topic_name, key=b"k%d" % (i % 4), value=b"v%d" % i) for i in range(500)]
        kp.flush(timeout=30)
        meta = [f.get(timeout=30) for f in futures]
    finally:
        kp.close(timeout=10)
    got = ck_consume(broker.bootstrap, topic_name, range(2), 500)
    assert sorted((r.partition, r.offset, r.value) for r in got) == sorted(
        (m.partition, m.offset, b"v%d" % i) for i, m in enumerate(meta)
    )
