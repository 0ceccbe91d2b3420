"""Helpers for a node's admin HTTP listener (console, /metrics, /health, /api/v1): plain
urllib requests, and /metrics parsed with the Prometheus project's own Python parser
(prometheus_client), so malformed exposition text fails the test that scrapes it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

TIMEOUT_S = 15.0


def request(url: str, method: str = "GET", body: dict | None = None,
            headers: dict | None = None, context=None) -> tuple[int, dict, bytes]:
    """(status, headers, body bytes) of one HTTP request; HTTP errors are answers too.
    `headers` are sent as given (Authorization, ...); `context` is the ssl.SSLContext of an
    https URL. Repeated response headers (WWW-Authenticate) are joined with ", "."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)

    def joined(h) -> dict:
        out: dict = {}
        for k, v in h.items():
            out[k] = f"{out[k]}, {v}" if k in out else v
        return out

    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S, context=context) as r:
            return r.status, joined(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, joined(e.headers), e.read()


def get_json(url: str, expect: int = 200):
    status, _, body = request(url)
    assert status == expect, f"GET {url}: {status} {body[:500]!r}"
    return json.loads(body)


def call_json(url: str, method: str, body: dict | None = None) -> tuple[int, dict]:
    status, _, raw = request(url, method, body)
    return status, json.loads(raw) if raw else {}


@dataclass
class Scrape:
    """One parsed /metrics answer: samples by (name, sorted labels), and the raw text."""

    samples: dict
    families: dict  # family name -> type
    text: str

    def value(self, name: str, **labels) -> float:
        """The sample's value, 0 when absent (a counter never incremented is not exported)."""
        return self.samples.get((name, tuple(sorted(labels.items()))), 0.0)

    def series(self, name: str) -> dict:
        """label dict (as a sorted tuple) -> value of every sample named `name`."""
        return {k[1]: v for k, v in self.samples.items() if k[0] == name}

    def total(self, name: str, **match) -> float:
        """Sum of the samples named `name` whose labels include `match`."""
        return sum(
            v for labels, v in self.series(name).items()
            if all(dict(labels).get(k) == str(w) for k, w in match.items())
        )


def scrape(base_url: str) -> Scrape:
    status, headers, body = request(base_url + "/metrics")
    assert status == 200, f"/metrics answered {status}"
    ctype = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    assert ctype.startswith("text/plain") and "version=0.0.4" in ctype, ctype
    text = body.decode()
    samples: dict = {}
    families: dict = {}
    for fam in text_string_to_metric_families(text):
        assert fam.name not in families, f"metric family {fam.name} appears twice"
        families[fam.name] = fam.type
        for s in fam.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in samples, f"duplicate sample {key}"
            samples[key] = s.value
    return Scrape(samples, families, text)
