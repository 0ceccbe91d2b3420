"""The admin HTTP listener across a 3-node cluster: readiness while a node waits for its
quorum, the same whole-cluster view from every node (topics, partitions with offsets asked of
their leaders, groups, messages read locally or fetched from the leader), quorum metrics, and
leader elections / partition health counted after a kill -9, checked against the Metadata
answers of the brokers themselves (rillkit.metadata_of).
"""

from __future__ import annotations

import base64
import time
import uuid

import pytest

from adminhttp import call_json, get_json, request, scrape
from clients import ck_consumer, produce_all, producer
from rillkit import ClusterKit, wait_until

PARTITIONS = 6


@pytest.fixture
def kit(request, tmp_path):
    k = ClusterKit(tmp_path / "c", 3, overrides={"group.initial.rebalance.delay.ms": "0",
                                                  "offsets.topic.num.partitions": "6"})
    request.node._rill_brokers = list(k.nodes.values())
    yield k
    k.close()


def ready(node) -> bool:
    status, _, _ = request(node.admin_url + "/health/ready")
    return status == 200


def test_ready_only_once_the_quorum_is_there(kit):
    first = kit.nodes[1]
    first.spawn()
    # Alone, node 1 cannot catch up with the metadata log: live, not ready, and says why.
    wait_until("node 1 live", lambda: request(first.admin_url + "/health/live")[0] == 200, timeout=20)
    status, _, body = request(first.admin_url + "/health/ready")
    assert status == 503 and b"starting" in body, (status, body)
    status, _, _ = request(first.admin_url + "/api/v1/topics")
    assert status == 503
    time.sleep(1.0)
    assert not ready(first)
    kit.start_all()
    for i in (1, 2, 3):
        wait_until(f"node {i} ready", lambda i=i: ready(kit.nodes[i]), timeout=30)


def test_every_node_shows_the_whole_cluster(kit):
    kit.start_all()
    topic = f"adm-{uuid.uuid4().hex[:8]}"
    group = f"g-{topic}"
    # Created through node 3's API (forwarded to the controller by the admin service).
    status, body = call_json(kit.nodes[3].admin_url + "/api/v1/topics", "POST",
                             {"name": topic, "partitions": PARTITIONS, "replication_factor": 2})
    assert status == 201, body
    wait_until("topic led everywhere", lambda: all(
        topic in (v := kit.metadata(i, [topic])).topics and isinstance(v.topics[topic], dict)
        and all(p.leader >= 0 for p in v.topics[topic].values()) for i in (1, 2, 3)), timeout=30)

    # Every node's throughput sampler has seen the cluster empty before anything is produced.
    for node in (1, 2, 3):
        url = kit.nodes[node].admin_url + "/api/v1/throughput"
        wait_until(f"node {node}: cluster sum 0", lambda url=url: get_json(url)["cluster_high_watermarks"] == 0, timeout=20)
    p = producer(kit.bootstrap())
    counts = {i: 3 + i for i in range(PARTITIONS)}
    msgs = [{"key": f"{part}-{n}".encode(), "value": f"v{part}-{n}".encode(), "partition": part,
             "headers": [("n", str(n).encode())]}
            for part, c in counts.items() for n in range(c)]
    produce_all(p, topic, msgs)
    # A group consumes partitions 0-2 entirely and commits; 3-5 are never read.
    c = ck_consumer(kit.bootstrap(), **{"group.id": group})
    from confluent_kafka import TopicPartition
    c.assign([TopicPartition(topic, part, 0) for part in range(3)])
    got = 0
    deadline = time.monotonic() + 30
    while got < sum(counts[i] for i in range(3)) and time.monotonic() < deadline:
        got += len([m for m in c.consume(100, 0.5) if m.error() is None])
    c.commit(asynchronous=False)
    c.close()

    md = kit.metadata(1, [topic]).topics[topic]
    for node in (1, 2, 3):
        base = kit.nodes[node].admin_url
        t = wait_until(f"node {node}: every high watermark known", lambda base=base: (
            (d := get_json(base + f"/api/v1/topics/{topic}"))
            and all(r["high_watermark"] == counts[r["partition"]] for r in d["partitions"]) and d), timeout=30)
        for r in t["partitions"]:
            view = md[r["partition"]]
            assert (r["leader"], tuple(r["replicas"])) == (view.leader, view.replicas), (node, r, view)
            assert sorted(r["isr"]) == sorted(view.isr)
            assert r["offsets_from"] == ("local" if node in view.replicas else "leader"), (node, r)
            assert r["log_start_offset"] == 0
            # No transactions: the last stable offset (local, or read_committed ListOffsets of
            # the leader) is the high watermark.
            assert r["last_stable_offset"] == r["high_watermark"], (node, r)
        d = get_json(base + f"/api/v1/groups/{group}")
        rows = {r["partition"]: r for r in d["partitions"]}
        assert {k: (v["committed_offset"], v["lag"]) for k, v in rows.items()} == {
            i: (counts[i], 0) for i in range(3)}, (node, rows)
        # Messages of every partition: read here when led here, else fetched from the leader.
        for part, n in counts.items():
            m = get_json(base + f"/api/v1/topics/{topic}/messages?partition={part}&from=earliest&limit=50")
            assert m["read_from"] == ("local" if md[part].leader == node else "leader")
            assert [base64.b64decode(x["value"]).decode() for x in m["messages"]] == [
                f"v{part}-{k}" for k in range(n)]
            assert [(h["key"], base64.b64decode(h["value"])) for h in m["messages"][0]["headers"]] == [("n", b"0")]
        cluster = get_json(base + "/api/v1/cluster")
        assert cluster["mode"] == "quorum" and cluster["node_id"] == node
        assert sorted(b["id"] for b in cluster["brokers"]) == [1, 2, 3]
        assert cluster["controller_id"] == kit.controller()
        assert cluster["quorum"]["leader_id"] == cluster["controller_id"]

    # The overview's cluster figures: the sampled sum of every partition's high watermark is
    # every record in the cluster (this topic is the only one with records), and the cluster
    # rate's integral over the samples never exceeds it (equal unless a sample failed).
    total = sum(counts.values())
    for node in (1, 2, 3):
        url = kit.nodes[node].admin_url + "/api/v1/throughput"
        wait_until(f"node {node}: cluster sum {total}", lambda url=url: get_json(url)["cluster_high_watermarks"] == total, timeout=20)
        points = get_json(url)["points"]
        seen = sum(p["cluster_records_in_per_s"] * p["span_ms"] / 1000 for p in points
                   if p["cluster_records_in_per_s"] is not None)
        assert 0 < round(seen) <= total, (node, seen, total)

    # Quorum metrics: one active controller; every node's Raft term and commit index.
    scrapes = {i: scrape(kit.nodes[i].admin_url) for i in (1, 2, 3)}
    assert sum(s.value("rill_active_controller_count") for s in scrapes.values()) == 1
    assert scrapes[kit.controller()].value("rill_active_controller_count") == 1
    for s in scrapes.values():
        assert s.value("rill_raft_term") >= 1 and s.value("rill_raft_commit_index") >= 1
        assert s.value("rill_raft_leader_id") == kit.controller()
        assert s.value("rill_brokers", state="active") == 3
    # The group's coordinator exports its lag: 0 on the read partitions, on one node only.
    lag = [s.series("rill_consumer_group_lag") for s in scrapes.values()]
    mine = [{dict(k)["partition"]: v for k, v in series.items() if dict(k)["group"] == group} for series in lag]
    assert sorted(len(x) for x in mine) == [0, 0, 3], mine
    assert [x for x in mine if x] == [{"0": 0, "1": 0, "2": 0}]


def test_kill9_counted_as_elections_and_unhealthy_partitions(kit):
    kit.start_all()
    replicated = f"r-{uuid.uuid4().hex[:8]}"
    single = f"s-{uuid.uuid4().hex[:8]}"
    base1 = kit.nodes[1].admin_url
    assert call_json(base1 + "/api/v1/topics", "POST",
                     {"name": replicated, "partitions": PARTITIONS, "replication_factor": 3,
                      "configs": {"min.insync.replicas": "3"}})[0] == 201
    assert call_json(base1 + "/api/v1/topics", "POST",
                     {"name": single, "partitions": PARTITIONS, "replication_factor": 1})[0] == 201
    topics = [replicated, single, "__consumer_offsets"]
    min_isr = {t: int(get_json(base1 + f"/api/v1/topics/{t}")["configs"]["min.insync.replicas"]) for t in topics}
    assert min_isr[replicated] == 3

    def parts(node):
        v = kit.metadata(node, topics).topics
        assert all(isinstance(v.get(t), dict) for t in topics), v
        return {(t, n): p for t in topics for n, p in v[t].items()}

    def settled(node):
        ps = parts(node)
        return all(p.leader >= 0 and len(p.isr) == len(p.replicas) for p in ps.values())

    wait_until("every partition led with a full ISR", lambda: all(settled(i) for i in (1, 2, 3)), timeout=40)
    before_md = parts(1)
    # Kill a node that is not the controller, so the controller's counts stay observable.
    victim = next(i for i in (3, 2, 1) if i != kit.controller())
    survivors = [i for i in (1, 2, 3) if i != victim]
    before = {i: scrape(kit.nodes[i].admin_url) for i in survivors}
    kit.kill9(victim)

    def gone(node):
        ps = parts(node)
        return all(p.leader != victim and (victim not in p.isr or p.leader < 0) for p in ps.values())

    wait_until("victim fenced: no leaderships, out of every ISR", lambda: all(gone(i) for i in survivors), timeout=40)
    after_md = parts(survivors[0])
    led = {k: p for k, p in after_md.items() if p.leader in survivors}
    moved = sum(1 for k, p in led.items() if before_md[k].leader == victim)
    shrunk = sum(1 for k, p in led.items() if victim in before_md[k].isr and victim not in p.isr)
    under = sum(1 for p in led.values() if len(p.isr) < len(p.replicas))
    under_min = sum(1 for (t, _), p in led.items() if len(p.isr) < min_isr[t])
    offline = sum(1 for p in after_md.values() if p.leader < 0)
    assert moved > 0 and shrunk > 0 and offline > 0 and under_min == PARTITIONS, (moved, shrunk, offline, under_min)

    def counted():
        after = {i: scrape(kit.nodes[i].admin_url) for i in survivors}

        def grew(name):
            return sum(after[i].value(name) - before[i].value(name) for i in survivors)

        return (
            grew("rill_leader_elections_total"),
            grew("rill_isr_shrinks_total"),
            sum(after[i].value("rill_under_replicated_partitions") for i in survivors),
            sum(after[i].value("rill_under_min_isr_partitions") for i in survivors),
            sum(after[i].value("rill_offline_partitions_count") for i in survivors),
        )

    want = (moved, shrunk, under, under_min, offline)
    print(f"expected (elections, ISR shrinks, under-replicated, under min ISR, offline): {want}")
    wait_until(f"metrics {want} (elections, ISR shrinks, under-replicated, under min ISR, offline)",
               lambda: counted() == want, timeout=20)
    health = get_json(kit.nodes[survivors[0]].admin_url + "/api/v1/cluster")["partitions"]
    assert health["offline"] == offline
