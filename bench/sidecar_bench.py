"""Benchmark of the sidecar at 10k and 100k generated jobs: time to ready, freshness, throughput, memory.

Usage: .venv/bin/python bench/sidecar_bench.py [--sizes 10000,100000] [--wrk-s 8] [--write-s 10]
Writes bench/results/sidecar.json and prints a markdown table. Needs nginx and wrk on PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sidecar_tools import (  # noqa: E402
    ROOT,
    free_port,
    generate,
    get,
    replace_state,
    rss_bytes,
    start_nginx,
    start_sidecar,
    state_bytes,
    stop,
    stop_nginx,
    wait_ready,
    wrk,
)

WRITE_RATE = 500  # rewrites per second, as the issue asks
SAMPLE_EVERY = 5  # one write in five is followed until it is served
READY_RUNS = 3
BARE_LOOP = """
import os, sys, orjson
jobs = sys.argv[1]
index = {}
for name in os.listdir(jobs):
    with open(os.path.join(jobs, name, "state.json"), "rb") as f:
        index[name] = orjson.loads(f.read())
"""


def bare_loop(jobs: Path) -> float:
    """The same loop as BARE_LOOP, in this process: what reading and parsing every file costs at the least."""
    started = time.perf_counter()
    index = {}
    for name in os.listdir(jobs):  # noqa: PTH208 - the naive loop, on purpose
        with open(os.path.join(jobs, name, "state.json"), "rb") as f:  # noqa: PTH118
            index[name] = orjson.loads(f.read())
    return time.perf_counter() - started


def time_to_ready(data_dir: Path, tmp: Path) -> dict[str, Any]:
    jobs = data_dir / "jobs"
    bare_s = min(bare_loop(jobs) for _ in range(READY_RUNS))
    bare_proc_s = []
    for _ in range(READY_RUNS):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", BARE_LOOP, str(jobs)], check=True)
        bare_proc_s.append(time.perf_counter() - started)
    ready_s, scan_s, phases = [], [], {}
    for _ in range(READY_RUNS):
        port = free_port()
        started = time.perf_counter()
        proc = start_sidecar(data_dir, port, tmp / "sidecar.log")
        ready_s.append(wait_ready(port, proc) - started)
        status = orjson.loads(get(port, "/metrics")[1])["sidecar"]
        scan_s.append(status["initialScanDurationS"])
        phases = status["initialScanPhasesS"]
        stop(proc)
    return {
        "bare_loop_s": round(bare_s, 3),
        "sidecar_scan_s": round(min(scan_s), 3),
        "scan_ratio": round(min(scan_s) / bare_s, 2),
        "bare_process_s": round(min(bare_proc_s), 3),
        "sidecar_process_ready_s": round(min(ready_s), 3),
        "process_ratio": round(min(ready_s) / min(bare_proc_s), 2),
        "phases": ", ".join(f"{k} {v}" for k, v in phases.items()),
    }


def throughput(data_dir: Path, keys: list[str], sidecar_port: int, wrk_s: int) -> dict[str, Any]:
    sample = keys[:: max(1, len(keys) // 1000)][:1000]
    (data_dir / "jobs-page.json").write_bytes(get(sidecar_port, "/jobs")[1])  # nginx's static twin of GET /jobs
    routes = {
        "job_detail": ([f"/jobs/{k}" for k in sample], [f"/jobs/{k}/state.json" for k in sample]),
        "jobs_list": (["/jobs"], ["/jobs-page.json"]),
        "metrics": (["/metrics"], ["/metrics.json"]),
    }
    nginx_port = free_port()
    nginx, nginx_tmp = start_nginx(data_dir, nginx_port)
    try:
        results = {}
        for name, (sidecar_paths, nginx_paths) in routes.items():
            ours, theirs = wrk(sidecar_port, sidecar_paths, wrk_s), wrk(nginx_port, nginx_paths, wrk_s)
            results[name] = {"sidecar": ours, "nginx": theirs, "ratio": round(ours["rps"] / theirs["rps"], 2)}
        return results
    finally:
        stop_nginx(nginx, nginx_tmp)
        (data_dir / "jobs-page.json").unlink()


def writer(jobs: str, keys: list[str], seconds: float, samples: Any) -> None:
    """Rewrites jobs round-robin at WRITE_RATE per second; reports one write in SAMPLE_EVERY as (key, seq, time)."""
    jobs_dir, started = Path(jobs), time.time()
    seq = 0
    while (now := time.time()) - started < seconds:
        due = started + seq / WRITE_RATE
        if due > now:
            time.sleep(due - now)
        key = keys[seq % len(keys)]
        seq += 1
        replace_state(jobs_dir, key, state_bytes(key, seq, attempt=seq + 1))
        if seq % SAMPLE_EVERY == 0:
            samples.put((key, seq + 1, time.time()))
    samples.put(None)


async def follow(port: int, samples: Any) -> list[float]:
    """Poll each sampled job until it shows the write; the lag is from the write to the first answer showing it."""
    lags: list[float] = []
    pending: list[tuple[str, int, float]] = []
    writing = True
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:

        async def fresh(key: str, attempt: int) -> bool:
            async with session.get(f"/jobs/{key}") as response:
                return orjson.loads(await response.read())["attempt"] >= attempt

        while writing or pending:
            while True:
                try:
                    item = samples.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    writing = False
                else:
                    pending.append(item)
            if pending:
                seen = await asyncio.gather(*(fresh(k, a) for k, a, _ in pending))
                now = time.time()
                lags.extend(now - t for (_, _, t), ok in zip(pending, seen, strict=True) if ok)
                pending = [p for p, ok in zip(pending, seen, strict=True) if not ok]
            await asyncio.sleep(0.001)
    return lags


async def stale_jobs(port: int, jobs: Path, keys: list[str]) -> int:
    limit = asyncio.Semaphore(32)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:

        async def stale(key: str) -> bool:
            async with limit, session.get(f"/jobs/{key}") as response:
                return await response.read() != (jobs / key / "state.json").read_bytes()

        return sum(await asyncio.gather(*(stale(k) for k in keys)))


def freshness(data_dir: Path, keys: list[str], port: int, write_s: float) -> dict[str, Any]:
    written = keys[: min(len(keys), int(WRITE_RATE * write_s))]
    samples: Any = multiprocessing.get_context("fork").Queue()
    proc = multiprocessing.get_context("fork").Process(
        target=writer, args=(str(data_dir / "jobs"), written, write_s, samples)
    )
    proc.start()
    lags = asyncio.run(follow(port, samples))
    proc.join()
    time.sleep(1.0)  # well under SIDECAR_RESCAN_S=600: whatever is fresh now came from events
    stale = asyncio.run(stale_jobs(port, data_dir / "jobs", written))
    ms = sorted(lag * 1000 for lag in lags)
    return {
        "writes": int(WRITE_RATE * write_s),
        "sampled": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p99_ms": round(ms[int(len(ms) * 0.99) - 1], 1),
        "max_ms": round(ms[-1], 1),
        "stale_after_stop": stale,
    }


def run_size(count: int, wrk_s: int, write_s: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="sidecar-bench-"))
    try:
        data_dir = tmp / "data"
        started = time.perf_counter()
        keys, state_total = generate(data_dir, count)
        print(f"[{count}] generated in {time.perf_counter() - started:.1f} s ({state_total / 1e6:.1f} MB)", flush=True)
        result: dict[str, Any] = {"jobs": count, "state_bytes": state_total}
        result["ready"] = time_to_ready(data_dir, tmp)
        print(f"[{count}] ready: {result['ready']}", flush=True)
        port = free_port()
        proc = start_sidecar(data_dir, port, tmp / "sidecar.log")
        try:
            wait_ready(port, proc)
            result["rss_ready_bytes"] = rss_bytes(proc.pid)
            result["throughput"] = throughput(data_dir, keys, port, wrk_s)
            print(f"[{count}] throughput: {result['throughput']}", flush=True)
            result["freshness"] = freshness(data_dir, keys, port, write_s)
            print(f"[{count}] freshness: {result['freshness']}", flush=True)
            result["rss_end_bytes"] = rss_bytes(proc.pid)
            result["memory_target_bytes"] = 2 * state_total + 60 * 1024 * 1024
        finally:
            stop(proc)
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _ready(r: dict[str, Any]) -> str:
    a = r["ready"]
    return f"{a['sidecar_scan_s']} s vs {a['bare_loop_s']} s = {a['scan_ratio']}x ({a['phases']})"


def _process(r: dict[str, Any]) -> str:
    a = r["ready"]
    return f"{a['sidecar_process_ready_s']} s vs {a['bare_process_s']} s = {a['process_ratio']}x"


def _fresh(r: dict[str, Any]) -> str:
    f = r["freshness"]
    return f"{f['p50_ms']} / {f['p99_ms']} / {f['max_ms']} ms"


def _rps(name: str) -> Any:
    def cell(r: dict[str, Any]) -> str:
        t = r["throughput"][name]
        return f"{t['sidecar']['rps']:,.0f} vs {t['nginx']['rps']:,.0f} = {t['ratio']}x"

    return cell


def _p99(name: str) -> Any:
    def cell(r: dict[str, Any]) -> str:
        t = r["throughput"][name]
        return f"{t['sidecar']['p99_ms']:.1f} / {t['nginx']['p99_ms']:.1f} ms"

    return cell


def _memory(r: dict[str, Any]) -> str:
    ready, end, target = (r[k] / 2**20 for k in ("rss_ready_bytes", "rss_end_bytes", "memory_target_bytes"))
    return f"{ready:.0f} / {end:.0f} MiB vs {target:.0f} MiB"


def table(results: list[dict[str, Any]]) -> str:
    sizes = " | ".join(f"{r['jobs']:,} jobs" for r in results)
    rows = [f"| measure | {sizes} | target |", "|---|" + "---|" * len(results) + "---|"]

    def row(name: str, target: str, cell: Any) -> None:
        rows.append(f"| {name} | " + " | ".join(cell(r) for r in results) + f" | {target} |")

    row("(a) time to ready (scan, watch setup, catch-up) vs bare loop", "<= 1.5x", _ready)
    row("(a) process start to ready vs bare-loop process", "-", _process)
    row("(b) freshness p50 / p99 / max at 500 writes/s", "p99 <= 100 ms", _fresh)
    row("(b) stale jobs once the writer stops", "0", lambda r: str(r["freshness"]["stale_after_stop"]))
    for name, label in (("job_detail", "GET /jobs/{jobKey}"), ("jobs_list", "GET /jobs"), ("metrics", "GET /metrics")):
        row(f"(c) {label} req/s sidecar vs nginx", ">= 0.5x" if name != "jobs_list" else "-", _rps(name))
        row(f"(c) {label} p99 sidecar / nginx", "<= 20 ms", _p99(name))
    row("(d) RSS at ready / after the writer vs target", "<= 2x state bytes + 60 MB", _memory)
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--wrk-s", type=int, default=8)
    parser.add_argument("--write-s", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "sidecar.json")
    args = parser.parse_args()
    results = [run_size(int(n), args.wrk_s, args.write_s) for n in args.sizes.split(",")]
    doc = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "results": results,
        "table": table(results),
    }
    args.out.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    print(doc["table"])


if __name__ == "__main__":
    main()
