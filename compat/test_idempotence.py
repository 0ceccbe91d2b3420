"""Idempotent producer: InitProducerId, sequence numbers, no duplicates."""

from __future__ import annotations

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
