"""The markdown table of a sidecar benchmark run (bench/results/sidecar.json), one row per target."""

from __future__ import annotations

from typing import Any


def _ready(r: dict[str, Any]) -> str:
    return (
        f"{r['sidecar_scan_s']} s vs {r['bare_loop_s']} s = **{r['scan_ratio']}x** "
        f"(process start to ready {r['sidecar_process_ready_s']} s vs {r['bare_process_s']} s = {r['process_ratio']}x)"
    )


def _fresh(f: dict[str, Any]) -> str:
    return (
        f"{f['changes']:,} changes ({f['created']} created, {f['deleted']} deleted; {f['achieved_rate']:,}/s reached), "
        f"{f['sampled']:,} followed: "
        f"missed **{f['missed']}**, stale after stop **{f['stale_after_stop']}**, "
        f"lag p50 / p99 / max {f['p50_ms']} / **{f['p99_ms']}** / {f['max_ms']} ms"
    )


def _rps(t: dict[str, Any]) -> str:
    s, n = t["sidecar"], t["nginx"]
    return (
        f"{s['rps']:,.0f} vs {n['rps']:,.0f} req/s = **{t['ratio']}x**; "
        f"p99 **{s['p99_ms']:.1f}** / {n['p99_ms']:.1f} ms"
    )


def table(doc: dict[str, Any]) -> str:
    rows = ["| measure | result | target |", "|---|---|---|"]

    def row(name: str, result: str, target: str) -> None:
        rows.append(f"| {name} | {result} | {target} |")

    for r in doc["ready"]:
        row(f"ready at {r['jobs']:,} jobs (scan + watches) vs read+parse loop", _ready(r), "<= 1.5x")
    default = doc["default"]
    for f in default["freshness"]:
        row(f"native, {f['rate']:,} changes/s", _fresh(f), "0 missed, 0 stale; p99 <= 100 ms at 1,000/s")
    throughput = default["throughput"]
    for name, label in (("job_detail", "GET /jobs/{jobKey}"), ("metrics", "GET /metrics"), ("jobs_list", "GET /jobs")):
        target = ">= 0.5x nginx, p99 <= 20 ms" if name != "jobs_list" else "-"
        row(f"{label}, sidecar vs nginx (both logging access)", _rps(throughput[name]), target)
    row("native: idle CPU (cores)", str(default["idle_cpu_cores"]), "-")
    status = default["status"]
    row("native: after the run", f"watchMode {status['watchMode']}, rescan repairs {status['repairsTotal']}, "
        f"overflows {status['overflowsTotal']}", "repairs 0")  # fmt: skip
    limit = doc["watch_limit"]
    ready = limit["readyz"]
    row(
        f"watch limit {limit['watch_limit']:,} < {limit['needed']:,} needed, 200 changes/s",
        f"{_fresh(limit['freshness'])}; /readyz: {ready['watchMode']}, {ready['unwatchedJobs']:,} unwatched, "
        f'"{ready["degraded"]}"; said {limit["log_lines_about_it"]}x in the log',
        "every change within 2 s, degradation reported",
    )
    journal = doc["journal"]
    row(f"polling + journal ({journal['watchMode']}), 200 changes/s", _fresh(journal["freshness"]), "p99 <= 2 s")
    row(
        "polling + journal: idle CPU over 65 s (one rescan included)", f"**{journal['idle_cpu_cores']}** cores", "< 0.1"
    )
    return "\n".join(rows)
