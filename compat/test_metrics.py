"""The admin HTTP listener of one node: /metrics after known traffic, /health, and the JSON
admin API, against a real `rill serve`.

Every counter is checked against an exact witness that is not the broker's word: requests and
bytes this test sends itself on raw connections (kafka-python's protocol classes), librdkafka's
own statistics (requests it sent), and the partitions' log sizes. The exposition text is parsed
with the Prometheus project's Python parser (prometheus_client), which fails on malformed text.
"""

from __future__ import annotations

import base64
import json
import time

from kafka.protocol.list_offsets import ListOffsetsRequest_v1

import wire
from adminhttp import call_json, get_json, request, scrape
from clients import ck_consumer, produce_all, producer

UNKNOWN_TOPIC_OR_PARTITION = 3


def settings() -> dict:
    # Few __consumer_offsets partitions and no initial rebalance delay keep the test quick.
    return {"offsets.topic.num.partitions": "3", "group.initial.rebalance.delay.ms": "0"}


def delta(after, before, name, **labels) -> float:
    return after.value(name, **labels) - before.value(name, **labels)


def librdkafka_requests(stats: list[str], api: str) -> int:
    """Requests of `api` librdkafka says it sent, from its last statistics JSON."""
    last = json.loads(stats[-1])
    return sum(b.get("req", {}).get(api, 0) for b in last["brokers"].values())


def test_health_endpoints_and_exposition(start_broker):
    b = start_broker(**settings())
    assert get_json(b.admin_url + "/health/live") == {"status": "live"}
    assert get_json(b.admin_url + "/health/ready") == {"status": "ready"}
    wire.api_versions(b.port)  # request metrics appear with the first request
    s = scrape(b.admin_url)
    # The families a Prometheus user looks for, with the right types.
    for name, kind in [
        ("rill_requests", "counter"),
        ("rill_connections_active", "gauge"),
        ("rill_purgatory_size", "gauge"),
        ("rill_partitions", "gauge"),
        ("rill_under_replicated_partitions", "gauge"),
        ("rill_under_min_isr_partitions", "gauge"),
        ("rill_offline_partitions_count", "gauge"),
        ("rill_active_controller_count", "gauge"),
        ("rill_log_size_bytes", "gauge"),
        ("rill_log_segments", "gauge"),
        ("rill_consumer_group_lag", "gauge"),
        ("rill_group_coordinator_partition_load_seconds", "histogram"),
        ("rill_group_coordinator_load_records", "counter"),
    ]:
        assert s.families.get(name) == kind, (name, s.families.get(name))
    # A lone node is its own active controller and hosts every __consumer_offsets partition.
    assert s.value("rill_active_controller_count") == 1
    assert s.value("rill_partitions") == 3
    assert s.value("rill_leader_partitions") == 3
    assert s.value("rill_offline_partitions_count") == 0
    assert s.value("rill_brokers", state="active") == 1
    # The group coordinator loaded its three (empty) offsets partitions at start.
    assert s.value("rill_group_coordinator_partition_load_seconds_count") == 3
    assert s.value("rill_group_coordinator_load_records_total") == 0
    info = s.series("rill_broker_info")
    assert len(info) == 1 and dict(next(iter(info)))["node_id"] == "1"
    # The console is served by the same listener, assets embedded.
    status, headers, body = request(b.admin_url + "/")
    assert status == 200 and b"<title>Rill console</title>" in body
    status, _, body = request(b.admin_url + "/console/app.js")
    assert status == 200 and b"/api/v1/topics" in body


def test_counters_move_by_the_traffic_sent(start_broker, topic_name):
    b = start_broker(**settings())
    base = b.admin_url
    status, body = call_json(base + "/api/v1/topics", "POST", {"name": topic_name, "partitions": 3})
    assert status == 201, body
    assert body["partitions"] == 3

    before = scrape(base)

    # Raw requests with exactly known content: 7 ApiVersions, 5 Produce of known batches,
    # 1 ListOffsets of a partition that does not exist.
    for _ in range(7):
        wire.api_versions(b.port)
    raw_bytes = 0
    raw_records = 0
    for i in range(5):
        batch = wire.record_batch([(f"k{i}-{j}".encode(), b"x" * (10 * i + j)) for j in range(i + 1)])
        err, _ = wire.produce_raw(b.port, topic_name, i % 3, batch)
        assert err == 0
        raw_bytes += len(batch)
        raw_records += i + 1
    resp = wire.call(b.port, ListOffsetsRequest_v1(replica_id=-1, topics=[(topic_name, [(7, -1)])]))
    assert resp.topics[0][1][0][1] == UNKNOWN_TOPIC_OR_PARTITION

    mid = scrape(base)
    assert delta(mid, before, "rill_requests_total", request="ApiVersions") == 7
    assert delta(mid, before, "rill_requests_total", request="Produce") == 5
    assert delta(mid, before, "rill_requests_total", request="ListOffsets") == 1
    assert delta(mid, before, "rill_request_errors_total", request="ListOffsets",
                 error="UNKNOWN_TOPIC_OR_PARTITION") == 1
    assert delta(mid, before, "rill_request_errors_total", request="Produce",
                 error="UNKNOWN_TOPIC_OR_PARTITION") == 0
    assert delta(mid, before, "rill_topic_bytes_in_total", topic=topic_name) == raw_bytes
    assert delta(mid, before, "rill_topic_records_in_total", topic=topic_name) == raw_records
    assert delta(mid, before, "rill_request_duration_seconds_count", request="Produce") == 5
    assert delta(mid, before, "rill_connections_created_total") == 13
    # Every acks=all batch waited for a group-commit fsync: at least one ran, at most one each.
    fsyncs = delta(mid, before, "rill_log_flush_duration_seconds_count")
    assert 1 <= fsyncs <= 5, fsyncs
    # The log holds exactly the bytes appended.
    assert mid.total("rill_log_size_bytes", topic=topic_name) == raw_bytes
    assert mid.total("rill_log_end_offset", topic=topic_name) == raw_records

    # librdkafka: 60 records on 3 partitions; it reports the requests it sent.
    stats: list[str] = []
    p = producer(b.bootstrap, **{"statistics.interval.ms": 100, "stats_cb": stats.append,
                                 "batch.num.messages": 7, "linger.ms": 2})
    msgs = [{"key": f"c{i}".encode(), "value": b"y" * (i % 40 + 1), "partition": i % 3} for i in range(60)]
    produce_all(p, topic_name, msgs)
    seen = len(stats)
    deadline = time.monotonic() + 5
    while len(stats) < seen + 2 and time.monotonic() < deadline:
        p.poll(0.05)  # two more statistics rounds after the last answer
    produce_requests = librdkafka_requests(stats, "Produce")
    assert produce_requests >= 60 // 7
    after = scrape(base)
    assert delta(after, mid, "rill_requests_total", request="Produce") == produce_requests
    assert delta(after, mid, "rill_request_duration_seconds_count", request="Produce") == produce_requests
    assert delta(after, mid, "rill_topic_records_in_total", topic=topic_name) == 60
    assert after.value("rill_topic_bytes_in_total", topic=topic_name) == after.total(
        "rill_log_size_bytes", topic=topic_name
    )
    assert after.total("rill_log_end_offset", topic=topic_name) == raw_records + 60
    assert after.value("rill_connections_active") >= 1  # the producer's
    p.flush(5)
    del p

    # Raw fetches: bytes and records out are exactly what was sent back.
    out_bytes = 0
    out_records = 0
    for part in range(3):
        err, hw, records = wire.fetch_v4(b.port, topic_name, part, 0)
        assert err == 0
        out_bytes += len(records)
        out_records += sum(len(list(batch)) for batch in wire.batches(records))
    assert out_records == raw_records + 60
    fetched = scrape(base)
    assert delta(fetched, after, "rill_topic_bytes_out_total", topic=topic_name) == out_bytes
    assert delta(fetched, after, "rill_topic_records_out_total", topic=topic_name) == out_records
    assert delta(fetched, after, "rill_requests_total", request="Fetch") == 3
    # A fetch with nothing to read parks in the fetch purgatory for max_wait_ms.
    assert fetched.value("rill_purgatory_size", delayed_operation="Fetch") == 0


def test_group_lag_in_metrics_and_api(start_broker, topic_name):
    b = start_broker(**settings())
    base = b.admin_url
    status, _ = call_json(base + "/api/v1/topics", "POST", {"name": topic_name, "partitions": 3})
    assert status == 201
    p = producer(b.bootstrap)
    produce_all(p, topic_name, [{"value": b"v%d" % i, "partition": i % 3} for i in range(30)])
    group = "lag-" + topic_name
    c = ck_consumer(b.bootstrap, **{"group.id": group})
    c.subscribe([topic_name])
    got = 0
    deadline = time.monotonic() + 30
    while got < 30 and time.monotonic() < deadline:
        for m in c.consume(num_messages=100, timeout=0.5):
            assert m.error() is None, m.error()
            got += 1
    assert got == 30
    c.commit(asynchronous=False)
    # While the consumer is in the group: one member, owning all three partitions.
    live = get_json(base + f"/api/v1/groups/{group}")
    assert live["state"] == "Stable" and live["protocol_type"] == "consumer"
    [member] = live["members"]
    assert member["client_id"] == "rdkafka"
    assert member["assignment"] == {topic_name: [0, 1, 2]}
    assert {r["partition"]: (r["member_id"], r["lag"]) for r in live["partitions"]} == {
        i: (member["member_id"], 0) for i in range(3)}
    c.close()
    # 4 more per partition: the group lags by exactly 4 on each.
    produce_all(p, topic_name, [{"value": b"w", "partition": i % 3} for i in range(12)])

    s = scrape(base)
    for part in range(3):
        labels = {"group": group, "topic": topic_name, "partition": str(part)}
        assert s.value("rill_consumer_group_committed_offset", **labels) == 10
        assert s.value("rill_consumer_group_lag", **labels) == 4
    assert s.value("rill_consumer_group_members", group=group) == 0

    rows = {g["group_id"]: g for g in get_json(base + "/api/v1/groups")}
    assert rows[group]["total_lag"] == 12
    assert rows[group]["state"] == "Empty"
    d = get_json(base + f"/api/v1/groups/{group}")
    assert d["total_lag"] == 12
    assert sorted((r["partition"], r["committed_offset"], r["high_watermark"], r["lag"])
                  for r in d["partitions"]) == [(i, 10, 14, 4) for i in range(3)]


def test_topics_partitions_and_errors_api(start_broker, topic_name):
    b = start_broker(**settings())
    base = b.admin_url
    status, body = call_json(base + "/api/v1/topics", "POST",
                             {"name": topic_name, "partitions": 2, "configs": {"retention.ms": "3600000"}})
    assert status == 201, body
    # Errors carry Kafka's error names and the matching HTTP status.
    status, body = call_json(base + "/api/v1/topics", "POST", {"name": topic_name})
    assert status == 409 and body["error"]["kafka_error"] == "TOPIC_ALREADY_EXISTS", body
    status, body = call_json(base + "/api/v1/topics", "POST", {"name": "bad/name"})
    assert status == 400 and body["error"]["kafka_error"] == "INVALID_TOPIC_EXCEPTION", body
    status, body = call_json(base + "/api/v1/topics", "POST", {"name": "x", "configs": {"retention.ms": "soon"}})
    assert status == 400 and body["error"]["kafka_error"] == "INVALID_CONFIG", body
    status, body = call_json(base + "/api/v1/topics", "POST", {"nome": "typo"})
    assert status == 400 and "nome" in body["error"]["message"], body
    status, body = call_json(base + "/api/v1/topics/no-such-topic", "GET")
    assert status == 404 and body["error"]["kafka_error"] == "UNKNOWN_TOPIC_OR_PARTITION"
    status, body = call_json(base + "/api/v1/groups/no-such-group", "GET")
    assert status == 404 and body["error"]["kafka_error"] == "GROUP_ID_NOT_FOUND", body
    status, body = call_json(base + f"/api/v1/topics/{topic_name}/messages?from=offset", "GET")
    assert status == 400, body
    status, body = call_json(base + "/api/v1/nothing-here", "GET")
    assert status == 404 and "error" in body

    p = producer(b.bootstrap)
    produce_all(p, topic_name, [{"value": b"%d" % i, "partition": i % 2} for i in range(9)])
    t = get_json(base + f"/api/v1/topics/{topic_name}")
    assert t["config_overrides"] == {"retention.ms": "3600000"}
    assert t["configs"]["retention.ms"] == "3600000"
    parts = {r["partition"]: r for r in t["partitions"]}
    assert set(parts) == {0, 1}
    assert (parts[0]["high_watermark"], parts[1]["high_watermark"]) == (5, 4)
    for r in parts.values():
        assert r["leader"] == 1 and r["replicas"] == [1] and r["isr"] == [1]
        assert r["log_start_offset"] == 0 and r["log_end_offset"] == r["high_watermark"]
        assert r["size_bytes"] > 0 and r["segments"] == 1 and r["offsets_from"] == "local"
        assert not (r["offline"] or r["under_replicated"] or r["under_min_isr"])
    listed = {r["name"]: r for r in get_json(base + "/api/v1/topics")}
    assert listed[topic_name]["records"] == 9
    assert "__consumer_offsets" not in listed
    assert "__consumer_offsets" in {r["name"] for r in get_json(base + "/api/v1/topics?internal=true")}
    flat = [r for r in get_json(base + "/api/v1/partitions") if r["topic"] == topic_name]
    assert len(flat) == 2

    cluster = get_json(base + "/api/v1/cluster")
    assert cluster["node_id"] == 1 and cluster["controller_id"] == 1 and cluster["mode"] == "single-node"
    assert cluster["ready"] is True and cluster["partitions"]["offline"] == 0
    assert [br["id"] for br in get_json(base + "/api/v1/brokers")] == [1]

    status, body = call_json(base + f"/api/v1/topics/{topic_name}", "DELETE")
    assert status == 200 and body["name"] == topic_name
    assert call_json(base + f"/api/v1/topics/{topic_name}", "GET")[0] == 404
    md = wire.parse_metadata_v4_topics(wire.roundtrip(b.port, wire.metadata_v4_request([topic_name], 5, False)))
    assert md == {topic_name: UNKNOWN_TOPIC_OR_PARTITION}


def test_message_browser(start_broker, topic_name):
    b = start_broker(**settings())
    base = b.admin_url
    assert call_json(base + "/api/v1/topics", "POST", {"name": topic_name, "partitions": 1})[0] == 201
    p = producer(b.bootstrap)
    t0 = int(time.time() * 1000) - 60_000
    msgs = [
        {"key": f"key-{i}".encode(), "value": json.dumps({"n": i}).encode(),
         "headers": [("h", f"hv{i}".encode()), ("null", None)], "timestamp": t0 + i * 1000, "partition": 0}
        for i in range(30)
    ]
    msgs.append({"key": None, "value": None, "timestamp": t0 + 30_000, "partition": 0})
    produce_all(p, topic_name, msgs)

    def browse(**q):
        qs = "&".join(f"{k}={v}" for k, v in q.items())
        return get_json(base + f"/api/v1/topics/{topic_name}/messages?{qs}")

    def dec(s):
        return None if s is None else base64.b64decode(s)

    latest = browse(limit=5)
    assert latest["high_watermark"] == 31 and latest["read_from"] == "local"
    assert [m["offset"] for m in latest["messages"]] == [26, 27, 28, 29, 30]
    assert latest["messages"][-1]["key"] is None and latest["messages"][-1]["value"] is None
    m = latest["messages"][0]
    assert dec(m["key"]) == b"key-26" and json.loads(dec(m["value"])) == {"n": 26}
    assert [(h["key"], dec(h["value"])) for h in m["headers"]] == [("h", b"hv26"), ("null", None)]
    assert m["timestamp"] == t0 + 26_000 and m["timestamp_type"] == "CreateTime"

    first = browse(**{"from": "earliest", "limit": 3})
    assert [m["offset"] for m in first["messages"]] == [0, 1, 2] and first["next_offset"] == 3
    mid = browse(**{"from": "offset", "offset": 10, "limit": 4})
    assert [dec(m["key"]) for m in mid["messages"]] == [b"key-10", b"key-11", b"key-12", b"key-13"]
    at = browse(**{"from": "timestamp", "timestamp": t0 + 17_500, "limit": 2})
    assert [m["offset"] for m in at["messages"]] == [18, 19]
    beyond = browse(**{"from": "offset", "offset": 99})
    assert beyond["messages"] == [] and beyond["start_offset"] == 31
    assert len(browse(**{"from": "earliest", "limit": 1000})["messages"]) == 31
