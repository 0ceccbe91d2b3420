"""Secure listeners with clients written by others: TLS (server auth, mTLS with principal
mapping, certificate reload), SASL PLAIN / SCRAM-SHA-256 / SCRAM-SHA-512 / OAUTHBEARER over
plaintext and TLS, re-authentication (KIP-368), per-listener advertised endpoints, and the
failures: wrong password, unknown user, expired token, a plaintext client on a TLS port and a
TLS client on a plaintext port, each failing cleanly while the broker serves others.
"""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer, KafkaProducer

from rillkit import free_port, wait_until
from securekit import Pki, TokenSigner, served_certificate_serial

TIMEOUT = 20


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def signer(tmp_path_factory) -> TokenSigner:
    return TokenSigner(tmp_path_factory.mktemp("jwt"))


def start_secure(start_broker, listeners: dict[str, str], advertised: dict[str, str] | None = None,
                 **settings):
    """A broker whose listeners are `{NAME: PROTOCOL}` on free ports (the first one is the
    broker's `port`). Returns (broker, {NAME: port})."""
    ports = {name: free_port() for name in listeners}
    overrides = {
        "group.initial.rebalance.delay.ms": "0",
        "listeners": ",".join(f"{n}://127.0.0.1:{p}" for n, p in ports.items()),
        "listener.security.protocol.map": ",".join(f"{n}:{proto}" for n, proto in listeners.items()),
    }
    if advertised:
        overrides["advertised.listeners"] = ",".join(f"{n}://{a}" for n, a in advertised.items())
    overrides.update({(k if "." in k else k.replace("_", ".")): v for k, v in settings.items()})
    b = start_broker(port=next(iter(ports.values())), **overrides)
    return b, ports


def round_trip(conf: dict, topic: str, n: int = 20) -> list[bytes]:
    """Create `topic`, produce `n` records and consume them in a group, with confluent-kafka
    configured by `conf` (security settings included)."""
    admin = AdminClient(conf)
    admin.poll(0.5)  # runs oauth_cb, when there is one
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=TIMEOUT)
    p = Producer({**conf, "acks": "all", "enable.idempotence": True})
    for i in range(n):
        p.produce(topic, f"v{i}".encode(), key=f"k{i}".encode())
    assert p.flush(TIMEOUT) == 0
    c = Consumer({**conf, "group.id": f"g-{uuid.uuid4().hex[:6]}", "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + TIMEOUT
    while len(got) < n and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got.append(m.value())
    c.commit(asynchronous=False)
    c.close()
    assert got == [f"v{i}".encode() for i in range(n)]
    return got


def take(consumer: KafkaConsumer, n: int) -> list[bytes]:
    """The first `n` values a kafka-python consumer reads (it stops at its timeout)."""
    out = []
    for m in consumer:
        out.append(m.value)
        if len(out) == n:
            break
    consumer.close()
    return out


def auth_fails(conf: dict) -> str:
    """The error a confluent-kafka client configured with `conf` gets."""
    errors = []
    admin = AdminClient({**conf, "error_cb": lambda e: errors.append(e)})
    admin.poll(0.5)  # runs oauth_cb, when there is one
    with pytest.raises(KafkaException) as exc:
        admin.list_topics(timeout=1.5)
    admin.poll(1)  # error_cb runs from poll
    return " ".join(str(e) for e in errors) + " " + str(exc.value)


def oauth_conf(bootstrap: str, make_token) -> dict:
    """confluent-kafka settings for OAUTHBEARER on SASL_PLAINTEXT with tokens from `make_token`."""
    return {"bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "OAUTHBEARER", "oauth_cb": lambda _cfg: make_token()}


def token_accepted(conf: dict) -> bool | None:
    """True when a client with `conf` authenticates and reads metadata (None otherwise, for
    wait_until)."""
    admin = AdminClient(conf)
    admin.poll(0.5)
    try:
        admin.list_topics(timeout=1.5)
        return True
    except KafkaException:
        return None


def ssl_conf(port: int, pki: Pki, **extra) -> dict:
    return {"bootstrap.servers": f"127.0.0.1:{port}", "security.protocol": "SSL",
            "ssl.ca.location": str(pki.ca_cert), **extra}


SCRAM_JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required;"


# ---- TLS ------------------------------------------------------------------------------------


def test_ssl_listener_serves_confluent_kafka_python_and_kcat(start_broker, pki, kcat, tmp_path):
    b, ports = start_secure(start_broker, {"SSL": "SSL"},
                            ssl_keystore_location=str(pki.server_keystore))
    conf = ssl_conf(ports["SSL"], pki)
    topic = f"tls-{uuid.uuid4().hex[:8]}"
    round_trip(conf, topic)
    # kafka-python reads what confluent-kafka wrote, over TLS.
    kc = KafkaConsumer(topic, bootstrap_servers=conf["bootstrap.servers"], security_protocol="SSL",
                       ssl_cafile=str(pki.ca_cert), auto_offset_reset="earliest",
                       consumer_timeout_ms=10000)
    assert take(kc, 20) == [f"v{i}".encode() for i in range(20)]
    kp = KafkaProducer(bootstrap_servers=conf["bootstrap.servers"], security_protocol="SSL",
                       ssl_cafile=str(pki.ca_cert))
    kp.send(topic, b"from-kafka-python").get(timeout=TIMEOUT)
    kp.close()
    # kcat (librdkafka 2.0) too.
    out = subprocess.run([kcat, "-b", conf["bootstrap.servers"], "-X", "security.protocol=SSL",
                          "-X", f"ssl.ca.location={pki.ca_cert}", "-C", "-t", topic, "-o",
                          "beginning", "-c", "21", "-e", "-q"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "from-kafka-python"


def test_a_plaintext_client_on_a_tls_port_and_a_tls_client_on_a_plaintext_port_fail_cleanly(
        start_broker, pki):
    b, ports = start_secure(start_broker, {"PLAINTEXT": "PLAINTEXT", "SSL": "SSL"},
                            ssl_keystore_location=str(pki.server_keystore))
    plain = {"bootstrap.servers": f"127.0.0.1:{ports['SSL']}", "socket.timeout.ms": 3000}
    auth_fails(plain)
    tls_on_plain = ssl_conf(ports["PLAINTEXT"], pki)
    auth_fails(tls_on_plain)
    # An untrusted server certificate is refused by the client.
    untrusted = ssl_conf(ports["SSL"], pki, **{"ssl.ca.location": str(pki.rogue_ca_cert)})
    assert "certificate verify failed" in auth_fails(untrusted)
    # The broker serves the others all along.
    assert b.alive()
    round_trip(ssl_conf(ports["SSL"], pki), f"ok-{uuid.uuid4().hex[:6]}", n=3)
    round_trip({"bootstrap.servers": f"127.0.0.1:{ports['PLAINTEXT']}"},
               f"ok-{uuid.uuid4().hex[:6]}", n=3)


def test_mtls_requires_a_trusted_certificate_and_maps_its_principal(start_broker, pki):
    b, ports = start_secure(
        start_broker, {"SSL": "SSL"},
        ssl_keystore_location=str(pki.server_keystore),
        ssl_truststore_location=str(pki.ca_cert),
        ssl_client_auth="required",
        # Only OU=eng certificates map to a principal; others are refused, as Kafka does when
        # no rule applies.
        ssl_principal_mapping_rules="RULE:^CN=([^,]+),OU=eng,.*$/$1/L",
    )
    alice_cert, alice_key = pki.client("alice", "/C=US/O=acme/OU=eng/CN=Alice")
    conf = ssl_conf(ports["SSL"], pki, **{"ssl.certificate.location": str(alice_cert),
                                          "ssl.key.location": str(alice_key)})
    round_trip(conf, f"mtls-{uuid.uuid4().hex[:6]}", n=5)
    # No certificate.
    auth_fails(ssl_conf(ports["SSL"], pki))
    # A certificate from a CA the broker does not trust.
    rogue_cert, rogue_key = pki.client("mallory", "/C=US/O=acme/OU=eng/CN=Mallory", trusted=False)
    auth_fails(ssl_conf(ports["SSL"], pki, **{"ssl.certificate.location": str(rogue_cert),
                                               "ssl.key.location": str(rogue_key)}))
    # A trusted certificate no mapping rule applies to.
    bob_cert, bob_key = pki.client("bob", "/C=US/O=acme/OU=sales/CN=Bob")
    auth_fails(ssl_conf(ports["SSL"], pki, **{"ssl.certificate.location": str(bob_cert),
                                               "ssl.key.location": str(bob_key)}))
    assert "no principal for the client certificate" in b.log_tail(200)
    assert b.alive()


def test_certificates_are_reloaded_when_the_keystore_file_changes(start_broker, pki, tmp_path):
    b, ports = start_secure(start_broker, {"SSL": "SSL"},
                            ssl_keystore_location=str(pki.server_keystore),
                            ssl_reload_check_interval_ms="200")
    before = served_certificate_serial(ports["SSL"], tmp_path)
    assert before == pki.serial_of(pki.dir / "server.pem")
    pki.renew_server()
    wait_until("the new certificate is served",
               lambda: served_certificate_serial(ports["SSL"], tmp_path) != before, timeout=15)
    assert served_certificate_serial(ports["SSL"], tmp_path) == pki.serial_of(pki.dir / "server2.pem")
    round_trip(ssl_conf(ports["SSL"], pki), f"reload-{uuid.uuid4().hex[:6]}", n=3)


# ---- SASL -----------------------------------------------------------------------------------


PLAIN_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
              'username="admin" password="admin-secret" user_admin="admin-secret" '
              'user_alice="alice-secret";')


def test_sasl_plain_with_confluent_kafka_kafka_python_and_kcat(start_broker, kcat):
    b, ports = start_secure(start_broker, {"SASL_PLAINTEXT": "SASL_PLAINTEXT"},
                            sasl_enabled_mechanisms="PLAIN",
                            **{"listener.name.sasl_plaintext.plain.sasl.jaas.config": PLAIN_JAAS})
    bootstrap = f"127.0.0.1:{ports['SASL_PLAINTEXT']}"
    conf = {"bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN", "sasl.username": "alice", "sasl.password": "alice-secret"}
    topic = f"plain-{uuid.uuid4().hex[:6]}"
    round_trip(conf, topic, n=10)
    # A request larger than sasl.server.max.receive.size (512 KiB) right after authenticating:
    # the pre-authentication limit must not apply to it (it did once: such a produce closed
    # the connection in a loop).
    big = Producer({**conf, "acks": "all"})
    big.produce(topic, b"b" * 700_000)
    assert big.flush(TIMEOUT) == 0
    kp = KafkaProducer(bootstrap_servers=bootstrap, security_protocol="SASL_PLAINTEXT",
                       sasl_mechanism="PLAIN", sasl_plain_username="alice",
                       sasl_plain_password="alice-secret")
    kp.send(topic, b"kp").get(timeout=TIMEOUT)
    kp.close()
    out = subprocess.run([kcat, "-b", bootstrap, "-X", "security.protocol=SASL_PLAINTEXT",
                          "-X", "sasl.mechanism=PLAIN", "-X", "sasl.username=admin",
                          "-X", "sasl.password=admin-secret", "-C", "-t", topic, "-o",
                          "beginning", "-c", "12", "-e", "-q"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "kp"
    # Wrong password, unknown user: SASL_AUTHENTICATION_FAILED with Kafka's message.
    wrong = auth_fails({**conf, "sasl.password": "nope"})
    assert "Invalid username or password" in wrong, wrong
    unknown = auth_fails({**conf, "sasl.username": "eve"})
    assert "Invalid username or password" in unknown, unknown
    # A mechanism the listener does not enable.
    scram = auth_fails({**conf, "sasl.mechanism": "SCRAM-SHA-256"})
    assert "SCRAM-SHA-256" in scram and "PLAIN" in scram, scram
    # Anything but ApiVersions/SASL before authenticating closes the connection: a plaintext
    # (non-SASL) client gets nothing.
    auth_fails({"bootstrap.servers": bootstrap, "socket.timeout.ms": 3000})
    assert b.alive()
    round_trip(conf, f"still-{uuid.uuid4().hex[:6]}", n=2)


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_scram_over_sasl_ssl_with_users_made_by_the_admin_api(start_broker, pki, kcat, mechanism):
    from confluent_kafka.admin import (ScramCredentialInfo, ScramMechanism,
                                       UserScramCredentialUpsertion)
    b, ports = start_secure(
        start_broker, {"PLAINTEXT": "PLAINTEXT", "SASL_SSL": "SASL_SSL"},
        ssl_keystore_location=str(pki.server_keystore),
        sasl_enabled_mechanisms="SCRAM-SHA-256,SCRAM-SHA-512",
    )
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{ports['PLAINTEXT']}"})
    mech = getattr(ScramMechanism, mechanism.replace("-", "_"))
    futs = admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion("alice", ScramCredentialInfo(mech, 8192), b"alice-secret")])
    for f in futs.values():
        f.result(timeout=TIMEOUT)
    conf = {"bootstrap.servers": f"127.0.0.1:{ports['SASL_SSL']}", "security.protocol": "SASL_SSL",
            "ssl.ca.location": str(pki.ca_cert), "sasl.mechanism": mechanism,
            "sasl.username": "alice", "sasl.password": "alice-secret"}
    topic = f"scram-{uuid.uuid4().hex[:6]}"
    round_trip(conf, topic, n=10)
    kc = KafkaConsumer(topic, bootstrap_servers=conf["bootstrap.servers"],
                       security_protocol="SASL_SSL", ssl_cafile=str(pki.ca_cert),
                       sasl_mechanism=mechanism, sasl_plain_username="alice",
                       sasl_plain_password="alice-secret", auto_offset_reset="earliest",
                       consumer_timeout_ms=10000)
    assert take(kc, 10) == [f"v{i}".encode() for i in range(10)]
    # kcat 1.7 (librdkafka 2.0.2) repeats its nonce in the client-final, as Kafka allows.
    out = subprocess.run([kcat, "-b", conf["bootstrap.servers"], "-X", "security.protocol=SASL_SSL",
                          "-X", f"ssl.ca.location={pki.ca_cert}", "-X", f"sasl.mechanism={mechanism}",
                          "-X", "sasl.username=alice", "-X", "sasl.password=alice-secret",
                          "-C", "-t", topic, "-o", "beginning", "-c", "10", "-e", "-q"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"v{i}" for i in range(10)]
    failed = auth_fails({**conf, "sasl.password": "wrong"})
    assert "invalid credentials" in failed, failed
    failed = auth_fails({**conf, "sasl.username": "nobody"})
    assert "invalid credentials" in failed, failed
    # The other SHA is not set for alice.
    other = "SCRAM-SHA-512" if mechanism == "SCRAM-SHA-256" else "SCRAM-SHA-256"
    failed = auth_fails({**conf, "sasl.mechanism": other})
    assert "invalid credentials" in failed, failed
    assert b.alive()


def test_oauthbearer_tokens_are_validated_against_the_jwks(start_broker, signer):
    b, ports = start_secure(
        start_broker, {"SASL_PLAINTEXT": "SASL_PLAINTEXT"},
        sasl_enabled_mechanisms="OAUTHBEARER",
        sasl_oauthbearer_jwks_endpoint_url=f"file://{signer.jwks_path}",
        sasl_oauthbearer_expected_audience="rill",
        sasl_oauthbearer_expected_issuer="https://issuer.test",
        ssl_reload_check_interval_ms="200",
    )
    bootstrap = f"127.0.0.1:{ports['SASL_PLAINTEXT']}"

    def conf(make_token):
        return oauth_conf(bootstrap, make_token)

    round_trip(conf(lambda: signer.token("alice")), f"oauth-{uuid.uuid4().hex[:6]}", n=5)
    # The JWT expired two minutes ago; the client is told it is good for an hour, so it
    # sends it and the broker must refuse it.
    failed = auth_fails(conf(lambda: (signer.token("alice", lifetime_s=-120)[0],
                                      time.time() + 3600)))
    assert "Authentication failed" in failed or "invalid_token" in failed, failed
    failed = auth_fails(conf(lambda: signer.token("alice", audience="someone-else")))
    assert "Authentication failed" in failed or "invalid_token" in failed, failed
    other = TokenSigner(signer.dir / "other", kid=signer.kid)
    failed = auth_fails(conf(lambda: other.token("alice")))
    assert "Authentication failed" in failed or "invalid_token" in failed, failed

    # Key rotation: the JWKS file now holds the other key; the broker reloads it.
    signer.jwks_path.write_text(other.jwks_path.read_text())
    wait_until("a token of the rotated key is accepted",
               lambda: token_accepted(conf(lambda: other.token("alice"))), timeout=30)
    # ...and the old key's tokens are refused from then on.
    failed = auth_fails(conf(lambda: signer.token("alice")))
    assert "Authentication failed" in failed or "invalid_token" in failed, failed
    assert b.alive()


def test_oauthbearer_keys_come_from_an_https_jwks_endpoint_and_are_refetched_on_rotation(
        start_broker, pki, tmp_path):
    # An identity provider's JWKS endpoint over HTTPS (certificate from the test CA); it serves
    # whatever `served` holds and counts the fetches.
    signer = TokenSigner(tmp_path / "idp", kid="idp-key-1")
    served = {"jwks": signer.jwks_path.read_text(), "fetches": 0}

    class Jwks(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            served["fetches"] += 1
            body = served["jwks"].encode()
            self.send_response(200 if self.path == "/.well-known/jwks.json" else 404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki.server_cert), str(pki.server_key))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
        b, ports = start_secure(
            start_broker, {"SASL_PLAINTEXT": "SASL_PLAINTEXT"},
            sasl_enabled_mechanisms="OAUTHBEARER",
            sasl_oauthbearer_jwks_endpoint_url=url,
            ssl_truststore_location=str(pki.ca_cert),
            sasl_oauthbearer_expected_audience="rill",
            ssl_reload_check_interval_ms="200",
        )
        bootstrap = f"127.0.0.1:{ports['SASL_PLAINTEXT']}"

        def conf(make_token):
            return oauth_conf(bootstrap, make_token)

        round_trip(conf(lambda: signer.token("alice")), f"oauth-{uuid.uuid4().hex[:6]}", n=5)
        fetched_at_start = served["fetches"]
        assert fetched_at_start == 1, served
        # The provider rotates to a new key with a new kid. A token naming it is refused until
        # the broker refetches the set, which that very miss triggers (the periodic refresh is
        # an hour away).
        rotated = TokenSigner(tmp_path / "rotated", kid="idp-key-2")
        served["jwks"] = rotated.jwks_path.read_text()

        wait_until("a token of the rotated key is accepted",
                   lambda: token_accepted(conf(lambda: rotated.token("alice"))), timeout=30)
        assert served["fetches"] >= 2, served
        failed = auth_fails(conf(lambda: signer.token("alice")))
        assert "Authentication failed" in failed or "invalid_token" in failed, failed
        assert b.alive()
    finally:
        server.shutdown()


def test_sessions_are_reauthenticated_kip368(start_broker):
    b, ports = start_secure(start_broker, {"SASL_PLAINTEXT": "SASL_PLAINTEXT"},
                            sasl_enabled_mechanisms="PLAIN", connections_max_reauth_ms="1500",
                            # Security is on, so the admin listener wants credentials: its
                            # /metrics is opened for this scrape.
                            admin_metrics_open="true",
                            **{"listener.name.sasl_plaintext.plain.sasl.jaas.config": PLAIN_JAAS})
    conf = {"bootstrap.servers": f"127.0.0.1:{ports['SASL_PLAINTEXT']}",
            "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
            "sasl.username": "alice", "sasl.password": "alice-secret"}
    topic = f"reauth-{uuid.uuid4().hex[:6]}"
    admin = AdminClient(conf)
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=TIMEOUT)
    errors = []
    p = Producer({**conf, "acks": "all", "error_cb": lambda e: errors.append(e)})
    delivered = []
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        p.produce(topic, b"x", on_delivery=lambda err, m: delivered.append(err))
        p.poll(0.1)
    assert p.flush(TIMEOUT) == 0
    assert delivered and all(e is None for e in delivered), [e for e in delivered if e][:3]
    import urllib.request
    metrics = urllib.request.urlopen(f"{b.admin_url}/metrics", timeout=5).read().decode()
    reauths = [float(l.split()[-1]) for l in metrics.splitlines()
               if l.startswith("rill_reauthentications_total")]
    assert reauths and reauths[0] >= 2, reauths


# ---- listeners ------------------------------------------------------------------------------


def test_metadata_answers_with_the_endpoints_of_the_listener_the_client_came_in_on(start_broker):
    internal, external = free_port(), free_port()
    b = start_broker(
        port=internal,
        listeners=f"INTERNAL://127.0.0.1:{internal},EXTERNAL://127.0.0.1:{external}",
        listener_security_protocol_map="INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
        advertised_listeners=f"INTERNAL://127.0.0.1:{internal},EXTERNAL://localhost:{external}",
        inter_broker_listener_name="INTERNAL",
    )
    for port, host in ((internal, "127.0.0.1"), (external, "localhost")):
        md = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"}).list_topics(timeout=TIMEOUT)
        brokers = list(md.brokers.values())
        assert [(x.host, x.port) for x in brokers] == [(host, port)], brokers
    # Both listeners serve produce and consume.
    round_trip({"bootstrap.servers": f"localhost:{external}"}, f"ext-{uuid.uuid4().hex[:6]}", n=3)
    assert b.alive()
