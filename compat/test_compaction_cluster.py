"""Log compaction on a 3-node cluster: a compacted topic with replication factor 3 and small
segments takes 100,000 keyed records over 10,000 keys (updates and ~10% tombstones) from
confluent-kafka. Every replica cleans its own copy of the log (the cleaner runs on each node
independently), so the test waits until each node's /metrics shows a cleaner pass and the
partition's log shrunk on that node, then a new consumer reads exactly the latest value of
every key from the leader. The leader is then killed with kill -9 and the same read from the
new leader (whose log was cleaned by its own cleaner) must give exactly the latest values
again; the killed node comes back and rejoins the ISR.

delete.retention.ms is 0: a tombstone survives the pass that first sees it (which stamps its
batch's delete horizon) and goes in a later pass, so a tombstoned key is either absent or
read as a tombstone, depending on how many passes each replica ran.
Run with -s to see the figures (sizes per node, passes, times)."""

from __future__ import annotations

import random
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition

from adminhttp import scrape
from clients import produce_all, producer
from rillkit import ClusterKit, create_topics_at, wait_until

KEYS = 10_000
RECORDS = 100_000
SEGMENT_BYTES = 262_144


@pytest.fixture
def cluster(request, tmp_path):
    kits: list[ClusterKit] = []
    request.node._rill_brokers = []

    def make(nodes: int = 3, **kw) -> ClusterKit:
        kit = ClusterKit(tmp_path / "c", nodes, **kw)
        kits.append(kit)
        request.node._rill_brokers.extend(kit.nodes.values())
        t0 = time.monotonic()
        kit.start_all()
        print(f"{nodes} nodes up in {time.monotonic() - t0:.1f}s")
        return kit

    yield make
    for kit in kits:
        kit.close()


def views(kit: ClusterKit, topic: str, node: int):
    return kit.metadata(node, [topic]).topics.get(topic, {})


def wait_isr_full(kit: ClusterKit, topic: str, timeout: float = 60.0) -> None:
    """Every live node shows partition 0 led, with all three replicas in the ISR."""

    def check():
        for node in kit.live():
            v = views(kit, topic, node).get(0)
            if v is None or v.leader < 0 or len(v.replicas) != 3 or sorted(v.isr) != sorted(v.replicas):
                return None
        return True

    wait_until(f"{topic}: every replica in the ISR", check, timeout)


def read_all(bootstrap: str, topic: str) -> tuple[list[tuple[int, bytes, bytes | None]], int]:
    """Every record of partition 0 up to the high watermark, read by a new confluent-kafka
    consumer: ([(offset, key, value)], high watermark)."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
            "topic.metadata.refresh.interval.ms": 1000,
        }
    )
    try:
        high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
        c.assign([TopicPartition(topic, 0, 0)])
        out, last = [], -1
        deadline = time.monotonic() + 60
        while last < high - 1:
            assert time.monotonic() < deadline, f"read up to {last} of {high}"
            for m in c.consume(num_messages=5000, timeout=0.5):
                if m.error() is not None:
                    assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                    continue
                assert m.offset() > last, f"offset {m.offset()} after {last}"
                last = m.offset()
                out.append((m.offset(), m.key(), m.value()))
        return out, high
    finally:
        c.close()


def check_latest(recs, expected: dict[bytes, bytes | None], where: str) -> tuple[int, int]:
    """The records give exactly the latest value of each key: a live key with its last value,
    a tombstoned key absent or as a tombstone, nothing else. Returns (records, tombstones
    read)."""
    latest: dict[bytes, bytes | None] = {}
    for _, k, v in recs:
        latest[k] = v
    live = {k: v for k, v in expected.items() if v is not None}
    got_live = {k: v for k, v in latest.items() if v is not None}
    wrong = [k for k in live if got_live.get(k) != live[k]]
    assert not wrong, f"{where}: {len(wrong)} keys without their latest value, e.g. {wrong[:5]}"
    extra = [k for k in got_live if k not in live]
    assert not extra, f"{where}: keys whose latest record is a tombstone read with a value: {extra[:5]}"
    unknown = [k for k in latest if k not in expected]
    assert not unknown, f"{where}: keys never written: {unknown[:5]}"
    offsets = [o for o, _, _ in recs]
    assert offsets == sorted(set(offsets)), f"{where}: offsets not increasing"
    return len(recs), sum(1 for v in latest.values() if v is None)


def node_figures(kit: ClusterKit, topic: str) -> dict[int, tuple[float, float, float]]:
    """Per live node: (log size of partition 0 on that node, cleaner passes, records removed)."""
    out = {}
    for i in kit.live():
        s = scrape(kit.nodes[i].admin_url)
        out[i] = (
            s.value("rill_log_size_bytes", topic=topic, partition="0"),
            s.value("rill_log_cleaner_passes_total"),
            s.value("rill_log_cleaner_records_removed_total"),
        )
    return out


def test_compaction_on_every_replica_survives_a_leader_change(cluster):
    t_start = time.monotonic()
    kit = cluster(
        3,
        overrides={
            "log.cleaner.backoff.ms": "100",
            "replica.lag.time.max.ms": "5000",
            "replica.fetch.backoff.ms": "200",
        },
    )
    topic = f"cc-{uuid.uuid4().hex[:8]}"
    configs = {
        "cleanup.policy": "compact",
        "internal.segment.bytes": str(SEGMENT_BYTES),
        "min.cleanable.dirty.ratio": "0.01",
        "delete.retention.ms": "0",
        "min.insync.replicas": "2",
    }
    codes = wait_until(
        "topic created",
        lambda: (c := create_topics_at(kit.port(kit.live()[0]), [(topic, 1, 3)], configs=configs))
        and c.get(topic) == 0
        and c,
        20,
        0.3,
    )
    assert codes == {topic: 0}
    wait_isr_full(kit, topic)

    rng = random.Random(33)
    expected: dict[bytes, bytes | None] = {}
    msgs = []
    for i in range(RECORDS):
        key = f"key-{rng.randrange(KEYS):05}".encode()
        value = None if rng.random() < 0.1 else f"value-{i}-{'x' * 40}".encode()
        msgs.append({"key": key, "value": value, "partition": 0})
        expected[key] = value
    t0 = time.monotonic()
    produce_all(producer(kit.bootstrap(), **{"linger.ms": 20, "batch.num.messages": 2000}), topic, msgs)
    # A large record rolls the segment on every replica, so nearly everything is below the
    # cleaner point.
    big = b"s" * (SEGMENT_BYTES + 1000)
    produce_all(producer(kit.bootstrap()), topic,
                [{"key": b"sentinel", "value": big, "partition": 0}])
    expected[b"sentinel"] = big
    produced_s = time.monotonic() - t0
    live_keys = sum(1 for v in expected.values() if v is not None)
    print(f"produced {RECORDS} records over {len(expected) - 1} keys "
          f"({len(expected) - live_keys} ending in a tombstone) in {produced_s:.1f}s")

    # Cleaning happens on each replica: every node ran a pass and its copy shrank to a few
    # times the live set (~10k records of ~70 bytes, plus the 263 KB sentinel).
    uncompacted = RECORDS * 70
    bound = 2_000_000

    def cleaned_everywhere():
        f = node_figures(kit, topic)
        return f if all(size < bound and passes >= 1 for size, passes, _ in f.values()) else None

    t1 = time.monotonic()
    figures = wait_until(f"partition cleaned on every node (log below {bound} bytes)", cleaned_everywhere, 60, 0.5)
    for i, (size, passes, removed) in sorted(figures.items()):
        print(f"node {i}: log {int(size)} bytes (about {uncompacted} written), "
              f"{int(passes)} cleaner passes, {int(removed)} records removed")
    print(f"cleaned on all replicas {time.monotonic() - t1:.1f}s after the last write")

    leader = views(kit, topic, kit.live()[0])[0].leader
    recs, high = read_all(kit.bootstrap(), topic)
    n, tombs = check_latest(recs, expected, f"leader {leader}")
    assert n < RECORDS // 3, f"leader {leader}: {n} records read, compaction did not shrink the log"
    print(f"leader {leader}: {n} records read up to high watermark {high} "
          f"({tombs} tombstones still there)")

    # Leader change: kill -9 the leader; a follower with its own cleaned log takes over.
    t2 = time.monotonic()
    kit.kill9(leader)
    up = kit.live()
    new_leader = wait_until(
        "a new leader",
        lambda: (v := views(kit, topic, up[0]).get(0)) and v.leader in up and v.leader,
        30,
    )
    print(f"killed node {leader}; node {new_leader} leads after {time.monotonic() - t2:.2f}s")
    # The dead node is out of the ISR before it comes back, so the rejoin below is real.
    wait_until(
        f"node {leader} out of the ISR",
        lambda: all(leader not in views(kit, topic, i)[0].isr for i in up),
        30,
    )
    recs2, high2 = read_all(kit.bootstrap(), topic)
    assert high2 == high, f"high watermark {high2} on the new leader, {high} before"
    n2, tombs2 = check_latest(recs2, expected, f"new leader {new_leader}")
    assert n2 < RECORDS // 3
    print(f"new leader {new_leader}: {n2} records read ({tombs2} tombstones still there)")

    # The killed node comes back as a follower and rejoins the ISR.
    t3 = time.monotonic()
    kit.start(leader)
    wait_isr_full(kit, topic)
    # The rejoined node holds the whole log again: its log end offset is the high watermark.
    leo = wait_until(
        f"node {leader} caught up",
        lambda: (v := scrape(kit.nodes[leader].admin_url).value("rill_log_end_offset", topic=topic, partition="0"))
        == high and v,
        30,
        0.3,
    )
    assert leo == high
    print(f"node {leader} back in the ISR after {time.monotonic() - t3:.1f}s; "
          f"test took {time.monotonic() - t_start:.1f}s")
