"""The web console in a real browser: headless Debian chromium driven by playwright-core
(compat/console/console.test.mjs) opens the console of one node of a live 3-node cluster,
creates a topic in the UI, produces and consumes through the `rill` CLI, and checks that the
topic, its offsets, its messages and the group's lag appear; it also deletes a topic in the UI.
Screenshots go to target/artifacts/console/.

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
from rillkit import ClusterKit, rill_bin, wait_until

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "compat" / "console" / "console.test.mjs"
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
