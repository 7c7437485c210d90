"""Fixtures shared by every test: free ports, JSON Schema validators, waiting helpers."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "services" / "common" / "schemas"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def is_healthy(port: int) -> bool:
    """Whether a service on this loopback port answers `GET /healthz` with 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def wait_for(
    condition: Callable[[], object], timeout_s: float = 30.0, interval_s: float = 0.05, what: str = ""
) -> object:
    """Poll until `condition()` is truthy; fails the test with `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what or condition}")


def temp_of_a_finished_process(folder: Path, name: str) -> Path:
    """A temp file named by a real process of this host that has exited since (a killed replica's leftover)."""
    code = (
        "from pathlib import Path; from services.common.atomic import temp_path_for; "
        f"p = temp_path_for(Path({str(folder / name)!r})); p.write_bytes(b'x'); print(p)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


@pytest.fixture(scope="session")
def state_schema():
    schema = json.loads((SCHEMAS / "state.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.fixture(scope="session")
def metrics_schema():
    return jsonschema.Draft202012Validator(json.loads((SCHEMAS / "metrics.schema.json").read_text()))


# The kernel's inotify queue (events held per instance before IN_Q_OVERFLOW), lowered by `tiny_inotify_queue`.
INOTIFY_QUEUE_SYSCTL = Path("/proc/sys/fs/inotify/max_queued_events")
TINY_INOTIFY_QUEUE = 16


@pytest.fixture
def tiny_inotify_queue():
    """A 16-event inotify queue for instances created until `restore()` is called (root only; skips otherwise).

    The limit is the host's and applies to inotify instances created meanwhile: call `restore()` right after the
    sidecar started, so only its instance gets the tiny queue. Restored at the end in any case.
    """
    try:
        saved = INOTIFY_QUEUE_SYSCTL.read_text()
        INOTIFY_QUEUE_SYSCTL.write_text(str(TINY_INOTIFY_QUEUE))
    except OSError as e:
        pytest.skip(f"cannot lower fs.inotify.max_queued_events (needs root): {e}")
    yield lambda: INOTIFY_QUEUE_SYSCTL.write_text(saved)
    INOTIFY_QUEUE_SYSCTL.write_text(saved)
