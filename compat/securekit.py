"""Test certificates and tokens for the secure-listener tests, made with the openssl CLI.

`Pki(dir)` makes a CA, a server certificate for 127.0.0.1/localhost, client certificates signed
by the CA (and one by a CA nobody trusts), per-node keystores for clusters (`node_keystore`), all
as unencrypted PEM. `TokenSigner(dir)` makes an
RSA key, its JWKS file, and signs RS256 JWTs with `openssl dgst` (no Python crypto package
needed).
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from pathlib import Path


def _run(*args: str, cwd: Path) -> bytes:
    out = subprocess.run(list(args), cwd=cwd, capture_output=True, timeout=60)
    assert out.returncode == 0, f"{' '.join(args)} failed: {out.stderr.decode(errors='replace')}"
    return out.stdout


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Pki:
    """A CA and certificates signed by it, in `dir`."""

    def __init__(self, dir: Path):
        self.dir = Path(dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_cert = self._ca("ca", "/CN=Rill Test CA")
        self.rogue_ca_cert = self._ca("rogue-ca", "/CN=Nobody Trusts Me")
        self.server_cert, self.server_key = self._leaf(
            "server", "/CN=localhost", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost"
        )
        # A keystore file as Kafka's PEM keystore: the key and the chain in one file.
        self.server_keystore = self.dir / "server-keystore.pem"
        self.server_keystore.write_text(self.server_key.read_text() + self.server_cert.read_text())

    def _ca(self, name: str, subject: str) -> Path:
        key, cert = self.dir / f"{name}.key", self.dir / f"{name}.pem"
        _run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
             "-out", str(cert), "-days", "2", "-subj", subject, cwd=self.dir)
        return cert

    def _leaf(self, name: str, subject: str, ca: str, ext: str | None = None) -> tuple[Path, Path]:
        key, csr, cert = (self.dir / f"{name}.key", self.dir / f"{name}.csr",
                          self.dir / f"{name}.pem")
        _run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
             "-out", str(csr), "-subj", subject, cwd=self.dir)
        args = ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(self.dir / f"{ca}.pem"),
                "-CAkey", str(self.dir / f"{ca}.key"), "-CAcreateserial", "-out", str(cert),
                "-days", "2"]
        if ext:
            extfile = self.dir / f"{name}.ext"
            extfile.write_text(ext + "\n")
            args += ["-extfile", str(extfile)]
        _run(*args, cwd=self.dir)
        return cert, key

    def client(self, name: str, subject: str, trusted: bool = True) -> tuple[Path, Path]:
        """A client certificate and key (signed by the rogue CA when not `trusted`)."""
        # An extension makes it X.509 v3 (webpki, like most TLS stacks, refuses v1).
        return self._leaf(name, subject, "ca" if trusted else "rogue-ca",
                          "extendedKeyUsage=clientAuth")

    def node_keystore(self, node_id: int, trusted: bool = True) -> Path:
        """A PEM keystore (key + certificate) for cluster node `node_id`, signed by the CA (by
        the rogue CA when not `trusted`), valid for 127.0.0.1 and localhost as both a TLS server
        and a TLS client: what a controller listener with mTLS serves and connects with."""
        name = f"node{node_id}" if trusted else f"rogue-node{node_id}"
        cert, key = self._leaf(
            name, f"/CN=rill-node-{node_id}", "ca" if trusted else "rogue-ca",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth",
        )
        keystore = self.dir / f"{name}-keystore.pem"
        keystore.write_text(key.read_text() + cert.read_text())
        return keystore

    def renew_server(self) -> None:
        """A new server key and certificate in the same keystore file."""
        cert, key = self._leaf("server2", "/CN=localhost", "ca",
                               "subjectAltName=IP:127.0.0.1,DNS:localhost")
        self.server_keystore.write_text(key.read_text() + cert.read_text())

    def serial_of(self, pem: Path) -> str:
        return _run("openssl", "x509", "-noout", "-serial", "-in", str(pem), cwd=self.dir).decode().strip()


def served_certificate_serial(port: int, workdir: Path) -> str:
    """The serial of the certificate a TLS server on 127.0.0.1:`port` presents."""
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-showcerts"],
                         input=b"", capture_output=True, timeout=20, cwd=workdir)
    pem = out.stdout.split(b"-----BEGIN CERTIFICATE-----", 1)[1].split(b"-----END CERTIFICATE-----", 1)[0]
    path = Path(workdir) / "served.pem"
    path.write_bytes(b"-----BEGIN CERTIFICATE-----" + pem + b"-----END CERTIFICATE-----\n")
    return _run("openssl", "x509", "-noout", "-serial", "-in", str(path), cwd=workdir).decode().strip()


class TokenSigner:
    """An RSA key whose JWKS is `jwks_path`; signs RS256 access tokens."""

    def __init__(self, dir: Path, kid: str = "test-key-1"):
        self.dir = Path(dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.kid = kid
        self.key = self.dir / "jwt.key"
        _run("openssl", "genrsa", "-out", str(self.key), "2048", cwd=self.dir)
        modulus = _run("openssl", "rsa", "-in", str(self.key), "-noout", "-modulus", cwd=self.dir)
        n = bytes.fromhex(modulus.decode().strip().split("=", 1)[1])
        jwk = {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
               "n": _b64url(n), "e": _b64url((65537).to_bytes(3, "big"))}
        self.jwks_path = self.dir / "jwks.json"
        self.jwks_path.write_text(json.dumps({"keys": [jwk]}))

    def token(self, sub: str, lifetime_s: float = 3600, audience: str = "rill",
              issuer: str = "https://issuer.test", **claims) -> tuple[str, float]:
        """A signed token and its expiry (seconds since the epoch)."""
        now = time.time()
        exp = now + lifetime_s
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        payload = {"sub": sub, "iat": int(now) - 5, "exp": int(exp), "aud": audience,
                   "iss": issuer, "scope": "kafka", **claims}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(payload).encode())}"
        msg = self.dir / "msg.bin"
        msg.write_bytes(signing_input.encode())
        sig = _run("openssl", "dgst", "-sha256", "-sign", str(self.key), str(msg), cwd=self.dir)
        return f"{signing_input}.{_b64url(sig)}", exp
