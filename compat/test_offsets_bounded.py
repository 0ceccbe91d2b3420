"""`__consumer_offsets` stays bounded: one million offset commits from 100 groups (100
partitions each, 100 rounds: 1,000,000 offset records over 10,000 live keys) shrink to the
live set once the log cleaner ran, and a restart replays about the live set instead of the
history.

The commits are raw OffsetCommit v2 requests (standalone commits, generation -1, 100
partitions per request, one request per group in flight per round on each connection, so a
group's commits apply in order): 10,000 requests. They are written once, by a broker with
the cleaner disabled; the stopped broker's data directory is then copied, so the two brokers
compared hold exactly the same history:
- "uncleaned": restarted with log.cleaner.enable=false;
- "cleaned": started with the cleaner on, waits until every `__consumer_offsets` partition
  was cleaned, then restarts.
Each restart's load is read from the group coordinator's metrics
(rill_group_coordinator_load_records_total, rill_group_coordinator_partition_load_seconds)
and its log line, and every group's committed offsets are checked with OffsetFetch afterwards.

What a cleaned load replays is the live set twice at most, as in Kafka: a partition's active
segment (64 KiB, about one round of its ~1,000 keys) is never cleaned, so its keys are also
still in the cleaned segments with their previous round's value.
Run with -s to see the figures."""

from __future__ import annotations

import shutil
import socket
import struct
import threading
import time
from pathlib import Path

import wire
from adminhttp import scrape
from clients import create_topic, forget_admin
from rillkit import RillBroker, wait_until

GROUPS = 100
PARTITIONS = 100
ROUNDS = 100
LIVE = GROUPS * PARTITIONS
OFFSETS_PARTITIONS = 10
SEGMENT_BYTES = 65536
CONNECTIONS = 4
TOPIC = "bounded"
OFFSETS = "__consumer_offsets"


def committed(group: int, partition: int, rnd: int) -> int:
    """The offset group `group` commits for `partition` in round `rnd` (distinct per group and
    partition, increasing with the round)."""
    return rnd * 1_000_000 + group * 1000 + partition


def offset_commit_v2(group: str, topic: str, offsets: list[tuple[int, int]], correlation_id: int) -> bytes:
    """A framed OffsetCommit v2 request: standalone commit (generation -1, no member), broker
    default retention, empty metadata."""
    parts = b"".join(struct.pack(">iqh", p, o, 0) for p, o in offsets)
    body = (
        wire.string(group)
        + struct.pack(">i", -1)
        + wire.string("")
        + struct.pack(">q", -1)
        + struct.pack(">i", 1)
        + wire.string(topic)
        + struct.pack(">i", len(offsets))
        + parts
    )
    return wire.frame(wire.header_v1(8, 2, correlation_id) + body)


def parse_offset_commit_v2(resp: bytes) -> tuple[int, list[int]]:
    """(correlation id, every partition's error code)."""
    r = wire.Reader(resp)
    corr = r.unpack(">i")
    codes = []
    for _ in range(r.unpack(">i")):
        r.string()
        for _ in range(r.unpack(">i")):
            r.unpack(">i")
            codes.append(r.unpack(">h"))
    return corr, codes


def commit_history(port: int) -> float:
    """GROUPS x ROUNDS OffsetCommit requests of PARTITIONS offsets each, over CONNECTIONS
    connections; returns the seconds it took."""
    errors: list = []

    def worker(k: int) -> None:
        groups = list(range(k, GROUPS, CONNECTIONS))
        try:
            with wire.connect(port, 30) as s:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                corr = 0
                for rnd in range(ROUNDS):
                    # One request per group in flight: each group's commits apply in order.
                    reqs = []
                    for g in groups:
                        corr += 1
                        offs = [(p, committed(g, p, rnd)) for p in range(PARTITIONS)]
                        reqs.append(offset_commit_v2(f"group-{g:03}", TOPIC, offs, corr))
                    s.sendall(b"".join(reqs))
                    for i in range(len(groups)):
                        got, codes = parse_offset_commit_v2(wire.recv_frame(s))
                        assert got == corr - len(groups) + 1 + i, (got, corr)
                        bad = [c for c in codes if c != 0]
                        assert not bad and len(codes) == PARTITIONS, f"round {rnd}: codes {set(codes)}"
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    return time.monotonic() - t0


def fetch_offsets(port: int, group: str) -> dict[int, int]:
    """OffsetFetch v1 of every partition of TOPIC for `group`: partition -> offset."""
    from kafka.protocol.commit import OffsetFetchRequest

    r = wire.call(port, OffsetFetchRequest[1](group, [(TOPIC, list(range(PARTITIONS)))]))
    out = {}
    for _topic, parts in r.topics:
        for p, offset, _meta, err in parts:
            assert err == 0, (group, p, err)
            out[p] = offset
    return out


def check_offsets(b: RillBroker) -> None:
    """Every group's committed offsets are the last round's."""
    for g in range(GROUPS):
        got = fetch_offsets(b.port, f"group-{g:03}")
        want = {p: committed(g, p, ROUNDS - 1) for p in range(PARTITIONS)}
        assert got == want, f"group-{g:03}: {sorted(set(got.items()) ^ set(want.items()))[:5]}"


def offsets_figures(b: RillBroker) -> dict:
    """The broker's `__consumer_offsets` and load figures from /metrics, and the bytes of the
    partitions' directories on disk."""
    s = scrape(b.admin_url)
    sizes = s.series("rill_log_size_bytes")
    starts = s.series("rill_log_start_offset")
    ends = s.series("rill_log_end_offset")
    mine = [k for k in sizes if dict(k).get("topic") == OFFSETS]
    assert len(mine) == OFFSETS_PARTITIONS, mine
    disk = sum(
        f.stat().st_size
        for d in b.data_dir.iterdir()
        if d.is_dir() and d.name.startswith(OFFSETS + "-")
        for f in d.rglob("*")
        if f.is_file()
    )
    return {
        "log_bytes": int(sum(sizes[k] for k in mine)),
        "disk_bytes": disk,
        "segments": int(s.total("rill_log_segments", topic=OFFSETS)),
        "offset_span": int(sum(ends[k] - starts[k] for k in mine)),
        "loads": int(s.value("rill_group_coordinator_partition_load_seconds_count")),
        "load_seconds": s.value("rill_group_coordinator_partition_load_seconds_sum"),
        "load_records": int(s.value("rill_group_coordinator_load_records_total")),
        "passes": int(s.value("rill_log_cleaner_passes_total")),
        "removed": int(s.value("rill_log_cleaner_records_removed_total")),
    }


def settings(cleaner: bool) -> dict[str, str]:
    return {
        "offsets.topic.num.partitions": str(OFFSETS_PARTITIONS),
        "offsets.topic.segment.bytes": str(SEGMENT_BYTES),
        "log.cleaner.enable": "true" if cleaner else "false",
        "log.cleaner.backoff.ms": "100",
        "log.cleaner.min.cleanable.ratio": "0.1",
        "log.segment.delete.delay.ms": "0",
    }


def start(request, data_dir: Path, cleaner: bool) -> tuple[RillBroker, float]:
    b = RillBroker(data_dir, settings(cleaner))
    request.node._rill_brokers.append(b)
    t0 = time.monotonic()
    b.start()
    return b, time.monotonic() - t0


def restart(b: RillBroker) -> float:
    """SIGTERM, start again; the seconds from spawn to accepting connections (the coordinator
    loads its partitions before the listener binds)."""
    assert b.stop() == 0
    t0 = time.monotonic()
    b.start()
    return time.monotonic() - t0


def test_offsets_topic_shrinks_to_the_live_set_and_restarts_in_time_of_it(request, tmp_path):
    t_start = time.monotonic()
    request.node._rill_brokers = []
    brokers: list[RillBroker] = []
    try:
        # History: written once by a broker that never cleans.
        writer, _ = start(request, tmp_path / "uncleaned", cleaner=False)
        brokers.append(writer)
        create_topic(writer.bootstrap, TOPIC, partitions=PARTITIONS)
        forget_admin(writer.bootstrap)
        took = commit_history(writer.port)
        hist = offsets_figures(writer)
        print(f"\n{GROUPS * ROUNDS} OffsetCommit requests, {GROUPS * ROUNDS * PARTITIONS} offsets "
              f"({LIVE} live) in {took:.1f}s")
        print(f"history: {hist['offset_span']} records, {hist['log_bytes']} log bytes "
              f"({hist['disk_bytes']} on disk) in {hist['segments']} segments over "
              f"{OFFSETS_PARTITIONS} partitions")
        assert hist["offset_span"] >= GROUPS * ROUNDS * PARTITIONS
        assert writer.stop() == 0
        shutil.copytree(tmp_path / "uncleaned", tmp_path / "cleaned")

        # Without cleaning, a restart replays the whole history.
        uncleaned = writer
        boot_u = restart(uncleaned)
        fu = offsets_figures(uncleaned)
        assert fu["load_records"] >= GROUPS * ROUNDS * PARTITIONS, fu
        assert fu["loads"] == OFFSETS_PARTITIONS
        assert fu["passes"] == 0 and fu["log_bytes"] == hist["log_bytes"]
        check_offsets(uncleaned)
        print(f"uncleaned restart: {fu['load_records']} records replayed in "
              f"{fu['load_seconds']:.3f}s of loading ({boot_u:.2f}s to listening)")
        uncleaned.stop()

        # The same history with the cleaner on: its first start still replays everything...
        cleaned, boot_first = start(request, tmp_path / "cleaned", cleaner=True)
        brokers.append(cleaned)
        first = offsets_figures(cleaned)
        assert first["load_records"] > 3 * LIVE, first
        # ...then every partition is cleaned down to about its live keys (~58 bytes per
        # offset record; the active segments are never cleaned).
        bound = 3 * LIVE * 100
        t0 = time.monotonic()
        fc = wait_until(
            f"{OFFSETS} cleaned below {bound} bytes",
            lambda: (f := offsets_figures(cleaned))["log_bytes"] < bound and f,
            60,
            0.5,
        )
        clean_s = time.monotonic() - t0
        print(f"cleaned in {clean_s:.1f}s: {fc['log_bytes']} log bytes ({fc['disk_bytes']} on disk) "
              f"in {fc['segments']} segments, {fc['passes']} cleaner passes, "
              f"{fc['removed']} records removed")
        assert fc["removed"] >= GROUPS * ROUNDS * PARTITIONS - 3 * LIVE

        boot_c = restart(cleaned)
        after = offsets_figures(cleaned)
        # The broker says so in its log too.
        lines = [ln for ln in cleaned.log_tail(400).splitlines() if f"loaded groups from {OFFSETS}" in ln]
        assert lines and f"records={after['load_records']} " in lines[-1] + " ", lines[-1:]
        check_offsets(cleaned)
        print(f"cleaned restart: {after['load_records']} records replayed in "
              f"{after['load_seconds']:.3f}s of loading ({boot_c:.2f}s to listening); "
              f"first start before cleaning replayed {first['load_records']} in "
              f"{first['load_seconds']:.3f}s ({boot_first:.2f}s)")
        print(f"on disk: {hist['disk_bytes']} bytes before cleaning, {after['disk_bytes']} after "
              f"({hist['log_bytes']} -> {after['log_bytes']} log bytes)")

        # Bounded: the load follows the live set, not the history.
        assert after["loads"] == OFFSETS_PARTITIONS
        assert LIVE <= after["load_records"] <= 3 * LIVE, after
        assert after["load_records"] * 20 < fu["load_records"]
        assert after["log_bytes"] * 10 < hist["log_bytes"]
        assert after["load_seconds"] < fu["load_seconds"], (after["load_seconds"], fu["load_seconds"])
        print(f"test took {time.monotonic() - t_start:.1f}s")
    finally:
        for b in brokers:
            b.close()
