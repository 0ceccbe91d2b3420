"""The newest protocol versions real clients pick work end to end, and a client that goes away
between requests is no "bad frame".

librdkafka asks ApiVersions first and then uses, for every API, the newest version both sides
support; a version the broker advertises but cannot decode makes it close the connection (the
broker logs "bad request") and the client loses its group. These tests read the client's
protocol debug log to see which versions it really sent, and the broker's log for any closed
connection.
"""

from __future__ import annotations

import logging
import re
import socket
import struct
import time

from confluent_kafka import Consumer, TopicPartition
from kafka.protocol.list_offsets import ListOffsetsRequest_v1

import wire
from clients import create_topic, produce_all, producer

# The newest version of each group API that librdkafka 2.16 (confluent-kafka 2.16.*, pinned by
# scripts/setup-compat.sh) implements, as its protocol debug log shows it sending them.
LIBRDKAFKA_NEWEST = {"FindCoordinator": 2, "JoinGroup": 5, "SyncGroup": 3, "Heartbeat": 3, "OffsetCommit": 9, "OffsetFetch": 9, "LeaveGroup": 1}
GROUP_APIS = tuple(LIBRDKAFKA_NEWEST)
API_KEYS = {"FindCoordinator": 10, "JoinGroup": 11, "SyncGroup": 14, "Heartbeat": 12, "OffsetCommit": 8, "OffsetFetch": 9, "LeaveGroup": 13}


class Captured(logging.Handler):
    """Keeps every line librdkafka logs."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def sent_versions(lines: list[str]) -> dict[str, set[int]]:
    """API name -> the versions librdkafka sent it at ("Sent OffsetFetchRequest (v9, ...")."""
    out: dict[str, set[int]] = {}
    for line in lines:
        for m in re.finditer(r"Sent (\w+)Request \(v(\d+)", line):
            out.setdefault(m.group(1), set()).add(int(m.group(2)))
    return out


def broker_complaints(broker) -> list[str]:
    text = broker.log_path.read_text(errors="replace")
    return [line for line in text.splitlines() if "bad request" in line or "bad frame" in line]


def test_consumer_group_at_librdkafkas_newest_versions_keeps_its_connections(start_broker, topic_name):
    broker = start_broker(group_initial_rebalance_delay_ms=0)
    create_topic(broker.bootstrap, topic_name, partitions=3)
    produce_all(producer(broker.bootstrap), topic_name, [{"value": b"v%d" % i, "partition": i % 3} for i in range(30)])
    advertised = wire.api_versions(broker.port)

    captured = Captured()
    log = logging.getLogger(f"rdkafka-{topic_name}")
    log.setLevel(logging.DEBUG)
    log.addHandler(captured)
    group = f"{topic_name}-group"
    c = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 300,
            "debug": "protocol,broker,cgrp",
            "logger": log,
        }
    )
    try:
        c.subscribe([topic_name])
        got = []
        deadline = time.monotonic() + 30
        while len(got) < 30 and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                got.append(m.value())
                c.commit(message=m, asynchronous=False)
        assert sorted(got) == sorted(b"v%d" % i for i in range(30))
        committed = c.committed([TopicPartition(topic_name, p) for p in range(3)], timeout=10)
        assert sorted(tp.offset for tp in committed) == [10, 10, 10]
        time.sleep(1.0)  # a few heartbeats at the negotiated version
    finally:
        c.close()

    sent = sent_versions(captured.lines)
    for api in GROUP_APIS:
        assert api in sent, f"librdkafka sent no {api} (debug log has {sorted(sent)})"
        # The newest version both sides have, every time: nothing fell back.
        newest = min(advertised[API_KEYS[api]][1], LIBRDKAFKA_NEWEST[api])
        assert sent[api] == {newest}, (api, sent[api], newest)
    dropped = [l for l in captured.lines if re.search(r"Disconnected|Connection reset|connection close", l, re.I)]
    assert not dropped, "\n".join(dropped[:10])
    assert not broker_complaints(broker), broker_complaints(broker)


def test_a_client_resetting_between_requests_is_not_a_bad_frame(start_broker):
    broker = start_broker()
    with wire.connect(broker.port) as s:
        s.sendall(wire.frame(wire.api_versions_request(0, 7)))
        corr, err, _ = wire.parse_api_versions_v0(wire.recv_frame(s))
        assert (corr, err) == (7, 0)
        # SO_LINGER 0: close() sends RST instead of FIN.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # The broker serves on; its log has no warning about that connection.
    assert wire.api_versions(broker.port)
    time.sleep(0.3)
    assert not broker_complaints(broker), broker_complaints(broker)


def test_a_torn_frame_is_still_a_bad_frame(start_broker):
    """The quiet path is only for a reset between requests: a frame cut short is a warning."""
    broker = start_broker()
    with wire.connect(broker.port) as s:
        s.sendall(struct.pack(">i", 100) + b"\x00" * 10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    deadline = time.monotonic() + 5
    while not broker_complaints(broker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any("bad frame" in l for l in broker_complaints(broker)), broker.log_tail()
    assert wire.api_versions(broker.port)


def test_list_offsets_naming_a_partition_twice_gets_invalid_request(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, partitions=2)
    produce_all(producer(broker.bootstrap), topic_name, [{"value": b"x", "partition": 1}])
    req = ListOffsetsRequest_v1(replica_id=-1, topics=[(topic_name, [(0, -1), (1, -1), (0, -2)])])
    resp = wire.call(broker.port, req)
    parts = {}
    for _topic, partitions in resp.topics:
        for p in partitions:
            parts.setdefault(p[0], []).append(p)
    INVALID_REQUEST = 42
    assert [p[1] for p in parts[0]] == [INVALID_REQUEST, INVALID_REQUEST]
    assert [(p[1], p[3]) for p in parts[1]] == [(0, 1)]
