"""`ocr-stack status | jobs | show | retry`: what ops ask of a running stack, read through the sidecar.

Reads go to the sidecar's HTTP API only (it may run elsewhere); a retry is a request file the orchestrator applies
on its next tick (see `services.common.retry_requests`), so nothing here ever writes a state.json.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from services.common.liveness import is_stale, tick_age_s
from services.common.retry_requests import write_retry_request

from .client import CliError, NotFound, SidecarClient

RECENT_ERRORS = 5
HISTORY_SHOWN = 12
WAIT_POLL_S = 0.2
MESSAGE_CHARS = 100


def out(line: str = "") -> None:
    print(line, flush=True)


def _short(text: object, chars: int = MESSAGE_CHARS) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= chars else flat[: chars - 1] + "…"


# --- status -----------------------------------------------------------------------------------------


def orchestrator_line(metrics: Mapping[str, Any]) -> str:
    orchestrator = metrics.get("orchestrator") or {}
    doc = orchestrator.get("metrics")
    if orchestrator.get("status") != "ok" or not isinstance(doc, dict):
        why = orchestrator.get("problem") or "metrics.json not written yet"
        return f"no metrics.json ({orchestrator.get('status', 'missing')}: {why}): is the orchestrator running?"
    age = tick_age_s(doc)
    ago = "unknown" if age is None else f"{age:.1f}s ago"
    if is_stale(doc):
        return f"STALE: last tick {ago}: the orchestrator is stopped, hung or stuck on disk"
    return f"ticking (last tick {ago}, started {doc.get('startedAt', '?')})"


def status(client: SidecarClient) -> int:
    metrics, ready = client.get("/metrics"), client.get("/readyz")
    index = metrics.get("index") or {}
    out(
        f"sidecar       {ready.get('status', '?')}, watching {ready.get('watchMode', '?')}, "
        f"{metrics.get('jobs_total', 0)} jobs indexed, {index.get('unreadable', 0)} unreadable"
    )
    out(f"orchestrator  {orchestrator_line(metrics)}")
    out(
        f"jobs          {metrics.get('jobs_done', 0)} done, {metrics.get('jobs_error', 0)} error, "
        f"{metrics.get('jobs_running', 0)} running, {metrics.get('jobs_queued', 0)} queued"
    )
    out(
        f"stages        prep {metrics.get('prep_service') or '?'}, {metrics.get('prep_running') or 0} running | "
        f"ocr {metrics.get('ocr_service') or '?'}, {metrics.get('ocr_running') or 0} running"
    )
    out(
        f"counters      created {metrics.get('jobs_created') or 0}, pages {metrics.get('pages_done') or 0}, "
        f"retries {metrics.get('retries') or 0}, duplicates {metrics.get('duplicates') or 0}, "
        f"stage unavailable {metrics.get('stage_unavailable') or 0}, disk errors {metrics.get('disk_error') or 0}, "
        f"retries requested {metrics.get('retries_requested') or 0}"
    )
    ignored = metrics.get("inbox_ignored")
    paused = "PAUSED (low disk space or failing writes)" if metrics.get("intake_paused") else "taking files"
    out(f"intake        {paused}" + (f", {ignored} inbox entries ignored (folders, symlinks)" if ignored else ""))
    _recent_errors(client, int(metrics.get("jobs_error") or 0))
    return 0


def _recent_errors(client: SidecarClient, total: int) -> None:
    if not total:
        return
    out(f"latest errors ({min(total, RECENT_ERRORS)} of {total}; all: ocr-stack jobs --state ERROR):")
    for summary in client.jobs({"state": "ERROR"}, RECENT_ERRORS):
        error = _error_of(client, summary["jobKey"])
        out(f"  {summary['jobKey']}  {summary.get('name') or '?'}  {error}")


def _error_of(client: SidecarClient, key: str) -> str:
    try:
        error = client.job(key).get("error") or {}
    except NotFound:
        return "(gone)"
    return f"{error.get('type', '?')}: {_short(error.get('message', ''))}"


# --- jobs ---------------------------------------------------------------------------------------------


def jobs(client: SidecarClient, filters: Mapping[str, str], limit: int, as_json: bool) -> int:
    rows = list(client.jobs(filters, limit))
    if as_json:
        for row in rows:
            sys.stdout.write(orjson.dumps(row).decode() + "\n")
        return 0
    out(f"{'JOBKEY':<32}  {'STATE':<7} {'STAGE':<5} {'TRY':>3}  {'UPDATED':<24}  NAME")
    for row in rows:
        state = row.get("state") or "?"
        out(
            f"{row['jobKey']:<32}  {state:<7} {row.get('stage') or '?':<5} {row.get('attempt') or '?':>3}  "
            f"{row.get('updatedAt', ''):<24}  {row.get('name') or row.get('unreadable') or ''}"
        )
    out(f"({len(rows)} shown)")
    return 0


# --- show ---------------------------------------------------------------------------------------------


def show(client: SidecarClient, key: str, as_json: bool) -> int:
    doc = client.job(key)
    if as_json:
        out(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
        return 0
    source = doc.get("input") or {}
    pages = f", {source['pages']} pages" if "pages" in source else ""
    out(f"job       {doc.get('jobKey')}  ({source.get('name')}, {source.get('bytes')} bytes{pages})")
    out(f"state     {doc.get('state')} at {doc.get('stage')}, attempt {doc.get('attempt')}")
    out(f"updated   {doc.get('updatedAt')} (created {doc.get('createdAt')})")
    if doc.get("nextAttemptAt"):
        out(f"next try  {doc['nextAttemptAt']}")
    if doc.get("error"):
        out(f"error     {doc['error'].get('type')}: {doc['error'].get('message')}")
    if doc.get("result"):
        result = doc["result"]
        out(f"result    {result.get('pages')} pages, mean confidence {result.get('meanConfidence')}")
    _attempts(doc.get("attempts") or [])
    _history(doc.get("history") or [])
    return 0


def _attempts(attempts: Sequence[Mapping[str, Any]]) -> None:
    if not attempts:
        return
    out("attempts  (oldest first)")
    for a in attempts:
        error = a.get("error") or {}
        why = f"  {error.get('type')}: {_short(error.get('message', ''), 70)}" if error else ""
        took = f"{a['durationS']:.2f}s" if isinstance(a.get("durationS"), int | float) else "running"
        out(f"  {a.get('stage')}#{a.get('attempt')}  {a.get('startedAt')}  {took:>9}  {a.get('outcome', '-')}{why}")


def _history(history: Sequence[Mapping[str, Any]]) -> None:
    out(f"history   (last {min(len(history), HISTORY_SHOWN)} of {len(history)})")
    for h in history[-HISTORY_SHOWN:]:
        note = f"  {h['note']}" if h.get("note") else ""
        out(f"  {h.get('at')}  {h.get('state'):<7} {h.get('stage')}#{h.get('attempt')}{note}")


# --- retry --------------------------------------------------------------------------------------------


def retry_targets(client: SidecarClient, keys: Sequence[str], failed: bool, error_type: str | None) -> list[str]:
    """The keys to retry: the given ones, or every ERROR job (of one error type)."""
    if not failed:
        return list(keys)
    found = [s["jobKey"] for s in client.jobs({"state": "ERROR"}, None)]
    if error_type is None:
        return found
    return [k for k in found if (client.job(k).get("error") or {}).get("type") == error_type]


def retry(client: SidecarClient, keys: Iterable[str], wait_s: float) -> int:
    """Request a retry of each ERROR job; refuse the others clearly. Exit 1 if any was refused."""
    requested: dict[str, str] = {}
    refused = 0
    for key in keys:
        try:
            doc = client.job(key)
        except NotFound as e:
            out(f"refused: {e}")
            refused += 1
            continue
        if doc.get("state") != "ERROR":
            out(f"refused: job {key} is {doc.get('state')}, not ERROR: only a failed job can be retried")
            refused += 1
            continue
        path = write_retry_request(client.config.paths.requests_dir, key)
        requested[key] = str(doc.get("updatedAt"))
        out(f"retry requested: {key} ({(doc.get('input') or {}).get('name')}) -> {path}")
    if not requested and not refused:
        out("no job to retry")
    if requested and wait_s > 0:
        _wait_applied(client, requested, wait_s)
    return 1 if refused else 0


def _wait_applied(client: SidecarClient, requested: dict[str, str], wait_s: float) -> None:
    """Follow the sidecar until the orchestrator has taken each request (the job left ERROR)."""
    pending, deadline = dict(requested), time.monotonic() + wait_s
    while pending and time.monotonic() < deadline:
        for key, updated in list(pending.items()):
            doc = client.job(key)
            if doc.get("updatedAt") != updated and doc.get("state") != "ERROR":
                out(f"applied: {key} is {doc.get('state')} at {doc.get('stage')}, attempt {doc.get('attempt')}")
                del pending[key]
        time.sleep(WAIT_POLL_S if pending else 0)
    for key in pending:
        out(
            f"not applied yet: {key}: the request waits in {client.config.paths.requests_dir} and is applied on the "
            "orchestrator's next tick (is it running? ocr-stack status)"
        )


__all__ = ["CliError", "jobs", "retry", "retry_targets", "show", "status"]
