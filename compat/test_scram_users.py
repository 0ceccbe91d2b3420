"""SCRAM users as cluster metadata, checked with confluent-kafka's AdminClient
(DescribeUserScramCredentials / AlterUserScramCredentials), `rill users` and
`rill format --add-scram`: upsert, describe, delete, Kafka's error codes for every case the
client lets through, survival across restarts, users that exist from the first start (a lone
node's log and a Raft quorum's bootstrap), and the CLI round trip.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from clients import admin, error_code, forget_admin
import wire
from rillkit import ClusterKit, RillBroker, free_port, new_cluster_id, rill_bin

SHA256 = ScramMechanism.SCRAM_SHA_256
SHA512 = ScramMechanism.SCRAM_SHA_512
TIMEOUT = 30
API_DESCRIBE_SCRAM = 50
API_ALTER_SCRAM = 51


def upsert(user: str, mechanism=SHA256, iterations: int = 4096, password: bytes = b"secret"):
    return UserScramCredentialUpsertion(user, ScramCredentialInfo(mechanism, iterations), password)


def alter(bootstrap: str, *alterations) -> dict[str, int]:
    """Runs one AlterUserScramCredentials request: user -> Kafka error code (0 = done)."""
    futures = admin(bootstrap).alter_user_scram_credentials(list(alterations))
    out = {}
    for user, f in futures.items():
        try:
            f.result(timeout=TIMEOUT)
            out[user] = 0
        except KafkaException as e:
            out[user] = error_code(e)
    return out


def describe_all(bootstrap: str) -> dict[str, set]:
    """Every user: {(mechanism, iterations)}."""
    got = admin(bootstrap).describe_user_scram_credentials().result(timeout=TIMEOUT)
    return {
        user: {(i.mechanism, i.iterations) for i in d.scram_credential_infos}
        for user, d in got.items()
    }


def describe(bootstrap: str, users: list[str]) -> dict[str, object]:
    """Each user asked: {(mechanism, iterations)}, or its Kafka error code."""
    futures = admin(bootstrap).describe_user_scram_credentials(users)
    out = {}
    for user, f in futures.items():
        try:
            d = f.result(timeout=TIMEOUT)
            out[user] = {(i.mechanism, i.iterations) for i in d.scram_credential_infos}
        except KafkaException as e:
            out[user] = error_code(e)
    return out


def test_upsert_describe_delete(broker):
    b = broker.bootstrap
    assert describe_all(b) == {}
    assert alter(b, upsert("alice"), upsert("bob", SHA512, 8192)) == {"alice": 0, "bob": 0}
    assert alter(b, upsert("alice", SHA512, 16384)) == {"alice": 0}
    assert describe_all(b) == {
        "alice": {(SHA256, 4096), (SHA512, 16384)},
        "bob": {(SHA512, 8192)},
    }
    assert describe(b, ["bob"]) == {"bob": {(SHA512, 8192)}}
    # A new password for an existing credential replaces it (new iterations shown).
    assert alter(b, upsert("bob", SHA512, 10000, b"other")) == {"bob": 0}
    assert describe(b, ["bob"]) == {"bob": {(SHA512, 10000)}}
    assert alter(b, UserScramCredentialDeletion("alice", SHA256)) == {"alice": 0}
    assert describe(b, ["alice"]) == {"alice": {(SHA512, 16384)}}
    assert alter(b, UserScramCredentialDeletion("alice", SHA512)) == {"alice": 0}
    assert describe_all(b) == {"bob": {(SHA512, 10000)}}


def test_error_codes(broker):
    b = broker.bootstrap
    assert alter(b, upsert("carol")) == {"carol": 0}
    # Iterations outside Kafka's 4096..=16384.
    assert alter(b, upsert("low", iterations=4095)) == {"low": KafkaError.UNACCEPTABLE_CREDENTIAL}
    assert alter(b, upsert("high", SHA512, 16385)) == {"high": KafkaError.UNACCEPTABLE_CREDENTIAL}
    # Deleting a credential that does not exist: no user, or not that mechanism.
    assert alter(b, UserScramCredentialDeletion("nobody", SHA256)) == {
        "nobody": KafkaError.RESOURCE_NOT_FOUND
    }
    assert alter(b, UserScramCredentialDeletion("carol", SHA512)) == {
        "carol": KafkaError.RESOURCE_NOT_FOUND
    }
    # One user altered twice in one request (delete + upsert): refused, nothing changes.
    assert alter(b, UserScramCredentialDeletion("carol", SHA256), upsert("carol", SHA512)) == {
        "carol": KafkaError.DUPLICATE_RESOURCE
    }
    # Describing a user without credentials.
    assert describe(b, ["nobody", "carol"]) == {
        "nobody": KafkaError.RESOURCE_NOT_FOUND,
        "carol": {(SHA256, 4096)},
    }
    # The refused requests changed nothing.
    assert describe_all(b) == {"carol": {(SHA256, 4096)}}


def alter_raw(port: int, deletions=(), upsertions=()) -> list[tuple[str, int]]:
    """AlterUserScramCredentials v0 by hand (librdkafka refuses an empty user name and the
    UNKNOWN mechanism before sending): [(user, error code)] in answer order."""
    body = wire.uvarint(len(deletions) + 1)
    for name, mechanism in deletions:
        body += wire.compact_string(name) + struct.pack(">b", mechanism) + wire.TAGS_NONE
    body += wire.uvarint(len(upsertions) + 1)
    for name, mechanism, iterations in upsertions:
        body += wire.compact_string(name) + struct.pack(">bi", mechanism, iterations)
        body += wire.compact_bytes(b"salt") + wire.compact_bytes(bytes(32)) + wire.TAGS_NONE
    body += wire.TAGS_NONE
    r = wire.Reader(wire.roundtrip(port, wire.header_v2(API_ALTER_SCRAM, 0, 7) + body))
    assert r.unpack(">i") == 7
    r.skip_tags()
    r.unpack(">i")  # throttle
    out = []
    for _ in range(r.uvarint() - 1):
        user = r.compact_string()
        code = r.unpack(">h")
        r.compact_string()
        r.skip_tags()
        out.append((user, code))
    return out


def describe_raw(port: int, users: list[str]) -> list[tuple[str, int]]:
    """DescribeUserScramCredentials v0 by hand: [(user, error code)] in answer order."""
    body = wire.uvarint(len(users) + 1)
    for u in users:
        body += wire.compact_string(u) + wire.TAGS_NONE
    body += wire.TAGS_NONE
    r = wire.Reader(wire.roundtrip(port, wire.header_v2(API_DESCRIBE_SCRAM, 0, 9) + body))
    assert r.unpack(">i") == 9
    r.skip_tags()
    r.unpack(">i")  # throttle
    assert r.unpack(">h") == 0
    r.compact_string()
    out = []
    for _ in range(r.uvarint() - 1):
        user = r.compact_string()
        code = r.unpack(">h")
        r.compact_string()
        for _ in range(r.uvarint() - 1):
            r.unpack(">bi")
            r.skip_tags()
        r.skip_tags()
        out.append((user, code))
    return out


def test_error_codes_the_client_does_not_let_through(broker):
    """Empty names, unknown mechanisms and a user described twice, sent on the wire."""
    port = broker.port
    assert alter_raw(port, upsertions=[("", 1, 4096), ("m0", 0, 4096), ("m3", 3, 8192)]) == [
        ("", KafkaError.UNACCEPTABLE_CREDENTIAL),
        ("m0", KafkaError.UNSUPPORTED_SASL_MECHANISM),
        ("m3", KafkaError.UNSUPPORTED_SASL_MECHANISM),
    ]
    assert alter_raw(port, deletions=[("dave", 0)]) == [
        ("dave", KafkaError.UNSUPPORTED_SASL_MECHANISM)
    ]
    # Two upsertions of one user, even for two mechanisms: DUPLICATE_RESOURCE, as Kafka's
    # controller (one change per user per request).
    assert alter_raw(port, upsertions=[("eve", 1, 4096), ("eve", 2, 4096)]) == [
        ("eve", KafkaError.DUPLICATE_RESOURCE)
    ]
    assert alter_raw(port, upsertions=[("eve", 1, 4096)]) == [("eve", 0)]
    assert describe_raw(port, ["eve", "zed", "eve"]) == [
        ("eve", KafkaError.DUPLICATE_RESOURCE),
        ("zed", KafkaError.RESOURCE_NOT_FOUND),
    ]
    assert describe_all(broker.bootstrap) == {"eve": {(SHA256, 4096)}}


def test_credentials_survive_restarts(broker):
    b = broker.bootstrap
    assert alter(b, upsert("erin", SHA512, 5000), upsert("frank")) == {"erin": 0, "frank": 0}
    assert alter(b, UserScramCredentialDeletion("frank", SHA256)) == {"frank": 0}
    broker.restart(signal.SIGKILL)
    assert describe_all(b) == {"erin": {(SHA512, 5000)}}
    broker.restart(signal.SIGTERM)
    assert describe_all(b) == {"erin": {(SHA512, 5000)}}


def run_rill(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(rill_bin()), *args], capture_output=True, text=True, timeout=60,
                          env=env)


def test_format_add_scram_then_serve(tmp_path):
    data = tmp_path / "data"
    port = free_port()
    done = run_rill("format", "--cluster-id", new_cluster_id(), "--node-id", "1",
                    "--data-dir", str(data),
                    "--add-scram", "SCRAM-SHA-256=[name=alice,password=alice-secret]",
                    "--add-scram", 'SCRAM-SHA-512=[name="bob",password="b,ob",iterations=8192]')
    assert done.returncode == 0, done.stderr
    assert "2 SCRAM credential(s)" in done.stdout
    b = RillBroker(data, port=port)
    try:
        b.start()
        assert describe_all(b.bootstrap) == {
            "alice": {(SHA256, 4096)},
            "bob": {(SHA512, 8192)},
        }
    finally:
        forget_admin(b.bootstrap)
        b.close()


def test_format_refuses_a_bad_add_scram(tmp_path):
    data = tmp_path / "data"
    done = run_rill("format", "--cluster-id", new_cluster_id(), "--node-id", "1",
                    "--data-dir", str(data), "--add-scram",
                    "SCRAM-SHA-256=[name=alice,password=x,iterations=100]")
    assert done.returncode != 0
    assert "iterations" in done.stderr
    assert not (data / "meta.properties").exists(), "a refused format leaves no formatted dir"


def test_format_add_scram_in_a_quorum(tmp_path):
    """Raft nodes keep the users in a bootstrap file; the node that creates the cluster in the
    metadata log proposes them with it, once."""
    kit = ClusterKit(tmp_path / "q", 3)
    try:
        for i in kit.nodes:
            kit.format(i, kit.cluster_id, "--add-scram",
                       "SCRAM-SHA-512=[name=root,password=pw,iterations=4096]")
        kit.start_all()
        assert describe_all(kit.bootstrap()) == {"root": {(SHA512, 4096)}}
        assert alter(kit.bootstrap(), UserScramCredentialDeletion("root", SHA512)) == {"root": 0}
        # A restart of every node does not bring the bootstrap user back.
        for i in kit.nodes:
            kit.nodes[i].stop()
        kit.start_all()
        assert describe_all(kit.bootstrap()) == {}
    finally:
        forget_admin(kit.bootstrap())
        kit.close()


def test_rill_users_round_trip(broker):
    env = dict(os.environ, RILL_BROKERS=broker.bootstrap)

    def ok(*args: str) -> str:
        done = run_rill(*args, env=env)
        assert done.returncode == 0, f"rill {args}: {done.stderr}"
        return done.stdout

    ok("users", "create", "gina", "--password", "g-secret")
    ok("users", "create", "gina", "--password", "g2", "--mechanism", "SCRAM-SHA-512",
       "--iterations", "9000")
    ok("users", "create", "hank", "--password", "h")
    listed = json.loads(ok("users", "list", "-O", "json"))
    assert {u["name"]: {(c["mechanism"], c["iterations"]) for c in u["credentials"]}
            for u in listed} == {
        "gina": {("SCRAM-SHA-256", 4096), ("SCRAM-SHA-512", 9000)},
        "hank": {("SCRAM-SHA-256", 4096)},
    }
    # What the CLI wrote is what a Kafka client reads.
    assert describe(broker.bootstrap, ["gina"]) == {"gina": {(SHA256, 4096), (SHA512, 9000)}}
    assert "hank" in ok("users", "list")
    ok("users", "delete", "gina", "--mechanism", "SCRAM-SHA-256")
    ok("users", "delete", "hank")
    assert describe_all(broker.bootstrap) == {"gina": {(SHA512, 9000)}}
    ok("users", "delete", "gina")
    assert describe_all(broker.bootstrap) == {}
    # Refusals keep Kafka's names and map to exit codes.
    low = run_rill("users", "create", "ivy", "--password", "x", "--iterations", "100", env=env)
    assert low.returncode == 1 and "UNACCEPTABLE_CREDENTIAL" in low.stderr, low.stderr
    gone = run_rill("users", "delete", "ivy", "--mechanism", "SCRAM-SHA-256", env=env)
    assert gone.returncode == 4 and "RESOURCE_NOT_FOUND" in gone.stderr, gone.stderr
