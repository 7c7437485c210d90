"""The sidecar benchmark's writer and followers: changes at a fixed rate, their lag, what stayed stale.

The writer is a separate process doing what the orchestrator does (atomic replaces of state.json, new job folders
in the production layout, and, like an operator's cleanup, folders removed), optionally appending the change
journal line after each write. The follower polls `GET /jobs/{key}` for sampled changes until each shows.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import shutil
import statistics
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sidecar_tools import get, replace_state, state_bytes, write_job_folder  # noqa: E402

from services.common.journal import JournalWriter  # noqa: E402

# Of every 20 changes: one job created, one deleted, the rest rewrites of existing jobs.
CREATE_EVERY, DELETE_EVERY = 20, 20
# A change not visible after this long counts as missed (what the issue measured).
MISSED_AFTER_S = 5.0
# Enough to reach 1,000 changes/s on a disk where one replace waits about 2 ms (see Lanes).
WRITER_THREADS = 8


@dataclass(frozen=True)
class Plan:
    rate: int
    seconds: float
    sample_every: int
    journal: bool = False


def new_key(run: int, seq: int) -> str:
    """A key no earlier run of the writer used (`run`: its start time in ms)."""
    return f"{run & 0xFFFFFFFFFF:010x}{seq:022x}"


class Lanes:
    """Changes carried out by `WRITER_THREADS` threads, each job always by the same one (its changes stay in order).

    One thread cannot reach 1,000 changes/s on this machine's disk: an atomic replace of state.json takes about
    2 ms there (ext4 starts writing the new file's data at the rename), so a sequential writer topped out at
    500-600 changes/s and the "1,000/s" run measured about half that. The orchestrator writes one job at a time,
    but the target is the sidecar's at 1,000/s, so the bench must produce that rate; the waits are the disk's,
    so threads overlap them.
    """

    def __init__(self, jobs_dir: Path, journal: JournalWriter | None, samples: Any) -> None:
        self.jobs_dir, self.journal, self.samples = jobs_dir, journal, samples
        self._journal_lock = threading.Lock()
        self._queues: list[queue.SimpleQueue[tuple[str, str, int, bool] | None]] = [
            queue.SimpleQueue() for _ in range(WRITER_THREADS)
        ]
        self._threads = [threading.Thread(target=self._work, args=(q,), daemon=True) for q in self._queues]
        for thread in self._threads:
            thread.start()

    def submit(self, kind: str, key: str, seq: int, sampled: bool) -> None:
        self._queues[zlib.crc32(key.encode()) % WRITER_THREADS].put((kind, key, seq, sampled))

    def join(self) -> None:
        for q in self._queues:
            q.put(None)
        for thread in self._threads:
            thread.join()

    def _work(self, changes: queue.SimpleQueue[tuple[str, str, int, bool] | None]) -> None:
        while (change := changes.get()) is not None:
            kind, key, seq, sampled = change
            if kind == "create":
                write_job_folder(self.jobs_dir, key, state_bytes(key, seq, attempt=seq))
            elif kind == "delete":
                shutil.rmtree(self.jobs_dir / key)
            else:
                replace_state(self.jobs_dir, key, state_bytes(key, seq, attempt=seq))
            if self.journal is not None:
                with self._journal_lock:
                    self.journal.append(key, "DONE")
            if sampled:
                self.samples.put((kind, key, seq, time.time()))  # the change is on disk from now on


def writer(jobs: str, rewrite: list[str], doomed: list[str], plan: Plan, samples: Any) -> None:
    """Changes at `plan.rate` per second; reports sampled ones as (kind, key, seq, time) and then its summary."""
    # A lane reads the clock right after its rename; waiting for the GIL meanwhile (up to the 5 ms default switch
    # interval when another lane holds it) would make the change look younger than it is, so the lag smaller.
    sys.setswitchinterval(0.0001)
    jobs_dir, started = Path(jobs), time.time()
    lanes = Lanes(jobs_dir, JournalWriter(jobs_dir) if plan.journal else None, samples)
    seq, touched, created, deleted = 0, set(), [], []
    while (now := time.time()) - started < plan.seconds:
        due = started + seq / plan.rate
        if due > now:
            time.sleep(due - now)
        seq += 1
        if seq % CREATE_EVERY == 0:
            kind, key = "create", new_key(int(started * 1000), seq)
            created.append(key)
        elif seq % DELETE_EVERY == 1 and doomed:
            kind, key = "delete", doomed.pop()
            deleted.append(key)
        else:
            kind, key = "rewrite", rewrite[seq % len(rewrite)]
            touched.add(key)
        lanes.submit(kind, key, seq, seq % plan.sample_every == 0)
    lanes.join()
    samples.put(None)
    summary = {"changes": seq, "seconds": round(time.time() - started, 2), "touched": sorted(touched)}
    samples.put(summary | {"created": created, "deleted": deleted})


async def follow(port: int, samples: Any) -> tuple[list[float], list[tuple[str, str]], dict[str, Any]]:
    """Lags of the sampled changes (write to first answer showing it), how many were missed, the writer's summary."""
    lags: list[float] = []
    pending: list[tuple[str, str, int, float]] = []
    missed: list[tuple[str, str]] = []
    writing = True
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:

        async def shows(kind: str, key: str, seq: int) -> bool:
            async with session.get(f"/jobs/{key}") as response:
                body = await response.read()
                if kind == "delete":
                    return response.status == 404
                return response.status == 200 and orjson.loads(body)["attempt"] >= seq

        while writing or pending:
            while True:
                try:
                    item = samples.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    writing = False
                    summary = samples.get()
                    break
                pending.append(item)
            if pending:
                seen = await asyncio.gather(*(shows(k, key, s) for k, key, s, _ in pending))
                now = time.time()
                lags.extend(now - t for (_, _, _, t), ok in zip(pending, seen, strict=True) if ok)
                late = [p for p, ok in zip(pending, seen, strict=True) if not ok and now - p[3] > MISSED_AFTER_S]
                missed.extend((kind, key) for kind, key, _, _ in late)
                pending = [p for p, ok in zip(pending, seen, strict=True) if not ok and p not in late]
            await asyncio.sleep(0.001)
    return lags, missed, summary


async def stale_jobs(port: int, jobs: Path, summary: dict[str, Any]) -> tuple[int, list[str]]:
    """Jobs the writer touched whose answer differs from the disk (bytes, or 404 for the deleted ones)."""
    limit = asyncio.Semaphore(32)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:

        async def stale(key: str, gone: bool) -> bool:
            async with limit, session.get(f"/jobs/{key}") as response:
                body = await response.read()
                if gone:
                    return response.status != 404
                return body != (jobs / key / "state.json").read_bytes()

        checks = [(k, False) for k in [*summary["touched"], *summary["created"]]] + [
            (k, True) for k in summary["deleted"]
        ]
        found = await asyncio.gather(*(stale(k, gone) for k, gone in checks))
        kinds = {k: "created" for k in summary["created"]} | {k: "deleted" for k in summary["deleted"]}
        bad = [f"{kinds.get(k, 'rewritten')} {k}" for (k, _), is_bad in zip(checks, found, strict=True) if is_bad]
        return len(bad), bad[:5]


def watch_mode(port: int) -> str:
    ready = orjson.loads(get(port, "/readyz")[1])
    return f"{ready['watchMode']} ({ready['unwatchedJobs']} unwatched)"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * pct / 100) - 1))]


def run_writes(data_dir: Path, keys: list[str], port: int, plan: Plan, settle_s: float = 1.0) -> dict[str, Any]:
    """Write per `plan` while following; then, `settle_s` after the writer stopped, count the stale jobs."""
    ctx = multiprocessing.get_context("fork")
    samples: Any = ctx.Queue()
    doomed = keys[-int(plan.rate * plan.seconds / DELETE_EVERY) - 10 :]
    rewrite = keys[: len(keys) - len(doomed)]
    proc = ctx.Process(target=writer, args=(str(data_dir / "jobs"), rewrite, list(doomed), plan, samples))
    mode_before = watch_mode(port)
    proc.start()
    lags, missed, summary = asyncio.run(follow(port, samples))
    proc.join()
    gone = set(summary["deleted"])
    keys[:] = [k for k in keys if k not in gone] + summary["created"]
    time.sleep(settle_s)
    stale = asyncio.run(stale_jobs(port, data_dir / "jobs", summary))
    ms = [lag * 1000 for lag in lags]
    return {
        "rate": plan.rate,
        "watch_mode_before_after": [mode_before, watch_mode(port)],
        "changes": summary["changes"],
        "achieved_rate": round(summary["changes"] / summary["seconds"]),
        "created": len(summary["created"]),
        "deleted": len(summary["deleted"]),
        "sampled": len(ms) + len(missed),
        "missed": len(missed),
        "missed_examples": missed[:5],
        "stale_examples": stale[1],
        "p50_ms": round(statistics.median(ms), 1) if ms else None,
        "p99_ms": round(percentile(ms, 99), 1) if ms else None,
        "max_ms": round(max(ms), 1) if ms else None,
        "stale_after_stop": stale[0],
    }
