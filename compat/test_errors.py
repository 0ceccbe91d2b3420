"""Exact Kafka error codes for bad produce requests, as the Java broker sends them."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

import wire
from clients import ck_consume, create_topic, producer


def test_hand_built_produce_v9_is_accepted(broker, topic_name):
    """Control for the cases below: the hand-built request is valid as sent."""
    create_topic(broker.bootstrap, topic_name, partitions=1)
    batch = wire.record_batch([(b"k0", b"v0"), (b"k1", b"v1")], timestamp_ms=1_700_000_000_000)
    assert wire.produce_raw(broker.port, topic_name, 0, batch) == (wire.NONE, 0)
    assert wire.produce_raw(broker.port, topic_name, 0, batch) == (wire.NONE, 2)
    got = ck_consume(broker.bootstrap, topic_name, [0], 4)
    assert [(r.offset, r.key, r.value) for r in got] == [
        (0, b"k0", b"v0"), (1, b"k1", b"v1"), (2, b"k0", b"v0"), (3, b"k1", b"v1")
    ]


@pytest.mark.parametrize("where", ["last_value_byte", "attributes", "record_count"])
def test_corrupt_batch_is_corrupt_message(broker, topic_name, where):
    create_topic(broker.bootstrap, topic_name, partitions=1)
    batch = bytearray(wire.record_batch([(b"key", b"value-%d" % i) for i in range(5)]))
    # RecordBatch v2: baseOffset(8) length(4) epoch(4) magic(1) crc(4) attributes(2) ...
    # records count at byte 57; CRC32C covers everything from attributes (byte 21) on.
    pos = {"last_value_byte": len(batch) - 2, "attributes": 22, "record_count": 60}[where]
    batch[pos] ^= 0x01
    assert wire.produce_raw(broker.port, topic_name, 0, bytes(batch))[0] == wire.CORRUPT_MESSAGE
    # Nothing was appended: the next valid batch starts at offset 0.
    good = wire.record_batch([(b"k", b"v")])
    assert wire.produce_raw(broker.port, topic_name, 0, good) == (wire.NONE, 0)


def test_batch_over_topic_max_message_bytes_is_message_too_large(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=1, config={"max.message.bytes": "2000"})
    p = producer(broker.bootstrap, **{"message.max.bytes": 10_000_000, "compression.type": "none"})
    errors = []
    p.produce(topic_name, value=b"x" * 5000, on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(30) == 0
    assert len(errors) == 1 and errors[0] is not None, errors
    assert errors[0].code() == KafkaError.MSG_SIZE_TOO_LARGE == wire.MESSAGE_TOO_LARGE
    # A small record still fits.
    ok = []
    p.produce(topic_name, value=b"y" * 100, on_delivery=lambda err, msg: ok.append((err, msg.offset())))
    assert p.flush(30) == 0
    assert ok == [(None, 0)]


def test_batch_over_broker_message_max_bytes_is_message_too_large(broker, topic_name):
    """The default message.max.bytes is 1048588: a 1.2 MB batch is refused (raw produce)."""
    create_topic(broker.bootstrap, topic_name, partitions=1)
    big = wire.record_batch([(None, b"z" * 1_200_000)])
    assert wire.produce_raw(broker.port, topic_name, 0, big)[0] == wire.MESSAGE_TOO_LARGE
    small = wire.record_batch([(None, b"z" * 1_000_000)])
    assert wire.produce_raw(broker.port, topic_name, 0, small) == (wire.NONE, 0)


def test_produce_unknown_topic_without_auto_create(start_broker, topic_name):
    b = start_broker(**{"auto.create.topics.enable": "false"})
    batch = wire.record_batch([(b"k", b"v")])
    assert wire.produce_raw(b.port, topic_name, 0, batch)[0] == wire.UNKNOWN_TOPIC_OR_PARTITION
    # Metadata with allow_auto_topic_creation=true does not create it either.
    topics = wire.parse_metadata_v4_topics(
        wire.roundtrip(b.port, wire.metadata_v4_request([topic_name], 3, allow_auto_create=True))
    )
    assert topics == {topic_name: wire.UNKNOWN_TOPIC_OR_PARTITION}


def test_produce_unknown_partition(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=2)
    batch = wire.record_batch([(b"k", b"v")])
    assert wire.produce_raw(broker.port, topic_name, 2, batch)[0] == wire.UNKNOWN_TOPIC_OR_PARTITION


def test_metadata_auto_create_invalid_name_is_invalid_topic(broker):
    topics = wire.parse_metadata_v4_topics(
        wire.roundtrip(broker.port, wire.metadata_v4_request(["bad name!", "ok-name"], 3, allow_auto_create=True))
    )
    assert topics["bad name!"] == wire.INVALID_TOPIC_EXCEPTION
    # Java answers LEADER_NOT_AVAILABLE (5) for a topic it has just auto-created.
    assert set(topics) == {"bad name!", "ok-name"} and topics["ok-name"] in (wire.NONE, 5), topics


def test_produce_to_invalid_topic_name(broker):
    """Java's broker answers UNKNOWN_TOPIC_OR_PARTITION (3) here since the name is never in its
    metadata; INVALID_TOPIC_EXCEPTION (17) is the other defensible answer. Both refuse it."""
    batch = wire.record_batch([(b"k", b"v")])
    err, _ = wire.produce_raw(broker.port, "bad name!", 0, batch)
    assert err in (wire.UNKNOWN_TOPIC_OR_PARTITION, wire.INVALID_TOPIC_EXCEPTION), err
