"""Hand-encoded Kafka frames for the bad-input and exact-error-code tests.

Only what the tests need: request headers v1/v2, ApiVersions v0 request/response, Metadata v1,
Produce v9 (flexible) request and response, RecordBatch v2 built with kafka-python's builder.
"""

from __future__ import annotations

import socket
import struct
import time

from kafka.protocol.fetch import FetchRequest
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

API_PRODUCE = 0
API_METADATA = 3
API_VERSIONS = 18

# Kafka error codes used by the tests.
NONE = 0
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
MESSAGE_TOO_LARGE = 10
INVALID_TOPIC_EXCEPTION = 17
UNSUPPORTED_VERSION = 35


# ---- primitive encoders -------------------------------------------------------------------

def uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def string(s: str | None) -> bytes:
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def compact_string(s: str | None) -> bytes:
    if s is None:
        return uvarint(0)
    b = s.encode()
    return uvarint(len(b) + 1) + b


def compact_bytes(b: bytes | None) -> bytes:
    if b is None:
        return uvarint(0)
    return uvarint(len(b) + 1) + b


TAGS_NONE = uvarint(0)


def header_v1(api_key: int, api_version: int, correlation_id: int, client_id: str = "compat") -> bytes:
    return struct.pack(">hhi", api_key, api_version, correlation_id) + string(client_id)


def header_v2(api_key: int, api_version: int, correlation_id: int, client_id: str = "compat") -> bytes:
    return header_v1(api_key, api_version, correlation_id, client_id) + TAGS_NONE


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


# ---- a tiny reader for responses ------------------------------------------------------------

class Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        assert self.pos + n <= len(self.data), f"response truncated at {self.pos}+{n} of {len(self.data)}"
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def unpack(self, fmt: str):
        vals = struct.unpack(fmt, self.take(struct.calcsize(fmt)))
        return vals[0] if len(vals) == 1 else vals

    def uvarint(self) -> int:
        shift = 0
        n = 0
        while True:
            b = self.take(1)[0]
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7

    def string(self) -> str | None:
        n = self.unpack(">h")
        return None if n < 0 else self.take(n).decode()

    def compact_string(self) -> str | None:
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode()

    def skip_tags(self) -> None:
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())

    def rest(self) -> int:
        return len(self.data) - self.pos


# ---- connections -----------------------------------------------------------------------------

def connect(port: int, timeout: float = 5.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    return s


def recv_exact(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def recv_frame(s: socket.socket) -> bytes:
    (n,) = struct.unpack(">i", recv_exact(s, 4))
    return recv_exact(s, n)


def roundtrip(port: int, payload: bytes) -> bytes:
    with connect(port) as s:
        s.sendall(frame(payload))
        return recv_frame(s)


def wait_closed(s: socket.socket, timeout: float = 5.0) -> bytes:
    """Read until the peer closes; returns whatever arrived first. Fails if still open."""
    s.settimeout(0.5)
    got = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return bytes(got)
        if not chunk:
            return bytes(got)
        got += chunk
    raise AssertionError(f"connection still open after {timeout}s (received {len(got)} bytes)")


# ---- ApiVersions -----------------------------------------------------------------------------

def api_versions_request(version: int, correlation_id: int) -> bytes:
    if version >= 3:
        # v3+ is flexible: header v2, client_software_name/version, tags.
        return (
            header_v2(API_VERSIONS, version, correlation_id)
            + compact_string("rill-compat")
            + compact_string("1.0")
            + TAGS_NONE
        )
    return header_v1(API_VERSIONS, version, correlation_id)


def parse_api_versions_v0(resp: bytes) -> tuple[int, int, dict[int, tuple[int, int]]]:
    """(correlation_id, error_code, {api_key: (min, max)}) of an ApiVersionsResponse v0."""
    r = Reader(resp)
    corr = r.unpack(">i")
    err = r.unpack(">h")
    n = r.unpack(">i")
    apis = {}
    for _ in range(max(n, 0)):
        key, lo, hi = r.unpack(">hhh")
        apis[key] = (lo, hi)
    return corr, err, apis


def api_versions(port: int) -> dict[int, tuple[int, int]]:
    corr, err, apis = parse_api_versions_v0(roundtrip(port, api_versions_request(0, 7)))
    assert (corr, err) == (7, NONE), (corr, err)
    return apis


# ---- Metadata v1 -------------------------------------------------------------------------------

def metadata_v1_request(topics: list[str] | None, correlation_id: int) -> bytes:
    body = struct.pack(">i", -1) if topics is None else struct.pack(">i", len(topics)) + b"".join(
        string(t) for t in topics
    )
    return header_v1(API_METADATA, 1, correlation_id) + body


def metadata_v4_request(topics: list[str], correlation_id: int, allow_auto_create: bool) -> bytes:
    body = struct.pack(">i", len(topics)) + b"".join(string(t) for t in topics)
    return header_v1(API_METADATA, 4, correlation_id) + body + struct.pack(">?", allow_auto_create)


def parse_metadata_v4_topics(resp: bytes) -> dict[str, int]:
    """{topic: error_code} from a MetadataResponse v4."""
    r = Reader(resp)
    r.unpack(">i")  # correlation id
    r.unpack(">i")  # throttle
    for _ in range(r.unpack(">i")):  # brokers
        r.unpack(">i")
        r.string()
        r.unpack(">i")
        r.string()  # rack
    r.string()  # cluster id
    r.unpack(">i")  # controller id
    out = {}
    for _ in range(r.unpack(">i")):
        err = r.unpack(">h")
        name = r.string()
        r.unpack(">?")  # is_internal
        for _ in range(r.unpack(">i")):
            r.unpack(">hii")  # error, index, leader
            for _ in range(2):  # replicas, isr (offline replicas only from v5)
                r.take(4 * r.unpack(">i"))
        out[name] = err
    return out


# ---- Produce v9 ----------------------------------------------------------------------------------

def record_batch(records: list[tuple[bytes | None, bytes | None]], timestamp_ms: int | None = None) -> bytes:
    """A valid RecordBatch v2 (uncompressed, non-idempotent) holding (key, value) records."""
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    b = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=False,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=64 * 1024 * 1024,
    )
    for i, (k, v) in enumerate(records):
        assert b.append(i, ts, k, v, []) is not None
    return bytes(b.build())


def produce_v9_request(topic: str, partition: int, records: bytes, correlation_id: int, acks: int = -1) -> bytes:
    body = (
        compact_string(None)  # transactional_id
        + struct.pack(">hi", acks, 10_000)
        + uvarint(2)  # one topic
        + compact_string(topic)
        + uvarint(2)  # one partition
        + struct.pack(">i", partition)
        + compact_bytes(records)
        + TAGS_NONE  # partition tags
        + TAGS_NONE  # topic tags
        + TAGS_NONE  # request tags
    )
    return header_v2(API_PRODUCE, 9, correlation_id) + body


def produce_v9_multi(partitions: list[tuple[str, int, bytes]], correlation_id: int, acks: int = -1) -> bytes:
    """Produce v9 with several (topic, partition, records); topics in the order given."""
    topics: dict[str, list[tuple[int, bytes]]] = {}
    for topic, partition, records in partitions:
        topics.setdefault(topic, []).append((partition, records))
    body = compact_string(None) + struct.pack(">hi", acks, 10_000) + uvarint(len(topics) + 1)
    for topic, parts in topics.items():
        body += compact_string(topic) + uvarint(len(parts) + 1)
        for partition, records in parts:
            body += struct.pack(">i", partition) + compact_bytes(records) + TAGS_NONE
        body += TAGS_NONE
    return header_v2(API_PRODUCE, 9, correlation_id) + body + TAGS_NONE


def parse_produce_v9(resp: bytes) -> tuple[int, list[tuple[str, int, int, int]]]:
    """(correlation_id, [(topic, partition, error_code, base_offset)])."""
    r = Reader(resp)
    corr = r.unpack(">i")
    r.skip_tags()  # response header v1
    out = []
    for _ in range(r.uvarint() - 1):
        name = r.compact_string()
        for _ in range(r.uvarint() - 1):
            index, err, base_offset = r.unpack(">ihq")
            r.unpack(">qq")  # log_append_time, log_start_offset
            for _ in range(r.uvarint() - 1):  # record_errors
                r.unpack(">i")
                r.compact_string()
                r.skip_tags()
            r.compact_string()  # error_message
            r.skip_tags()
            out.append((name, index, err, base_offset))
        r.skip_tags()
    r.unpack(">i")  # throttle
    r.skip_tags()
    assert r.rest() == 0, f"{r.rest()} trailing bytes in produce response"
    return corr, out


def produce_raw(port: int, topic: str, partition: int, records: bytes) -> tuple[int, int]:
    """Send one Produce v9 on a fresh connection; returns (error_code, base_offset)."""
    corr, parts = parse_produce_v9(roundtrip(port, produce_v9_request(topic, partition, records, 4242)))
    assert corr == 4242
    assert len(parts) == 1 and parts[0][:2] == (topic, partition), parts
    return parts[0][2], parts[0][3]


# ---- requests encoded with kafka-python's protocol classes -------------------------------------

def call(port: int, request, correlation_id: int = 1):
    """Send a kafka-python protocol Request (non-flexible versions) on a fresh connection and
    decode its response with the matching Response class."""
    payload = header_v1(request.API_KEY, request.API_VERSION, correlation_id) + request.encode()
    resp = roundtrip(port, payload)
    (corr,) = struct.unpack(">i", resp[:4])
    assert corr == correlation_id, (corr, correlation_id)
    return request.RESPONSE_TYPE.decode(resp[4:])


def idempotent_batch(records: list[tuple[bytes | None, bytes | None]], producer_id: int, epoch: int, base_sequence: int) -> bytes:
    b = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=False,
        producer_id=producer_id,
        producer_epoch=epoch,
        base_sequence=base_sequence,
        batch_size=64 * 1024 * 1024,
    )
    ts = int(time.time() * 1000)
    for i, (k, v) in enumerate(records):
        assert b.append(i, ts, k, v, []) is not None
    return bytes(b.build())


def fetch_v4(
    port: int, topic: str, partition: int, offset: int, partition_max_bytes: int = 1 << 20,
    max_wait_ms: int = 100, min_bytes: int = 1,
):
    req = FetchRequest[4](
        replica_id=-1, max_wait_time=max_wait_ms, min_bytes=min_bytes, max_bytes=50 << 20, isolation_level=0,
        topics=[(topic, [(partition, offset, partition_max_bytes)])],
    )
    resp = call(port, req)
    [(name, parts)] = resp.topics
    [(index, error, high_watermark, _lso, _aborted, records)] = parts
    assert (name, index) == (topic, partition)
    return error, high_watermark, records


def batches(records: bytes) -> list[DefaultRecordBatch]:
    out, pos = [], 0
    while pos + 12 <= len(records):
        (length,) = struct.unpack(">i", records[pos + 8 : pos + 12])
        if pos + 12 + length > len(records):
            break  # a partial batch at the end is allowed
        out.append(DefaultRecordBatch(records[pos : pos + 12 + length]))
        pos += 12 + length
    return out
