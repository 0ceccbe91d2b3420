"""A cluster whose CONTROLLER listener is SSL with mutual TLS: every node holds its own keystore
signed by one CA (securekit.Pki.node_keystore, SAN IP:127.0.0.1) and requires its peers'
certificates (ssl.client.auth=required), so the Raft quorum, brokers' metadata fetches and
heartbeats all run over mTLS. The client listeners stay PLAINTEXT here.

Checked: three nodes come up and elect a controller; a topic with replication factor 3 is
created through confluent-kafka and round-trips records; kill -9 of the active controller
elects another and produce keeps working; controller-only + broker-only nodes (the broker takes
the controller listener's security from controller.listener.names and the protocol map) work
too; a node whose certificate the CA did not sign stays out until its keystore file is
replaced by a trusted one (reloaded without a restart); a controller listener without
required client certificates, or with SASL, stops the start with a message.
"""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from clients import ck_consume, produce_all, producer
from rillkit import ClusterKit, RillBroker, free_port, new_cluster_id, wait_until
from securekit import Pki

MAP = "PLAINTEXT:PLAINTEXT,CONTROLLER:SSL"


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def secure_cluster(tmp_path, pki: Pki, nodes: int = 3, roles=None, rogue=()) -> ClusterKit:
    """A ClusterKit (not started) whose controller listener is SSL with mTLS, node i presenting
    its own certificate (one of the rogue CA for nodes in `rogue`)."""
    kit = ClusterKit(
        tmp_path,
        nodes,
        roles=roles,
        overrides={
            "listener.security.protocol.map": MAP,
            "listener.name.controller.ssl.client.auth": "required",
            "listener.name.controller.ssl.truststore.location": str(pki.ca_cert),
        },
    )
    for i, node in kit.nodes.items():
        keystore = pki.node_keystore(i, trusted=i not in rogue)
        node.overrides["listener.name.controller.ssl.keystore.location"] = str(keystore)
    return kit


@pytest.fixture
def cluster(request, tmp_path, pki):
    kits: list[ClusterKit] = []
    request.node._rill_brokers = []

    def make(name: str = "c", start: bool = True, **kw) -> ClusterKit:
        kit = secure_cluster(tmp_path / name, pki, **kw)
        kits.append(kit)
        request.node._rill_brokers.extend(kit.nodes.values())
        if start:
            t0 = time.monotonic()
            kit.start_all()
            print(f"[{name}] up over mTLS in {time.monotonic() - t0:.1f}s: {kit.bootstrap()}")
        return kit

    yield make
    for kit in kits:
        kit.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def records(count: int, tag: str) -> list[dict]:
    return [{"partition": i % 3, "key": f"{tag}-k{i}".encode(), "value": f"{tag}-v{i}".encode()}
            for i in range(count)]


def create(bootstrap: str, topic: str, replication_factor: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "topic.metadata.refresh.interval.ms": 1000})
    deadline = time.monotonic() + 30
    while True:
        try:
            admin.create_topics([NewTopic(topic, 3, replication_factor)], operation_timeout=10)[topic].result(timeout=20)
            return
        except Exception as e:  # noqa: BLE001 - retried while a controller is being elected
            if time.monotonic() > deadline:
                raise AssertionError(f"cannot create {topic}: {e!r}") from None
            time.sleep(0.5)


def fully_replicated(kit: ClusterKit, topic: str, nodes) -> bool:
    view = kit.metadata(nodes[0], [topic])
    parts = view.topics.get(topic)
    return (
        isinstance(parts, dict)
        and len(parts) == 3
        and all(p.error_code == 0 and p.leader in nodes and len(p.replicas) == 3 for p in parts.values())
    )


def test_mtls_quorum_elects_replicates_and_survives_controller_kill9(cluster):
    kit = cluster()
    ctrl = kit.wait_brokers([1, 2, 3])
    for i in kit.nodes:
        assert "tls=true" in kit.nodes[i].log_tail(400), f"node {i} did not start its quorum over TLS"
    topic = unique("mtls")
    create(kit.bootstrap(), topic, 3)
    wait_until(f"{topic} led with 3 replicas", lambda: fully_replicated(kit, topic, [1, 2, 3]), 30)
    sent = produce_all(producer(kit.bootstrap(), acks="all"), topic, records(90, "a"))
    assert len(sent) == 90
    got = ck_consume(kit.bootstrap(), topic, range(3), 90)
    assert sorted(r.value for r in got) == sorted(m["value"] for m in records(90, "a"))
    print(f"controller {ctrl}; {topic} rf=3 created and 90 records round-trip over an mTLS quorum")

    t0 = time.monotonic()
    assert kit.kill9(ctrl) == -signal.SIGKILL
    survivors = [i for i in kit.nodes if i != ctrl]
    new_ctrl = wait_until(
        "a new controller among the survivors",
        lambda: (c := kit.controller(survivors)) in survivors and c,
        timeout=20,
        interval=0.05,
    )
    elected_s = time.monotonic() - t0
    wait_until(f"{topic} led by survivors", lambda: fully_replicated(kit, topic, survivors), 30)
    p = producer(kit.bootstrap(survivors), acks="all", **{"message.timeout.ms": 30000})
    assert len(produce_all(p, topic, records(60, "b"))) == 60
    # Two brokers left: a new topic gets replication factor 2.
    after = unique("mtls-after")
    create(kit.bootstrap(survivors), after, 2)
    print(f"controller {ctrl} killed -9; {new_ctrl} elected in {elected_s:.2f}s; produce and "
          f"CreateTopics work with the survivors")
    assert elected_s < 10, f"election took {elected_s:.1f}s"


def test_broker_only_nodes_follow_an_mtls_quorum(cluster):
    roles = {1: "controller", 2: "controller", 3: "controller", 4: "broker"}
    kit = cluster(name="roles", nodes=4, roles=roles)
    kit.wait_brokers([4])
    ctrl = wait_until("broker 4 names an active controller",
                      lambda: (c := kit.active_controller(4)) in (1, 2, 3) and c, timeout=20)
    topic = unique("mtls-roles")
    admin = AdminClient({"bootstrap.servers": kit.bootstrap()})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=20)
    assert len(produce_all(producer(kit.bootstrap()), topic, [{"value": b"x"}] * 5)) == 5
    assert kit.kill9(ctrl) == -signal.SIGKILL
    wait_until("broker 4 follows the new active controller",
               lambda: (c := kit.active_controller(4)) in (1, 2, 3) and c != ctrl and c, timeout=20)
    print(f"broker-only node 4 fetched metadata and heartbeat over mTLS; controller {ctrl} killed")


def test_a_node_with_an_untrusted_certificate_stays_out_until_its_certificate_is_rotated(
        cluster, pki):
    kit = cluster(start=False, rogue=(3,))
    for i in (1, 2, 3):
        kit.nodes[i].overrides["ssl.reload.check.interval.ms"] = "300"
        kit.nodes[i].spawn()
    kit.wait_brokers([1, 2], nodes=[1, 2])
    time.sleep(2)
    for i in (1, 2):
        assert set(kit.metadata(i, []).brokers) == {1, 2}, "the rogue node was admitted"
    assert kit.nodes[3].alive(), "the rogue node should keep trying, not crash"
    log = kit.nodes[1].log_tail(400)
    assert "controller connection refused" in log, log[-2000:]
    print("node 3 (certificate of another CA) stays out; nodes 1 and 2 run the cluster")
    # The operator replaces node 3's keystore file with a certificate of the cluster's CA: the
    # running node reloads its controller listener's TLS and joins, without a restart.
    rogue_file = kit.nodes[3].overrides["listener.name.controller.ssl.keystore.location"]
    trusted = pki.node_keystore(3, trusted=True)
    Path(rogue_file).write_text(trusted.read_text())
    wait_until("node 3 registers after its certificate was rotated",
               lambda: set(kit.metadata(1, []).brokers) == {1, 2, 3} or None, timeout=30)
    assert "controller listener TLS certificates reloaded" in kit.nodes[3].log_tail(400)
    print("node 3 reloaded a trusted certificate and joined")


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"listener.name.controller.ssl.client.auth": "none"}, "ssl.client.auth=required"),
        ({"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_SSL"}, "no SASL"),
    ],
)
def test_controller_listener_misconfigurations_stop_the_start(tmp_path, pki, settings, message):
    port, cport = free_port(), free_port()
    overrides = {
        "node.id": "1",
        "process.roles": "broker,controller",
        "cluster.id": new_cluster_id(),
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
        "controller.listener.names": "CONTROLLER",
        "controller.quorum.voters": f"1@127.0.0.1:{cport}",
        "listener.security.protocol.map": MAP,
        "listener.name.controller.ssl.client.auth": "required",
        "listener.name.controller.ssl.keystore.location": str(pki.node_keystore(1)),
        "listener.name.controller.ssl.truststore.location": str(pki.ca_cert),
        **settings,
    }
    b = RillBroker(tmp_path / "data", overrides, port=port)
    done = subprocess.run(b.command(), capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr
