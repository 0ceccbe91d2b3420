"""Produce requests beyond the happy path: several partitions at once, old record formats,
request size limits, idempotent producer state across a crash, compressed time lookups."""

from __future__ import annotations

import signal

import pytest

from confluent_kafka import TopicPartition
from kafka.protocol.init_producer_id import InitProducerIdRequest
from kafka.record.legacy_records import LegacyRecordBatchBuilder

import wire
from clients import ck_consume, ck_consumer, create_topic, produce_all, producer

INVALID_RECORD = 87


def test_one_request_many_partitions_with_mixed_errors(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=2)
    good0 = wire.record_batch([(b"k", b"p0")])
    good1 = wire.record_batch([(b"k", b"p1a"), (b"k", b"p1b")])
    corrupt = bytearray(wire.record_batch([(b"k", b"bad")]))
    corrupt[-1] ^= 0xFF
    req = wire.produce_v9_multi(
        [
            (topic_name, 0, good0),
            (topic_name, 1, good1),
            (topic_name, 5, good0),  # no such partition
            ("no-such-topic-" + topic_name, 0, good0),
        ],
        correlation_id=55,
    )
    corr, parts = wire.parse_produce_v9(wire.roundtrip(broker.port, req))
    assert corr == 55
    results = {(t, p): (err, off) for t, p, err, off in parts}
    assert results[(topic_name, 0)] == (0, 0)
    assert results[(topic_name, 1)] == (0, 0)
    assert results[(topic_name, 5)][0] == wire.UNKNOWN_TOPIC_OR_PARTITION
    # Produce never auto-creates topics (only Metadata does): Java answers 3 here.
    assert results[("no-such-topic-" + topic_name, 0)][0] == wire.UNKNOWN_TOPIC_OR_PARTITION
    assert len(results) == 4

    req = wire.produce_v9_multi([(topic_name, 0, good0), (topic_name, 1, bytes(corrupt))], correlation_id=56)
    _, parts = wire.parse_produce_v9(wire.roundtrip(broker.port, req))
    results = {(t, p): (err, off) for t, p, err, off in parts}
    assert results[(topic_name, 0)] == (0, 1)
    assert results[(topic_name, 1)][0] == wire.CORRUPT_MESSAGE
    got = ck_consume(broker.bootstrap, topic_name, [0, 1], 4)
    assert sorted((r.partition, r.offset, r.value) for r in got) == [
        (0, 0, b"p0"), (0, 1, b"p0"), (1, 0, b"p1a"), (1, 1, b"p1b")
    ]


def legacy_magic1() -> bytes:
    b = LegacyRecordBatchBuilder(magic=1, compression_type=0, batch_size=1 << 20)
    b.append(0, 1_700_000_000_000, b"k", b"legacy")
    return bytes(b.build())


@pytest.mark.parametrize("case", ["magic_v1", "two_batches", "no_batch"])
def test_produce_v3_plus_record_rules_are_invalid_record(broker, topic_name, case):
    """Java's ProduceRequest.validateRecords: from v3 on, each partition carries exactly one
    batch and it has magic 2; anything else is INVALID_RECORD (87) for that partition."""
    create_topic(broker.bootstrap, topic_name)
    records = {
        "magic_v1": legacy_magic1,
        "two_batches": lambda: wire.record_batch([(b"k", b"one")]) + wire.record_batch([(b"k", b"two")]),
        "no_batch": lambda: b"",
    }[case]()
    assert wire.produce_raw(broker.port, topic_name, 0, records)[0] == INVALID_RECORD
    assert wire.produce_raw(broker.port, topic_name, 0, wire.record_batch([(b"k", b"v2")])) == (0, 0)


def test_socket_request_max_bytes_override(start_broker, topic_name):
    b = start_broker(**{"socket.request.max.bytes": 20_000})
    create_topic(b.bootstrap, topic_name)
    big = wire.frame(wire.produce_v9_request(topic_name, 0, wire.record_batch([(None, b"x" * 30_000)]), 1))
    s = wire.connect(b.port)
    try:
        try:
            s.sendall(big)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert wire.wait_closed(s) == b""
    finally:
        s.close()
    assert wire.produce_raw(b.port, topic_name, 0, wire.record_batch([(None, b"x" * 10_000)])) == (0, 0)


def test_idempotent_producer_state_survives_kill9(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    resp = wire.call(broker.port, InitProducerIdRequest[0](transactional_id=None, transaction_timeout_ms=60_000))
    assert resp.error_code == 0
    pid, epoch = resp.producer_id, resp.producer_epoch
    first = wire.idempotent_batch([(b"k", b"a0"), (b"k", b"a1")], pid, epoch, 0)
    assert wire.produce_raw(broker.port, topic_name, 0, first) == (0, 0)

    broker.restart(signal.SIGKILL)
    # The client never saw the answer and retries: still deduplicated after the crash.
    assert wire.produce_raw(broker.port, topic_name, 0, first) == (0, 0)
    nxt = wire.idempotent_batch([(b"k", b"a2")], pid, epoch, 2)
    assert wire.produce_raw(broker.port, topic_name, 0, nxt) == (0, 2)
    # A new producer id is not handed out twice, even after the crash.
    resp2 = wire.call(broker.port, InitProducerIdRequest[0](transactional_id=None, transaction_timeout_ms=60_000))
    assert resp2.error_code == 0 and resp2.producer_id != pid
    got = ck_consume(broker.bootstrap, topic_name, [0], 3)
    assert [r.value for r in got] == [b"a0", b"a1", b"a2"]


def test_offsets_for_times_inside_compressed_batches(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    base = 1_690_000_000_000
    msgs = [{"value": b"c%d" % i, "timestamp": base + 10 * i} for i in range(500)]
    produce_all(producer(broker.bootstrap, **{"compression.type": "zstd", "linger.ms": 100}), topic_name, msgs)
    c = ck_consumer(broker.bootstrap)
    try:
        for ts, want in [(base, 0), (base + 1, 1), (base + 2345, 235), (base + 4990, 499), (base + 4991, -1)]:
            res = c.offsets_for_times([TopicPartition(topic_name, 0, ts)], timeout=10)
            assert res[0].error is None and res[0].offset == want, (ts - base, res[0].offset, want)
    finally:
        c.close()
    # Reading from the middle of a compressed batch starts at the asked offset.
    got = ck_consume(broker.bootstrap, topic_name, [0], 500 - 235, start=235)
    assert [r.offset for r in got] == list(range(235, 500))
