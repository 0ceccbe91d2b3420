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
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

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

    def __init__(self, bootstrap: str, topic: str, partitions: int = PARTITIONS, rate: int = 400,
                 **conf):
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
                **conf,
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
        seqs = [int(v.split(b"-")[1]) for _, v in recs if v.startswith(b"seq-")]
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


def test_a_dead_follower_is_not_proposed_back_into_the_isr(cluster):
    """A follower that died caught up on an idle partition keeps its last offset, which the
    watermark never passes. Its leader must not ask the controller to take it back into the
    ISR while it is not fetching: each refused proposal is a metadata log entry, and they came
    every 250 ms for as long as the node stayed down."""
    from adminhttp import scrape

    kit = cluster(3)
    topic = make_topic(kit, rf=3, partitions=1, min_isr=1)
    view = partition_views(kit, topic)[0]
    follower = next(i for i in view.replicas if i != view.leader)
    kit.kill9(follower)
    wait_until(
        f"node {follower} out of the ISR",
        lambda: follower not in partition_views(kit, topic)[0].isr or None,
        30,
    )
    time.sleep(1.0)  # its fencing and the shrink settle
    base = kit.nodes[view.leader].admin_url
    before = scrape(base).value("rill_raft_commit_index")
    time.sleep(4.0)
    grown = scrape(base).value("rill_raft_commit_index") - before
    print(f"metadata log entries in 4 s with node {follower} dead: {grown:.0f}")
    assert grown <= 2, f"{grown:.0f} metadata log entries in 4 s with an idle cluster"
    assert follower not in partition_views(kit, topic)[0].isr
    kit.start(follower)
    wait_isr_full(kit, topic, partitions=1, rf=3)


# ---- reassignment: data copied before the old replica is dropped ------------------------------


def reassignment_call(port: int, topic: str, partition: int, replicas):
    """AlterPartitionReassignments v0 with kafka-python's encoder; returns the partition's code."""
    from kafka.protocol.admin import AlterPartitionReassignmentsRequest

    import wire

    req = AlterPartitionReassignmentsRequest[0](
        timeout_ms=10000, topics=[(topic, [(partition, replicas, {})], {})], tags={}
    )
    payload = wire.header_v2(req.API_KEY, req.API_VERSION, 21) + req.encode()
    with wire.connect(port, 15) as s:
        s.sendall(wire.frame(payload))
        resp = wire.recv_frame(s)
    r = req.RESPONSE_TYPE.decode(resp[5:])
    assert r.error_code == 0, r
    return r.responses[0][1][0][1]


def ongoing_reassignments(port: int, topic: str) -> dict[int, tuple]:
    """ListPartitionReassignments v0: partition -> (replicas, adding, removing)."""
    from kafka.protocol.admin import ListPartitionReassignmentsRequest

    import wire

    req = ListPartitionReassignmentsRequest[0](timeout_ms=10000, topics=None, tags={})
    payload = wire.header_v2(req.API_KEY, req.API_VERSION, 22) + req.encode()
    with wire.connect(port, 15) as s:
        s.sendall(wire.frame(payload))
        resp = wire.recv_frame(s)
    r = req.RESPONSE_TYPE.decode(resp[5:])
    out = {}
    for name, partitions, _tags in r.topics:
        if name == topic:
            for index, replicas, adding, removing, _t in partitions:
                out[index] = (tuple(replicas), tuple(adding), tuple(removing))
    return out


def test_reassignment_copies_data_before_dropping_the_old_replica(cluster):
    kit = cluster(3, proxied=True)
    topic = make_topic(kit, rf=2, partitions=1, min_isr=1)
    old = partition_views(kit, topic)[0]
    newcomer = next(i for i in kit.nodes if i not in old.replicas)
    dropped = next(i for i in old.replicas if i != old.leader)
    target = [old.leader, newcomer]
    prod = ContinuousProducer(kit.bootstrap(), topic, partitions=1)
    wait_until("records acknowledged", lambda: prod.acked_count() > 300 or None, 30)
    # Hold the newcomer back so the reassignment is seen in progress.
    kit.proxies[old.leader].cut(f"rill-replica-fetcher-{newcomer}")
    code = reassignment_call(kit.port(old.leader), topic, 0, target)
    assert code == 0, code
    ongoing = wait_until("reassignment listed", lambda: ongoing_reassignments(kit.port(newcomer), topic) or None, 20)
    assert ongoing[0][1] == (newcomer,) and ongoing[0][2] == (dropped,), ongoing
    time.sleep(1.0)
    view = partition_views(kit, topic)[0]
    assert dropped in view.replicas and newcomer not in view.isr, "nothing may be dropped before the copy"
    print(f"reassigning {list(old.replicas)} -> {target}: in progress {ongoing[0]} while node {newcomer} is cut off")
    t0 = time.monotonic()
    kit.proxies[old.leader].heal()
    wait_until(
        "reassignment done",
        lambda: sorted(partition_views(kit, topic)[0].replicas) == sorted(target) or None,
        30,
    )
    wait_isr_full(kit, topic, partitions=1, rf=2)
    print(f"healed: reassignment finished after {time.monotonic() - t0:.2f}s; ISR {partition_views(kit, topic)[0].isr}")
    assert not ongoing_reassignments(kit.port(newcomer), topic)
    gone = Path(kit.nodes[dropped].data_dir) / f"{topic}-0"
    wait_until(f"node {dropped} deleted its replica", lambda: (not gone.exists()) or None, 20)
    prod.stop()
    verify(kit, topic, prod, partitions=1)


# ---- preferred leader election ----------------------------------------------------------------


def test_preferred_leader_election_with_confluent_admin(cluster):
    from confluent_kafka import ElectionType
    from confluent_kafka.admin import AdminClient

    kit = cluster(3)
    topic = make_topic(kit, partitions=1)
    preferred = partition_views(kit, topic)[0].replicas[0]
    assert leader_of(kit, topic, 0) == preferred
    kit.kill9(preferred)
    up = [i for i in kit.nodes if i != preferred]
    wait_until("another leader", lambda: partition_views(kit, topic, up[0])[0].leader in up or None, 30)
    kit.start(preferred)
    wait_isr_full(kit, topic, partitions=1)
    moved = leader_of(kit, topic, 0)
    assert moved != preferred
    admin = AdminClient({"bootstrap.servers": kit.bootstrap()})
    tp = TopicPartition(topic, 0)
    result = admin.elect_leaders(ElectionType.PREFERRED, [tp]).result(timeout=30)
    assert result[tp] is None, result
    wait_until("preferred leader back", lambda: leader_of(kit, topic, 0) == preferred or None, 20)
    again = admin.elect_leaders(ElectionType.PREFERRED, [tp]).result(timeout=30)
    assert again[tp] is not None and again[tp].code() == KafkaError.ELECTION_NOT_NEEDED, again
    print(f"leader {moved} -> preferred {preferred} by ElectLeaders; asking again: ELECTION_NOT_NEEDED")


# ---- consumer group offsets follow the coordinator ---------------------------------------------


def test_group_offsets_survive_coordinator_kill9(cluster):
    from confluent_kafka.admin import AdminClient

    kit = cluster(3)
    topic = make_topic(kit)
    prod = ContinuousProducer(kit.bootstrap(), topic, rate=2000)
    wait_until("records", lambda: prod.acked_count() > 600 or None, 30)
    prod.stop()
    group = f"g-{uuid.uuid4().hex[:6]}"
    c = Consumer(
        {
            "bootstrap.servers": kit.bootstrap(),
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    c.subscribe([topic])
    got = 0
    deadline = time.monotonic() + 60
    while got < 300:
        assert time.monotonic() < deadline
        for m in c.consume(num_messages=100, timeout=1):
            if m.error() is None:
                got += 1
    committed = c.commit(asynchronous=False)
    c.close()
    positions = {t.partition: t.offset for t in committed if t.offset >= 0}
    admin = AdminClient({"bootstrap.servers": kit.bootstrap()})
    desc = admin.describe_consumer_groups([group])[group].result(timeout=30)
    coordinator = desc.coordinator.id
    kit.kill9(coordinator)
    t0 = time.monotonic()
    up = [i for i in kit.nodes if i != coordinator]

    def read_committed():
        """What a fresh member of the group is told it committed (FindCoordinator, then
        OffsetFetch from the coordinator the survivors elected)."""
        probe = Consumer({"bootstrap.servers": kit.bootstrap(up), "group.id": group})
        try:
            tps = probe.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=5)
        except KafkaException:
            return None  # not served yet: the client looks again
        finally:
            probe.close()
        return {tp.partition: tp.offset for tp in tps if tp.offset >= 0}

    after = wait_until("offsets from the new coordinator", lambda: read_committed() or None, 40)
    print(f"killed coordinator {coordinator}; committed offsets {after} served again after {time.monotonic() - t0:.2f}s")
    assert after == positions, (after, positions)


# ---- an isolated leader acknowledges nothing acks=all --------------------------------------


def test_isolated_leader_acknowledges_nothing_that_is_lost(cluster):
    from kafka import KafkaProducer
    from kafka.errors import KafkaError as KpError

    kit = cluster(3, proxied=True, raft_proxied=True)
    topic = make_topic(kit, partitions=1)
    prod = ContinuousProducer(kit.bootstrap(), topic, partitions=1)
    wait_until("records acknowledged", lambda: prod.acked_count() > 300 or None, 30)
    old = leader_of(kit, topic, 0)
    up = [i for i in kit.nodes if i != old]
    t0 = time.monotonic()
    kit.isolate(old)
    # A producer that talks only to the isolated leader (which still thinks it leads).
    direct = KafkaProducer(
        bootstrap_servers=f"127.0.0.1:{kit.proxies[old].port}",
        acks="all",
        retries=0,
        request_timeout_ms=6000,
        max_block_ms=10000,
    )
    direct_outcomes = []
    for n in range(3):
        try:
            md = direct.send(topic, f"direct-{n}".encode(), partition=0).get(timeout=20)
            direct_outcomes.append(("acknowledged", md.offset))
        except KpError as e:
            direct_outcomes.append(("refused", type(e).__name__))
    try:
        direct.close(timeout=10)
    except KpError:
        pass  # requests to the isolated node may still be outstanding
    wait_until(
        "a new leader among the others",
        lambda: partition_views(kit, topic, up[0])[0].leader in up or None,
        30,
    )
    new = partition_views(kit, topic, up[0])[0].leader
    print(f"isolated leader {old}: new leader {new} after {time.monotonic() - t0:.2f}s; "
          f"direct acks=all writes to the old leader: {direct_outcomes}")
    # The first write can only go to the isolated leader (the only metadata the client has
    # is its stale view), which must not acknowledge it. kafka-python then refreshes metadata
    # from any node it learned of, so a later write may reach the new leader and be
    # acknowledged there; every acknowledged one must survive (checked after healing).
    assert direct_outcomes[0][0] == "refused", direct_outcomes
    # The new leader takes acks=all writes (a client that asks the healthy nodes; the
    # continuous producer may keep trying the isolated node's stale metadata until healed).
    fresh = Producer({"bootstrap.servers": kit.bootstrap(up), "acks": "all", "enable.idempotence": True})
    fresh_acked = []
    for n in range(50):
        fresh.produce(topic, value=f"fresh-{n}".encode(), partition=0,
                      on_delivery=lambda err, m: fresh_acked.append((err, m.offset())))
    assert fresh.flush(60) == 0
    assert all(err is None for err, _ in fresh_acked), fresh_acked
    print(f"new leader {new} acknowledged 50 acks=all writes from a fresh producer")
    kit.heal_all()
    t1 = time.monotonic()
    wait_isr_full(kit, topic, partitions=1)
    print(f"healed: node {old} back in the ISR after {time.monotonic() - t1:.2f}s")
    prod.stop()
    verify(kit, topic, prod, partitions=1)
    at = {o: v for o, v in read_all(kit.bootstrap(), topic, 1)[0]}
    for n, (kind, offset) in enumerate(direct_outcomes):
        if kind == "acknowledged":
            assert at.get(offset) == f"direct-{n}".encode(), (
                f"direct write {n} acknowledged at offset {offset} but the log has {at.get(offset)}"
            )
    kit.stop_all()
    same_logs(kit, topic, partitions=1)


# ---- replicated DeleteRecords ------------------------------------------------------------------


def test_delete_records_is_replicated_and_survives_a_leader_change(cluster):
    """DeleteRecords answers once every in-sync replica moved its log start; after the leader
    dies the new leader starts at the deleted offset and a consumer from the beginning never
    sees a deleted record."""
    from confluent_kafka.admin import AdminClient

    kit = cluster(3)
    topic = make_topic(kit, partitions=1)
    prod = Producer({"bootstrap.servers": kit.bootstrap(), "acks": "all", "linger.ms": 5})
    for i in range(200):
        prod.produce(topic, value=f"v{i}".encode(), partition=0)
    assert prod.flush(30) == 0
    cut = 120
    admin = AdminClient({"bootstrap.servers": kit.bootstrap()})
    t0 = time.monotonic()
    fs = admin.delete_records([TopicPartition(topic, 0, cut)], request_timeout=30)
    deleted = list(fs.values())[0].result(timeout=30)
    print(f"DeleteRecords answered after {time.monotonic() - t0:.2f}s, low watermark {deleted.low_watermark}")
    assert deleted.low_watermark == cut, "every in-sync replica has moved its log start"
    victim = leader_of(kit, topic, 0)
    kit.kill9(victim)
    up = [i for i in kit.nodes if i != victim]
    wait_until(
        "a live node leads",
        lambda: partition_views(kit, topic, up[0])[0].leader in up or None,
        30,
    )
    records = read_all(kit.bootstrap(up), topic, partitions=1)[0]
    offsets = [o for o, _ in records]
    assert offsets and offsets[0] == cut, offsets[:5]
    assert offsets == list(range(cut, 200))
    assert all(v == f"v{o}".encode() for o, v in records)
    c = Consumer({"bootstrap.servers": kit.bootstrap(up), "group.id": f"lo-{uuid.uuid4().hex[:6]}"})
    try:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        c.close()
    print(f"new leader {leader_of(kit, topic, 0)}: log start {lo}, end {hi}")
    assert (lo, hi) == (cut, 200)
