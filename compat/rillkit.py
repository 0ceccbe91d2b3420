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
from pathlib import Path

READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 20.0


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        self.config_file = config_file
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.overrides = dict(overrides or {})
        self.log_path = self.data_dir.parent / f"rill-{self.port}.stderr.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [str(self.binary), "serve"]
        settings = {}
        if self.config_file is not None:
            cmd += ["--config", str(self.config_file)]
        else:
            settings["listeners"] = f"PLAINTEXT://127.0.0.1:{self.port}"
            settings["log.dirs"] = str(self.data_dir)
        settings.update(self.overrides)
        for key, value in settings.items():
            cmd += ["--override", f"{key}={value}"]
        return cmd

    def start(self) -> None:
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
        )
        log.close()
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"rill serve exited with code {self.proc.returncode} before accepting "
                    f"connections on {self.bootstrap}; stderr:\n{self.log_tail()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
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
