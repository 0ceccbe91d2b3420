"""Restarts: every acknowledged record survives SIGTERM and kill -9; offsets continue."""

from __future__ import annotations

import re
import signal
import time

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


NEVER = str(2**63 - 1)


def recovery_point_offset(partition_dir) -> int:
    """The offset the partition's recovery-point checkpoint vouches for (everything below it
    was fsynced): line 3 of the file, first number. -1 before the first one is written: a
    new partition's checkpoint appears only when the background thread has fsynced a rolled
    segment (or at shutdown)."""
    path = partition_dir / "recovery-point"
    if not path.exists():
        return -1
    lines = path.read_text().splitlines()
    return int(lines[2].split()[0])


def test_page_cache_mode_fsyncs_rolled_segments_off_the_append_path(start_broker, topic_name):
    """Kafka's page-cache mode (no fsync on the append path): a rolled segment is fsynced by
    a background thread, not by the append that rolled (which waited for up to a segment of
    dirty bytes), and the recovery point then moves past it. A kill -9 loses nothing."""
    b = start_broker(
        **{
            "log.segment.bytes": 1_048_576,
            "log.flush.interval.messages": NEVER,
            "log.flush.interval.ms": NEVER,
        }
    )
    create_topic(b.bootstrap, topic_name, partitions=1)
    msgs = [{"value": f"{i:08d}".encode() * 125, "partition": 0} for i in range(5000)]
    delivered = produce_all(producer(b.bootstrap, acks="1"), topic_name, msgs)
    assert [d.offset() for d in delivered] == list(range(5000))
    part_dir = b.data_dir / f"{topic_name}-0"
    bases = sorted(int(p.stem) for p in part_dir.glob("*.log"))
    assert len(bases) >= 4, f"5 MB in 1 MiB segments rolled: {bases}"
    deadline = time.time() + 20
    while recovery_point_offset(part_dir) < bases[-1] and time.time() < deadline:
        time.sleep(0.1)
    assert recovery_point_offset(part_dir) == bases[-1], "every closed segment was fsynced"
    text = re.sub(r"\x1b\[[0-9;]*m", "", b.log_path.read_text(errors="replace"))
    rolls = [line for line in text.splitlines() if "rolled to a new segment" in line]
    assert rolls and all("deferred_fsync=true" in l for l in rolls), rolls[:2]

    b.restart(signal.SIGKILL)
    got = ck_consume(b.bootstrap, topic_name, [0], 5000)
    assert [r.offset for r in got] == list(range(5000))
    assert [r.value for r in got] == [m["value"] for m in msgs]
