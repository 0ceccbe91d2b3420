"""The web console in a real browser: headless Debian chromium driven by playwright-core
(compat/console/console.test.mjs) opens the console of one node of a live 3-node cluster,
creates a topic in the UI, produces and consumes through the `rill` CLI, and checks that the
topic, its offsets, its messages and the group's lag appear; it also deletes a topic in the UI.
A second test (compat/console/login.test.mjs) opens the console of a secured single node
(HTTPS, SCRAM users, an authorizer): it logs in, creates a user and an ACL in the UI, logs in
as that user and is refused what its ACLs do not allow, logs in with a bearer token.
Screenshots go to target/artifacts/console/ (the secured test's to .../secured/).

Needs chromium, node and playwright-core: scripts/setup-console-test.sh installs them (the
test fails, never skips, when they are missing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Producer

from adminhttp import get_json
from clients import create_topic
from rillkit import ClusterKit, free_port, rill_bin, wait_until
from securekit import Pki, TokenSigner

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "compat" / "console" / "console.test.mjs"
LOGIN_SCRIPT = ROOT / "compat" / "console" / "login.test.mjs"
ARTIFACTS = ROOT / "target" / "artifacts" / "console"
BROWSER_TIMEOUT_S = 120


def tools() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    node = shutil.which("node")
    playwright = ROOT / "compat" / "console" / "node_modules" / "playwright-core" / "package.json"
    missing = [name for name, ok in [("chromium", chromium), ("node", node), ("playwright-core", playwright.exists())] if not ok]
    assert not missing, f"{', '.join(missing)} missing: run scripts/setup-console-test.sh"
    return chromium, node


@pytest.fixture
def cluster(request, tmp_path):
    kit = ClusterKit(tmp_path / "console", 3, overrides={"group.initial.rebalance.delay.ms": "0"})
    request.node._rill_brokers = list(kit.nodes.values())
    t0 = time.monotonic()
    kit.start_all()
    print(f"3 nodes up in {time.monotonic() - t0:.1f}s")
    yield kit
    kit.close()


def test_console_in_a_real_browser(cluster):
    chromium, node = tools()
    # Node 2's console; every node shows the whole cluster.
    admin = cluster.nodes[2].admin_url
    wait_until("node 2 ready", lambda: get_json(admin + "/api/v1/cluster")["ready"], timeout=30)
    suffix = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "CONSOLE_URL": admin,
        "BOOTSTRAP": cluster.bootstrap(),
        "RILL_BIN": str(rill_bin()),
        "CHROMIUM": chromium,
        "ARTIFACTS": str(ARTIFACTS),
        "TOPIC": f"console-{suffix}",
        "GROUP": f"console-group-{suffix}",
        "BROKERS": "3",
        "RF": "2",
    }
    shutil.rmtree(ARTIFACTS, ignore_errors=True)  # no stale screenshots of an earlier run
    # A transaction held open on a topic of its own while the browser looks.
    env["TXN"] = f"console-txn-{suffix}"
    env["TXN_TOPIC"] = f"console-txn-topic-{suffix}"
    create_topic(cluster.bootstrap(), env["TXN_TOPIC"], partitions=1)
    opened = threading.Event()

    def hold_open_transaction():
        p = Producer({"bootstrap.servers": cluster.bootstrap(), "transactional.id": env["TXN"]})
        p.init_transactions(60)
        p.begin_transaction()
        p.produce(env["TXN_TOPIC"], value=b"in-a-transaction", partition=0)
        p.flush(30)
        opened.set()
        done.wait(BROWSER_TIMEOUT_S)
        p.abort_transaction(30)

    done = threading.Event()
    holder = threading.Thread(target=hold_open_transaction, daemon=True)
    holder.start()
    t0 = time.monotonic()
    try:
        out = subprocess.run(
            [node, str(SCRIPT)], env=env, cwd=SCRIPT.parent, capture_output=True, text=True,
            timeout=BROWSER_TIMEOUT_S,
        )
    finally:
        done.set()
    print(out.stdout)
    assert out.returncode == 0, f"browser test failed ({time.monotonic() - t0:.1f}s):\n{out.stdout}\n{out.stderr}"
    assert opened.is_set(), "the transaction was never opened"
    for name in ["overview.png", "topics.png", "topic.png", "messages.png", "group.png", "transactions.png"]:
        assert (ARTIFACTS / name).stat().st_size > 10_000, name


def test_console_logs_in_on_a_secured_node(start_broker, tmp_path):
    from confluent_kafka.admin import (AdminClient, NewTopic, ScramCredentialInfo,
                                       ScramMechanism, UserScramCredentialUpsertion)
    chromium, node = tools()
    pki, signer = Pki(tmp_path / "pki"), TokenSigner(tmp_path / "jwt")
    plain, secure = free_port(), free_port()
    b = start_broker(port=plain, **{
        "listeners": f"PLAINTEXT://127.0.0.1:{plain},SASL_SSL://127.0.0.1:{secure}",
        "inter.broker.listener.name": "PLAINTEXT",
        "ssl.keystore.location": str(pki.server_keystore),
        "sasl.enabled.mechanisms": "SCRAM-SHA-512,OAUTHBEARER",
        "sasl.oauthbearer.jwks.endpoint.url": f"file://{signer.jwks_path}",
        "sasl.oauthbearer.expected.audience": "rill",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        # The operators' PLAINTEXT listener (User:ANONYMOUS) sets the test up.
        "super.users": "User:ANONYMOUS;User:admin",
    })
    ops = AdminClient({"bootstrap.servers": b.bootstrap})
    password = f"pw-{uuid.uuid4().hex[:8]}"
    for f in ops.alter_user_scram_credentials([UserScramCredentialUpsertion(
            "admin", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096),
            password.encode())]).values():
        f.result(timeout=20)
    suffix = uuid.uuid4().hex[:8]
    topic = f"secured-{suffix}"
    ops.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=20)
    artifacts = ARTIFACTS / "secured"
    shutil.rmtree(artifacts, ignore_errors=True)
    env = {
        **os.environ,
        "CONSOLE_URL": f"https://127.0.0.1:{b.admin_port}",
        "CHROMIUM": chromium,
        "ARTIFACTS": str(artifacts),
        "ADMIN_PASSWORD": password,
        "TOPIC": topic,
        "USER": f"user-{suffix}",
        "TOKEN": signer.token("alice")[0],
    }
    t0 = time.monotonic()
    out = subprocess.run([node, str(LOGIN_SCRIPT)], env=env, cwd=LOGIN_SCRIPT.parent,
                         capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S)
    print(out.stdout)
    assert out.returncode == 0, \
        f"browser test failed ({time.monotonic() - t0:.1f}s):\n{out.stdout}\n{out.stderr}"
    for name in ["login.png", "users.png", "acls.png", "acls-refused.png", "quotas.png"]:
        assert (artifacts / name).stat().st_size > 10_000, name
