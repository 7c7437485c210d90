"""Bugs the suite found: where they were, what became of them, and the test that pins each (rendered into the doc)."""

from __future__ import annotations

FINDINGS = [
    (
        "A kill between `mkdir jobs/<key>` and the rename of the original left an empty job folder; on restart the "
        "document was parked in `duplicates/` of a job that never existed and never ended DONE or ERROR.",
        "`services/orchestrator/app/intake.py` `Inbox.adopt`",
        "fixed: a job folder without an original is adopted",
        "`test_regressions.py::test_a_document_whose_job_folder_was_left_empty_by_a_kill_still_becomes_a_job`",
    ),
    (
        "`GET /metrics?format=xml` answered 200 with JSON although the OpenAPI document restricts `format` to an "
        "enum (found by schemathesis' negative cases).",
        "`sidecar/routes.py` `wants_prometheus`, `sidecar/openapi.json`",
        "fixed: 400 BadRequest naming the valid values",
        "`test_regressions.py::test_an_unknown_metrics_format_is_refused_with_a_400`",
    ),
    (
        "With `SIDECAR_FORCE_POLLING=true` (or the automatic fallback on network filesystems) a state.json rewritten "
        "within the same wall-clock second as the version the poller last saw raises no change: watchfiles' "
        "poller (notify's PollWatcher) keys on whole-second mtimes (a size change alone was not seen either). "
        "The orchestrator rewrites a job's state several times a second, so in polling mode the sidecar can show "
        "a stale state until the next rescan (`SIDECAR_RESCAN_S`, 60 s by default).",
        "`sidecar/watcher.py` (polling path)",
        "open: e.g. rescan every few polling periods while polling (a rescan is one stat per job, the cost of a poll)",
        "`test_watch_failure.py::test_polling_sees_a_rewrite_made_within_a_second_of_the_previous_one` (strict xfail)",
    ),
    (
        "Counters in metrics.json lose increments on a SIGKILL of the orchestrator: they live in memory and reach "
        "disk with the metrics write at the end of a tick, after the job's state.json. A kill in between (a job "
        "just DONE, a job just created) loses the increment for good, since counters are reloaded from "
        "metrics.json at start. Seen in a long run: `pages_done` 118 while the DONE jobs hold 120 pages "
        "(RELIABILITY_SEED=71597284). Gauges are unaffected (recomputed from the job states).",
        "`services/orchestrator/app/main.py` `Orchestrator.start` / `metrics.py` `Counters.load`",
        "open: at start, raise the counters derivable from disk to what the jobs show (`pages_done` from DONE "
        "results, `jobs_created` from job folders, `duplicates` from `duplicates/`); the others "
        "(retries, disk_error, stage_unavailable) are best effort and should be documented so",
        "`test_kill.py` (figure `pages_done_lost`; checked to be >= 0)",
    ),
    (
        "A full disk during a PREP call makes prep answer 500 `unexpected error` (ENOSPC is not mapped), so the "
        "attempt is counted as failed; with the default MAX_ATTEMPTS=3, a job caught by three such episodes would "
        "end ERROR although the document is fine. Dispatch pauses while the disk is short, so one episode costs "
        "one attempt.",
        "`services/prep` (error mapping of OSError ENOSPC)",
        "open: answer 503 (service unavailable, no attempt used) or 507 on disk errors",
        "`test_disk_full.py` (its figures show `retries`)",
    ),
]


def render() -> list[str]:
    lines = ["## Bugs found", "", "| bug | where | status | test |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in finding) + " |" for finding in FINDINGS]
    return [*lines, ""]
