"""Test kit for the compatibility suite: a real `rill serve` process, and small client helpers.

`RillBroker` owns one broker process bound to a fixed port and data directory, so a test can
stop it (SIGTERM or kill -9) and start it again on the same address with the same data.
Its stderr goes to a file whose tail is attached to every failing test's report.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 20.0


_HELD_PORTS: list = []  # lock files of the ports this process reserved, held until it exits
_PORT_LOCK_DIR = Path(os.environ.get("TMPDIR", "/tmp")) / "rill-testkit-ports"


def _port_range() -> tuple[int, int]:
    """Ports below the kernel's ephemeral range (where it never picks source ports), as
    rill-testkit's `ports` module takes them; above it when that leaves too little room."""
    try:
        low, high = (int(v) for v in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return (10000, low) if low >= 12000 else (max(high + 1, 1025), 65535)


def free_port() -> int:
    """A TCP port on 127.0.0.1 reserved for this test process until it exits, without the
    bind-then-drop race: it comes from outside the ephemeral range (no outgoing connection can
    take it as its source port meanwhile), and an exclusive flock on a file shared with
    rill-testkit (the Rust tests' kit) keeps every other test process from picking it."""
    import fcntl

    _PORT_LOCK_DIR.mkdir(parents=True, exist_ok=True)
    low, high = _port_range()
    span = high - low
    start = (os.getpid() * 7919 + len(_HELD_PORTS) * 13) % span
    for i in range(span):
        port = low + (start + i) % span
        f = open(_PORT_LOCK_DIR / f"{port}.lock", "a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                f.close()  # used by something outside the kit
                continue
        _HELD_PORTS.append(f)
        return port
    raise RuntimeError(f"no free port in {low}..{high}")


def listens(port: int) -> bool:
    """Whether something listens on 127.0.0.1:`port`. A connection to itself does not count:
    while nothing listens on a port in the ephemeral range, a connect can pick that same port
    as its source and "succeed" by TCP simultaneous open, before the broker has bound it."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            return s.getsockname() != s.getpeername()
    except OSError:
        return False


def rill_bin() -> Path:
    """The broker binary under test: $RILL_BIN, else the release build of this repository."""
    env = os.environ.get("RILL_BIN")
    path = Path(env) if env else Path(__file__).resolve().parent.parent / "target/release/rill"
    if not path.is_file() or not os.access(path, os.X_OK):
        raise AssertionError(
            f"rill binary not found at {path}: build it with `cargo build --release -p rill` "
            "or point RILL_BIN at it"
        )
    return path.resolve()


class RillBroker:
    """One `rill serve` process with a fixed port and data dir across restarts."""

    def __init__(
        self,
        data_dir: Path,
        overrides: dict[str, str] | None = None,
        config_file: Path | None = None,
        port: int | None = None,
    ):
        """With `config_file`, listeners and log.dirs come from that file (and `port` must
        match it); otherwise they are passed as overrides."""
        self.binary = rill_bin()
        self.port = port or free_port()
        # Every broker gets its own admin HTTP port (console, /metrics, /health), fixed
        # across restarts like the client port.
        self.admin_port = free_port()
        self.config_file = config_file
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.overrides = dict(overrides or {})
        self.log_path = self.data_dir.parent / f"rill-{self.port}.stderr.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.env: dict[str, str] | None = None  # None: the test process's environment

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        """Base URL of the admin HTTP listener (console, /metrics, /health, /api/v1)."""
        return f"http://127.0.0.1:{self.admin_port}"

    def command(self) -> list[str]:
        cmd = [str(self.binary), "serve"]
        settings = {}
        if self.config_file is not None:
            cmd += ["--config", str(self.config_file)]
        else:
            settings["listeners"] = f"PLAINTEXT://127.0.0.1:{self.port}"
            settings["log.dirs"] = str(self.data_dir)
        settings["admin.listen"] = f"127.0.0.1:{self.admin_port}"
        settings.update(self.overrides)
        for key, value in settings.items():
            cmd += ["--override", f"{key}={value}"]
        return cmd

    def start(self) -> None:
        self.spawn()
        self.wait_ready()

    def spawn(self) -> None:
        """Start the process without waiting for it to listen (a cluster node only listens
        once a quorum of its peers is up, so a cluster spawns them all, then waits)."""
        assert self.proc is None or self.proc.poll() is not None, "broker already running"
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=self.data_dir.parent,
            env=self.env,
        )
        log.close()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"rill serve exited with code {self.proc.returncode} before accepting "
                    f"connections on {self.bootstrap}; stderr:\n{self.log_tail()}"
                )
            if listens(self.port):
                return
            time.sleep(0.05)
        raise AssertionError(
            f"rill serve did not accept connections on {self.bootstrap} within "
            f"{READY_TIMEOUT_S}s; stderr:\n{self.log_tail()}"
        )

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send `sig` and wait for exit; returns the exit code (negative for a signal)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"rill serve did not exit within {STOP_TIMEOUT_S}s of signal {sig}; "
                f"stderr:\n{self.log_tail()}"
            )

    def kill9(self) -> int:
        return self.stop(signal.SIGKILL)

    def restart(self, sig: int = signal.SIGTERM) -> int:
        code = self.stop(sig)
        self.start()
        return code

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no broker log)"
        text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # colour codes, if the broker emits them
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        if self.alive():
            try:
                self.stop(signal.SIGTERM)
            except AssertionError:
                pass


# ---- multi-node clusters ---------------------------------------------------------------------

def new_cluster_id() -> str:
    """A cluster id in Kafka's form: a random UUID as 22 characters of unpadded URL-safe base64,
    never starting with '-' (as Kafka's Uuid.randomUuid; a command line takes it for an option)."""
    import base64
    import uuid

    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


@dataclass(frozen=True)
class PartitionView:
    """One partition as one broker's Metadata answer shows it."""

    error_code: int
    leader: int
    replicas: tuple
    isr: tuple


@dataclass(frozen=True)
class MetadataView:
    """One broker's Metadata v1 answer, normalised for comparison between brokers."""

    brokers: dict  # node id -> (host, port)
    controller_id: int
    topics: dict  # name -> {partition: PartitionView}, or name -> int (a topic-level error)

    def leaders(self, topic: str) -> dict[int, int]:
        return {p: v.leader for p, v in self.topics[topic].items()}


def metadata_of(port: int, topics: list[str] | None = None, timeout: float = 5.0) -> MetadataView:
    """Metadata v1 asked of exactly the broker on `port` (no client routing in between)."""
    from kafka.protocol.metadata import MetadataRequest

    import wire

    req = MetadataRequest[1](topics=topics)
    payload = wire.header_v1(req.API_KEY, req.API_VERSION, 7) + req.encode()
    with wire.connect(port, timeout) as s:
        s.sendall(wire.frame(payload))
        resp = wire.recv_frame(s)
    r = req.RESPONSE_TYPE.decode(resp[4:])
    out_topics: dict = {}
    for err, name, _internal, parts in r.topics:
        if err != 0 and not parts:
            out_topics[name] = err
            continue
        out_topics[name] = {
            p: PartitionView(perr, leader, tuple(replicas), tuple(isr))
            for perr, p, leader, replicas, isr in parts
        }
    return MetadataView(
        brokers={nid: (host, bport) for nid, host, bport, _rack in r.brokers},
        controller_id=r.controller_id,
        topics=out_topics,
    )


def describe_cluster_of(port: int, timeout: float = 5.0) -> tuple[int, str, int, dict]:
    """DescribeCluster v0 asked of exactly the broker on `port`:
    (error code, cluster id, controller id, {broker id: (host, port)})."""
    import wire

    payload = wire.header_v2(60, 0, 9) + b"\x00" + wire.TAGS_NONE
    with wire.connect(port, timeout) as s:
        s.sendall(wire.frame(payload))
        resp = wire.recv_frame(s)
    r = wire.Reader(resp)
    assert r.unpack(">i") == 9
    r.skip_tags()
    r.unpack(">i")  # throttle
    err = r.unpack(">h")
    r.compact_string()  # error message
    cluster_id = r.compact_string()
    controller = r.unpack(">i")
    brokers = {}
    for _ in range(r.uvarint() - 1):
        bid = r.unpack(">i")
        host = r.compact_string()
        bport = r.unpack(">i")
        r.compact_string()  # rack
        r.skip_tags()
        brokers[bid] = (host, bport)
    return err, cluster_id, controller, brokers


def create_topics_at(
    port: int,
    topics: list[tuple[str, int, int]],
    timeout_ms: int = 10000,
    configs: dict[str, str] | None = None,
) -> dict[str, int]:
    """CreateTopics v2 sent to exactly the broker on `port`; topics are (name, partitions,
    replication factor), each created with `configs`. Returns name -> error code."""
    from kafka.protocol.admin import CreateTopicsRequest

    import wire

    req = CreateTopicsRequest[2](
        create_topic_requests=[
            (n, p, rf, [], list((configs or {}).items())) for n, p, rf in topics
        ],
        timeout=timeout_ms,
        validate_only=False,
    )
    payload = wire.header_v1(req.API_KEY, req.API_VERSION, 11) + req.encode()
    with wire.connect(port, timeout_ms / 1000 + 5) as s:
        s.sendall(wire.frame(payload))
        resp = wire.recv_frame(s)
    r = req.RESPONSE_TYPE.decode(resp[4:])
    return {name: code for name, code, _msg in r.topic_errors}


def wait_until(what: str, check, timeout: float = 30.0, interval: float = 0.1):
    """Poll `check()` until it returns a truthy value (returned); a check that raises counts
    as not yet. Fails with `what` and the last value or error after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            got = check()
            if got:
                return got
            last = got
        except (OSError, AssertionError, ConnectionError, ValueError) as e:
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


class ClusterKit:
    """N `rill serve` nodes forming one cluster on 127.0.0.1, each with fixed ports and its own
    data dir under `root`, so a node can be killed, stopped and started again with its data.
    By default every node is broker + controller (all of them voters); `roles` gives nodes
    other `process.roles`: "controller" nodes (voters, only a controller port, no Kafka) and
    "broker" nodes (a client port, not voters). `format=True` runs `rill format` for every
    node and leaves cluster.id out of the nodes' configs."""

    def __init__(
        self,
        root: Path,
        nodes: int = 3,
        overrides: dict[str, str] | None = None,
        cluster_id: str | None = None,
        session_timeout_ms: int = 3000,
        heartbeat_interval_ms: int = 500,
        proxied: bool = False,
        raft_proxied: bool = False,
        roles: dict[int, str] | None = None,
        format: bool = False,
    ):
        """`proxied`: put a FaultProxy (compat/faultproxy.py) in front of each broker's client
        port and advertise the proxy, so tests can cut replication traffic between nodes.
        `raft_proxied`: node i reaches controller j's port through its own proxy
        `raft_proxies[(i, j)]` (each node's controller.quorum.voters names those), so a test
        can cut the metadata quorum between exactly two nodes."""
        self.root = Path(root)
        self.cluster_id = cluster_id or new_cluster_id()
        ids = list(range(1, nodes + 1))
        self.roles = {i: (roles or {}).get(i, "broker,controller") for i in ids}
        self.broker_ids = [i for i in ids if "broker" in self.roles[i]]
        self.controller_ids = [i for i in ids if "controller" in self.roles[i]]
        ports = set()
        while len(ports) < 2 * nodes:
            ports.add(free_port())
        ports = sorted(ports)
        client_ports = {i: ports[k] for k, i in enumerate(ids)}
        controller_ports = {i: ports[nodes + k] for k, i in enumerate(ids) if i in self.controller_ids}
        self.controller_ports = controller_ports
        self.voters = ",".join(f"{i}@127.0.0.1:{controller_ports[i]}" for i in self.controller_ids)
        self.nodes: dict[int, RillBroker] = {}
        self.proxies = {}
        self.raft_proxies = {}
        from faultproxy import FaultProxy

        if proxied:
            self.proxies = {i: FaultProxy(client_ports[i], free_port()) for i in self.broker_ids}
        if raft_proxied:
            self.raft_proxies = {
                (i, j): FaultProxy(controller_ports[j], free_port(), kafka=False)
                for i in ids
                for j in self.controller_ids
                if i != j
            }
        for i in ids:
            listeners = []
            if i in self.broker_ids:
                listeners.append(f"PLAINTEXT://127.0.0.1:{client_ports[i]}")
            if i in self.controller_ids:
                listeners.append(f"CONTROLLER://127.0.0.1:{controller_ports[i]}")
            settings = {
                "node.id": str(i),
                "process.roles": self.roles[i],
                "listeners": ",".join(listeners),
                "controller.quorum.voters": self.voters_of(i),
                "broker.session.timeout.ms": str(session_timeout_ms),
                "broker.heartbeat.interval.ms": str(heartbeat_interval_ms),
            }
            if not format:
                settings["cluster.id"] = self.cluster_id
            if proxied and i in self.proxies:
                settings["advertised.listeners"] = f"PLAINTEXT://127.0.0.1:{self.proxies[i].port}"
            settings.update(overrides or {})
            # A controller-only node is "ready" when its controller port accepts.
            port = client_ports[i] if i in self.broker_ids else controller_ports[i]
            self.nodes[i] = RillBroker(self.root / f"node{i}", settings, port=port)
            # openraft logs every vote at INFO; keep the stderr tails readable.
            self.nodes[i].env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "info,openraft=warn")}
        if format:
            for i in ids:
                self.format(i, self.cluster_id)

    def format(self, node: int, cluster_id: str, *extra: str) -> subprocess.CompletedProcess:
        """`rill format --cluster-id ID` for `node`'s data dir and node id; fails the test
        unless it exits 0 (`extra` flags are appended)."""
        n = self.nodes[node]
        cmd = [str(n.binary), "format", "--cluster-id", cluster_id, "--node-id", str(node),
               "--data-dir", str(n.data_dir), *extra]
        for key in ("process.roles", "listeners", "controller.quorum.voters"):
            cmd += ["--override", f"{key}={n.overrides[key]}"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, f"{' '.join(cmd)} exited {done.returncode}: {done.stderr}"
        return done

    # -- addresses ---------------------------------------------------------------------------

    def voters_of(self, node: int) -> str:
        """`node`'s controller.quorum.voters: the real address for itself, its own proxies
        for the others when the quorum is proxied."""
        if not self.raft_proxies:
            return self.voters
        return ",".join(
            f"{j}@127.0.0.1:{self.controller_ports[j] if j == node else self.raft_proxies[(node, j)].port}"
            for j in self.controller_ids
        )

    def isolate(self, node: int) -> None:
        """Cut `node` off from every other node (quorum and replication both ways); clients
        still reach everyone."""
        for (i, j), proxy in self.raft_proxies.items():
            if node in (i, j):
                proxy.cut_all()
        if node in self.proxies:
            self.proxies[node].cut("rill-replica-fetcher-")
        for j, proxy in self.proxies.items():
            if j != node:
                proxy.cut(f"rill-replica-fetcher-{node}")

    def heal_all(self) -> None:
        for proxy in [*self.raft_proxies.values(), *self.proxies.values()]:
            proxy.heal()

    def port(self, node: int) -> int:
        return self.nodes[node].port

    def bootstrap(self, nodes=None) -> str:
        """The bootstrap string of `nodes` (default: every broker that is running)."""
        ids = nodes if nodes is not None else self.live_brokers()
        return ",".join(self.nodes[i].bootstrap for i in ids)

    def live(self) -> list[int]:
        return [i for i, n in self.nodes.items() if n.alive()]

    def live_brokers(self) -> list[int]:
        """Running nodes with the broker role (the ones that answer Kafka requests)."""
        return [i for i in self.live() if i in self.broker_ids]

    # -- lifecycle ---------------------------------------------------------------------------

    def start_all(self, timeout: float = 40.0) -> None:
        """Start every stopped node, then wait until each running broker lists all running
        brokers and names a controller."""
        started = [i for i, n in self.nodes.items() if not n.alive()]
        for i in started:
            self.nodes[i].spawn()
        self._await_listening(started)
        self.wait_brokers(self.live_brokers(), timeout=timeout)

    def _await_listening(self, started: list[int]) -> None:
        """Wait until every node of `started` accepts connections; a node that exits while
        starting fails with its stderr tail."""
        deadline = time.monotonic() + 2 * READY_TIMEOUT_S
        pending = set(started)
        while pending:
            for i in sorted(pending):
                n = self.nodes[i]
                if n.proc.poll() is not None:
                    raise AssertionError(
                        f"node {i} exited with code {n.proc.returncode} while starting; "
                        f"stderr:\n{n.log_tail()}"
                    )
                if listens(n.port):
                    pending.discard(i)
            if pending and time.monotonic() > deadline:
                raise AssertionError(
                    f"nodes {sorted(pending)} did not listen within {2 * READY_TIMEOUT_S}s;\n"
                    + "\n".join(f"node {i}:\n{self.nodes[i].log_tail(20)}" for i in sorted(pending))
                )
            time.sleep(0.05)

    def start(self, node: int, timeout: float = 40.0) -> None:
        """Start one node and wait until every running broker lists every running broker."""
        self.nodes[node].start()
        self.wait_brokers(self.live_brokers(), timeout=timeout)

    def kill9(self, node: int) -> int:
        return self.nodes[node].kill9()

    def stop(self, node: int, sig: int = signal.SIGTERM) -> int:
        return self.nodes[node].stop(sig)

    def stop_all(self, sig: int = signal.SIGTERM) -> dict[int, int]:
        """Signal every running node at once, then wait for each; returns node -> exit code."""
        running = self.live()
        for i in running:
            self.nodes[i].proc.send_signal(sig)
        codes = {}
        for i in running:
            codes[i] = self.nodes[i].stop(sig)
        return codes

    def close(self) -> None:
        for n in self.nodes.values():
            if n.alive():
                n.proc.kill()
                n.proc.wait()
        for proxy in [*self.proxies.values(), *self.raft_proxies.values()]:
            proxy.close()

    def log_tails(self, lines: int = 40) -> str:
        return "\n".join(
            f"----- node {i} (port {n.port}) -----\n{n.log_tail(lines)}" for i, n in self.nodes.items()
        )

    # -- views -------------------------------------------------------------------------------

    def metadata(self, node: int, topics: list[str] | None = None) -> MetadataView:
        return metadata_of(self.port(node), topics)

    def active_controller(self, node: int) -> int:
        """The metadata quorum's leader as `node` reports it on its admin HTTP API (-1 when it
        knows none); unlike Metadata's controller id, this may be a controller-only node."""
        from adminhttp import get_json

        return get_json(f"{self.nodes[node].admin_url}/api/v1/cluster")["controller_id"]

    def controller(self, nodes=None) -> int:
        """The controller id that every broker of `nodes` (default: running ones) agrees on;
        -1 when they do not agree or none is known."""
        asked = [i for i in (nodes or self.live()) if i in self.broker_ids]
        ids = {self.metadata(i, []).controller_id for i in asked}
        return ids.pop() if len(ids) == 1 else -1

    def wait_brokers(self, expected, nodes=None, timeout: float = 40.0) -> int:
        """Wait until each broker of `nodes` (default: running ones) lists exactly the brokers
        `expected` and all agree on a controller among the running controllers (among
        `expected` when every node is broker + controller; among `expected` when the
        controllers are controller-only nodes); returns that controller id."""
        want = set(expected)
        asked = [i for i in (nodes or self.live()) if i in self.broker_ids]
        running_controllers = {i for i in self.live() if i in self.controller_ids}
        if set(self.broker_ids) == set(self.controller_ids):
            running_controllers &= want
        # Clients are never told of a controller-only node (it serves no Kafka): brokers name
        # one of themselves instead, the same one on every broker.
        if not running_controllers & set(self.broker_ids):
            running_controllers = want

        def check():
            views = [self.metadata(i, []) for i in asked]
            ok = all(set(v.brokers) == want for v in views)
            ctrl = {v.controller_id for v in views}
            if ok and len(ctrl) == 1 and ctrl <= running_controllers:
                return ctrl.pop()
            return None

        try:
            return wait_until(f"nodes {asked} to list brokers {sorted(want)}", check, timeout)
        except AssertionError as e:
            views = {}
            for i in asked:
                try:
                    views[i] = self.metadata(i, [])
                except OSError as err:
                    views[i] = err
            raise AssertionError(f"{e}\nviews: {views}") from None
