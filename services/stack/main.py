"""`ocr-stack up`: start prep, ocr, the orchestrator and the sidecar as child processes, show progress, stop cleanly.

The children write their logs to our stdout untouched (JSON lines with LOG_JSON=true, ready for a log
shipper); the launcher's own messages and the progress line go to stderr. A child that dies is
restarted, since disk is the truth and every service picks up where it was.
"""

from __future__ import annotations

import argparse
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

import orjson

from services.common.paths import DataPaths

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
PROGRESS_INTERVAL_S = 2.0


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
    """Local defaults: everything on loopback, children unbuffered so log lines arrive at once."""
    env = dict(base)
    for name in ("PREP_HOST", "OCR_HOST", "SIDECAR_HOST"):
        env.setdefault(name, "127.0.0.1")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def progress_line(metrics_path: Path) -> str | None:
    try:
        m = orjson.loads(metrics_path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    total = sum(int(m.get(k, 0)) for k in ("jobs_done", "jobs_error", "jobs_running", "jobs_queued"))
    paused = " | PAUSED (disk)" if m.get("intake_paused") else ""
    return (
        f"documents {m.get('jobs_done', 0)}/{total} done, {m.get('jobs_running', 0)} running, "
        f"{m.get('jobs_queued', 0)} queued | pages {m.get('pages_done', 0)} | errors {m.get('jobs_error', 0)}"
        f" | disk errors {m.get('disk_error', 0)}{paused}"
    )


class Stack:
    def __init__(self, env: Mapping[str, str], restart: bool = True) -> None:
        self.children = [Child(name, module, env) for name, module in available_components()]
        self.restart = restart
        self.stop = threading.Event()

    def run(self, metrics_path: Path) -> int:
        for child in self.children:
            child.start()
            say(f"started {child.name} (pid {child.process.pid if child.process else '?'})")
        last_line, next_progress = None, 0.0
        while not self.stop.wait(0.2):
            self._supervise()
            if time.monotonic() >= next_progress:
                next_progress = time.monotonic() + PROGRESS_INTERVAL_S
                line = progress_line(metrics_path)
                if line and line != last_line:
                    say(line)
                    last_line = line
        return self.shutdown()

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


def up(args: argparse.Namespace) -> int:
    env = stack_env(os.environ)
    paths = DataPaths.from_env(env)
    first_run = not paths.jobs_dir.exists()
    for folder in (paths.inbox_dir, paths.jobs_dir, paths.metrics_path.parent):
        folder.mkdir(parents=True, exist_ok=True)
    if first_run and not args.no_samples:
        for sample in write_samples(paths.inbox_dir):
            say(f"sample document: {sample}")
    say(f"data in {paths.data_dir.resolve()} (drop PDF, PNG, JPEG or TIFF files into {paths.inbox_dir})")
    sidecar_port = env.get("ORCHESTRATOR_PORT", "8080")
    say(f"sidecar: curl -s localhost:{sidecar_port}/metrics | jq    (Ctrl-C stops everything)")
    stack = Stack(env, restart=not args.no_restart)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stack.stop.set())
    return stack.run(paths.metrics_path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="ocr-stack", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    up_parser = sub.add_parser("up", help="run the whole stack on $DATA_DIR (default ./data) until Ctrl-C")
    up_parser.add_argument("--no-samples", action="store_true", help="do not add sample documents on first run")
    up_parser.add_argument("--no-restart", action="store_true", help="do not restart a service that exits")
    args = parser.parse_args(argv)
    sys.exit(up(args))
