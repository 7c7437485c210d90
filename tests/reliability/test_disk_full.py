"""2. Disk full: the data folder on a 64 MB tmpfs made by the test, filled while jobs run.

While a job runs, a ballast file takes every last block: writes fail with ENOSPC, yet no state.json or metrics.json
may be truncated and no service may die. Then the ballast shrinks to leave a little room, still under
MIN_FREE_DISK_MB: `disk_error` must have risen, intake must pause and new files wait in the inbox. Then the
ballast goes and every job must complete by itself.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from tests.conftest import wait_for

from .invariants import Dropped, check_lossless, check_metrics_agree, wait_all_terminal
from .profile import PROFILE

TMPFS_MB = 64
MIN_FREE_MB = 16
# Under the minimum but room for the small writes, so the pause itself shows in metrics.json.
LOW_FREE_MB = 6
FULL_HOLD_S = 3.0
CHUNK = 1 << 20


@pytest.fixture
def small_tmpfs(tmp_path):
    """tmp_path/data on its own 64 MB tmpfs; lazily unmounted at the end."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs (CI runs as root)")
    mount_point = tmp_path / "data"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def free_mb(folder: Path) -> float:
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize / CHUNK


def fill(path: Path, leave_mb: float = 0.0) -> int:
    """Write `path` until only `leave_mb` is free (0: until ENOSPC); returns the bytes written."""
    written = 0
    with open(path, "wb") as fh:
        for _ in range(TMPFS_MB * 2):  # bounded: the filesystem is TMPFS_MB large
            if leave_mb and free_mb(path.parent) - 1 <= leave_mb:
                break
            try:
                fh.write(b"\0" * CHUNK)
                fh.flush()
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
                break
            written += CHUNK
        with contextlib.suppress(OSError):  # the last partial block may not fit: the disk is full either way
            os.fsync(fh.fileno())
    return written


def metrics(stack) -> dict:
    return orjson.loads(stack.paths.metrics_path.read_bytes())


def every_file_parses(stack) -> int:
    """Read every state.json and metrics.json: each must be whole JSON; returns how many were read."""
    paths = [*stack.paths.jobs_dir.glob("*/state.json"), stack.paths.metrics_path]
    for path in paths:
        orjson.loads(path.read_bytes())
    return len(paths)


def running_jobs(stack) -> int:
    return sum(orjson.loads(p.read_bytes())["state"] == "RUNNING" for p in stack.paths.jobs_dir.glob("*/state.json"))


def services_alive(stack) -> None:
    for name in ("prep", "ocr"):
        assert stack.healthy(name), f"{name} does not answer /healthz"
    assert stack.procs["orchestrator"].poll() is None, "the orchestrator died"


def test_a_full_disk_pauses_intake_corrupts_nothing_and_every_job_completes_once_space_is_back(
    tmp_path, small_tmpfs, stack_at, documents, record, state_schema, metrics_schema
):
    row = record(
        "2. Disk full",
        f"{TMPFS_MB} MB tmpfs filled under MIN_FREE_DISK_MB, then to ENOSPC, while jobs run; then freed",
        "intake_paused, files wait in the inbox, disk_error rises, every state.json/metrics.json parses while full, "
        "services alive; all DONE after freeing with no attempt used (stage disk errors are 507), originals intact",
    )
    stack = stack_at(tmp_path, MIN_FREE_DISK_MB=MIN_FREE_MB, MAX_ATTEMPTS=10, RETRY_BASE_S=0.2, RETRY_MAX_S=1)
    sources = documents(max(12, PROFILE.documents // 2))
    dropped = Dropped()
    first, later = sources[: len(sources) * 2 // 3], sources[len(sources) * 2 // 3 :]
    for source in first:
        stack.drop(source)
        dropped.add(source.name, source)
    wait_for(lambda: running_jobs(stack), timeout_s=30, what="a job to run")
    disk_error_before = metrics(stack)["disk_error"]

    ballast = small_tmpfs / ".ballast"
    written = fill(ballast)
    row.count("disk_full_events")
    row.count("running_when_full", running_jobs(stack))
    deadline = time.monotonic() + FULL_HOLD_S
    while time.monotonic() < deadline:
        row.count("reads_while_full", every_file_parses(stack))
        time.sleep(0.1)
    services_alive(stack)

    # Give back just enough for small writes, still under the minimum: the pause must show and hold.
    os.truncate(ballast, max(0, written - int((LOW_FREE_MB + 1) * CHUNK)))
    wait_for(lambda: metrics(stack)["intake_paused"] is True, timeout_s=10, what="intake_paused")
    wait_for(lambda: metrics(stack)["disk_error"] > disk_error_before, timeout_s=10, what="disk_error to rise")
    jobs_when_paused = len(list(stack.paths.jobs_dir.iterdir()))
    for source in later:
        stack.drop(source)
        dropped.add(source.name, source)
    time.sleep(1.0)
    assert sorted(p.name for p in stack.paths.inbox_dir.iterdir()) == sorted(s.name for s in later)
    assert len(list(stack.paths.jobs_dir.iterdir())) == jobs_when_paused, "no job may start while paused"
    every_file_parses(stack)
    services_alive(stack)

    ballast.unlink()
    wait_all_terminal(stack.paths.jobs_dir, len(dropped.distinct), timeout_s=120)
    states = check_lossless(stack.paths.data_dir, dropped, state_schema)
    final = check_metrics_agree(stack.paths.data_dir, states, metrics_schema)
    assert final["intake_paused"] is False
    services_alive(stack)
    row.counts |= {"documents": len(dropped.files), "disk_error": final["disk_error"], "retries": final["retries"]}
    assert {key: s.get("error") for key, s in states.items() if s["state"] != "DONE"} == {}
    assert final["retries"] == 0, "a disk error of a stage service (507) must not use an attempt"
