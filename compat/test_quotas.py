"""Client quotas with clients written by others (issue 25): quotas are set and removed with
`rill quotas` (AlterClientQuotas), read back with kafka-python's DescribeClientQuotas and
enforced as Kafka does (KIP-219): the response carries throttle_time_ms and the broker
handles nothing more from the connection for that time.

- A librdkafka producer (confluent-kafka) under `producer_byte_rate` = 1 MiB/s is held within
  10% of that rate over 30 s, while a second producer without a quota runs free; librdkafka's
  own statistics show the throttle time, and /metrics shows it per quota sensor.
- A consumer under `consumer_byte_rate` is held to its rate (a throttled fetch is answered
  without data).
- `request_percentage` throttles a (user, client id) by its handling time (Metadata in a
  loop on one connection).
- `controller_mutation_rate` refuses topic creations with THROTTLING_QUOTA_EXCEEDED once the
  partitions created exceed the burst (KIP-599), until the bucket refills.
- Bad keys, values and entities are refused with INVALID_REQUEST; quotas survive a restart.
"""

from __future__ import annotations

import json
import struct
import subprocess
import threading
import time
import uuid

from confluent_kafka import Consumer, Producer
from kafka.protocol.admin import DescribeClientQuotasRequest_v0
from kafka.protocol.metadata import MetadataRequest_v5, MetadataResponse_v5

from adminhttp import get_json, scrape
from clients import create_topic
from rillkit import rill_bin
from wire import (TAGS_NONE, Reader, call, compact_string, connect, frame, header_v1, header_v2,
                  recv_frame, roundtrip, uvarint)

MIB = 1024 * 1024
THROTTLING_QUOTA_EXCEEDED = 89
QUOTA = 1 * MIB
WARMUP_S = 12.0  # Kafka's rate counts a new sensor over at least 10 windows of 1 s
MEASURE_S = 30.0


def rill(broker, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run([str(rill_bin()), *args, "--bootstrap-server", broker.bootstrap],
                         capture_output=True, text=True, timeout=30)
    if check:
        assert out.returncode == 0, f"rill {' '.join(args)}: {out.stderr}"
    return out


def describe_quotas(port: int) -> dict:
    """Every entity's quotas through kafka-python's DescribeClientQuotas v0:
    {((type, name), ...): {key: value}}."""
    resp = call(port, DescribeClientQuotasRequest_v0(components=[], strict=False))
    assert resp.error_code == 0, resp
    return {tuple((t, n) for t, n in entity): dict(values) for entity, values in resp.entries}


class Load:
    """One producer writing 10 KiB records as fast as it is let, counting delivered bytes
    by time, and keeping librdkafka's statistics."""

    def __init__(self, bootstrap: str, topic: str, client_id: str):
        self.stats: list[dict] = []
        self.delivered: list[tuple[float, int]] = []
        self.errors: list[str] = []
        self.producer = Producer({
            "bootstrap.servers": bootstrap, "client.id": client_id, "acks": "all",
            "linger.ms": 5, "statistics.interval.ms": 1000,
            "queue.buffering.max.kbytes": 4096,
            "stats_cb": lambda s: self.stats.append(json.loads(s)),
        })
        self.topic = topic
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def on_delivery(self, err, msg):
        if err is not None:
            self.errors.append(str(err))
        else:
            self.delivered.append((time.monotonic(), len(msg.value())))

    def run(self):
        value = b"q" * 10240
        while not self.stop.is_set():
            try:
                self.producer.produce(self.topic, value, on_delivery=self.on_delivery)
                self.producer.poll(0)
            except BufferError:
                self.producer.poll(0.05)
        self.producer.flush(30)

    def bytes_between(self, t0: float, t1: float) -> int:
        return sum(n for t, n in self.delivered if t0 <= t < t1)

    def max_throttle_ms(self) -> int:
        """The largest throttle time librdkafka's statistics report over its brokers."""
        return max((b.get("throttle", {}).get("max", 0)
                    for s in self.stats for b in s.get("brokers", {}).values()), default=0)


def test_a_producer_quota_holds_librdkafka_to_its_rate_while_another_client_runs_free(broker):
    topic = f"quota-{uuid.uuid4().hex[:8]}"
    create_topic(broker.bootstrap, topic, partitions=2)
    rill(broker, "quotas", "alter", "--client-id", "slow-producer",
         "--add", f"producer_byte_rate={QUOTA}")
    slow = Load(broker.bootstrap, topic, "slow-producer")
    fast = Load(broker.bootstrap, topic, "fast-producer")
    t0 = time.monotonic()
    slow.thread.start()
    fast.thread.start()
    time.sleep(WARMUP_S + MEASURE_S + 1)
    for load in (slow, fast):
        load.stop.set()
    for load in (slow, fast):
        load.thread.join(60)
        load.producer = None  # closes it: no reconnect noise once the broker stops
    assert not slow.errors and not fast.errors, (slow.errors[:3], fast.errors[:3])
    start, end = t0 + WARMUP_S, t0 + WARMUP_S + MEASURE_S
    slow_rate = slow.bytes_between(start, end) / MEASURE_S
    fast_rate = fast.bytes_between(start, end) / MEASURE_S
    print(f"over {MEASURE_S:.0f} s after {WARMUP_S:.0f} s: throttled {slow_rate / MIB:.3f} MiB/s "
          f"(quota 1 MiB/s), unthrottled {fast_rate / MIB:.1f} MiB/s; librdkafka throttle max "
          f"{slow.max_throttle_ms()} ms vs {fast.max_throttle_ms()} ms")
    assert abs(slow_rate - QUOTA) <= 0.10 * QUOTA, f"{slow_rate / MIB:.3f} MiB/s"
    assert fast_rate > 5 * QUOTA, f"the other client is held too: {fast_rate / MIB:.2f} MiB/s"
    # librdkafka's statistics show the broker's throttle times; the free client saw none.
    assert slow.max_throttle_ms() > 0
    assert fast.max_throttle_ms() == 0
    m = scrape(broker.admin_url)
    throttled = m.value("rill_client_quota_throttle_time_ms_total", quota="produce", user="",
                        client_id="slow-producer")
    assert throttled > 0, m.series("rill_client_quota_throttle_time_ms_total")
    assert m.value("rill_client_quota_limit", quota="produce", user="",
                   client_id="slow-producer") == QUOTA
    assert not [k for k in m.series("rill_client_quota_limit") if dict(k).get("client_id") == "fast-producer"]
    # The admin API (the console's Quotas view) shows the quota and this node's sensor.
    got = get_json(broker.admin_url + "/api/v1/quotas")
    assert got["quotas"] == [{"entity": {"client-id": "slow-producer"},
                              "values": {"producer_byte_rate": float(QUOTA)}}]
    sensor = [x for x in got["sensors"] if x["client_id"] == "slow-producer"]
    assert sensor and sensor[0]["quota"] == "produce" and sensor[0]["throttle_ms_total"] > 0, got


def test_a_consumer_quota_holds_fetches_to_its_rate(broker):
    topic = f"quota-c-{uuid.uuid4().hex[:8]}"
    create_topic(broker.bootstrap, topic, partitions=1)
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20})
    value = b"c" * 10240
    for _ in range(4000):  # 40 MiB
        while True:
            try:
                p.produce(topic, value)
                break
            except BufferError:
                p.poll(0.05)
    assert p.flush(30) == 0
    rill(broker, "quotas", "alter", "--client-id", "slow-consumer",
         "--add", f"consumer_byte_rate={QUOTA}")
    c = Consumer({"bootstrap.servers": broker.bootstrap, "client.id": "slow-consumer",
                  "group.id": f"g-{uuid.uuid4().hex[:6]}", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "fetch.max.bytes": 4 * MIB})
    c.subscribe([topic])
    got: list[tuple[float, int]] = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < 24:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got.append((time.monotonic(), len(m.value())))
    c.close()
    window = [n for t, n in got if t0 + 12 <= t < t0 + 24]
    rate = sum(window) / 12
    total = sum(n for _, n in got)
    print(f"consumer under a 1 MiB/s quota: {rate / MIB:.3f} MiB/s over 12 s after 12 s, "
          f"{total / MIB:.1f} MiB in 24 s")
    # Unthrottled, the 40 MiB would be read in about a second.
    assert total < 28 * MIB
    assert 0.5 * QUOTA <= rate <= 1.3 * QUOTA, f"{rate / MIB:.3f} MiB/s"


def create_topic_v6(port: int, name: str, partitions: int, client_id: str) -> tuple[int, int]:
    """CreateTopics v6 (the first version that knows THROTTLING_QUOTA_EXCEEDED, so the
    broker's quota is strict) on a fresh connection: (throttle_time_ms, error_code)."""
    body = (uvarint(2) + compact_string(name) + struct.pack(">ih", partitions, 1)
            + uvarint(1) + uvarint(1) + TAGS_NONE  # no assignments, no configs
            + struct.pack(">i?", 10_000, False) + TAGS_NONE)
    resp = Reader(roundtrip(port, header_v2(19, 6, 7, client_id) + body))
    assert resp.unpack(">i") == 7
    resp.skip_tags()
    throttle = resp.unpack(">i")
    assert resp.uvarint() == 2
    assert resp.compact_string() == name
    return throttle, resp.unpack(">h")


def test_controller_mutation_quota_refuses_creations_until_the_bucket_refills(broker):
    # 2 partitions/s; KIP-599's burst is 2 x 11 windows of 1 s = 22 partitions.
    rill(broker, "quotas", "alter", "--client-id", "creator", "--add", "controller_mutation_rate=2")
    throttle, error = create_topic_v6(broker.port, f"mut-a-{uuid.uuid4().hex[:6]}", 30, "creator")
    # Admitted (the bucket was not in debt), leaving 8 partitions of debt: 4 s at 2/s.
    assert error == 0 and 3500 <= throttle <= 4000, (throttle, error)
    throttle, error = create_topic_v6(broker.port, f"mut-b-{uuid.uuid4().hex[:6]}", 1, "creator")
    assert error == THROTTLING_QUOTA_EXCEEDED and 3000 <= throttle <= 4000, (throttle, error)
    # Another client id has no quota.
    assert create_topic_v6(broker.port, f"mut-c-{uuid.uuid4().hex[:6]}", 30, "other")[1] == 0
    time.sleep(throttle / 1000 + 0.2)
    assert create_topic_v6(broker.port, f"mut-d-{uuid.uuid4().hex[:6]}", 1, "creator")[1] == 0
    # The connection is muted for the throttle time (KIP-219): the rill CLI's requests after
    # its creation (it waits for the topic's metadata) are answered once the debt is paid.
    rill(broker, "quotas", "alter", "--client-id", "rill-cli", "--add", "controller_mutation_rate=2")
    t0 = time.monotonic()
    rill(broker, "topics", "create", f"mut-e-{uuid.uuid4().hex[:6]}", "--partitions", "30")
    waited = time.monotonic() - t0
    print(f"the CLI's creation of 30 partitions took {waited:.1f} s (8 partitions of debt at 2/s)")
    assert waited >= 3.0
    m = scrape(broker.admin_url)
    assert m.value("rill_client_quota_throttled_requests_total", quota="controller_mutation",
                   user="", client_id="creator") >= 2


def metadata_loop(port: int, client_id: str, secs: float) -> tuple[int, list[int]]:
    """Metadata v5 requests back to back on one connection for `secs`: (requests answered,
    the throttle_time_ms of each answer)."""
    throttles = []
    with connect(port) as s:
        end = time.monotonic() + secs
        corr = 0
        while time.monotonic() < end:
            corr += 1
            req = MetadataRequest_v5(topics=None, allow_auto_topic_creation=False)
            s.sendall(frame(header_v1(3, 5, corr, client_id) + req.encode()))
            resp = recv_frame(s)
            assert struct.unpack(">i", resp[:4])[0] == corr
            throttles.append(MetadataResponse_v5.decode(resp[4:]).throttle_time_ms)
    return len(throttles), throttles


def test_a_request_percentage_quota_throttles_a_users_client_by_handling_time(broker):
    # The PLAINTEXT principal is User:ANONYMOUS: a (user, client id) quota on it checks that
    # the user part of an entity is the principal's name. 0.1% of one thread: 1 ms of
    # handling a second (a Metadata request takes a few microseconds to handle).
    rill(broker, "quotas", "alter", "--user", "ANONYMOUS", "--client-id", "spammer",
         "--add", "request_percentage=0.1")
    free, free_throttles = metadata_loop(broker.port, "free", 3)
    spammed, throttles = metadata_loop(broker.port, "spammer", 3)
    print(f"Metadata requests in 3 s: {free} unthrottled, {spammed} under 0.1% of a thread; "
          f"throttle times up to {max(throttles)} ms")
    assert max(free_throttles) == 0
    assert max(throttles) > 0
    # The connection is muted while throttled: far fewer requests are answered.
    assert spammed < free / 3, (spammed, free)
    m = scrape(broker.admin_url)
    assert m.value("rill_client_quota_throttle_time_ms_total", quota="request", user="ANONYMOUS",
                   client_id="spammer") > 0, m.series("rill_client_quota_throttle_time_ms_total")


def test_quotas_are_altered_described_checked_and_survive_a_restart(broker):
    rill(broker, "quotas", "alter", "--user", "alice", "--add",
         "producer_byte_rate=2048,request_percentage=50")
    rill(broker, "quotas", "alter", "--user-default", "--client-default", "--add",
         "consumer_byte_rate=4096")
    rill(broker, "quotas", "alter", "--client-id", "app", "--add", "controller_mutation_rate=1.5")
    want = {
        (("user", "alice"),): {"producer_byte_rate": 2048.0, "request_percentage": 50.0},
        (("client-id", None), ("user", None)): {"consumer_byte_rate": 4096.0},
        (("client-id", "app"),): {"controller_mutation_rate": 1.5},
    }
    assert describe_quotas(broker.port) == want
    # The CLI reads them back too, filtered by entity.
    out = json.loads(rill(broker, "-O", "json", "quotas", "describe", "--user", "alice").stdout)
    assert out == [{"entity": {"user": "alice"},
                    "quotas": {"producer_byte_rate": 2048.0, "request_percentage": 50.0}}]
    # Refused with INVALID_REQUEST: an unknown key, a fractional byte rate, a zero rate, an
    # ip entity (connection_creation_rate is not enforced, so it is not stored either).
    for args in (["--user", "bob", "--add", "bogus_rate=1"],
                 ["--user", "bob", "--add", "producer_byte_rate=10.5"],
                 ["--user", "bob", "--add", "consumer_byte_rate=0"]):
        bad = rill(broker, "quotas", "alter", *args, check=False)
        assert bad.returncode != 0 and "INVALID_REQUEST" in bad.stderr.upper().replace(" ", "_"), \
            (args, bad.stderr)
    assert describe_quotas(broker.port) == want
    broker.restart()
    assert describe_quotas(broker.port) == want
    rill(broker, "quotas", "alter", "--user", "alice", "--delete", "request_percentage")
    rill(broker, "quotas", "alter", "--client-id", "app", "--delete", "controller_mutation_rate")
    assert describe_quotas(broker.port) == {
        (("user", "alice"),): {"producer_byte_rate": 2048.0},
        (("client-id", None), ("user", None)): {"consumer_byte_rate": 4096.0},
    }
