"""Malformed input on one connection closes that connection and never harms the broker.

Each case sends hand-encoded bytes on a raw socket, checks that the connection is closed (or
answered as the protocol says), then proves the broker still serves a produce and a fetch on
other connections and that the records written before are intact.
"""

from __future__ import annotations

import os
import struct

import pytest

import wire
from clients import ck_consume, create_topic, produce_all, producer

MAX_REQUEST = 104_857_600  # socket.request.max.bytes default


@pytest.fixture
def seeded(broker, topic_name):
    """A broker with 20 known records in `topic_name`; returns a health check to call after."""
    create_topic(broker.bootstrap, topic_name, partitions=1)
    before = [f"before-{i}".encode() for i in range(20)]
    produce_all(producer(broker.bootstrap), topic_name, [{"value": v} for v in before])

    def check_healthy():
        assert broker.alive(), f"broker died: exit {broker.proc.returncode}"
        produce_all(producer(broker.bootstrap), topic_name, [{"value": b"after"}])
        got = ck_consume(broker.bootstrap, topic_name, [0], len(before) + 1)
        assert [r.value for r in got] == before + [b"after"]
        before.append(b"after")

    return broker, check_healthy


def send_and_expect_close(port: int, data: bytes, shutdown_write: bool = False) -> bytes:
    s = wire.connect(port)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return b""
        if shutdown_write:
            s.shutdown(1)
        return wire.wait_closed(s)
    finally:
        s.close()


def header_only(api_key: int, version: int) -> bytes:
    return wire.header_v1(api_key, version, 99)


CLOSE_CASES = {
    "length_below_4": struct.pack(">i", 2) + b"\x00\x12",
    "length_zero": struct.pack(">i", 0),
    "negative_length": struct.pack(">i", -5) + b"abcde",
    "garbage_bytes": b"\x00\x00\x00\x03abc",
    "http_request": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "over_max_request_size": struct.pack(">i", MAX_REQUEST + 1) + b"\x00" * 64,
    "unknown_api_key": wire.frame(header_only(9999, 0)),
    "negative_api_key": wire.frame(header_only(-2, 0)),
    "truncated_header": wire.frame(struct.pack(">hh", 3, 1)),
    "truncated_metadata_body": wire.frame(header_only(wire.API_METADATA, 1) + struct.pack(">i", 5) + wire.string("t")),
    "metadata_string_overruns_frame": wire.frame(header_only(wire.API_METADATA, 1) + struct.pack(">ih", 1, 3000) + b"abc"),
    "garbage_produce_body": wire.frame(wire.header_v2(wire.API_PRODUCE, 9, 5) + os.urandom(64)),
    "client_id_overruns_frame": wire.frame(struct.pack(">hhih", 18, 0, 1, 500) + b"ab"),
}


@pytest.mark.parametrize("case", sorted(CLOSE_CASES))
def test_bad_frame_closes_connection_only(seeded, case):
    broker, check_healthy = seeded
    got = send_and_expect_close(broker.port, CLOSE_CASES[case])
    assert got == b"", f"expected the connection closed without a response, got {got[:64]!r}"
    check_healthy()


def test_frame_cut_short_by_eof(seeded):
    broker, check_healthy = seeded
    partial = struct.pack(">i", 1000) + wire.header_v1(wire.API_METADATA, 1, 1)
    assert send_and_expect_close(broker.port, partial, shutdown_write=True) == b""
    check_healthy()


def test_unsupported_version_of_metadata(seeded):
    """Kafka closes the connection for an unsupported version of any API but ApiVersions."""
    broker, check_healthy = seeded
    req = wire.frame(wire.header_v1(wire.API_METADATA, 999, 31) + struct.pack(">i", -1))
    got = send_and_expect_close(broker.port, req)
    if got:
        # Tolerated alternative: an error response to this correlation id, then close.
        (n,) = struct.unpack(">i", got[:4])
        (corr,) = struct.unpack(">i", got[4:8])
        assert (n, corr) == (len(got) - 4, 31), got[:64]
    check_healthy()


def test_api_versions_future_version_gets_v0_error_response(seeded):
    broker, check_healthy = seeded
    with wire.connect(broker.port) as s:
        s.sendall(wire.frame(wire.header_v1(wire.API_VERSIONS, 127, 77)))
        corr, err, apis = wire.parse_api_versions_v0(wire.recv_frame(s))
    assert (corr, err) == (77, wire.UNSUPPORTED_VERSION)
    assert apis[wire.API_VERSIONS][0] == 0 and apis[wire.API_VERSIONS][1] >= 3
    for key in (wire.API_PRODUCE, wire.API_METADATA, 1, 2, 19, 20):  # Fetch, ListOffsets, Create/DeleteTopics
        assert key in apis, f"api {key} missing from ApiVersions"
    check_healthy()


def test_api_versions_v3_flexible_ok(broker):
    with wire.connect(broker.port) as s:
        s.sendall(wire.frame(wire.api_versions_request(3, 5)))
        r = wire.Reader(wire.recv_frame(s))
    # ApiVersionsResponse always uses response header v0 (no tags), even at v3.
    assert r.unpack(">i") == 5
    assert r.unpack(">h") == 0
    apis = {}
    for _ in range(r.uvarint() - 1):
        key, lo, hi = r.unpack(">hhh")
        r.skip_tags()
        apis[key] = (lo, hi)
    assert wire.API_PRODUCE in apis and apis[wire.API_PRODUCE][1] >= 9


def test_pipelined_requests_answered_in_order(broker):
    reqs = b"".join(wire.frame(wire.api_versions_request(0, c)) for c in range(10, 30))
    with wire.connect(broker.port) as s:
        s.sendall(reqs)
        corrs = [wire.parse_api_versions_v0(wire.recv_frame(s))[0] for _ in range(20)]
    assert corrs == list(range(10, 30))


def test_many_abrupt_connections(seeded):
    broker, check_healthy = seeded
    for i in range(200):
        s = wire.connect(broker.port)
        if i % 2:
            s.sendall(struct.pack(">i", 50) + b"x" * 10)
        s.close()
    check_healthy()
