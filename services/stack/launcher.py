"""`ocr-stack up`: start prep, ocr, the orchestrator and the sidecar as child processes, show progress, stop cleanly.

The children write their logs to our stdout untouched (JSON lines with LOG_JSON=true, ready for a log
shipper); the launcher's own messages and the progress line go to stderr. A child that dies is
restarted, since disk is the truth and every service picks up where it was.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from services.common.job import JobState
from services.common.liveness import is_stale, stale_after_s, tick_age_s
from services.common.metrics import DISK_ERROR, INTAKE_PAUSED, JOBS_BY_STATE, PAGES_DONE
from services.common.paths import DataPaths
from services.common.stage_api import DEFAULT_OCR_PORT, DEFAULT_PREP_PORT

from .samples import write_samples

# Order matters: stage services first so the orchestrator finds them, sidecar last; stopped in reverse.
COMPONENTS = (
    ("prep", "services.prep"),
    ("ocr", "services.ocr"),
    ("orchestrator", "services.orchestrator"),
    ("sidecar", "sidecar"),
)
STOP_GRACE_S = 15.0
RESTART_DELAY_S = 1.0
# How often metrics.json is read for the progress line (printed when it changes) and the orchestrator's liveness.
PROGRESS_INTERVAL_S = 1.0


def say(message: str) -> None:
    print(f"[ocr-stack] {message}", file=sys.stderr, flush=True)


@dataclass
class Child:
    name: str
    module: str
    env: Mapping[str, str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", self.module], env=dict(self.env))
        self.started_at = time.monotonic()

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)


def available_components() -> list[tuple[str, str]]:
    return [(name, module) for name, module in COMPONENTS if importlib.util.find_spec(f"{module}.__main__") is not None]


def stack_env(base: Mapping[str, str]) -> dict[str, str]:
    """Local defaults: everything on loopback, one setting per port, children unbuffered so lines arrive at once.

    `PREP_PORT=18081` alone must move both the prep service and the orchestrator's calls to it, so the stage
    URLs are derived from the ports unless they are set explicitly.
    """
    env = dict(base)
    for name in ("PREP_HOST", "OCR_HOST", "SIDECAR_HOST"):
        env.setdefault(name, "127.0.0.1")
    for service, default_port in (("PREP", DEFAULT_PREP_PORT), ("OCR", DEFAULT_OCR_PORT)):
        if not env.get(f"{service}_URL"):
            env[f"{service}_URL"] = f"http://127.0.0.1:{env.get(f'{service}_PORT') or default_port}"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def read_metrics(metrics_path: Path) -> dict[str, Any] | None:
    try:
        doc = orjson.loads(metrics_path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def progress_line(m: Mapping[str, Any]) -> str:
    jobs = {state: int(m.get(name, 0)) for state, name in JOBS_BY_STATE.items()}
    paused = " | PAUSED (disk)" if m.get(INTAKE_PAUSED) else ""
    return (
        f"documents {jobs[JobState.DONE]}/{sum(jobs.values())} done, {jobs[JobState.RUNNING]} running, "
        f"{jobs[JobState.QUEUED]} queued | pages {m.get(PAGES_DONE, 0)} | errors {jobs[JobState.ERROR]}"
        f" | disk errors {m.get(DISK_ERROR, 0)}{paused}"
    )


class TickWatch:
    """Says once when the orchestrator stops ticking (hung, SIGSTOPped) and once when it ticks again."""

    def __init__(self) -> None:
        self.stale_since: float | None = None

    def check(self, doc: Mapping[str, Any], child: Child) -> None:
        age = tick_age_s(doc)
        # Judge only a process that has had time to tick, and a file it wrote (not its predecessor's).
        running_s = time.monotonic() - child.started_at
        if age is None or child.exited() is not None or running_s < stale_after_s(doc):
            return
        if is_stale(doc) and self.stale_since is None:
            self.stale_since = time.monotonic() - age
            pid = child.process.pid if child.process else "?"
            say(f"WARNING: the orchestrator (pid {pid}) has not ticked for {age:.1f}s: stopped, hung or stuck on disk?")
        elif not is_stale(doc) and self.stale_since is not None:
            say(f"the orchestrator ticks again (silent for {time.monotonic() - self.stale_since:.1f}s)")
            self.stale_since = None


class Stack:
    def __init__(self, env: Mapping[str, str], restart: bool = True) -> None:
        self.children = [Child(name, module, env) for name, module in available_components()]
        self.restart = restart
        self.stop = threading.Event()
        self.tick_watch = TickWatch()

    def run(self, metrics_path: Path) -> int:
        for child in self.children:
            child.start()
            say(f"started {child.name} (pid {child.process.pid if child.process else '?'})")
        last_line, next_progress = None, 0.0
        while not self.stop.wait(0.2):
            self._supervise()
            if time.monotonic() >= next_progress:
                next_progress = time.monotonic() + PROGRESS_INTERVAL_S
                last_line = self._report(read_metrics(metrics_path), last_line)
        return self.shutdown()

    def _report(self, doc: dict[str, Any] | None, last_line: str | None) -> str | None:
        if doc is None:
            return last_line
        orchestrator = next((c for c in self.children if c.name == "orchestrator"), None)
        if orchestrator is not None:
            self.tick_watch.check(doc, orchestrator)
        line = progress_line(doc)
        if line != last_line:
            say(line)
        return line

    def _supervise(self) -> None:
        for child in self.children:
            code = child.exited()
            if code is None or not self.restart:
                continue
            say(f"{child.name} exited with code {code}; restarting it")
            time.sleep(RESTART_DELAY_S)
            child.restarts += 1
            child.start()

    def shutdown(self) -> int:
        say("stopping...")
        for child in reversed(self.children):
            child.signal(signal.SIGINT if child.name != "orchestrator" else signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for child in reversed(self.children):
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{child.name} did not stop in {STOP_GRACE_S:.0f}s; killing it")
                child.process.kill()
                child.process.wait()
        say("stopped")
        return 0


def up(no_samples: bool = False, no_restart: bool = False) -> int:
    env = stack_env(os.environ)
    paths = DataPaths.from_env(env)
    first_run = not paths.jobs_dir.exists()
    for folder in (paths.inbox_dir, paths.jobs_dir, paths.metrics_path.parent, paths.requests_dir):
        folder.mkdir(parents=True, exist_ok=True)
    if first_run and not no_samples:
        for sample in write_samples(paths.inbox_dir):
            say(f"sample document: {sample}")
    say(f"data in {paths.data_dir.resolve()} (drop PDF, PNG, JPEG or TIFF files into {paths.inbox_dir})")
    sidecar_port = env.get("ORCHESTRATOR_PORT", "8080")
    say(f"sidecar: curl -s localhost:{sidecar_port}/metrics | jq    (Ctrl-C stops everything)")
    say("in another terminal: ocr-stack status | jobs | show KEY | retry KEY")
    stack = Stack(env, restart=not no_restart)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stack.stop.set())
    return stack.run(paths.metrics_path)
