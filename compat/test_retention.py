"""Retention by time and size deletes whole old segments; consumers then start later."""

from __future__ import annotations

import time

from confluent_kafka import TopicPartition
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

from wire import fetch_v4
from clients import admin, ck_consume, ck_consumer, create_topic, produce_all, producer

SEGMENT = 1_048_576


def low_watermark(bootstrap: str, topic: str) -> tuple[int, int]:
    c = ck_consumer(bootstrap)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        c.close()


def fill(bootstrap: str, topic: str, n: int = 2500, ts: int | None = None) -> list[bytes]:
    values = [b"%06d" % i + b"r" * 2000 for i in range(n)]  # ~5 MB: several 1 MiB segments
    msgs = [{"value": v} | ({"timestamp": ts} if ts else {}) for v in values]
    produce_all(producer(bootstrap, **{"batch.size": 100_000}), topic, msgs)
    return values


def wait_low_watermark_above(bootstrap: str, topic: str, floor: int, timeout: float = 20) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while True:
        marks = low_watermark(bootstrap, topic)
        if marks[0] > floor:
            return marks
        assert time.monotonic() < deadline, f"retention did not run: watermarks {marks}"
        time.sleep(0.2)


def test_retention_ms_deletes_old_segments(start_broker, topic_name):
    b = start_broker(**{"log.segment.bytes": SEGMENT, "log.retention.check.interval.ms": 200})
    create_topic(b.bootstrap, topic_name, config={"retention.ms": "3600000"})
    # Records stamped two hours ago: nothing is deleted while retention is one hour... then it is.
    old = int(time.time() * 1000) - 2 * 3600 * 1000
    values = fill(b.bootstrap, topic_name, ts=old)
    time.sleep(1.0)
    lw, hw = low_watermark(b.bootstrap, topic_name)
    assert hw == len(values)
    # Java deletes segments whose largest timestamp is older than retention.ms, except the active one.
    assert lw > 0, "segments with records older than retention.ms should be gone"
    assert lw < hw
    # Raw fetch below the new start offset is OFFSET_OUT_OF_RANGE; reading from it works.
    assert fetch_v4(b.port, topic_name, 0, 0)[0] == 1
    got = ck_consume(b.bootstrap, topic_name, [0], hw - lw, start=lw)
    assert [r.value for r in got] == values[lw:]


def test_retention_change_at_runtime(start_broker, topic_name):
    b = start_broker(**{"log.segment.bytes": SEGMENT, "log.retention.check.interval.ms": 200})
    create_topic(b.bootstrap, topic_name)
    values = fill(b.bootstrap, topic_name)
    time.sleep(0.6)
    assert low_watermark(b.bootstrap, topic_name) == (0, len(values))
    res = ConfigResource(
        ConfigResource.Type.TOPIC, topic_name,
        incremental_configs=[ConfigEntry("retention.bytes", str(2 * SEGMENT), incremental_operation=AlterConfigOpType.SET)],
    )
    admin(b.bootstrap).incremental_alter_configs([res])[res].result(timeout=15)
    lw, hw = wait_low_watermark_above(b.bootstrap, topic_name, 0)
    assert hw == len(values)
    # What remains is at most retention.bytes plus the active segment.
    assert (hw - lw) * 2000 <= 3 * SEGMENT + 100_000
    got = ck_consume(b.bootstrap, topic_name, [0], hw - lw, start=lw)
    assert [r.value for r in got] == values[lw:]


def segment_files(data_dir, topic: str) -> list[int]:
    """Base offsets of the partition's `.log` files, sorted."""
    part = data_dir / f"{topic}-0"
    return sorted(int(p.name.split(".")[0]) for p in part.glob("*.log"))


def test_delete_records_deletes_the_segment_files_below_the_new_start(start_broker, topic_name):
    b = start_broker(**{"log.segment.bytes": SEGMENT})
    create_topic(b.bootstrap, topic_name)
    values = fill(b.bootstrap, topic_name)
    before = segment_files(b.data_dir, topic_name)
    assert len(before) >= 4, before
    cut = before[2] + 10  # inside the third segment: the first two end below it
    fs = admin(b.bootstrap).delete_records([TopicPartition(topic_name, 0, cut)], request_timeout=15)
    assert list(fs.values())[0].result(timeout=15).low_watermark == cut
    # The files go on a background thread after the answer.
    deadline = time.monotonic() + 20
    while segment_files(b.data_dir, topic_name) != before[2:]:
        assert time.monotonic() < deadline, segment_files(b.data_dir, topic_name)
        time.sleep(0.1)
    assert low_watermark(b.bootstrap, topic_name) == (cut, len(values))
    got = ck_consume(b.bootstrap, topic_name, [0], len(values) - cut, start=cut)
    assert [r.value for r in got] == values[cut:]


def test_retention_recycles_segment_files_and_reads_never_see_their_old_bytes(start_broker, topic_name):
    """Retention keeps the segment files it retires, and rolls write over them (Rill's segment
    recycling). Whatever a consumer reads meanwhile, and whatever a kill -9 leaves, every
    record read is the one produced at its offset: no old bytes of a recycled file."""
    from adminhttp import scrape

    seg = 2 * SEGMENT
    b = start_broker(**{
        "log.segment.bytes": seg,
        "log.retention.bytes": 3 * seg,
        "log.retention.check.interval.ms": 100,
    })
    create_topic(b.bootstrap, topic_name)
    p = producer(b.bootstrap, **{"batch.size": 200_000})
    value = lambda off: b"%08d" % off + b"v" * 3000  # noqa: E731
    consumer = ck_consumer(b.bootstrap)
    consumer.assign([TopicPartition(topic_name, 0, 0)])
    read = 0
    n = 0
    for _ in range(8):
        delivered = produce_all(p, topic_name, [{"value": value(n + i)} for i in range(1500)])  # ~4.5 MB
        assert [d.offset() for d in delivered] == list(range(n, n + 1500))
        n += 1500
        time.sleep(0.3)  # retention retires segments (kept as spares)
        # A consumer keeps reading from wherever it is (earliest again when retention passed it).
        for m in consumer.consume(num_messages=1000, timeout=0.5):
            assert m.error() is None, m.error()
            assert m.value() == value(m.offset()), f"offset {m.offset()} holds another record"
            read += 1
    consumer.close()
    assert read > 0
    recycled = scrape(b.admin_url).value("rill_log_segments_recycled", topic=topic_name, partition="0")
    assert recycled >= 2, f"rolls wrote over {recycled} retired files"

    def check_all() -> None:
        lw, hw = low_watermark(b.bootstrap, topic_name)
        assert hw == n and 0 < lw < n - 1500
        got = ck_consume(b.bootstrap, topic_name, [0], hw - lw, start=lw)
        assert [r.offset for r in got] == list(range(lw, hw))
        assert all(r.value == value(r.offset) for r in got)

    check_all()
    b.kill9()
    b.start()
    check_all()


def test_segment_recycling_can_be_turned_off(start_broker, topic_name):
    from adminhttp import scrape

    seg = 2 * SEGMENT
    b = start_broker(**{
        "log.segment.bytes": seg,
        "log.retention.bytes": 2 * seg,
        "log.retention.check.interval.ms": 100,
        "log.segment.recycle.enable": "false",
    })
    create_topic(b.bootstrap, topic_name)
    p = producer(b.bootstrap, **{"batch.size": 200_000})
    for _ in range(4):
        produce_all(p, topic_name, [{"value": b"x" * 3000} for _ in range(1500)])
        time.sleep(0.3)
    wait_low_watermark_above(b.bootstrap, topic_name, 0)  # retention ran
    s = scrape(b.admin_url)
    labels = (("partition", "0"), ("topic", topic_name))
    # Exported (a missing sample would read as 0) and zero.
    assert s.samples[("rill_log_segments_recycled", labels)] == 0
    assert s.samples[("rill_log_spare_segments", labels)] == 0
    # Only the live segments are on disk: retired files went.
    assert len(segment_files(b.data_dir, topic_name)) <= 5, segment_files(b.data_dir, topic_name)
