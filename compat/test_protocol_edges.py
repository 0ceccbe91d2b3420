"""Protocol details real clients rely on, checked with exact requests and exact answers."""

from __future__ import annotations

import os
import struct

from kafka.admin import ConfigResource as KpConfigResource
from kafka.admin import ConfigResourceType as KpConfigResourceType
from kafka.admin import KafkaAdminClient
from kafka.protocol.init_producer_id import InitProducerIdRequest

import wire
from wire import batches, fetch_v4
from clients import ck_consume, create_topic, produce_all, producer

OFFSET_OUT_OF_RANGE = 1
OUT_OF_ORDER_SEQUENCE_NUMBER = 45


def test_acks_zero_gets_no_response_and_connection_stays_in_order(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    batch = wire.record_batch([(b"k", b"acks0")])
    with wire.connect(broker.port) as s:
        s.sendall(wire.frame(wire.produce_v9_request(topic_name, 0, batch, 100, acks=0)))
        s.sendall(wire.frame(wire.api_versions_request(0, 101)))
        corr, err, _ = wire.parse_api_versions_v0(wire.recv_frame(s))
    assert (corr, err) == (101, 0), "the first response must be the ApiVersions one"
    assert [r.value for r in ck_consume(broker.bootstrap, topic_name, [0], 1)] == [b"acks0"]


def test_fetch_out_of_range_and_high_watermark(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    produce_all(producer(broker.bootstrap), topic_name, [{"value": b"v%d" % i} for i in range(10)])
    err, hw, _ = fetch_v4(broker.port, topic_name, 0, 11)
    assert (err, hw) == (OFFSET_OUT_OF_RANGE, 10)
    err, hw, records = fetch_v4(broker.port, topic_name, 0, 10)  # at the end: empty, no error
    assert (err, hw) == (0, 10) and not records
    err, hw, records = fetch_v4(broker.port, topic_name, 0, 3)
    assert (err, hw) == (0, 10)
    values = [r.value for b in batches(records) for r in b if r.offset >= 3]
    assert values == [b"v%d" % i for i in range(3, 10)]


def test_fetch_returns_a_whole_first_batch_over_partition_max_bytes(broker, topic_name):
    """KIP-74: the first batch is returned whole even when larger than the fetch limits."""
    create_topic(broker.bootstrap, topic_name)
    big = wire.record_batch([(None, b"B" * 50_000)])
    assert wire.produce_raw(broker.port, topic_name, 0, big) == (0, 0)
    err, hw, records = fetch_v4(broker.port, topic_name, 0, 0, partition_max_bytes=100)
    assert (err, hw) == (0, 1)
    got = batches(records)
    assert len(got) == 1 and [r.value for r in got[0]] == [b"B" * 50_000]


def init_producer_id(port: int) -> tuple[int, int]:
    resp = wire.call(port, InitProducerIdRequest[0](transactional_id=None, transaction_timeout_ms=60_000))
    assert resp.error_code == 0, resp
    assert resp.producer_id >= 0 and resp.producer_epoch >= 0
    return resp.producer_id, resp.producer_epoch


def test_idempotent_duplicate_batch_is_not_appended_twice(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    pid, epoch = init_producer_id(broker.port)
    first = wire.idempotent_batch([(b"k", b"a0"), (b"k", b"a1")], pid, epoch, 0)
    assert wire.produce_raw(broker.port, topic_name, 0, first) == (0, 0)
    # A retry of the same batch (same producer id, epoch, sequence) is acknowledged with the
    # original offset and not stored again.
    assert wire.produce_raw(broker.port, topic_name, 0, first) == (0, 0)
    second = wire.idempotent_batch([(b"k", b"a2")], pid, epoch, 2)
    assert wire.produce_raw(broker.port, topic_name, 0, second) == (0, 2)
    # A gap in the sequence is OUT_OF_ORDER_SEQUENCE_NUMBER, and nothing is appended.
    gap = wire.idempotent_batch([(b"k", b"gap")], pid, epoch, 7)
    assert wire.produce_raw(broker.port, topic_name, 0, gap)[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
    got = ck_consume(broker.bootstrap, topic_name, [0], 3)
    assert [(r.offset, r.value) for r in got] == [(0, b"a0"), (1, b"a1"), (2, b"a2")]


def test_init_producer_id_gives_distinct_ids(broker):
    ids = {init_producer_id(broker.port) for _ in range(5)}
    assert len({pid for pid, _ in ids}) == 5


def test_kafka_python_alter_configs_and_broker_configs(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=2)
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=15000)
    try:
        res = KpConfigResource(KpConfigResourceType.TOPIC, topic_name, configs={"retention.ms": "4242"})
        resp = a.alter_configs([res])
        assert [r[0] for r in resp.resources] == [0], resp
        desc = a.describe_configs([KpConfigResource(KpConfigResourceType.TOPIC, topic_name)])
        values = {e[0]: e[1] for e in desc[0].resources[0][4]}
        assert values["retention.ms"] == "4242"

        broker_desc = a.describe_configs([KpConfigResource(KpConfigResourceType.BROKER, "1")])
        err, _msg, _type, name, entries = broker_desc[0].resources[0][:5]
        assert (err, name) == (0, "1")
        bvalues = {e[0]: e[1] for e in entries}
        assert bvalues["num.partitions"] == "1"
        assert bvalues["message.max.bytes"] == "1048588"

    finally:
        a.close()


def describe_log_dirs_v1(port: int) -> list[tuple[int, str, dict[str, dict[int, int]]]]:
    """DescribeLogDirs v1 for all topics (v0 is gone since Kafka 4.0, and kafka-python only
    speaks v0): [(error_code, log_dir, {topic: {partition: size_bytes}})]."""
    r = wire.Reader(wire.roundtrip(port, wire.header_v1(35, 1, 9) + struct.pack(">i", -1)))
    assert r.unpack(">i") == 9
    r.unpack(">i")  # throttle
    out = []
    for _ in range(r.unpack(">i")):
        err = r.unpack(">h")
        path = r.string()
        topics = {}
        for _ in range(r.unpack(">i")):
            name = r.string()
            parts = {}
            for _ in range(r.unpack(">i")):
                index, size, _lag, _future = r.unpack(">iqq?")
                parts[index] = size
            topics[name] = parts
        out.append((err, path, topics))
    assert r.rest() == 0
    return out


def test_describe_log_dirs(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=2)
    produce_all(producer(broker.bootstrap), topic_name, [{"value": b"x" * 1000, "partition": 1} for _ in range(20)])
    [(err, path, topics)] = describe_log_dirs_v1(broker.port)
    assert err == 0 and os.path.realpath(path) == os.path.realpath(broker.data_dir)
    parts = topics[topic_name]
    assert set(parts) == {0, 1}
    assert parts[0] == 0 and parts[1] > 20 * 1000


def test_metadata_empty_list_means_no_topics(broker, topic_name):
    create_topic(broker.bootstrap, topic_name)
    # v1+: an empty array asks for no topics; null asks for all of them.
    assert wire.parse_metadata_v4_topics(wire.roundtrip(broker.port, wire.metadata_v4_request([], 1, True))) == {}
    everything = wire.header_v1(wire.API_METADATA, 4, 2) + struct.pack(">i", -1) + struct.pack(">?", True)
    assert wire.parse_metadata_v4_topics(wire.roundtrip(broker.port, everything)) == {topic_name: 0}


def test_metadata_without_auto_create_does_not_create(broker, topic_name):
    topics = wire.parse_metadata_v4_topics(
        wire.roundtrip(broker.port, wire.metadata_v4_request([topic_name], 1, allow_auto_create=False))
    )
    assert topics == {topic_name: wire.UNKNOWN_TOPIC_OR_PARTITION}
    everything = wire.header_v1(wire.API_METADATA, 4, 2) + struct.pack(">i", -1) + struct.pack(">?", False)
    assert wire.parse_metadata_v4_topics(wire.roundtrip(broker.port, everything)) == {}


def test_fetch_unknown_topic_and_partition(broker, topic_name):
    assert fetch_v4(broker.port, topic_name, 0, 0)[0] == wire.UNKNOWN_TOPIC_OR_PARTITION
    create_topic(broker.bootstrap, topic_name, partitions=1)
    assert fetch_v4(broker.port, topic_name, 3, 0)[0] == wire.UNKNOWN_TOPIC_OR_PARTITION


def test_produce_invalid_required_acks(broker, topic_name):
    """acks other than -1, 0, 1: Java answers INVALID_REQUIRED_ACKS (21) for every partition."""
    create_topic(broker.bootstrap, topic_name)
    req = wire.produce_v9_request(topic_name, 0, wire.record_batch([(b"k", b"v")]), 8, acks=2)
    corr, parts = wire.parse_produce_v9(wire.roundtrip(broker.port, req))
    assert corr == 8 and [p[2] for p in parts] == [21]
    assert fetch_v4(broker.port, topic_name, 0, 0)[1] == 0, "nothing may be appended"


def test_fetch_long_poll_waits_for_max_wait(broker, topic_name):
    """With nothing to return, Fetch waits max_wait_ms (no busy loop), then answers empty; new
    data ends the wait early."""
    import threading
    import time

    create_topic(broker.bootstrap, topic_name)
    t0 = time.monotonic()
    err, hw, records = fetch_v4(broker.port, topic_name, 0, 0, max_wait_ms=600)
    waited = time.monotonic() - t0
    assert (err, hw, bool(records)) == (0, 0, False)
    assert 0.5 <= waited < 3.0, f"empty fetch answered after {waited:.2f}s, max_wait_ms was 600"

    timer = threading.Timer(0.3, lambda: wire.produce_raw(broker.port, topic_name, 0, wire.record_batch([(None, b"wake")])))
    timer.start()
    t0 = time.monotonic()
    err, hw, records = fetch_v4(broker.port, topic_name, 0, 0, max_wait_ms=5000)
    waited = time.monotonic() - t0
    timer.join()
    assert (err, hw) == (0, 1)
    assert [r.value for b in batches(records) for r in b] == [b"wake"]
    assert waited < 2.5, f"the fetch should return when data arrives, took {waited:.2f}s"
