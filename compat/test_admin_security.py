"""The admin HTTP listener when security is on (issue 25): HTTPS, authentication (HTTP Basic
against the SCRAM users, bearer tokens validated as OAUTHBEARER), and every call authorized
by the Kafka ACLs of the API it mirrors; `/health` and `/metrics` open or closed by setting;
the ACL and user endpoints; and the settings Rill cannot honour stopping the start.

The broker has a PLAINTEXT listener for the operators (its User:ANONYMOUS is a super user,
as in test_acls.py) and a SASL_SSL one with SCRAM-SHA-256 and OAUTHBEARER; the admin
listener borrows the SASL_SSL listener's certificate. ACLs are created with confluent-kafka's
AdminClient (the Kafka API) and with the admin API itself.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import subprocess
import urllib.error
import uuid

import pytest
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient,
                                   NewTopic, ResourcePatternType, ResourceType,
                                   ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion)

from adminhttp import request
from rillkit import free_port, rill_bin, wait_until
from securekit import Pki, TokenSigner, served_certificate_serial

TIMEOUT = 20
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def signer(tmp_path_factory) -> TokenSigner:
    return TokenSigner(tmp_path_factory.mktemp("jwt"))


def basic(user: str, password: str) -> dict:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


class Api:
    """The admin API of one broker over HTTPS, trusting the test CA."""

    def __init__(self, port: int, ca):
        self.base = f"https://127.0.0.1:{port}"
        self.ctx = ssl.create_default_context(cafile=str(ca))

    def call(self, method: str, path: str, headers: dict | None = None,
             body: dict | None = None) -> tuple[int, dict, dict | str]:
        status, h, raw = request(self.base + path, method, body, headers, self.ctx)
        h = {k.lower(): v for k, v in h.items()}
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = raw.decode(errors="replace")
        return status, h, parsed

    def get(self, path: str, headers: dict | None = None):
        return self.call("GET", path, headers)


def add_users(bootstrap: str, *names: str) -> None:
    ops = AdminClient({"bootstrap.servers": bootstrap})
    futs = ops.alter_user_scram_credentials([
        UserScramCredentialUpsertion(u, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096),
                                     f"{u}-secret".encode()) for u in names])
    for f in futs.values():
        f.result(timeout=TIMEOUT)


def start_secured(start_broker, pki, signer, **extra):
    plain, secure = free_port(), free_port()
    b = start_broker(port=plain, **{
        "listeners": f"PLAINTEXT://127.0.0.1:{plain},SASL_SSL://127.0.0.1:{secure}",
        "inter.broker.listener.name": "PLAINTEXT",
        "ssl.keystore.location": str(pki.server_keystore),
        "sasl.enabled.mechanisms": "SCRAM-SHA-256,OAUTHBEARER",
        "sasl.oauthbearer.jwks.endpoint.url": f"file://{signer.jwks_path}",
        "sasl.oauthbearer.expected.audience": "rill",
        "sasl.oauthbearer.expected.issuer": "https://issuer.test",
        "authorizer.class.name": AUTHORIZER,
        "super.users": "User:ANONYMOUS;User:admin",
        **extra,
    })
    add_users(b.bootstrap, "alice", "admin")
    return b, secure


def test_admin_api_needs_credentials_and_the_kafka_acls(start_broker, pki, signer):
    b, secure = start_secured(start_broker, pki, signer)
    api = Api(b.admin_port, pki.ca_cert)
    alice, admin = basic("alice", "alice-secret"), basic("admin", "admin-secret")
    ops = AdminClient({"bootstrap.servers": b.bootstrap})
    topic = f"orders-{uuid.uuid4().hex[:6]}"
    ops.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=TIMEOUT)

    # HTTPS only, with the SASL_SSL listener's certificate (the test CA's).
    with pytest.raises((urllib.error.URLError, http.client.HTTPException, OSError)):
        request(f"http://127.0.0.1:{b.admin_port}/health/live")
    assert api.get("/health/live")[0] == 200, "health is open by default"
    assert api.get("/console/app.js")[0] == 200, "the console's files load before a login"

    # No credentials, a wrong password, an unknown user, a bad token: 401 with a challenge.
    status, headers, body = api.get("/api/v1/topics")
    assert status == 401 and "Basic realm=" in headers.get("www-authenticate", ""), (status, headers)
    assert "Bearer" in headers["www-authenticate"], "OAUTHBEARER is enabled on a listener"
    assert "authentication required" in body["error"]["message"]
    for h in [basic("alice", "wrong"), basic("nobody", "alice-secret"), bearer("not.a.jwt"),
              {"Authorization": "Digest x"}]:
        assert api.get("/api/v1/topics", h)[0] == 401, h
    assert api.get("/api/v1/no-such", {})[0] == 401, "unknown paths tell nothing either"
    # The console's script requests are not challenged with Basic (no browser dialog).
    _, headers, _ = api.get("/api/v1/topics", {"X-Requested-With": "XMLHttpRequest"})
    assert "Basic" not in headers["www-authenticate"], headers
    assert api.get("/metrics")[0] == 401, "metrics need credentials by default"

    # alice authenticates but has no ACL: the topic is hidden, creating one refused.
    status, _, who = api.get("/api/v1/whoami", alice)
    assert status == 200 and who["principal"] == "User:alice" and who["authorizer"], who
    status, _, cluster = api.get("/api/v1/cluster", alice)
    assert status == 200 and cluster["authorized_operations"] == [], cluster
    ops_of_admin = api.get("/api/v1/cluster", admin)[2]["authorized_operations"]
    assert "ALTER" in ops_of_admin and len(ops_of_admin) == 7, ops_of_admin
    status, _, topics = api.get("/api/v1/topics", alice)
    assert status == 200 and topic not in [t["name"] for t in topics], topics
    assert api.get(f"/api/v1/topics/{topic}", alice)[0] == 403
    mine = f"alice-{uuid.uuid4().hex[:6]}"
    status, _, body = api.call("POST", "/api/v1/topics", alice, {"name": mine})
    assert status == 403 and body["error"]["kafka_error"] == "TOPIC_AUTHORIZATION_FAILED", body
    assert api.get(f"/api/v1/topics/{topic}/messages?partition=0", alice)[0] == 403
    assert api.get("/metrics", alice)[0] == 403, "metrics need DESCRIBE on the cluster"
    assert api.get("/api/v1/acls", alice)[0] == 403
    assert api.get("/api/v1/users", alice)[0] == 403
    assert api.call("DELETE", f"/api/v1/topics/{topic}", alice)[0] == 403

    # ACLs through the Kafka API: CREATE on alice-* topics, DESCRIBE on the orders topic.
    futs = ops.create_acls([
        AclBinding(ResourceType.TOPIC, "alice-", ResourcePatternType.PREFIXED, "User:alice", "*",
                   AclOperation.CREATE, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:alice", "*",
                   AclOperation.DESCRIBE, AclPermissionType.ALLOW)])
    for f in futs.values():
        f.result(timeout=TIMEOUT)
    status, _, body = api.call("POST", "/api/v1/topics", alice, {"name": mine})
    assert status == 201, body
    names = [t["name"] for t in api.get("/api/v1/topics", alice)[2]]
    assert topic in names and mine not in names, "CREATE does not imply DESCRIBE"
    assert api.get(f"/api/v1/topics/{topic}", alice)[0] == 200
    assert api.get(f"/api/v1/topics/{topic}/messages?partition=0", alice)[0] == 403

    # The super user passes everything and manages ACLs over HTTP.
    assert api.get("/metrics", admin)[0] == 200
    status, _, created = api.call("POST", "/api/v1/acls", admin, {
        "resource_type": "topic", "resource_name": topic, "principal": "User:alice",
        "operation": "read"})
    assert status == 201 and created["operation"] == "READ" and created["host"] == "*", created
    assert api.get(f"/api/v1/topics/{topic}/messages?partition=0", alice)[0] == 200
    status, _, acls = api.get("/api/v1/acls?principal=User:alice", admin)
    assert status == 200 and len(acls) == 3, acls
    assert {"resource_type": "TOPIC", "resource_name": "alice-", "pattern_type": "PREFIXED",
            "principal": "User:alice", "host": "*", "operation": "CREATE",
            "permission": "ALLOW"} in acls
    status, _, body = api.call("POST", "/api/v1/acls", admin, {
        "resource_type": "topic", "resource_name": topic, "principal": "alice",
        "operation": "read"})
    assert status == 400 and body["error"]["kafka_error"] == "INVALID_REQUEST", body
    assert api.call("DELETE", "/api/v1/acls", admin)[0] == 400, "a filter is required"
    status, _, gone = api.call("DELETE", f"/api/v1/acls?resource_name={topic}&operation=READ",
                               admin)
    assert status == 200 and len(gone["deleted"]) == 1, gone
    assert api.get(f"/api/v1/topics/{topic}/messages?partition=0", alice)[0] == 403
    # What the admin API created is what the Kafka API describes.
    described = ops.describe_acls(AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, "User:alice", None,
        AclOperation.ANY, AclPermissionType.ANY)).result(timeout=TIMEOUT)
    assert len(described) == 2, described

    # Users: create carol over HTTP; she logs in over HTTP and on the Kafka listener.
    status, _, body = api.call("POST", "/api/v1/users", admin,
                               {"name": "carol", "password": "carol-secret",
                                "mechanism": "SCRAM-SHA-256", "iterations": 8192})
    assert status == 201, body
    status, _, users = api.get("/api/v1/users", admin)
    assert status == 200
    carol = next(u for u in users if u["name"] == "carol")
    assert carol["credentials"] == [{"mechanism": "SCRAM-SHA-256", "iterations": 8192}]
    assert "salt" not in json.dumps(users) and "key" not in json.dumps(users)
    assert api.get("/api/v1/whoami", basic("carol", "carol-secret"))[2]["principal"] == "User:carol"
    kafka = AdminClient({"bootstrap.servers": f"127.0.0.1:{secure}", "security.protocol": "SASL_SSL",
                         "ssl.ca.location": str(pki.ca_cert), "sasl.mechanism": "SCRAM-SHA-256",
                         "sasl.username": "carol", "sasl.password": "carol-secret"})
    kafka.list_topics(timeout=TIMEOUT)
    status, _, body = api.call("POST", "/api/v1/users", admin,
                               {"name": "dave", "password": "x", "iterations": 100})
    assert status == 400 and body["error"]["kafka_error"] == "UNACCEPTABLE_CREDENTIAL", body
    assert api.call("DELETE", "/api/v1/users/carol", admin)[0] == 200
    assert api.get("/api/v1/whoami", basic("carol", "carol-secret"))[0] == 401, \
        "a deleted user's remembered login is not honoured"
    assert api.call("DELETE", "/api/v1/users/carol", admin)[0] == 404

    # Bearer tokens: validated as the OAUTHBEARER listener does (audience, expiry, keys).
    token, _ = signer.token("alice")
    status, _, who = api.get("/api/v1/whoami", bearer(token))
    assert status == 200 and who["principal"] == "User:alice", who
    assert api.get(f"/api/v1/topics/{topic}", bearer(token))[0] == 200
    expired, _ = signer.token("alice", lifetime_s=-120)
    assert api.get("/api/v1/whoami", bearer(expired))[0] == 401
    foreign, _ = signer.token("alice", audience="someone-else")
    assert api.get("/api/v1/whoami", bearer(foreign))[0] == 401
    assert b.alive()


def test_health_closed_metrics_open_and_an_own_certificate(start_broker, pki, tmp_path):
    """No TLS Kafka listener (only an authorizer turns security on): the admin listener takes
    its own certificate and reloads it when the file changes; `/metrics` opened and `/health`
    closed by setting; without authentication anonymous callers are held to the ACLs."""
    b = start_broker(**{
        "authorizer.class.name": AUTHORIZER,
        "super.users": "User:ANONYMOUS;User:admin",
        "admin.ssl.keystore.location": str(pki.server_keystore),
        "admin.metrics.open": "true",
        "admin.health.open": "false",
        "ssl.reload.check.interval.ms": "200",
    })
    add_users(b.bootstrap, "admin")
    api = Api(b.admin_port, pki.ca_cert)
    status, _, text = api.get("/metrics")
    assert status == 200 and "rill_broker_info" in text
    assert api.get("/health/live")[0] == 401
    assert api.get("/health/ready", basic("admin", "wrong"))[0] == 401
    assert api.get("/health/ready", basic("admin", "admin-secret"))[0] == 200
    # A new certificate in the keystore file is served to new connections, as on the
    # Kafka listeners.
    before = served_certificate_serial(b.admin_port, tmp_path)
    pki.renew_server()
    renewed = pki.serial_of(pki.dir / "server2.pem")
    assert renewed != before
    wait_until("the admin listener serves the renewed certificate",
               lambda: served_certificate_serial(b.admin_port, tmp_path) == renewed, timeout=15)
    assert api.get("/metrics")[0] == 200
    b.close()

    # admin.authentication=none, explicitly: served to User:ANONYMOUS under the ACLs.
    b2 = start_broker(**{
        "authorizer.class.name": AUTHORIZER,
        "super.users": "User:admin",
        "admin.ssl.enabled": "false",
        "admin.authentication": "none",
    })
    base = f"http://127.0.0.1:{b2.admin_port}"
    status, _, raw = request(base + "/api/v1/whoami")
    assert status == 200 and json.loads(raw)["principal"] == "User:ANONYMOUS"
    status, _, raw = request(base + "/api/v1/topics", "POST", {"name": "anon-topic"})
    assert status == 403, raw
    assert request(base + "/metrics")[0] == 200


@pytest.mark.parametrize(
    "overrides, said",
    [
        # HTTPS asked for and no certificate: none of its own, no TLS listener to borrow from.
        ({"authorizer.class.name": AUTHORIZER, "admin.ssl.enabled": "true"},
         "admin.ssl.keystore.location"),
        ({"admin.authentication": "basic"}, "admin.authentication"),
        ({"admin.metrics.open": "false"}, "admin.authentication is none"),
        ({"admin.ssl.enabled": "false", "admin.ssl.keystore.location": "/x.pem"}, "plain HTTP"),
        ({"admin.ssl.enabled": "true", "admin.ssl.keystore.location": "/nonexistent.pem"},
         "cannot read /nonexistent.pem"),
        ({"admin.ssl.enabled": "true", "admin.ssl.keystore.location": "/x.pem",
          "admin.ssl.client.auth": "required"}, "admin.ssl.client.auth"),
        ({"admin.ssl.enabled": "sometimes"}, "admin.ssl.enabled"),
    ],
)
def test_admin_settings_rill_cannot_honour_stop_the_start(tmp_path, overrides, said):
    cmd = [str(rill_bin()), "serve", "--override", f"log.dirs={tmp_path}",
           "--override", f"listeners=PLAINTEXT://127.0.0.1:{free_port()}",
           "--override", f"admin.listen=127.0.0.1:{free_port()}"]
    for k, v in overrides.items():
        cmd += ["--override", f"{k}={v}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert out.returncode != 0, out.stderr
    assert said in out.stderr, out.stderr
