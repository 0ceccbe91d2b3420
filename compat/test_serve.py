"""`rill serve` itself: Kafka's config names, bad values, config file, signals, segments."""

from __future__ import annotations

import signal
import subprocess

import pytest

import wire
from clients import admin, ck_consume, wait_for_topic, create_topic, produce_all, producer
from rillkit import RillBroker, free_port, rill_bin


def test_bad_config_value_is_a_startup_error(tmp_path):
    out = subprocess.run(
        [str(rill_bin()), "serve", "--override", f"log.dirs={tmp_path}", "--override", "num.partitions=lots",
         "--override", f"listeners=PLAINTEXT://127.0.0.1:{free_port()}"],
        capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL,
    )
    assert out.returncode != 0
    assert "num.partitions" in out.stderr, out.stderr


@pytest.mark.parametrize(
    "overrides, said",
    [
        # TLS or SASL asked for but not set up: never served as plaintext, never half set up.
        ({"listeners": "SSL://127.0.0.1:{p}"}, "needs a certificate"),
        ({"listeners": "SSL://127.0.0.1:{p}", "ssl.keystore.location": "/x.jks",
          "ssl.keystore.type": "JKS"}, "PEM only"),
        ({"listeners": "SSL://127.0.0.1:{p}", "ssl.keystore.location": "/nonexistent.pem"},
         "cannot read /nonexistent.pem"),
        ({"listeners": "SSL://127.0.0.1:{p}", "ssl.keystore.location": "/x.pem",
          "ssl.enabled.protocols": "TLSv1.1,TLSv1.2"}, "TLSv1.2 and TLSv1.3 only"),
        ({"listeners": "SSL://127.0.0.1:{p}", "ssl.keystore.location": "/x.pem",
          "ssl.client.auth": "required"}, "needs ssl.truststore"),
        ({"listeners": "CLIENT://127.0.0.1:{p}",
          "listener.security.protocol.map": "CLIENT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT"}, "GSSAPI"),
        ({"listeners": "SASL_PLAINTEXT://127.0.0.1:{p}", "sasl.enabled.mechanisms": "PLAIN"},
         "names no user"),
        ({"listeners": "SASL_PLAINTEXT://127.0.0.1:{p}", "sasl.enabled.mechanisms": "OAUTHBEARER"},
         "JWKS"),
        # A JWKS endpoint that does not answer: no token could ever be checked.
        ({"listeners": "SASL_PLAINTEXT://127.0.0.1:{p}", "sasl.enabled.mechanisms": "OAUTHBEARER",
          "sasl.oauthbearer.jwks.endpoint.url": "http://127.0.0.1:{q}/jwks"},
         "http://127.0.0.1:{q}/jwks: connect"),
        ({"listeners": "PLAINTEXT://127.0.0.1:{p}", "security.inter.broker.protocol": "SSL"},
         "no listener is named SSL"),
        ({"listeners": "PLAINTEXT://127.0.0.1:{p},PLAINTEXT://127.0.0.1:{q}"}, "given twice"),
        ({"listeners": "PLAINTEXT://127.0.0.1:{p}", "inter.broker.listener.name": "INTERNAL"},
         "not one of the listeners"),
    ],
)
def test_listeners_rill_cannot_serve_stop_the_start(tmp_path, overrides, said):
    cmd = [str(rill_bin()), "serve", "--override", f"log.dirs={tmp_path}"]
    p, q = free_port(), free_port()
    for k, v in overrides.items():
        cmd += ["--override", f"{k}={v.format(p=p, q=q)}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert out.returncode != 0, out.stderr
    assert said.format(p=p, q=q) in out.stderr, out.stderr


def test_unknown_config_key_is_warned_and_serves(start_broker):
    b = start_broker(**{"no.such.setting": "1"})
    assert wire.api_versions(b.port)
    assert "no.such.setting" in b.log_path.read_text()


def test_config_file_and_override_precedence(tmp_path):
    port = free_port()
    props = tmp_path / "server.properties"
    props.write_text(
        "# comment line\n"
        f"listeners=PLAINTEXT://127.0.0.1:{port}\n"
        f"log.dirs={tmp_path / 'data'}\n"
        "num.partitions=2\n"
    )
    b = RillBroker(tmp_path / "data", {"num.partitions": "5"}, config_file=props, port=port)
    try:
        b.start()
        # Auto-created topics take num.partitions from the override, not the file.
        topics = wire.parse_metadata_v4_topics(wire.roundtrip(port, wire.metadata_v4_request(["auto-t"], 1, True)))
        # Java answers LEADER_NOT_AVAILABLE (5) while the new topic's leader is being elected.
        assert topics in ({"auto-t": 0}, {"auto-t": 5}), topics
        wait_for_topic(b.bootstrap, "auto-t", 5)
        assert b.stop(signal.SIGINT) == 0
        assert (tmp_path / "data").is_dir(), "log.dirs from the file should be used"
    finally:
        b.close()


def test_advertised_listeners_in_metadata(start_broker):
    port = free_port()
    b = start_broker(**{"advertised.listeners": f"PLAINTEXT://localhost:{port}"})
    md = admin(b.bootstrap).list_topics(timeout=10)
    assert [(x.id, x.host, x.port) for x in md.brokers.values()] == [(1, "localhost", port)]


def test_broker_message_max_bytes_override(start_broker, topic_name):
    b = start_broker(**{"message.max.bytes": 5000})
    create_topic(b.bootstrap, topic_name)
    assert wire.produce_raw(b.port, topic_name, 0, wire.record_batch([(None, b"a" * 6000)]))[0] == wire.MESSAGE_TOO_LARGE
    assert wire.produce_raw(b.port, topic_name, 0, wire.record_batch([(None, b"a" * 3000)])) == (wire.NONE, 0)


def test_many_segments_read_back_and_survive_restart(start_broker, topic_name):
    b = start_broker(**{"log.segment.bytes": 1_048_576})
    create_topic(b.bootstrap, topic_name)
    values = [bytes([i % 251]) * 2000 + str(i).encode() for i in range(2000)]  # ~4 MB, 4+ segments
    produce_all(producer(b.bootstrap, **{"batch.size": 64_000}), topic_name, [{"value": v} for v in values])
    assert [r.value for r in ck_consume(b.bootstrap, topic_name, [0], len(values))] == values
    b.restart(signal.SIGKILL)
    got = ck_consume(b.bootstrap, topic_name, [0], len(values) - 1234, start=1234)
    assert [(r.offset, r.value) for r in got] == list(enumerate(values))[1234:]
    segments = list(b.data_dir.rglob("*.log"))
    assert len(segments) >= 4, f"expected several segment files, found {segments}"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_signal_clean_exit(broker, sig):
    assert broker.stop(sig) == 0
