"""A real stack for end-to-end tests: prep, ocr and the orchestrator as processes on loopback ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from services.common.paths import DataPaths
from tests.conftest import free_port, is_healthy, wait_for

MODULES = {
    "prep": "services.prep",
    "ocr": "services.ocr",
    "orchestrator": "services.orchestrator",
    "sidecar": "sidecar",
}


class Stack:
    """Starts, kills and restarts real service processes; each writes JSON logs to its own file."""

    def __init__(self, root: Path, extra_env: dict[str, str]) -> None:
        self.paths = DataPaths.from_env({"DATA_DIR": str(root / "data")})
        self.paths.inbox_dir.mkdir(parents=True)
        self.logs = root / "logs"
        self.logs.mkdir()
        self.ports = {"prep": free_port(), "ocr": free_port(), "sidecar": free_port()}
        self.env = {
            **os.environ,
            "DATA_DIR": str(self.paths.data_dir),
            "LOG_JSON": "true",
            "PYTHONUNBUFFERED": "1",
            "PREP_HOST": "127.0.0.1",
            "PREP_PORT": str(self.ports["prep"]),
            "PREP_WORKERS": "1",
            "OCR_HOST": "127.0.0.1",
            "OCR_PORT": str(self.ports["ocr"]),
            "OCR_WORKERS": "2",
            "SIDECAR_HOST": "127.0.0.1",
            "ORCHESTRATOR_PORT": str(self.ports["sidecar"]),
            "PREP_URL": f"http://127.0.0.1:{self.ports['prep']}",
            "OCR_URL": f"http://127.0.0.1:{self.ports['ocr']}",
            "TICK_INTERVAL_S": "0.1",
            "INBOX_SETTLE_S": "0.2",
            "RETRY_BASE_S": "0.3",
            "RETRY_MAX_S": "2",
            "MIN_FREE_DISK_MB": "0",
            **extra_env,
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> None:
        log_file = open(self.logs / f"{name}.jsonl", "ab")  # noqa: SIM115 - closed in stop()
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", MODULES[name]], env=self.env, stdout=log_file, stderr=subprocess.STDOUT
        )
        if name in self.ports:
            wait_for(lambda: self.healthy(name), timeout_s=30, what=f"{name} /healthz")
        elif name == "orchestrator":
            started = self.procs[name].pid
            wait_for(lambda: self._metrics_written_by(started), timeout_s=30, what="the orchestrator's first tick")

    def _metrics_written_by(self, pid: int) -> bool:
        assert self.procs["orchestrator"].poll() is None, "orchestrator exited: see its log"
        lines = self.log_lines("orchestrator") if (self.logs / "orchestrator.jsonl").exists() else []
        return any(line.get("message") == "orchestrator started" and line.get("pid") == pid for line in lines)

    def healthy(self, name: str) -> bool:
        assert self.procs[name].poll() is None, f"{name} exited: see {self.logs / name}.jsonl"
        return is_healthy(self.ports[name])

    def kill(self, name: str, signum: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        proc.send_signal(signum)
        proc.wait(timeout=30)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def drop(self, source: Path, name: str | None = None) -> Path:
        target = self.paths.inbox_dir / (name or source.name)
        tmp = self.paths.inbox_dir / f".{target.name}.uploading"
        tmp.write_bytes(source.read_bytes())
        tmp.rename(target)
        return target

    def states(self) -> dict[str, dict]:
        found = {}
        for state_path in self.paths.jobs_dir.glob("*/state.json"):
            found[state_path.parent.name] = orjson.loads(state_path.read_bytes())
        return found

    def job_for(self, name: str) -> dict | None:
        return next((s for s in self.states().values() if s["input"]["name"] == name), None)

    def wait_terminal(self, name: str, timeout_s: float = 180) -> dict:
        def terminal():
            state = self.job_for(name)
            return state if state and state["state"] in ("DONE", "ERROR") else None

        return wait_for(terminal, timeout_s=timeout_s, interval_s=0.2, what=f"{name} to finish")

    def log_lines(self, name: str) -> list[dict]:
        text = (self.logs / f"{name}.jsonl").read_bytes().splitlines()
        return [orjson.loads(line) for line in text if line.strip()]


@pytest.fixture
def make_stack(tmp_path):
    stacks = []

    def create(services=("prep", "ocr", "orchestrator"), **extra_env):
        stack = Stack(tmp_path, {k: str(v) for k, v in extra_env.items()})
        for name in services:
            stack.start(name)
        stacks.append(stack)
        return stack

    yield create
    for stack in stacks:
        stack.stop()


@pytest.fixture(scope="module")
def shared_stack(tmp_path_factory):
    """One stack for the many tests that only drop documents and read results."""
    stack = Stack(tmp_path_factory.mktemp("stack"), {})
    for name in ("prep", "ocr", "orchestrator"):
        stack.start(name)
    yield stack
    stack.stop()
