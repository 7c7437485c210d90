"""3. Flood: hundreds (long profile: a thousand) of small files dropped at once, the sidecar read all along.

A reader thread hits /metrics, /jobs and /jobs/{key} in a loop while a sampler records the resident memory of the
sidecar and the orchestrator; at the end every file is a finished job and the sidecar's view equals the disk.
"""

from __future__ import annotations

import http.client
import threading
import time
from pathlib import Path

import orjson
import pytest

from .conftest import tiny_document
from .invariants import Dropped, check_lossless, check_metrics_agree, wait_all_terminal
from .profile import PROFILE
from .sidecar_view import wait_equal_to_disk

# Bounds with a wide margin over what was measured (sidecar ~60 MB, orchestrator ~40 MB at 1,000 jobs): a leak
# per job or per request would cross them, a different allocator would not.
MAX_RSS_MB = {"sidecar": 250, "orchestrator": 250}
READ_PATHS = ("/metrics", "/jobs?limit=50", "/jobs?state=DONE&limit=10", "/readyz")
# A second per file is far slower than the pipeline; only a stall would reach it.
SECONDS_PER_FILE = 1.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Reader(threading.Thread):
    """Reads the sidecar until stopped: counts requests, errors, the slowest answer and peak memory."""

    def __init__(self, port: int, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.port, self.pids = port, pids
        self.stop = threading.Event()
        self.requests, self.errors, self.max_latency_s = 0, [], 0.0
        self.peak_mb = dict.fromkeys(pids, 0.0)

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        key = None
        for turn in range(1_000_000):  # bounded; the stop event ends it long before
            if self.stop.is_set():
                break
            path = READ_PATHS[turn % len(READ_PATHS)] if turn % 5 or key is None else f"/jobs/{key}"
            started = time.monotonic()
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                body = response.read()
                if response.status != 200:
                    self.errors.append(f"{path}: {response.status}")
                elif path.startswith("/jobs?limit=50") and (jobs := orjson.loads(body)["jobs"]):
                    key = jobs[-1]["jobKey"]
            except (OSError, http.client.HTTPException) as e:
                self.errors.append(f"{path}: {e!r}")
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            self.requests += 1
            self.max_latency_s = max(self.max_latency_s, time.monotonic() - started)
            if turn % 20 == 0:
                for name, pid in self.pids.items():
                    self.peak_mb[name] = max(self.peak_mb[name], rss_mb(pid))
        connection.close()


@pytest.mark.parametrize(
    "files",
    [
        pytest.param(PROFILE.flood_files if PROFILE.name == "short" else 150, id="short"),
        pytest.param(1000, id="thousand", marks=pytest.mark.long),
    ],
)
def test_a_flood_of_files_all_end_terminal_while_the_sidecar_answers_every_read(
    files, tmp_path, stack_at, record, state_schema, metrics_schema
):
    row = record(
        "3. Flood",
        f"{files} small files renamed into the inbox at once; the sidecar read in a loop meanwhile",
        f"no request error; sidecar and orchestrator RSS under {MAX_RSS_MB['sidecar']} MB; all terminal; "
        "sidecar view (/jobs, /jobs/{key}, /metrics) = disk; originals intact",
    )
    stack = stack_at(tmp_path, services=("prep", "ocr", "orchestrator", "sidecar"))
    staging = tmp_path / "data" / ".staging"  # same filesystem as the inbox: each drop is one rename
    staging.mkdir()
    sources = [tiny_document(staging, n) for n in range(files)]
    dropped = Dropped()
    for source in sources:
        dropped.add(source.name, source)
    reader = Reader(stack.ports["sidecar"], {name: stack.procs[name].pid for name in MAX_RSS_MB})
    reader.start()
    started = time.monotonic()
    try:
        for source in sources:
            source.rename(stack.paths.inbox_dir / source.name)
        wait_all_terminal(stack.paths.jobs_dir, files, timeout_s=60 + SECONDS_PER_FILE * files)
        drained_s = time.monotonic() - started
    finally:
        reader.stop.set()
        reader.join(timeout=10)
    staging.rmdir()
    states = check_lossless(stack.paths.data_dir, dropped, state_schema)
    check_metrics_agree(stack.paths.data_dir, states, metrics_schema)
    wait_equal_to_disk(stack.ports["sidecar"], stack.paths.jobs_dir, timeout_s=10)
    row.counts |= {
        "documents": files,
        "requests": reader.requests,
        "request_errors": len(reader.errors),
        "max_latency_ms": round(reader.max_latency_s * 1000),
        "peak_rss_mb": round(max(reader.peak_mb.values())),
        "drain_s": round(drained_s, 1),
    }
    assert reader.errors == []
    for name, peak in reader.peak_mb.items():
        assert 0 < peak < MAX_RSS_MB[name], (name, peak)
    assert all(s["state"] == "DONE" for s in states.values())
