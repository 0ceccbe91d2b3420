"""Running librdkafka's own regression tests (scripts/librdkafka-tests.sh) from the compat suite:
build the runner once, start several runner processes at once against one cluster, and read
back each one's exit code, report.json and subtest verdicts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "librdkafka-tests.sh"

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# test.c's subtest verdicts: "[ name: PASS (1.23s) ]" and "[ name: SKIP: reason ]".
VERDICT = re.compile(r"\[ ([A-Za-z0-9_]+):\d+(?:: [^\n]*?)?: (PASS \([0-9.]+s\)|SKIP: [^\n]*) \]")


@dataclass
class Run:
    """One runner process: TESTS, extra environment, and what it left behind."""

    name: str
    tests: str
    env: dict[str, str] = field(default_factory=dict)
    code: int | None = None
    log: str = ""
    report: dict | None = None

    def tail(self, lines: int = 80) -> str:
        return "\n".join(self.log.splitlines()[-lines:])

    def verdicts(self) -> list[tuple[str, str]]:
        """(function, verdict) of every subtest verdict line, in order."""
        return VERDICT.findall(self.log)


def build_runner() -> None:
    """Build the runner (or find it up to date) once, before runs start together."""
    build = subprocess.run(
        ["bash", str(SCRIPT), "build"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=600,
    )
    assert build.returncode == 0, f"building librdkafka's test runner failed:\n{build.stderr[-4000:]}"


def run_all(bootstrap: str, workdir: Path, runs: list[Run], timeout: float = 300.0) -> float:
    """Run every Run at once against `bootstrap`; fills in code, log and report. Returns the
    wall time in seconds."""
    build_runner()
    started = time.monotonic()
    procs = {}
    for run in runs:
        env = dict(os.environ, TESTS=run.tests, **run.env)
        for key in ("SUBTESTS", "SKIP_SUBTESTS", "QUICK"):
            if key not in run.env:
                env.pop(key, None)
        log = open(workdir / f"{run.name}.log", "w")
        procs[run.name] = (
            subprocess.Popen(
                ["bash", str(SCRIPT), "run", bootstrap, str(workdir / run.name)],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, text=True,
            ),
            log,
        )
    for run in runs:
        proc, log = procs[run.name]
        try:
            run.code = proc.wait(timeout=max(1.0, timeout - (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            proc.kill()
            run.code = proc.wait()
        log.close()
    took = time.monotonic() - started
    for run in runs:
        run.log = ANSI.sub("", (workdir / f"{run.name}.log").read_text(errors="replace"))
        report = workdir / run.name / "report.json"
        run.report = json.loads(report.read_text()) if report.exists() else None
    return took


def assert_passed(run: Run, tests: list[str]) -> None:
    """The runner exited 0 and its report says exactly `tests` ran and PASSED."""
    assert run.code == 0, f"{run.name}: test runner exited {run.code}:\n{run.tail()}"
    assert run.report is not None, f"{run.name}: no report.json:\n{run.tail()}"
    states = {t: run.report["tests"].get(t, {}).get("state") for t in tests}
    assert states == {t: "PASSED" for t in tests}, f"{run.name}: {states}\n{run.tail()}"
    counts = (run.report["tests_run"], run.report["tests_passed"], run.report["tests_failed"])
    assert counts == (len(tests), len(tests), 0), (run.name, run.report)
