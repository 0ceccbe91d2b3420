"""kcat (Debian's build, librdkafka 2.0.2): produce, consume and metadata."""

from __future__ import annotations

import json
import subprocess

from clients import ck_consume, create_topic


def run_kcat(kcat: str, args: list[str], stdin: str | None = None) -> str:
    out = subprocess.run([kcat, *args], input=stdin, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"kcat {' '.join(args)} exited {out.returncode}: {out.stderr}"
    return out.stdout


def test_kcat_produce_consume(broker, topic_name, kcat):
    create_topic(broker.bootstrap, topic_name, partitions=2)
    lines = [f"key{i}:value {i} with: colon" for i in range(200)]
    run_kcat(
        kcat,
        ["-b", broker.bootstrap, "-t", topic_name, "-P", "-p", "1", "-K:", "-H", "origin=kcat"],
        "\n".join(lines) + "\n",
    )

    # Read back with kcat itself.
    out = run_kcat(
        kcat,
        ["-b", broker.bootstrap, "-t", topic_name, "-C", "-p", "1", "-o", "beginning", "-e", "-f", "%p|%o|%k|%s|%h\n"],
    )
    assert out.splitlines() == [f"1|{i}|key{i}|value {i} with: colon|origin=kcat" for i in range(200)]

    # And with confluent-kafka, byte-exact.
    got = ck_consume(broker.bootstrap, topic_name, [1], 200)
    assert [(r.key, r.value, r.headers) for r in got] == [
        (f"key{i}".encode(), f"value {i} with: colon".encode(), (("origin", b"kcat"),)) for i in range(200)
    ]


def test_kcat_consumes_what_confluent_produced(broker, topic_name, kcat):
    from clients import produce_all, producer

    create_topic(broker.bootstrap, topic_name, partitions=1)
    produce_all(producer(broker.bootstrap), topic_name, [{"key": f"k{i}".encode(), "value": f"v{i}".encode()} for i in range(50)])
    out = run_kcat(kcat, ["-b", broker.bootstrap, "-C", "-t", topic_name, "-o", "beginning", "-e", "-f", "%o %k %s\n"])
    assert out.splitlines() == [f"{i} k{i} v{i}" for i in range(50)]


def test_kcat_metadata(broker, topic_name, kcat):
    create_topic(broker.bootstrap, topic_name, partitions=3)
    text = run_kcat(kcat, ["-b", broker.bootstrap, "-L", "-t", topic_name])
    assert f'topic "{topic_name}" with 3 partitions:' in text
    assert f"broker 1 at 127.0.0.1:{broker.port}" in text

    md = json.loads(run_kcat(kcat, ["-b", broker.bootstrap, "-L", "-J"]))
    assert [(b["id"], b["name"]) for b in md["brokers"]] == [(1, f"127.0.0.1:{broker.port}")]
    topics = {t["topic"]: t for t in md["topics"]}
    assert sorted(p["partition"] for p in topics[topic_name]["partitions"]) == [0, 1, 2]
    for p in topics[topic_name]["partitions"]:
        assert p["leader"] == 1


def test_kcat_relative_offsets_and_query(broker, topic_name, kcat):
    from clients import produce_all, producer

    create_topic(broker.bootstrap, topic_name, partitions=1)
    base = 1_710_000_000_000
    produce_all(producer(broker.bootstrap), topic_name,
                [{"value": f"v{i}".encode(), "timestamp": base + 1000 * i} for i in range(20)])
    out = run_kcat(kcat, ["-b", broker.bootstrap, "-C", "-t", topic_name, "-o", "-3", "-e", "-f", "%o %s\n"])
    assert out.splitlines() == ["17 v17", "18 v18", "19 v19"]
    out = run_kcat(kcat, ["-b", broker.bootstrap, "-C", "-t", topic_name, "-o", f"s@{base + 15_500}", "-e", "-f", "%o %T\n"])
    assert out.splitlines() == [f"{i} {base + 1000 * i}" for i in range(16, 20)]
    out = run_kcat(kcat, ["-b", broker.bootstrap, "-Q", "-t", f"{topic_name}:0:{base + 7000}"])
    assert out.splitlines() == [f"{topic_name} [0] offset 7"]
