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
        "fixed: while polling, the rescan runs every 3 polling periods (at least 1 s) instead of every "
        "SIDECAR_RESCAN_S: a rescan is one stat per job, about the cost of a poll",
        "`test_watch_failure.py::test_polling_sees_a_rewrite_made_within_a_second_of_the_previous_one`",
    ),
    (
        "A SIGKILL of the orchestrator during the metrics write left `.tmp-metrics.json.<pid>.<tag>` in DATA_DIR "
        "for good: a restart removed the temp files of every state.json, not those of metrics.json.",
        "`services/orchestrator/app/main.py` `Orchestrator.start`",
        "fixed: removed at start (only the orchestrator writes metrics.json)",
        "`test_regressions.py::test_a_metrics_temp_file_left_by_a_killed_orchestrator_is_removed_at_start`; "
        "`test_kill.py` (no temp files)",
    ),
    (
        "Counters in metrics.json lost increments on a SIGKILL of the orchestrator: they reached disk with the "
        "metrics write at the end of a tick, after the job's state.json. Seen in a long run: `pages_done` 118 while "
        "the DONE jobs held 120 pages (RELIABILITY_SEED=71597284).",
        "`services/orchestrator/app/main.py`, `metrics.py`",
        "fixed in 63ce652 by the orchestrator's owner: `pages_done` and `jobs_created` derived from job states; "
        "the other counters (retries, disk_error, stage_unavailable, duplicates) stay best effort",
        "`test_kill.py` (`pages_done`, `jobs_created` = job states after every kill)",
    ),
    (
        "A full disk during a PREP call made prep answer 500 `unexpected error`, so the attempt counted as failed; "
        "with MAX_ATTEMPTS=3 a job caught by three such episodes would have ended ERROR although the document "
        "is fine.",
        "`services/common/web.py` (stage services), `services/orchestrator/app/main.py`",
        "fixed in 63ce652 by the orchestrator's owner: 507 on disk errors, requeued without using an attempt",
        "`test_disk_full.py` (`retries` must stay 0)",
    ),
]


def render() -> list[str]:
    lines = ["## Bugs found", "", "| bug | where | status | test |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in finding) + " |" for finding in FINDINGS]
    return [*lines, ""]
