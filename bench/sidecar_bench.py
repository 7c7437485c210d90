"""Benchmark of the sidecar on job folders in the production layout, in its default configuration, in one run.

Usage: .venv/bin/python bench/sidecar_bench.py [--jobs 100000] [--ready-sizes 10000,100000] [--wrk-s 8] [--write-s 10]

Measures (a) time to ready against a plain read+parse loop; (b) freshness while a writer rewrites, creates and
deletes jobs at 200 and 1,000 changes/s: lag p50/p99, changes missed (not visible within 5 s), jobs stale 1 s
after it stops; (c) wrk against the sidecar and against nginx (access log on, buffered) serving the same files;
(d) the watch limit set below what the tree needs (in a user namespace: the host's limit is untouched); (e) polling
mode with the change journal: freshness and idle CPU. Writes bench/results/sidecar.json and prints a markdown
table. Needs nginx, wrk and unshare on PATH.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sidecar_load import Plan, run_writes  # noqa: E402
from sidecar_report import table  # noqa: E402
from sidecar_tools import (  # noqa: E402
    ROOT,
    cpu_seconds,
    free_port,
    generate,
    get,
    nginx_twin,
    rss_bytes,
    start_sidecar,
    stop,
    wait_ready,
    watch_limited,
    wrk,
)

READY_RUNS = 3
WRK_ROUNDS = 2
WRITE_RATES = (200, 1000)
IDLE_S = 65.0  # longer than SIDECAR_RESCAN_S (60 s): the idle figure includes the periodic rescan
# The watch limit as a share of what the tree needs (one watch per job folder, plus two).
WATCH_LIMIT_SHARE = 0.9
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


def sidecar_status(port: int) -> dict[str, Any]:
    return dict(orjson.loads(get(port, "/metrics")[1])["sidecar"])


def time_to_ready(data_dir: Path, tmp: Path) -> dict[str, Any]:
    """Runs alternate (loop, sidecar, loop, ...) so both see the same page cache and the same machine load."""
    jobs = data_dir / "jobs"
    bare_s, bare_proc_s, ready_s, scan_s = [], [], [], []
    for _ in range(READY_RUNS):
        bare_s.append(bare_loop(jobs))
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", BARE_LOOP, str(jobs)], check=True)
        bare_proc_s.append(time.perf_counter() - started)
        port = free_port()
        started = time.perf_counter()
        proc = start_sidecar(data_dir, port, tmp / "sidecar.log")
        ready_s.append(wait_ready(port, proc) - started)
        scan_s.append(sidecar_status(port)["initialScanDurationS"])
        stop(proc)
    return {
        "jobs": sum(1 for _ in os.scandir(jobs)),
        "bare_loop_s": round(min(bare_s), 3),
        "sidecar_scan_s": round(min(scan_s), 3),
        "scan_ratio": round(min(scan_s) / min(bare_s), 2),
        "bare_process_s": round(min(bare_proc_s), 3),
        "sidecar_process_ready_s": round(min(ready_s), 3),
        "process_ratio": round(min(ready_s) / min(bare_proc_s), 2),
    }


def throughput(data_dir: Path, keys: list[str], sidecar_port: int, wrk_s: int) -> dict[str, Any]:
    sample = keys[:: max(1, len(keys) // 1000)][:1000]
    routes = {
        "job_detail": ([f"/jobs/{k}" for k in sample], [f"/jobs/{k}/state.json" for k in sample]),
        "jobs_list": (["/jobs"], ["/jobs-page.json"]),
        "metrics": (["/metrics"], ["/metrics-page.json"]),
    }
    twins = {"jobs-page.json": "/jobs", "metrics-page.json": "/metrics"}
    with nginx_twin(data_dir, sidecar_port, twins) as nginx:
        results: dict[str, Any] = {}
        for name, (sidecar_paths, nginx_paths) in routes.items():
            # Alternating rounds, best of each: the machine is shared, and load that comes and goes hits both alike.
            ours, theirs = [], []
            for _ in range(WRK_ROUNDS):
                ours.append(wrk(sidecar_port, sidecar_paths, wrk_s))
                theirs.append(wrk(nginx.port, nginx_paths, wrk_s))
            best, their_best = max(ours, key=lambda r: r["rps"]), max(theirs, key=lambda r: r["rps"])
            results[name] = {"sidecar": best, "nginx": their_best, "ratio": round(best["rps"] / their_best["rps"], 2)}
        results["nginx_access_log_lines"] = sum(1 for _ in open(nginx.access_log, "rb"))  # noqa: SIM115
        return results


def idle_cpu(pid: int, seconds: float) -> float:
    """Cores used on average over `seconds` of no changes at all."""
    before, started = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return round((cpu_seconds(pid) - before) / (time.monotonic() - started), 4)


def default_run(data_dir: Path, keys: list[str], tmp: Path, wrk_s: int, write_s: float) -> dict[str, Any]:
    """The default configuration (native watching, access log on): throughput, then freshness at each rate."""
    port = free_port()
    log_path = tmp / "sidecar-default.log"
    proc = start_sidecar(data_dir, port, log_path)
    try:
        wait_ready(port, proc)
        result: dict[str, Any] = {"rss_ready_bytes": rss_bytes(proc.pid)}
        result["throughput"] = throughput(data_dir, keys, port, wrk_s)
        print(f"throughput: {result['throughput']}", flush=True)
        result["freshness"] = []
        for rate in WRITE_RATES:
            sample_every = max(1, rate // 200)
            result["freshness"].append(run_writes(data_dir, keys, port, Plan(rate, write_s, sample_every)))
            print(f"freshness: {result['freshness'][-1]}", flush=True)
        status = sidecar_status(port)
        result["status"] = {k: status[k] for k in ("watchMode", "unwatchedJobs", "repairsTotal", "overflowsTotal")}
        result["idle_cpu_cores"] = idle_cpu(proc.pid, 10.0)
        result["rss_end_bytes"] = rss_bytes(proc.pid)
        result["access_log_lines"] = sum(1 for line in open(log_path, "rb") if b'"logger":"access"' in line)  # noqa: SIM115
        return result
    finally:
        stop(proc)


def watch_limit_run(data_dir: Path, keys: list[str], tmp: Path, write_s: float) -> dict[str, Any]:
    limit = int((len(keys) + 2) * WATCH_LIMIT_SHARE)
    port = free_port()
    proc = start_sidecar(data_dir, port, tmp / "sidecar-limit.log", wrap=watch_limited(limit))
    try:
        wait_ready(port, proc)
        ready = orjson.loads(get(port, "/readyz")[1])
        fresh = run_writes(data_dir, keys, port, Plan(200, write_s, 1))
        said = [line for line in (tmp / "sidecar-limit.log").read_text().splitlines() if "cannot be watched" in line]
        return {
            "watch_limit": limit,
            "needed": len(keys) + 2,
            "readyz": {k: ready[k] for k in ("watchMode", "unwatchedJobs", "degraded", "stalenessS")},
            "freshness": fresh,
            "log_lines_about_it": len(said),
        }
    finally:
        stop(proc)


def journal_run(data_dir: Path, keys: list[str], tmp: Path, write_s: float) -> dict[str, Any]:
    """Polling mode, as on a network filesystem, with the orchestrator's change journal."""
    from services.common.journal import JournalWriter

    JournalWriter(data_dir / "jobs").append(keys[0], "DONE")  # the orchestrator has started: the journal exists
    port = free_port()
    proc = start_sidecar(data_dir, port, tmp / "sidecar-journal.log", SIDECAR_FORCE_POLLING="true")
    try:
        wait_ready(port, proc)
        mode = sidecar_status(port)["watchMode"]
        fresh = run_writes(data_dir, keys, port, Plan(200, write_s, 1, journal=True))
        return {"watchMode": mode, "freshness": fresh, "idle_cpu_cores": idle_cpu(proc.pid, IDLE_S)}
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--ready-sizes", default="10000,100000")
    parser.add_argument("--wrk-s", type=int, default=8)
    parser.add_argument("--write-s", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "sidecar.json")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sidecar-bench-"))
    try:
        doc: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}, "ready": []}
        trees: dict[int, tuple[Path, list[str]]] = {}
        for count in sorted({args.jobs, *(int(n) for n in args.ready_sizes.split(","))}):
            started = time.perf_counter()
            trees[count] = (tmp / f"data-{count}", generate(tmp / f"data-{count}", count)[0])
            print(f"[{count}] generated in {time.perf_counter() - started:.1f} s", flush=True)
        for count in (int(n) for n in args.ready_sizes.split(",")):
            doc["ready"].append(time_to_ready(trees[count][0], tmp))
            print(f"ready: {doc['ready'][-1]}", flush=True)
        data_dir, keys = trees[args.jobs]
        doc["jobs"] = args.jobs
        doc["default"] = default_run(data_dir, keys, tmp, args.wrk_s, args.write_s)
        doc["watch_limit"] = watch_limit_run(data_dir, keys, tmp, args.write_s)
        print(f"watch limit: {doc['watch_limit']}", flush=True)
        doc["journal"] = journal_run(data_dir, keys, tmp, args.write_s)
        print(f"journal: {doc['journal']}", flush=True)
        doc["table"] = table(doc)
        args.out.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        print(doc["table"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
