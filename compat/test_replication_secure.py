"""Replication between brokers over a secured inter-broker listener: a 3-node cluster whose
brokers replicate, elect and fail over on a SASL_SSL listener with SCRAM-SHA-512 (users
bootstrapped with `rill format --add-scram`) or on an SSL listener with mutual TLS. Each node
also keeps a PLAINTEXT listener for the test harness's raw metadata checks; the producer and
the replica fetchers use the secured one, and the nodes' authentication and TLS handshake
counters show the fetchers authenticated there.
"""

from __future__ import annotations

import subprocess
import time
import urllib.request

import pytest

from rillkit import ClusterKit, free_port, wait_until
from securekit import Pki
from test_replication import (ContinuousProducer, leader_of, make_topic, partition_views,
                              same_logs, verify, wait_isr_full)

SCRAM_USERS = ["SCRAM-SHA-512=[name=broker,password=broker-secret]",
               "SCRAM-SHA-512=[name=alice,password=alice-secret]"]


def counter(node, name: str, label: str = "") -> float:
    text = urllib.request.urlopen(f"{node.admin_url}/metrics", timeout=5).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and label in line:
            total += float(line.split()[-1])
    return total


def secure_kit(tmp_path, mode: str) -> tuple[ClusterKit, dict[int, int], dict]:
    pki = Pki(tmp_path / "pki")
    kit = ClusterKit(tmp_path / "c", 3, overrides={
        "replica.lag.time.max.ms": "3000", "replica.fetch.backoff.ms": "200",
        "group.initial.rebalance.delay.ms": "0"})
    secure = {i: free_port() for i in kit.nodes}
    protocol = "SASL_SSL" if mode == "scram" else "SSL"
    for i, n in kit.nodes.items():
        n.overrides.update({
            "listeners": (f"PLAINTEXT://127.0.0.1:{n.port},SECURE://127.0.0.1:{secure[i]},"
                          f"CONTROLLER://127.0.0.1:{kit.controller_ports[i]}"),
            "listener.security.protocol.map":
                f"PLAINTEXT:PLAINTEXT,SECURE:{protocol},CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "SECURE",
            # Security is on, so the admin listener would serve HTTPS to authenticated callers;
            # this test scrapes /metrics plainly (the admin listener is not its subject).
            "admin.ssl.enabled": "false", "admin.metrics.open": "true",
            "ssl.keystore.location": str(pki.server_keystore),
            "ssl.truststore.location": str(pki.ca_cert),
        })
        if mode == "scram":
            n.overrides.update({
                "sasl.enabled.mechanisms": "SCRAM-SHA-512",
                "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
                "listener.name.secure.scram-sha-512.sasl.jaas.config":
                    'org.apache.kafka.common.security.scram.ScramLoginModule required '
                    'username="broker" password="broker-secret";',
            })
        else:
            n.overrides["ssl.client.auth"] = "required"
        cmd = [str(n.binary), "format", "--cluster-id", kit.cluster_id, "--node-id", str(i),
               "--data-dir", str(n.data_dir)]
        for key, value in n.overrides.items():
            if key != "cluster.id":
                cmd += ["--override", f"{key}={value}"]
        if mode == "scram":
            for user in SCRAM_USERS:
                cmd += ["--add-scram", user]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
    if mode == "scram":
        conf = {"security.protocol": "SASL_SSL", "ssl.ca.location": str(pki.ca_cert),
                "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "alice",
                "sasl.password": "alice-secret"}
    else:
        cert, key = pki.client("alice", "/O=acme/CN=alice")
        conf = {"security.protocol": "SSL", "ssl.ca.location": str(pki.ca_cert),
                "ssl.certificate.location": str(cert), "ssl.key.location": str(key)}
    return kit, secure, conf


@pytest.mark.parametrize("mode", ["scram", "mtls"])
def test_a_cluster_replicates_and_fails_over_on_a_secured_inter_broker_listener(tmp_path, request,
                                                                                 mode):
    kit, secure, conf = secure_kit(tmp_path, mode)
    request.node._rill_brokers = list(kit.nodes.values())
    try:
        kit.start_all()
        topic = make_topic(kit)
        bootstrap = ",".join(f"127.0.0.1:{p}" for p in secure.values())
        prod = ContinuousProducer(bootstrap, topic, **conf)
        wait_until("records acknowledged", lambda: prod.acked_count() > 200 or None, 30)
        # The followers fetch from the leaders through the secured listener.
        for i, n in kit.nodes.items():
            if mode == "scram":
                assert counter(n, "rill_authentications_total", 'result="success"') >= 2, i
            else:
                assert counter(n, "rill_tls_handshakes_total") >= 2, i
        victim = leader_of(kit, topic, 0)
        before = prod.acked_count()
        kit.kill9(victim)
        up = [i for i in kit.nodes if i != victim]
        wait_until("new leaders among the live nodes",
                   lambda: all(partition_views(kit, topic, up[0])[q].leader in up
                               for q in range(len(partition_views(kit, topic, up[0])))) or None, 30)
        wait_until("acks resume", lambda: prod.acked_count() > before + 100 or None, 60)
        kit.start(victim)
        wait_isr_full(kit, topic)
        prod.stop()
        assert not prod.errors, prod.errors[:5]
        verify(kit, topic, prod)
        kit.stop_all()
        same_logs(kit, topic)
    finally:
        kit.close()
