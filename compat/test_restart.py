"""Restarts: every acknowledged record survives SIGTERM and kill -9; offsets continue."""

from __future__ import annotations

import signal

import pytest

from clients import ck_consume, create_topic, produce_all, producer

BATCH = 1000


def produce_round(bootstrap: str, topic: str, round_no: int, acks: str) -> list:
    msgs = [
        {"key": f"k{i}".encode(), "value": f"r{round_no}-{i}".encode() * 3, "partition": i % 2}
        for i in range(BATCH)
    ]
    return produce_all(producer(bootstrap, acks=acks), topic, msgs)


def expected_values(rounds: int, partition: int) -> list[bytes]:
    return [f"r{r}-{i}".encode() * 3 for r in range(rounds) for i in range(BATCH) if i % 2 == partition]


@pytest.mark.parametrize(
    "sig,acks",
    [(signal.SIGTERM, "all"), (signal.SIGKILL, "all"), (signal.SIGKILL, "1")],
    ids=["sigterm-acks-all", "kill9-acks-all", "kill9-acks-1"],
)
def test_restart_keeps_acknowledged_records(broker, topic_name, sig, acks):
    create_topic(broker.bootstrap, topic_name, partitions=2)
    produce_round(broker.bootstrap, topic_name, 0, acks)

    code = broker.restart(sig)
    if sig == signal.SIGTERM:
        assert code == 0, f"clean shutdown should exit 0, got {code}"

    # All acknowledged records are back, and new ones continue the offsets.
    delivered = produce_round(broker.bootstrap, topic_name, 1, acks)
    for part in (0, 1):
        offsets = [d.offset() for d in delivered if d.partition() == part]
        assert offsets == list(range(BATCH // 2, BATCH)), f"partition {part} offsets after restart"

    broker.restart(sig)
    for part in (0, 1):
        got = ck_consume(broker.bootstrap, topic_name, [part], BATCH)
        assert [r.offset for r in got] == list(range(BATCH))
        assert [r.value for r in got] == expected_values(2, part)


def test_topic_metadata_and_configs_survive_restart(broker, topic_name):
    from confluent_kafka.admin import ConfigResource

    from clients import admin, wait_for_topic

    create_topic(broker.bootstrap, topic_name, partitions=3, config={"retention.ms": "999999"})
    broker.restart(signal.SIGKILL)
    wait_for_topic(broker.bootstrap, topic_name, 3)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic_name)
    entries = admin(broker.bootstrap).describe_configs([res])[res].result(timeout=15)
    assert entries["retention.ms"].value == "999999"
