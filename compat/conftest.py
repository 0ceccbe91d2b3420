"""Fixtures of the compatibility suite: a real `rill serve` per test, and the client tools.

Every dependency is imported or located here so that a missing client library or kcat fails the
run loudly instead of skipping tests.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest

# Missing client libraries must fail the whole run, never skip: import them all up front.
import confluent_kafka  # noqa: F401
import kafka  # noqa: F401
import lz4  # noqa: F401
import snappy  # noqa: F401
import zstandard  # noqa: F401

from clients import forget_admin
from rillkit import RillBroker, rill_bin


def pytest_configure(config):
    rill_bin()  # fail at start-up with a clear message when the binary is missing


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for broker in getattr(item, "_rill_brokers", []):
            report.sections.append(
                (f"rill serve stderr (port {broker.port}, tail)", broker.log_tail())
            )


@pytest.fixture
def start_broker(request, tmp_path):
    """Factory: start_broker(port=None, **overrides) -> a running RillBroker with its own data
    dir."""
    brokers: list[RillBroker] = []
    request.node._rill_brokers = brokers

    def start(port: int | None = None, **overrides) -> RillBroker:
        """`port`: the client port the broker is ready on (when `listeners` is overridden);
        keys with dots may be passed as `**{"listener.name.x.y": v}`."""
        settings = {(k if "." in k else k.replace("_", ".")): str(v) for k, v in overrides.items()}
        b = RillBroker(tmp_path / f"data{len(brokers)}", settings, port=port)
        brokers.append(b)
        b.start()
        return b

    yield start
    for b in brokers:
        forget_admin(b.bootstrap)
        b.close()


@pytest.fixture
def broker(start_broker) -> RillBroker:
    """A broker with Kafka's defaults (auto-create on, 1 partition)."""
    return start_broker()


@pytest.fixture
def topic_name() -> str:
    return f"compat-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def kcat() -> str:
    path = shutil.which("kcat")
    assert path, "kcat is not installed: run scripts/setup-compat.sh"
    out = subprocess.run([path, "-V"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    return path
