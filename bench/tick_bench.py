"""Cost of one `process_tick()` with many finished jobs and a few active ones.

The orchestrator keeps finished jobs as a one-word record, so a tick should cost the same with 0
or 100k finished jobs. Prints a table and writes bench/results/tick.json.

    .venv/bin/python bench/tick_bench.py [--finished 100000] [--active 50] [--ticks 2000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.common.clock import format_time  # noqa: E402
from services.common.job import JobState, new_job, record_failure  # noqa: E402
from services.common.paths import DataPaths  # noqa: E402
from services.orchestrator.app import Config, Orchestrator, process_tick  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "tick.json"


def make_jobs(paths: DataPaths, finished: int, active: int) -> None:
    later = time.time() + 3600
    for i in range(finished + active):
        key = f"job{i:07d}"
        job = new_job(key, {"name": f"{key}.pdf", "path": "source.pdf", "sha256": "0" * 64, "bytes": 1000})
        if i < finished:
            if i % 10:
                job.state, job.result = JobState.DONE, {"pages": 2, "meanConfidence": 91.0}
            else:
                record_failure(job, {"type": "BadDocument", "message": "not a PDF", "retryable": False})
        else:
            job.next_attempt_unix_s = later  # retry scheduled: active, but nothing to dispatch
        folder = paths.job_dir(key)
        folder.mkdir(parents=True)
        (folder / "state.json").write_bytes(job.to_bytes())


def measure(finished: int, active: int, ticks: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        paths = DataPaths.from_env({"DATA_DIR": tmp})
        paths.inbox_dir.mkdir(parents=True)
        make_jobs(paths, finished, active)
        started = time.perf_counter()
        orchestrator = Orchestrator(Config(paths=paths, metrics_heartbeat_s=3600))
        orchestrator.start()
        load_s = time.perf_counter() - started
        process_tick(orchestrator)  # first tick writes metrics.json
        samples = []
        for _ in range(ticks):
            t0 = time.perf_counter()
            process_tick(orchestrator)
            samples.append((time.perf_counter() - t0) * 1000)
        samples.sort()
        writes = []
        for _ in range(max(1, ticks // 10)):
            orchestrator.metrics._last_values = None  # force the metrics.json rewrite a busy tick does
            t0 = time.perf_counter()
            process_tick(orchestrator)
            writes.append((time.perf_counter() - t0) * 1000)
        writes.sort()
        return {
            "finished": finished,
            "active": active,
            "load_s": round(load_s, 2),
            "tick_median_ms": round(statistics.median(samples), 3),
            "tick_p99_ms": round(samples[int(len(samples) * 0.99) - 1], 3),
            "tick_max_ms": round(samples[-1], 3),
            "tick_with_metrics_write_median_ms": round(statistics.median(writes), 3),
            "tick_with_metrics_write_p99_ms": round(writes[int(len(writes) * 0.99) - 1], 3),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--finished", type=int, default=100_000)
    parser.add_argument("--active", type=int, default=50)
    parser.add_argument("--ticks", type=int, default=2000)
    args = parser.parse_args()
    rows = [measure(0, args.active, args.ticks), measure(args.finished, args.active, args.ticks)]
    print(
        "| finished jobs | active jobs | load at start (s) | tick median (ms) | tick p99 (ms) | tick max (ms) "
        "| tick + metrics.json write, median / p99 (ms) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['finished']} | {r['active']} | {r['load_s']} | {r['tick_median_ms']} | {r['tick_p99_ms']} "
            f"| {r['tick_max_ms']} | {r['tick_with_metrics_write_median_ms']} / {r['tick_with_metrics_write_p99_ms']} |"
        )
    ratio = rows[1]["tick_median_ms"] / max(rows[0]["tick_median_ms"], 1e-9)
    print(f"\nmedian tick with {args.finished} finished jobs / with 0: {ratio:.2f}x (target: p99 <= 5 ms)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"rows": rows, "ratio": round(ratio, 2), "date": format_time(datetime.now(UTC))}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
