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
import time
import uuid
from pathlib import Path

import pytest

from adminhttp import get_json
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
    t0 = time.monotonic()
    out = subprocess.run(
        [node, str(SCRIPT)], env=env, cwd=SCRIPT.parent, capture_output=True, text=True,
        timeout=BROWSER_TIMEOUT_S,
    )
    print(out.stdout)
    assert out.returncode == 0, f"browser test failed ({time.monotonic() - t0:.1f}s):\n{out.stdout}\n{out.stderr}"
    for name in ["overview.png", "topics.png", "topic.png", "messages.png", "group.png"]:
        assert (ARTIFACTS / name).stat().st_size > 10_000, name
