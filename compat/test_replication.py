"""Partition replication with real processes: 3 `rill serve` nodes on 127.0.0.1, topics with
replication factor 3 and min.insync.replicas=2, and an idempotent acks=all confluent-kafka
producer writing continuously while nodes are killed with kill -9, cut off from a leader by
our fault proxy (compat/faultproxy.py), or restarted one at a time. Afterwards a consumer
reads every partition to its end and the test checks that every acknowledged record is
there, once, at its acknowledged offset, in the producer's order, and that the nodes are
back in every ISR. Each test prints what it did and the counts (run with -s).
"""

from __future__ import annotations

import filecmp
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from rillkit import ClusterKit, create_topics_at, wait_until

NOT_ENOUGH_REPLICAS = 19
PARTITIONS = 3


@pytest.fixture
def cluster(request, tmp_path):
    kits: list[ClusterKit] = []
    request.node._rill_brokers = []

    def make(nodes: int = 3, **kw) -> ClusterKit:
        overrides = {"replica.lag.time.max.ms": "3000", "replica.fetch.backoff.ms": "200"}
        overrides.update(kw.pop("overrides", {}))
        kit = ClusterKit(tmp_path / "c", nodes, overrides=overrides, **kw)
        kits.append(kit)
        request.node._rill_brokers.extend(kit.nodes.values())
        t0 = time.monotonic()
        kit.start_all()
        print(f"{nodes} nodes up in {time.monotonic() - t0:.1f}s")
        return kit

    yield make
    for kit in kits:
        kit.close()


def make_topic(kit: ClusterKit, rf: int = 3, partitions: int = PARTITIONS, min_isr: int = 2) -> str:
    name = f"r-{uuid.uuid4().hex[:8]}"
    node = kit.live()[0]
    deadline = time.monotonic() + 20
    while True:
        codes = create_topics_at(
            kit.port(node), [(name, partitions, rf)], configs={"min.insync.replicas": str(min_isr)}
        )
        if codes.get(name) == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert codes == {name: 0}, codes
    wait_isr_full(kit, name, partitions, rf)
    return name


def partition_views(kit: ClusterKit, topic: str, node: int | None = None):
    node = node if node is not None else kit.live()[0]
    return kit.metadata(node, [topic]).topics.get(topic, {})


def wait_isr_full(kit: ClusterKit, topic: str, partitions: int = PARTITIONS, rf: int = 3, timeout=60.0):
    """Every live node shows every partition led, with the full replica set in the ISR."""

    def check():
        for node in kit.live():
            views = partition_views(kit, topic, node)
            if len(views) != partitions:
                return None
            for p in range(partitions):
                v = views[p]
                if v.leader < 0 or len(v.replicas) != rf or sorted(v.isr) != sorted(v.replicas):
                    return None
        return True

    wait_until(f"{topic}: every replica in the ISR", check, timeout)


def leader_of(kit: ClusterKit, topic: str, partition: int) -> int:
    return partition_views(kit, topic)[partition].leader


class ContinuousProducer:
    """An idempotent acks=all producer writing `seq` numbers round-robin over the partitions
    until stopped; records what was acknowledged and every delivery error."""

    def __init__(self, bootstrap: str, topic: str, partitions: int = PARTITIONS, rate: int = 400):
        self.topic = topic
        self.partitions = partitions
        self.rate = rate
        self.acked: dict[tuple[int, int], bytes] = {}
        self.errors: list[str] = []
        self.sent = 0
        self._stop = threading.Event()
        self.p = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 5,
                "message.timeout.ms": 120000,
                "request.timeout.ms": 10000,
                "retry.backoff.ms": 100,
                "metadata.max.age.ms": 2000,
            }
        )
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _on_delivery(self, err, msg):
        if err is not None:
            self.errors.append(f"{err.name()} ({err.code()}) retriable={err.retriable()}")
        else:
            self.acked[(msg.partition(), msg.offset())] = msg.value()

    def _run(self):
        interval = 1.0 / self.rate
        while not self._stop.is_set():
            value = f"seq-{self.sent:08d}".encode()
            try:
                self.p.produce(
                    self.topic,
                    value=value,
                    key=value,
                    partition=self.sent % self.partitions,
                    on_delivery=self._on_delivery,
                )
                self.sent += 1
            except BufferError:
                pass
            self.p.poll(0)
            time.sleep(interval)

    def acked_count(self) -> int:
        return len(self.acked)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        left = self.p.flush(120)
        assert left == 0, f"{left} records still unacknowledged after 120 s"


def read_all(bootstrap: str, topic: str, partitions: int = PARTITIONS) -> dict[int, list[tuple[int, bytes]]]:
    """Every record of every partition up to its high watermark, as (offset, value)."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"verify-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        ends = {}
        for p in range(partitions):
            _, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            ends[p] = hi
        c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        out: dict[int, list[tuple[int, bytes]]] = {p: [] for p in range(partitions)}
        deadline = time.monotonic() + 60
        while any((out[p][-1][0] + 1 if out[p] else 0) < ends[p] for p in out):
            assert time.monotonic() < deadline, f"read {[len(v) for v in out.values()]} of {ends}"
            for m in c.consume(num_messages=1000, timeout=0.5):
                if m.error() is not None:
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise AssertionError(f"consumer error: {m.error()}")
                out[m.partition()].append((m.offset(), m.value()))
        return out
    finally:
        c.close()


def verify(kit: ClusterKit, topic: str, prod: ContinuousProducer, partitions: int = PARTITIONS) -> None:
    """Every acknowledged record read back once at its offset, in producer order."""
    log = read_all(kit.bootstrap(), topic, partitions)
    read = sum(len(v) for v in log.values())
    at = {(p, o): v for p, recs in log.items() for o, v in recs}
    missing = [(k, v) for k, v in prod.acked.items() if at.get(k) != v]
    values = [v for recs in log.values() for _, v in recs]
    dupes = len(values) - len(set(values))
    print(f"acknowledged {len(prod.acked)} of {prod.sent} sent; read {read}; "
          f"missing {len(missing)}; duplicates {dupes}; delivery errors {len(prod.errors)}")
    assert not missing, f"acknowledged records lost or changed: {missing[:10]}"
    assert dupes == 0, "a record was written twice"
    for p, recs in log.items():
        offsets = [o for o, _ in recs]
        assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
        seqs = [int(v.split(b"-")[1]) for _, v in recs]
        assert seqs == sorted(seqs), f"partition {p}: records out of producer order"
    assert not prod.errors, f"the producer saw errors: {prod.errors[:10]}"
    assert len(prod.acked) == prod.sent


def same_logs(kit: ClusterKit, topic: str, partitions: int = PARTITIONS) -> None:
    """With all nodes stopped: each partition's segment files are identical on every node."""
    for p in range(partitions):
        dirs = [Path(kit.nodes[i].data_dir) / f"{topic}-{p}" for i in kit.nodes]
        names = [sorted(x.name for x in d.glob("*.log")) for d in dirs]
        assert all(n == names[0] for n in names), f"partition {p}: segments differ {names}"
        for name in names[0]:
            for d in dirs[1:]:
                assert filecmp.cmp(dirs[0] / name, d / name, shallow=False), (
                    f"partition {p}: {d / name} differs from {dirs[0] / name}"
                )
    print(f"{topic}: segment files identical on nodes {sorted(kit.nodes)}")


# ---- (a) kill -9 of every partition's leader ------------------------------------------------


def test_acks_all_survives_kill9_of_every_leader(cluster):
    kit = cluster(3)
    topic = make_topic(kit)
    prod = ContinuousProducer(kit.bootstrap(), topic)
    wait_until("records acknowledged", lambda: prod.acked_count() > 200 or None, 30)
    for p in range(PARTITIONS):
        victim = leader_of(kit, topic, p)
        before = prod.acked_count()
        t0 = time.monotonic()
        kit.kill9(victim)
        up = [i for i in kit.nodes if i != victim]
        wait_until(
            f"partition {p} led by a live node",
            lambda: all(partition_views(kit, topic, up[0])[q].leader in up for q in range(PARTITIONS)) or None,
            30,
        )
        elected = time.monotonic() - t0
        wait_until("acks resume", lambda: prod.acked_count() > before + 100 or None, 60)
        print(f"killed node {victim} (leader of partition {p}): new leaders after {elected:.2f}s, "
              f"acks resumed after {time.monotonic() - t0:.2f}s")
        kit.start(victim)
        t1 = time.monotonic()
        wait_isr_full(kit, topic)
        print(f"node {victim} back in every ISR {time.monotonic() - t1:.2f}s after restart")
    prod.stop()
    verify(kit, topic, prod)
    kit.stop_all()
    same_logs(kit, topic)


# ---- (b) a follower cut off from its leader, then healed -------------------------------------


def test_follower_cut_off_leaves_and_rejoins_the_isr(cluster):
    kit = cluster(3, proxied=True)
    topic = make_topic(kit, partitions=1)
    prod = ContinuousProducer(kit.bootstrap(), topic, partitions=1)
    wait_until("records acknowledged", lambda: prod.acked_count() > 200 or None, 30)
    leader = leader_of(kit, topic, 0)
    follower = next(i for i in partition_views(kit, topic)[0].replicas if i != leader)
    t0 = time.monotonic()
    kit.proxies[leader].cut(f"rill-replica-fetcher-{follower}")
    wait_until(
        f"node {follower} out of the ISR",
        lambda: follower not in partition_views(kit, topic)[0].isr or None,
        30,
    )
    print(f"cut node {follower} off from leader {leader}: out of the ISR after {time.monotonic() - t0:.2f}s")
    before = prod.acked_count()
    wait_until("acks continue with 2 in-sync replicas", lambda: prod.acked_count() > before + 200 or None, 30)
    assert leader_of(kit, topic, 0) == leader
    kit.proxies[leader].heal()
    t1 = time.monotonic()
    wait_isr_full(kit, topic, partitions=1)
    print(f"healed: node {follower} back in the ISR after {time.monotonic() - t1:.2f}s "
          f"(proxy refused {kit.proxies[leader].refused} fetcher connections meanwhile)")
    prod.stop()
    verify(kit, topic, prod, partitions=1)
    kit.stop_all()
    same_logs(kit, topic, partitions=1)


# ---- (c) every node restarted one at a time ---------------------------------------------------


def test_rolling_restart_loses_nothing(cluster):
    kit = cluster(3)
    topic = make_topic(kit)
    prod = ContinuousProducer(kit.bootstrap(), topic)
    wait_until("records acknowledged", lambda: prod.acked_count() > 200 or None, 30)
    for node in sorted(kit.nodes):
        before = prod.acked_count()
        t0 = time.monotonic()
        code = kit.stop(node)
        kit.start(node)
        wait_isr_full(kit, topic)
        wait_until("acks continue", lambda: prod.acked_count() > before + 100 or None, 60)
        print(f"restarted node {node} (exit {code}); back in every ISR after {time.monotonic() - t0:.2f}s")
    prod.stop()
    verify(kit, topic, prod)
    kit.stop_all()
    same_logs(kit, topic)


# ---- min.insync.replicas ----------------------------------------------------------------------


def test_acks_all_refused_below_min_insync_replicas(cluster):
    from kafka import KafkaProducer
    from kafka.errors import NotEnoughReplicasError

    kit = cluster(3)
    topic = make_topic(kit, rf=2, partitions=1, min_isr=2)
    view = partition_views(kit, topic)[0]
    follower = next(i for i in view.replicas if i != view.leader)
    kit.kill9(follower)
    wait_until(
        f"node {follower} out of the ISR",
        lambda: partition_views(kit, topic)[0].isr == (view.leader,) or None,
        30,
    )
    strict = KafkaProducer(bootstrap_servers=kit.bootstrap(), acks="all", retries=0)
    with pytest.raises(NotEnoughReplicasError):
        strict.send(topic, b"must not be acknowledged", partition=0).get(timeout=30)
    strict.close()
    relaxed = KafkaProducer(bootstrap_servers=kit.bootstrap(), acks=1, retries=0)
    md = relaxed.send(topic, b"acks=1 is fine", partition=0).get(timeout=30)
    relaxed.close()
    print(f"ISR {{{view.leader}}} < min.insync.replicas=2: acks=all NOT_ENOUGH_REPLICAS, acks=1 at offset {md.offset}")
    kit.start(follower)
    wait_isr_full(kit, topic, partitions=1, rf=2)
