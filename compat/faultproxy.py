"""A fault-injecting TCP proxy for the Kafka protocol, ours, for multi-node tests.

One proxy stands in front of one broker's client port and is that broker's advertised
address, so clients and other brokers' replica fetchers reach the broker through it. The
proxy reads the client id of each connection's first request (Kafka request header v1+:
api key, api version, correlation id, then the client id as an int16-length string), so a
test can cut exactly one kind of traffic, e.g. the replica fetcher of broker 3
(`rill-replica-fetcher-3`), while clients keep working: matching connections are closed
and new ones refused until `heal()`. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import socket
import struct
import threading


def _read_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def client_id_of(frame: bytes) -> str | None:
    """The client id of a request frame's header (without its 4-byte length), if any."""
    if len(frame) < 10:
        return None
    (n,) = struct.unpack(">h", frame[8:10])
    if n < 0 or len(frame) < 10 + n:
        return None
    return frame[10 : 10 + n].decode("utf-8", "replace")


class FaultProxy:
    """Forwards 127.0.0.1:`port` to 127.0.0.1:`target`; `cut(prefix)` drops connections
    whose client id starts with `prefix`, `cut_all()` drops everything. With `kafka=False`
    the bytes are not parsed (for our controller-to-controller frames): only `cut_all`."""

    def __init__(self, target: int, port: int, kafka: bool = True):
        self.target = target
        self.port = port
        self.kafka = kafka
        self._all = False
        self._blocked: set[str] = set()
        self._lock = threading.Lock()
        self._conns: list[tuple[str, socket.socket, socket.socket]] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(128)
        self._closed = False
        self.refused = 0
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def cut(self, client_id_prefix: str) -> None:
        """Drop every connection of clients whose id starts with the prefix, now and later."""
        with self._lock:
            self._blocked.add(client_id_prefix)
            victims = [c for c in self._conns if c[0].startswith(client_id_prefix)]
        for _, a, b in victims:
            _close(a)
            _close(b)

    def cut_all(self) -> None:
        """Drop every connection, now and later."""
        with self._lock:
            self._all = True
            victims = list(self._conns)
        for _, a, b in victims:
            _close(a)
            _close(b)

    def heal(self) -> None:
        with self._lock:
            self._blocked.clear()
            self._all = False

    def close(self) -> None:
        self._closed = True
        _close(self._listener)
        with self._lock:
            conns, self._conns = self._conns, []
        for _, a, b in conns:
            _close(a)
            _close(b)

    def _is_blocked(self, client_id: str) -> bool:
        with self._lock:
            return self._all or any(client_id.startswith(p) for p in self._blocked)

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        if not self.kafka:
            self._serve_raw(client)
            return
        try:
            head = _read_exact(client, 4)
            if head is None:
                _close(client)
                return
            (size,) = struct.unpack(">i", head)
            if size < 0 or size > 100 * 1024 * 1024:
                _close(client)
                return
            frame = _read_exact(client, size)
            if frame is None:
                _close(client)
                return
            cid = client_id_of(frame) or ""
            if self._is_blocked(cid):
                self.refused += 1
                _close(client)
                return
            upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            upstream.settimeout(None)
            upstream.sendall(head + frame)
        except OSError:
            _close(client)
            return
        with self._lock:
            self._conns.append((cid, client, upstream))
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
        _pump(client, upstream)


    def _serve_raw(self, client: socket.socket) -> None:
        if self._is_blocked(""):
            self.refused += 1
            _close(client)
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            upstream.settimeout(None)
        except OSError:
            _close(client)
            return
        with self._lock:
            self._conns.append(("", client, upstream))
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
        _pump(client, upstream)


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    _close(src)
    _close(dst)


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass
