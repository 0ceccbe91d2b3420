"""ACLs with clients written by others (issue 25): a broker with Kafka's StandardAuthorizer
(`authorizer.class.name`), `super.users`, and SCRAM users alice and bob on a SASL_PLAINTEXT
listener; the PLAINTEXT listener is the operators' (its User:ANONYMOUS is a super user).

Checked with confluent-kafka's AdminClient (CreateAcls / DescribeAcls / DeleteAcls) and
producers/consumers, and kafka-python: a user without ACLs cannot produce or consume
(TOPIC_AUTHORIZATION_FAILED) and does not see the topic in Metadata; literal WRITE and
prefixed READ ACLs with a group ACL let alice produce, consume and commit; a DENY beats the
ALLOW; bob (no ACLs) is refused through kafka-python; ACLs survive a restart; without an
authorizer CreateAcls answers SECURITY_DISABLED.
"""

from __future__ import annotations

import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation,
                                   AclPermissionType, AdminClient, NewTopic, ResourcePatternType,
                                   ResourceType, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion)
from kafka import KafkaProducer
from kafka.errors import TopicAuthorizationFailedError

from rillkit import free_port, rill_bin, wait_until

TIMEOUT = 20
SCRAM = "SCRAM-SHA-256"


def start(start_broker, **extra):
    plain, sasl = free_port(), free_port()
    b = start_broker(port=plain, **{
        "group.initial.rebalance.delay.ms": "0",
        "listeners": f"PLAINTEXT://127.0.0.1:{plain},SASL_PLAINTEXT://127.0.0.1:{sasl}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "sasl.enabled.mechanisms": SCRAM,
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:ANONYMOUS;User:admin",
        **extra,
    })
    ops = AdminClient({"bootstrap.servers": f"127.0.0.1:{plain}"})
    futs = ops.alter_user_scram_credentials([
        UserScramCredentialUpsertion(u, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096),
                                     f"{u}-secret".encode())
        for u in ("alice", "bob")])
    for f in futs.values():
        f.result(timeout=TIMEOUT)
    return b, ops, sasl


def user(port: int, name: str) -> dict:
    return {"bootstrap.servers": f"127.0.0.1:{port}", "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": SCRAM, "sasl.username": name, "sasl.password": f"{name}-secret"}


def produce_error(conf: dict, topic: str) -> KafkaError | None:
    """The delivery error of one record (None when it was written)."""
    errors = []
    p = Producer({**conf, "message.timeout.ms": 8000})
    p.produce(topic, b"x", on_delivery=lambda err, _m: errors.append(err))
    p.flush(15)
    return errors[0] if errors else KafkaError(KafkaError._MSG_TIMED_OUT)


def consume(conf: dict, topic: str, group: str, n: int) -> tuple[list[bytes], list[KafkaError]]:
    c = Consumer({**conf, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic])
    got, errors = [], []
    deadline = time.monotonic() + TIMEOUT
    while len(got) < n and time.monotonic() < deadline and not errors:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            errors.append(m.error())
        else:
            got.append(m.value())
    if got and not errors:
        c.commit(asynchronous=False)
    c.close()
    return got, errors


def create_acls(admin: AdminClient, *bindings: AclBinding) -> None:
    for f in admin.create_acls(list(bindings)).values():
        f.result(timeout=TIMEOUT)


def acl(restype, name, pattern, principal, op, perm=AclPermissionType.ALLOW) -> AclBinding:
    return AclBinding(restype, name, pattern, principal, "*", op, perm)


def test_acls_decide_who_produces_consumes_and_sees_topics(start_broker):
    b, ops, sasl = start(start_broker)
    topic = f"orders-{uuid.uuid4().hex[:6]}"
    ops.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=TIMEOUT)
    admin = ops
    alice = user(sasl, "alice")

    # No ACLs: alice cannot write, read, or see the topic.
    err = produce_error(alice, topic)
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
    assert topic not in AdminClient(alice).list_topics(timeout=TIMEOUT).topics

    # WRITE on the topic (literal), READ on every "orders-" topic (prefixed), READ on her group.
    group = f"g-alice-{uuid.uuid4().hex[:4]}"
    create_acls(admin,
                acl(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:alice",
                    AclOperation.WRITE),
                acl(ResourceType.TOPIC, "orders-", ResourcePatternType.PREFIXED, "User:alice",
                    AclOperation.READ),
                acl(ResourceType.GROUP, group, ResourcePatternType.LITERAL, "User:alice",
                    AclOperation.READ))
    assert produce_error(alice, topic) is None
    assert topic in AdminClient(alice).list_topics(timeout=TIMEOUT).topics, \
        "READ implies DESCRIBE"
    got, errors = consume(alice, topic, group, 1)
    assert got == [b"x"] and not errors, errors

    # Another group: no ACL on it, so no commit / join.
    _, errors = consume(alice, topic, f"other-{uuid.uuid4().hex[:4]}", 1)
    assert errors and errors[0].code() == KafkaError.GROUP_AUTHORIZATION_FAILED, errors

    # bob has no ACLs: kafka-python's producer is refused with TopicAuthorizationFailedError.
    kp = KafkaProducer(bootstrap_servers=f"127.0.0.1:{sasl}", security_protocol="SASL_PLAINTEXT",
                       sasl_mechanism=SCRAM, sasl_plain_username="bob",
                       sasl_plain_password="bob-secret", max_block_ms=10000)
    with pytest.raises(TopicAuthorizationFailedError):
        kp.send(topic, b"from bob").get(timeout=15)
    kp.close()

    # DENY beats ALLOW.
    create_acls(admin, acl(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:alice",
                           AclOperation.READ, AclPermissionType.DENY))
    _, errors = consume(alice, topic, group, 1)
    assert errors and errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, errors

    # DescribeAcls sees the four; a super user (ANONYMOUS on the operators' listener) passes.
    described = admin.describe_acls(AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, "User:alice", None,
        AclOperation.ANY, AclPermissionType.ANY)).result(timeout=TIMEOUT)
    assert len(described) == 4, described
    assert produce_error({"bootstrap.servers": f"127.0.0.1:{b.port}"}, topic) is None

    # alice may not change ACLs (ALTER on the cluster).
    with pytest.raises(KafkaException) as exc:
        create_acls(AdminClient(alice), acl(ResourceType.TOPIC, "*", ResourcePatternType.LITERAL,
                                           "User:alice", AclOperation.ALL))
    assert "CLUSTER_AUTHORIZATION_FAILED" in str(exc.value) or "uthoriz" in str(exc.value), exc.value

    # ACLs are metadata: they survive a restart.
    b.restart()
    wait_until("alice produces again after the restart", lambda: produce_error(alice, topic) is None,
               timeout=30)
    _, errors = consume(alice, topic, group, 1)
    assert errors and errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, errors

    # DeleteAcls of the DENY: alice reads again.
    deleted = admin.delete_acls([AclBindingFilter(
        ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:alice", "*",
        AclOperation.READ, AclPermissionType.DENY)])
    for f in deleted.values():
        assert len(f.result(timeout=TIMEOUT)) == 1
    got, errors = consume(alice, topic, group, 2)
    assert not errors and len(got) >= 1, errors


def test_rill_acls_creates_lists_and_deletes_with_kafka_acls_flags(start_broker):
    b, ops, sasl = start(start_broker)
    topic = f"cli-{uuid.uuid4().hex[:6]}"
    ops.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=TIMEOUT)
    bob = user(sasl, "bob")
    rill = [str(rill_bin()), "acls", "--bootstrap-server", f"127.0.0.1:{b.port}"]

    def run(*args):
        out = subprocess.run([*rill[:2], *args, *rill[2:]], capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert produce_error(bob, topic).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    run("create", "--allow-principal", "User:bob", "--producer", "--topic", topic)
    listed = run("list", "--principal", "User:bob")
    assert listed.count(topic) == 3 and "WRITE" in listed and "CREATE" in listed, listed
    assert produce_error(bob, topic) is None
    deleted = run("delete", "--allow-principal", "User:bob", "--topic", topic)
    assert "deleted 3 ACL(s)" in deleted, deleted
    assert produce_error(bob, topic).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # Bad flags are refused before anything is sent.
    bad = subprocess.run([*rill[:2], "create", "--allow-principal", "bob", "--operation", "Read",
                          "--topic", topic, *rill[2:]], capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "principal" in bad.stderr.lower(), bad.stderr


def test_acl_apis_without_an_authorizer_answer_security_disabled(start_broker):
    b = start_broker()
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{b.port}"})
    with pytest.raises(KafkaException) as exc:
        create_acls(admin, acl(ResourceType.TOPIC, "t", ResourcePatternType.LITERAL, "User:x",
                               AclOperation.READ))
    assert "SECURITY_DISABLED" in str(exc.value) or "authorizer" in str(exc.value), exc.value


def test_acls_are_the_same_on_every_node_of_a_cluster_and_survive_a_controller_kill9(
        tmp_path, request):
    from rillkit import ClusterKit
    kit = ClusterKit(tmp_path / "c", 3, overrides={
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:ANONYMOUS",
    })
    request.node._rill_brokers = list(kit.nodes.values())
    try:
        kit.start_all()
        kit.wait_brokers([1, 2, 3])

        def listed(node: int) -> str:
            out = subprocess.run([str(rill_bin()), "acls", "list", "--principal", "User:carol",
                                  "--bootstrap-server", f"127.0.0.1:{kit.port(node)}"],
                                 capture_output=True, text=True, timeout=30)
            return out.stdout if out.returncode == 0 else ""

        made = subprocess.run([str(rill_bin()), "acls", "create", "--allow-principal", "User:carol",
                               "--consumer", "--topic", "ledger-", "--resource-pattern-type",
                               "prefixed", "--group", "carol-app",
                               "--bootstrap-server", kit.bootstrap()],
                              capture_output=True, text=True, timeout=30)
        assert made.returncode == 0, made.stderr
        for node in (1, 2, 3):
            wait_until(f"node {node} has carol's 3 ACLs",
                       lambda: listed(node).count("User:carol") == 3 or None, timeout=20)
        ctrl = kit.controller([1, 2, 3])
        kit.kill9(ctrl)
        kit.start(ctrl)
        wait_until(f"node {ctrl} has them again after kill -9",
                   lambda: listed(ctrl).count("User:carol") == 3 or None, timeout=40)
    finally:
        kit.close()
