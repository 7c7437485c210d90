"""What the observability work (aggregate metrics, /events, the status page) costs the sidecar, in one run.

Usage: .venv/bin/python bench/observability_bench.py [--jobs 100000] [--wrk-s 8] [--streams 100] [--rate 200]

On job folders in the production layout (bench/sidecar_tools.py), it compares, in the same run:
- nginx serving the same files (access log on): the baseline of issue 8's throughput targets (>= 0.5x), measured
  right after the sidecar on each route of each column, in the same conditions (writer and streams included);
- the sidecar in its default configuration (the aggregates and the change stream on the index hook);
- the same sidecar with the index's change listeners switched off (what the loop did before this work);
- the default sidecar while `--streams` clients follow /events and a writer rewrites `--rate` jobs/s.
Routes: GET /jobs/{key} (1000 keys), GET /metrics (JSON) and GET /overview. Also the time to ready with and
without the listeners (their cost in the initial scan). Writes bench/results/observability.json and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sidecar_tools import (  # noqa: E402
    ROOT,
    free_port,
    generate,
    nginx_twin,
    replace_state,
    start_sidecar,
    state_bytes,
    stop,
    wait_ready,
    wrk,
)

READY_RUNS = 3
# `python -m sidecar` with JobIndex.add_listener made a no-op: no aggregates, no change stream.
WITHOUT_LISTENERS = (
    sys.executable,
    "-c",
    "import sidecar.index as i; i.JobIndex.add_listener = lambda self, listener: None; "
    "from sidecar import main; main()",
)


def start(data_dir: Path, log: Path, listeners: bool) -> tuple[Any, int]:
    port = free_port()
    if listeners:
        proc = start_sidecar(data_dir, port, log)
    else:
        # start_sidecar runs [*wrap, python, -m, sidecar]: our command runs, and takes the rest as ignored argv.
        proc = start_sidecar(data_dir, port, log, wrap=(*WITHOUT_LISTENERS, "--"))
    return proc, port


def ready_times(data_dir: Path, tmp: Path) -> dict[str, float]:
    times: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(READY_RUNS):
        for name in ("with", "without"):
            started = time.perf_counter()
            proc, port = start(data_dir, tmp / f"ready-{name}.log", name == "with")
            wait_ready(port, proc)
            times[name].append(time.perf_counter() - started)
            stop(proc)
    return {f"ready_{k}_listeners_s": round(min(v), 3) for k, v in times.items()}


def follower(port: int, streams: int, stop_at: float, counts: Any) -> None:
    async def one() -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        seen = 0
        while time.time() < stop_at:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), 1.0)
            except TimeoutError:
                continue
            if not chunk:
                break
            seen += chunk.count(b"event: job")
        writer.close()
        return seen

    async def all_of_them() -> list[int]:
        return await asyncio.gather(*(one() for _ in range(streams)))

    counts.put(asyncio.run(all_of_them()))


def rewriter(jobs: str, keys: list[str], rate: int, stop_at: float) -> None:
    i = 0
    while time.time() < stop_at:
        key = keys[i % len(keys)]
        replace_state(Path(jobs), key, state_bytes(key, i, attempt=2 + i % 3))
        i += 1
        time.sleep(1 / rate)


def routes(keys: list[str]) -> dict[str, tuple[list[str], list[str]]]:
    sample = keys[:: max(1, len(keys) // 1000)][:1000]
    return {
        "job_detail": ([f"/jobs/{k}" for k in sample], [f"/jobs/{k}/state.json" for k in sample]),
        "metrics": (["/metrics"], ["/metrics-page.json"]),
        "overview": (["/overview"], ["/overview-page.json"]),
    }


def measure(port: int, keys: list[str], wrk_s: int, nginx_port: int) -> dict[str, Any]:
    """Each route on the sidecar, then at once on nginx: every ratio compares two runs made in the same conditions
    (the same writer and streams going, the same load from the rest of the machine)."""
    results = {}
    for name, (ours, theirs) in routes(keys).items():
        mine, base = wrk(port, ours, wrk_s), wrk(nginx_port, theirs, wrk_s)
        results[name] = {**mine, "nginx": base, "ratio": round(mine["rps"] / base["rps"], 2)}
    return results


def under_load(
    data_dir: Path, keys: list[str], tmp: Path, args: argparse.Namespace, nginx_port: int, listeners: bool, streams: int
) -> dict[str, Any]:
    """wrk while a writer rewrites `args.rate` jobs/s and `streams` clients follow /events."""
    proc, port = start(data_dir, tmp / "loaded.log", listeners)
    try:
        wait_ready(port, proc)
        ctx = multiprocessing.get_context("fork")
        stop_at = time.time() + 2 * len(routes(keys)) * (args.wrk_s + 1) + 2  # the sidecar's and nginx's wrk runs
        counts: Any = ctx.Queue()
        procs = [ctx.Process(target=rewriter, args=(str(data_dir / "jobs"), keys[:5000], args.rate, stop_at))]
        if streams:
            procs.append(ctx.Process(target=follower, args=(port, streams, stop_at, counts)))
        for p in procs:
            p.start()
        time.sleep(1.0)
        result = measure(port, keys, args.wrk_s, nginx_port)
        seen = counts.get(timeout=60) if streams else [0]
        for p in procs:
            p.join()
        result["events_seen_per_stream_min"] = min(seen)
        result["events_seen_per_stream_max"] = max(seen)
        return result
    finally:
        stop(proc)


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    data_dir = tmp / "data"
    keys, _ = generate(data_dir, args.jobs)
    doc: dict[str, Any] = {"jobs": args.jobs, "cpus": os.cpu_count(), "ready": ready_times(data_dir, tmp)}
    twins = {"metrics-page.json": "/metrics", "overview-page.json": "/overview"}
    with contextlib.ExitStack() as cleanup:
        proc, port = start(data_dir, tmp / "twin.log", True)
        try:
            wait_ready(port, proc)
            nginx = cleanup.enter_context(nginx_twin(data_dir, port, twins))  # serves until every column is done
            doc["default"] = measure(port, keys, args.wrk_s, nginx.port)
        finally:
            stop(proc)
        proc, port = start(data_dir, tmp / "without.log", False)
        try:
            wait_ready(port, proc)
            doc["without_listeners"] = measure(port, keys, args.wrk_s, nginx.port)
        finally:
            stop(proc)
        for name, listeners, streams in (
            ("without_listeners_writer", False, 0),
            ("default_writer", True, 0),
            ("default_writer_streams", True, args.streams),
        ):
            doc[name] = under_load(data_dir, keys, tmp, args, nginx.port, listeners, streams)
    doc["streams"], doc["rate"] = args.streams, args.rate
    return doc


def table(doc: dict[str, Any]) -> str:
    runs = {
        "default": "default",
        "without_listeners": "listeners off",
        "without_listeners_writer": "listeners off + writer",
        "default_writer": "default + writer",
        "default_writer_streams": f"default + writer + {doc['streams']} streams",
    }
    lines = [
        "| route | " + " | ".join(f"{title}: sidecar / nginx req/s = ratio (p99)" for title in runs.values()) + " |",
        "|---|" + "---|" * len(runs),
    ]
    for route in ("job_detail", "metrics", "overview"):
        cells = [route]
        for run_name in runs:
            f = doc[run_name][route]
            cells.append(f"{f['rps']:,.0f} / {f['nginx']['rps']:,.0f} = {f['ratio']:.2f}x ({f['p99_ms']:.1f} ms)")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--wrk-s", type=int, default=8)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "observability.json")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="observability-bench-"))
    try:
        doc = run(args, tmp)
        doc["table"] = table(doc)
        args.out.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        print(doc["ready"])
        print(doc["table"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
