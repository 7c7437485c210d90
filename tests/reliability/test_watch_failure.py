"""6. Watch failure: filesystem events lost while files change, and no native watching at all.

Lost events are made real: the sidecar starts with the kernel's inotify queue cut to 16 events, is frozen with
SIGSTOP while a few hundred changes happen (the queue overflows and the kernel drops the rest), then thawed. Only
the periodic rescan can repair that; the test shows it does, within its period. Then the polling fallback
(SIDECAR_FORCE_POLLING=true) must follow the disk without any inotify at all.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import time
from pathlib import Path

import orjson
import pytest

from services.common.atomic import atomic_write_bytes
from services.common.job import mark_running, new_job
from tests.conftest import TINY_INOTIFY_QUEUE, wait_for
from tests.sidecar.conftest import write_production_files

from .profile import PROFILE
from .sidecar_view import differences, get

RESCAN_S = 2.0
POLL_DELAY_MS = 300
# The bounds these promises carry: a rescan period (plus its own run) and a couple of polling periods.
REPAIRED_WITHIN_S = RESCAN_S * 2 + 2
POLLED_WITHIN_S = 3.0
# watchfiles' poller compares whole-second mtimes (measured here: notify's PollWatcher).
MTIME_GRANULARITY_S = 1.1


def write_job(jobs_dir: Path, number: int, running: bool = False) -> str:
    key = hashlib.sha256(f"watch-{number}".encode()).hexdigest()[:32]
    job = new_job(key, {"name": f"doc-{number}.pdf", "path": "source.pdf", "sha256": key * 2, "bytes": 1})
    if running:
        mark_running(job)
    folder = jobs_dir / key
    if not folder.exists():
        folder.mkdir()
        write_production_files(folder)  # the layout the pipeline leaves: pages/ and ocr/ beside state.json
    atomic_write_bytes(folder / "state.json", job.to_bytes())
    return key


def change_everything(jobs_dir: Path, keys: list[str], first_new: int) -> list[str]:
    """Rewrite every job, delete a tenth, add a fifth: far more events than the tiny queue holds."""
    for number in range(len(keys)):
        write_job(jobs_dir, number, running=True)
    for key in keys[: len(keys) // 10]:
        shutil.rmtree(jobs_dir / key)
    return [write_job(jobs_dir, n) for n in range(first_new, first_new + len(keys) // 5)]


def sidecar_status(port: int) -> dict:
    return orjson.loads(get(port, "/metrics")[1])["sidecar"]


def test_the_periodic_rescan_repairs_what_lost_events_hid(tmp_path, stack_at, tiny_inotify_queue, record):
    row = record(
        "6. Watch failure",
        f"sidecar frozen (SIGSTOP) with a {TINY_INOTIFY_QUEUE}-event inotify queue while {PROFILE.watch_jobs} jobs are "
        "rewritten, a tenth deleted, a fifth added (queue overflow: events dropped by the kernel)",
        f"after SIGCONT the index equals the disk within {REPAIRED_WITHIN_S:.0f} s, and the rescan reports repairs",
    )
    jobs_dir = tmp_path / "data" / "jobs"
    jobs_dir.mkdir(parents=True)
    keys = [write_job(jobs_dir, n) for n in range(PROFILE.watch_jobs)]
    stack = stack_at(tmp_path, services=("sidecar",), SIDECAR_RESCAN_S=RESCAN_S)
    port = stack.ports["sidecar"]
    try:
        wait_for(lambda: get(port, "/readyz")[0] == 200, timeout_s=15, what="the watcher to be in place")
    finally:
        tiny_inotify_queue()  # only the sidecar's inotify instance gets the tiny queue
    assert differences(port, jobs_dir) == []
    repairs_before = sidecar_status(port)["repairsTotal"]

    stack.procs["sidecar"].send_signal(signal.SIGSTOP)
    try:
        added = change_everything(jobs_dir, keys, PROFILE.watch_jobs)
    finally:
        stack.procs["sidecar"].send_signal(signal.SIGCONT)
    thawed = time.monotonic()
    wait_for(lambda: not differences(port, jobs_dir), timeout_s=REPAIRED_WITHIN_S * 3, what="the index to repair")
    repaired_s = time.monotonic() - thawed
    status = sidecar_status(port)
    repairs = status["repairsTotal"] - repairs_before
    row.counts |= {"jobs_changed": len(keys) + len(added), "repairs": repairs, "repaired_s": round(repaired_s, 2)}
    assert repairs > 0, "the events alone could not have seen every change: the rescan must have repaired some"
    assert status["overflowsTotal"] >= 1, "the overflow must be noticed (and rescanned at once), not left to chance"
    assert repaired_s < REPAIRED_WITHIN_S


def start_polling_sidecar(tmp_path, stack_at):
    jobs_dir = tmp_path / "data" / "jobs"
    jobs_dir.mkdir(parents=True)
    stack = stack_at(
        tmp_path,
        services=("sidecar",),
        SIDECAR_FORCE_POLLING="true",
        SIDECAR_POLL_DELAY_MS=POLL_DELAY_MS,
        SIDECAR_RESCAN_S=600,
    )
    port = stack.ports["sidecar"]
    wait_for(lambda: get(port, "/readyz")[0] == 200, timeout_s=15, what="the sidecar to be ready")
    return jobs_dir, port


def seconds_to_see(port: int, jobs_dir: Path, change: str) -> float:
    started = time.monotonic()
    seen = lambda: not differences(port, jobs_dir)  # noqa: E731 - read at each poll
    wait_for(seen, timeout_s=POLLED_WITHIN_S * 3, what=f"polling to see {change}")
    return time.monotonic() - started


def test_the_polling_fallback_follows_the_disk_and_says_so(tmp_path, stack_at, record):
    row = record(
        "6. Watch failure",
        "no inotify at all: SIDECAR_FORCE_POLLING=true (SIDECAR_RESCAN_S=600; polling also rescans every 3 polls)",
        f"new, rewritten and deleted jobs show within {POLLED_WITHIN_S:.0f} s; /metrics and /readyz say polling",
    )
    jobs_dir, port = start_polling_sidecar(tmp_path, stack_at)
    assert sidecar_status(port)["watchMode"] == "polling"
    assert orjson.loads(get(port, "/readyz")[1])["watchMode"] == "polling"
    keys = [write_job(jobs_dir, n) for n in range(20)]
    took = [seconds_to_see(port, jobs_dir, "new jobs")]
    time.sleep(MTIME_GRANULARITY_S)  # see the xfail below: polling misses a rewrite within the same second
    keys = [write_job(jobs_dir, n, running=True) for n in range(20)]
    took.append(seconds_to_see(port, jobs_dir, "rewritten jobs"))
    for key in keys[:5]:
        shutil.rmtree(jobs_dir / key)
    took.append(seconds_to_see(port, jobs_dir, "deleted jobs"))
    row.counts |= {"changes_seen": len(took), "slowest_s": round(max(took), 2)}
    assert max(took) < POLLED_WITHIN_S


def test_polling_sees_a_rewrite_made_within_a_second_of_the_previous_one(tmp_path, stack_at, record):
    record(
        "6. Watch failure",
        "polling only; a job rewritten within the same wall-clock second as the version the poller saw",
        f"the rewrite shows within {POLLED_WITHIN_S:.0f} s (fixed: frequent rescans while polling)",
    )
    jobs_dir, port = start_polling_sidecar(tmp_path, stack_at)
    for number in range(5):  # bounded: each try takes about a second
        time.sleep(1.0 - time.time() % 1.0 + 0.01)  # at the start of a wall-clock second
        second = int(time.time())
        write_job(jobs_dir, number)
        seconds_to_see(port, jobs_dir, "a new job")
        if int(time.time()) == second:
            write_job(jobs_dir, number, running=True)  # same second as the version the poller saw
            break
    else:
        pytest.skip("could not rewrite within the second the first version was seen (machine too busy)")
    deadline = time.monotonic() + POLLED_WITHIN_S
    while differences(port, jobs_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert differences(port, jobs_dir) == []
