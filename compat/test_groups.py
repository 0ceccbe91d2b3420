"""Consumer groups and committed offsets (classic group protocol) with real clients.

The broker runs with group.initial.rebalance.delay.ms=0 and consumers with a 6 s session
timeout and 500 ms heartbeats, so every rebalance here settles in seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from confluent_kafka import Consumer, ConsumerGroupState, ConsumerGroupTopicPartitions, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient
from kafka import KafkaConsumer
from kafka import TopicPartition as KpTopicPartition

from clients import admin, create_topic, produce_all, producer
import wire

SESSION_MS = 6000
GROUP_BROKER = {"group_initial_rebalance_delay_ms": 0}


def group_consumer(bootstrap: str, group: str, **conf) -> Consumer:
    base = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": SESSION_MS,
        "heartbeat.interval.ms": 500,
        "topic.metadata.refresh.interval.ms": 2000,
    }
    base.update(conf)
    return Consumer(base)


def assignments(consumers: list[Consumer]) -> list[set[int]]:
    return [{tp.partition for tp in c.assignment()} for c in consumers]


def settle(consumers: list[Consumer], partitions: int, timeout: float = 30.0, want_idle: int | None = None):
    """Poll every consumer until their assignments are disjoint, cover all partitions and are
    balanced (sizes differ by at most one). Returns the assignments and the seconds taken."""
    start = time.monotonic()
    last = None
    while time.monotonic() - start < timeout:
        for c in consumers:
            c.poll(0.05)
        sets = assignments(consumers)
        flat = [p for s in sets for p in s]
        sizes = [len(x) for x in sets]
        balanced = max(sizes) - min(sizes) <= 1
        if len(flat) == partitions and set(flat) == set(range(partitions)) and balanced:
            if want_idle is None or sum(1 for s in sets if not s) == want_idle:
                return sets, time.monotonic() - start
        last = sets
    raise AssertionError(f"no complete disjoint assignment within {timeout}s: {last}")


def close_all(consumers):
    for c in consumers:
        c.close()


def consume_n(c: Consumer, n: int, timeout: float = 30.0) -> list:
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        for m in c.consume(num_messages=n - len(out), timeout=0.5):
            assert m.error() is None, m.error()
            out.append(m)
    return out


def fill(bootstrap: str, topic: str, partitions: int, per_partition: int, tag: str = "v"):
    msgs = [
        {"value": f"{tag}{p}-{i}".encode(), "partition": p}
        for p in range(partitions)
        for i in range(per_partition)
    ]
    produce_all(producer(bootstrap), topic, msgs)


def test_three_consumers_split_then_close_moves_partitions(start_broker, topic_name):
    b = start_broker(**GROUP_BROKER)
    create_topic(b.bootstrap, topic_name, partitions=6)
    cs = [group_consumer(b.bootstrap, "g-three") for _ in range(3)]
    for c in cs:
        c.subscribe([topic_name])
    sets, _ = settle(cs, 6)
    assert all(len(s) == 2 for s in sets), sets
    cs[0].close()  # sends LeaveGroup
    t0 = time.monotonic()
    sets, _ = settle(cs[1:], 6, timeout=SESSION_MS / 1000 + 5)
    assert time.monotonic() - t0 < SESSION_MS / 1000 + 5
    assert sorted(len(s) for s in sets) == [3, 3], sets
    close_all(cs[1:])


def test_seven_consumers_leave_one_idle(start_broker, topic_name):
    b = start_broker(**GROUP_BROKER)
    create_topic(b.bootstrap, topic_name, partitions=6)
    cs = [group_consumer(b.bootstrap, "g-seven") for _ in range(7)]
    for c in cs:
        c.subscribe([topic_name])
    sets, _ = settle(cs, 6, want_idle=1)
    assert sorted(len(s) for s in sets) == [0, 1, 1, 1, 1, 1, 1]
    close_all(cs)


KILLED_CONSUMER = textwrap.dedent(
    """
    import sys, time
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2],
                  "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([sys.argv[3]])
    while True:
        c.poll(0.1)
        if c.assignment():
            print("assigned", flush=True)
    """
)


def test_killed_consumer_is_replaced_after_session_timeout(start_broker, topic_name, tmp_path):
    b = start_broker(**GROUP_BROKER)
    create_topic(b.bootstrap, topic_name, partitions=4)
    script = tmp_path / "member.py"
    script.write_text(KILLED_CONSUMER)
    proc = subprocess.Popen(
        [sys.executable, str(script), b.bootstrap, "g-kill", topic_name], stdout=subprocess.PIPE, text=True
    )
    try:
        survivor = group_consumer(b.bootstrap, "g-kill")
        survivor.subscribe([topic_name])
        deadline = time.monotonic() + 30
        # Both members share the partitions first.
        while time.monotonic() < deadline:
            survivor.poll(0.1)
            if 0 < len(survivor.assignment()) < 4:
                break
        assert 0 < len(survivor.assignment()) < 4, survivor.assignment()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        t0 = time.monotonic()
        sets, _ = settle([survivor], 4, timeout=SESSION_MS / 1000 + 10)
        took = time.monotonic() - t0
        print(f"killed member replaced after {took:.1f}s (session timeout {SESSION_MS / 1000}s)")
        assert took >= SESSION_MS / 1000 - 1.5, "moved before the session could expire"
        survivor.close()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_committed_offsets_survive_consumer_and_broker_restart(start_broker, topic_name):
    b = start_broker(**GROUP_BROKER)
    create_topic(b.bootstrap, topic_name, partitions=3)
    fill(b.bootstrap, topic_name, 3, 20)
    c = group_consumer(b.bootstrap, "g-commit")
    c.subscribe([topic_name])
    first = consume_n(c, 30)
    assert len(first) == 30
    c.commit(asynchronous=False)
    committed = {tp.partition: tp.offset for tp in c.committed([TopicPartition(topic_name, p) for p in range(3)], timeout=10)}
    c.close()
    expect = {}
    for m in first:
        expect[m.partition()] = max(expect.get(m.partition(), 0), m.offset() + 1)
    assert {p: committed[p] for p in expect} == expect

    # A new consumer of the group resumes exactly at the commits: no loss, no redelivery.
    c = group_consumer(b.bootstrap, "g-commit")
    c.subscribe([topic_name])
    rest = consume_n(c, 30)
    seen = {(m.partition(), m.offset()) for m in first} | {(m.partition(), m.offset()) for m in rest}
    assert len(rest) == 30 and len(seen) == 60
    c.commit(asynchronous=False)
    c.close()

    b.restart()
    fill(b.bootstrap, topic_name, 3, 2, tag="after")
    c = group_consumer(b.bootstrap, "g-commit")
    c.subscribe([topic_name])
    after = consume_n(c, 6)
    extra = consume_n(c, 1, timeout=2)
    c.commit(asynchronous=False)
    c.close()
    assert sorted(m.value().decode()[:5] for m in after) == ["after"] * 6
    assert not extra, "redelivered beyond the last commit"

    # Acknowledged commits are durable: they survive kill -9 of the broker too.
    b.kill9()
    b.start()
    # kafka-python reads the same commits.
    kc = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id="g-commit", enable_auto_commit=False)
    try:
        assert [kc.committed(KpTopicPartition(topic_name, p)) for p in range(3)] == [22, 22, 22]
    finally:
        kc.close()


def test_two_groups_each_read_everything(start_broker, topic_name):
    b = start_broker(**GROUP_BROKER)
    create_topic(b.bootstrap, topic_name, partitions=2)
    fill(b.bootstrap, topic_name, 2, 10)
    c1 = group_consumer(b.bootstrap, "g-one")
    c1.subscribe([topic_name])
    kc = KafkaConsumer(
        topic_name,
        bootstrap_servers=b.bootstrap,
        group_id="g-two",
        auto_offset_reset="earliest",
        session_timeout_ms=SESSION_MS,
        heartbeat_interval_ms=500,
    )
    try:
        got1 = consume_n(c1, 20)
        got2 = []
        deadline = time.monotonic() + 30
        while len(got2) < 20 and time.monotonic() < deadline:
            for msgs in kc.poll(timeout_ms=500).values():
                got2.extend(msgs)
        assert len(got1) == 20 and len(got2) == 20
        kc.commit()
        assert kc.committed(KpTopicPartition(topic_name, 0)) == 10
    finally:
        kc.close()
        c1.close()


def test_cooperative_sticky_incremental_rebalance(start_broker, topic_name):
    b = start_broker(**GROUP_BROKER)
    create_topic(b.bootstrap, topic_name, partitions=6)
    conf = {"partition.assignment.strategy": "cooperative-sticky"}
    cs = [group_consumer(b.bootstrap, "g-coop", **conf) for _ in range(2)]
    for c in cs:
        c.subscribe([topic_name])
    before, _ = settle(cs, 6)
    cs.append(group_consumer(b.bootstrap, "g-coop", **conf))
    cs[2].subscribe([topic_name])
    after, _ = settle(cs, 6, want_idle=0)
    assert all(len(s) == 2 for s in after), after
    # Sticky: the old members kept partitions they had (only some were moved).
    assert after[0] <= before[0] and after[1] <= before[1], (before, after)
    close_all(cs)


def test_static_membership_rejoin_keeps_assignment(start_broker, topic_name):
    b = start_broker(**GROUP_BROKER)
    create_topic(b.bootstrap, topic_name, partitions=4)
    a = group_consumer(b.bootstrap, "g-static", **{"group.instance.id": "static-a"})
    other = group_consumer(b.bootstrap, "g-static", **{"group.instance.id": "static-b"})
    a.subscribe([topic_name])
    other.subscribe([topic_name])
    sets, _ = settle([a, other], 4)
    a.close()  # a static member does not leave the group on close
    a2 = group_consumer(b.bootstrap, "g-static", **{"group.instance.id": "static-a"})
    a2.subscribe([topic_name])
    sets2, _ = settle([a2, other], 4)
    assert sets2 == sets, "the returning static member got its partitions back"
    desc = admin(b.bootstrap).describe_consumer_groups(["g-static"])["g-static"].result(10)
    assert sorted(m.group_instance_id for m in desc.members) == ["static-a", "static-b"]
    close_all([a2, other])


def test_describe_list_groups_and_lag(start_broker, topic_name):
    b = start_broker(**GROUP_BROKER)
    create_topic(b.bootstrap, topic_name, partitions=2)
    fill(b.bootstrap, topic_name, 2, 5)
    c = group_consumer(b.bootstrap, "g-admin")
    c.subscribe([topic_name])
    consume_n(c, 4)
    c.commit(asynchronous=False)
    adm = admin(b.bootstrap)
    listed = adm.list_consumer_groups(states={ConsumerGroupState.STABLE}).result(10)
    assert "g-admin" in [g.group_id for g in listed.valid]
    empty = adm.list_consumer_groups(states={ConsumerGroupState.EMPTY}).result(10)
    assert "g-admin" not in [g.group_id for g in empty.valid]
    desc = adm.describe_consumer_groups(["g-admin"])["g-admin"].result(10)
    assert desc.state == ConsumerGroupState.STABLE and len(desc.members) == 1
    assigned = {tp.partition for tp in desc.members[0].assignment.topic_partitions}
    assert assigned == {0, 1}
    offsets = adm.list_consumer_group_offsets([ConsumerGroupTopicPartitions("g-admin")])["g-admin"].result(10)
    committed = {tp.partition: tp.offset for tp in offsets.topic_partitions}
    lag = sum(5 - committed.get(p, 0) for p in range(2))
    assert lag == 6, committed
    # A group with members cannot be deleted; an empty one can.
    err = adm.delete_consumer_groups(["g-admin"])["g-admin"].exception(10)
    assert err is not None and err.args[0].code() == KafkaError.NON_EMPTY_GROUP
    c.close()
    deadline = time.monotonic() + 10
    while adm.describe_consumer_groups(["g-admin"])["g-admin"].result(10).state != ConsumerGroupState.EMPTY:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert adm.delete_consumer_groups(["g-admin"])["g-admin"].result(10) is None
    assert "g-admin" not in [g.group_id for g in adm.list_consumer_groups().result(10).valid]


def test_internal_topic_hidden_and_not_writable(start_broker):
    b = start_broker(**GROUP_BROKER)
    md = AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(timeout=10)
    assert "__consumer_offsets" not in md.topics
    shown = AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(topic="__consumer_offsets", timeout=10)
    assert len(shown.topics["__consumer_offsets"].partitions) == 50
    code, _ = wire.produce_raw(b.port, "__consumer_offsets", 0, wire.record_batch([(b"k", b"v")]))
    assert code == wire.INVALID_TOPIC_EXCEPTION


def test_rebalance_of_ten_members_on_100_partitions(start_broker, topic_name):
    b = start_broker(**GROUP_BROKER)
    create_topic(b.bootstrap, topic_name, partitions=100)
    cs = [group_consumer(b.bootstrap, "g-ten") for _ in range(10)]
    t0 = time.monotonic()
    for c in cs:
        c.subscribe([topic_name])
    sets, _ = settle(cs, 100, timeout=60)
    took = time.monotonic() - t0
    assert all(len(s) == 10 for s in sets), [len(s) for s in sets]
    print(f"\n10 members on 100 partitions: complete assignment {took:.2f}s after subscribe")
    cs.append(group_consumer(b.bootstrap, "g-ten"))
    cs[-1].subscribe([topic_name])
    t0 = time.monotonic()
    sets, _ = settle(cs, 100, timeout=60, want_idle=0)
    print(f"11th member joined: rebalanced in {time.monotonic() - t0:.2f}s")
    close_all(cs)


def test_group_error_codes_on_the_wire(start_broker, topic_name):
    """The Kafka error codes the Java broker sends, checked on hand-made requests."""
    from kafka.protocol.commit import OffsetCommitRequest
    from kafka.protocol.group import HeartbeatRequest, JoinGroupRequest

    b = start_broker(**GROUP_BROKER)
    create_topic(b.bootstrap, topic_name, partitions=1)

    def join(group, member, ptype="consumer", session=6000, instance=None):
        if instance is None:
            req = JoinGroupRequest[4](group, session, 10000, member, ptype, [("range", b"")])
        else:
            req = JoinGroupRequest[5](group, session, 10000, member, instance, ptype, [("range", b"")])
        return wire.call(b.port, req)

    assert join("", "").error_code == 24  # INVALID_GROUP_ID
    assert join("g-wire", "", session=100).error_code == 26  # INVALID_SESSION_TIMEOUT
    r = join("g-wire", "")
    assert r.error_code == 79 and r.member_id  # MEMBER_ID_REQUIRED (KIP-394)
    mid = r.member_id
    r = join("g-wire", mid)
    assert (r.error_code, r.generation_id, r.leader_id) == (0, 1, mid)
    assert join("g-wire", "stranger").error_code == 25  # UNKNOWN_MEMBER_ID
    assert join("g-wire", "", ptype="connect").error_code == 23  # INCONSISTENT_GROUP_PROTOCOL

    def hb(generation, member):
        return wire.call(b.port, HeartbeatRequest[0]("g-wire", generation, member)).error_code

    assert hb(1, mid) == 0
    assert hb(2, mid) == 22  # ILLEGAL_GENERATION
    assert hb(1, "stranger") == 25

    def commit(group, generation, member):
        req = OffsetCommitRequest[2](group, generation, member, -1, [(topic_name, [(0, 5, "")])])
        return wire.call(b.port, req).topics[0][1][0][1]

    assert commit("g-wire", 1, "stranger") == 25  # a non-member
    assert commit("g-wire", 7, mid) == 22  # ILLEGAL_GENERATION
    assert commit("g-wire", 1, mid) == 27  # REBALANCE_IN_PROGRESS: no assignment synced yet
    assert commit("g-nogroup", 3, "x") == 22  # ILLEGAL_GENERATION for an unknown group
    assert commit("g-simple", -1, "") == 0  # outside group management

    # Static membership: a second process with the same group.instance.id fences the first.
    first = join("g-static-wire", "", instance="inst-1")
    assert first.error_code == 0
    second = join("g-static-wire", "", instance="inst-1")
    assert second.error_code == 0 and second.member_id != first.member_id
    fenced = wire.call(b.port, HeartbeatRequest[3]("g-static-wire", 1, first.member_id, "inst-1"))
    assert fenced.error_code == 82  # FENCED_INSTANCE_ID
