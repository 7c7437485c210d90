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
import time
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


@dataclass(frozen=True)
class Plan:
    rate: int
    seconds: float
    sample_every: int
    journal: bool = False


def new_key(run: int, seq: int) -> str:
    """A key no earlier run of the writer used (`run`: its start time in ms)."""
    return f"{run & 0xFFFFFFFFFF:010x}{seq:022x}"


def writer(jobs: str, rewrite: list[str], doomed: list[str], plan: Plan, samples: Any) -> None:
    """Changes at `plan.rate` per second; reports sampled ones as (kind, key, seq, time) and then its summary."""
    jobs_dir, started = Path(jobs), time.time()
    journal = JournalWriter(jobs_dir) if plan.journal else None
    seq, touched, created, deleted = 0, set(), [], []
    while (now := time.time()) - started < plan.seconds:
        due = started + seq / plan.rate
        if due > now:
            time.sleep(due - now)
        seq += 1
        if seq % CREATE_EVERY == 0:
            kind, key = "create", new_key(int(started * 1000), seq)
            write_job_folder(jobs_dir, key, state_bytes(key, seq, attempt=seq))
            created.append(key)
        elif seq % DELETE_EVERY == 1 and doomed:
            kind, key = "delete", doomed.pop()
            shutil.rmtree(jobs_dir / key)
            deleted.append(key)
        else:
            kind, key = "rewrite", rewrite[seq % len(rewrite)]
            replace_state(jobs_dir, key, state_bytes(key, seq, attempt=seq))
            touched.add(key)
        if journal is not None:
            journal.append(key, "DONE")
        if seq % plan.sample_every == 0:
            samples.put((kind, key, seq, time.time()))
    samples.put(None)
    samples.put({"changes": seq, "touched": sorted(touched), "created": created, "deleted": deleted})


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
