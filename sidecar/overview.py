"""`GET /overview`: everything the status page shows at once, bounded whatever the number of jobs.

Counts come from the index's tallies and the aggregates, the latest jobs from the head of the index's order, the
latest failures from the aggregates' short list of ERROR jobs: no part of it walks the jobs, so 100k jobs on disk
cost what 10 do. Error messages are cut to `MESSAGE_CHARS`; the page inserts every text as text, never as markup.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import orjson

from services.common.clock import now_iso

from .aggregate import Aggregates
from .facts import STAGES
from .index import JobIndex
from .state_file import Entry
from .status import SidecarStatus

LATEST_JOBS = 15
LATEST_FAILURES = 10
# Enough to read what went wrong; a 1 MB message from a broken stage stays on disk (GET /jobs/{key}).
MESSAGE_CHARS = 500


def build_overview(index: JobIndex, aggregates: Aggregates, status: SidecarStatus) -> dict[str, Any]:
    now_s = time.time()
    by_state = index.counts_by_state()
    return {
        "generatedAt": now_iso(),
        "ready": status.ready,
        "watchMode": status.watch_mode,
        "jobs": {"total": len(index), "unreadable": index.unreadable_count(), "byState": dict(by_state)},
        "finishedLastHour": aggregates.finished_last_hour(now_s),
        "stages": {
            stage: {
                "queueDepth": index.count("QUEUED", stage.upper()),
                "running": index.count("RUNNING", stage.upper()),
                "oldestQueuedAgeS": round(aggregates.oldest_queued_age_s(stage, now_s), 1),
            }
            for stage in STAGES
        },
        "latestJobs": [entry.summary() for entry in itertools.islice(index.newest_first(), LATEST_JOBS)],
        "latestFailures": [_failure(entry) for entry in _failed(index, aggregates)],
    }


def _failed(index: JobIndex, aggregates: Aggregates) -> list[Entry]:
    found = (index.get(key) for key in aggregates.latest_failed_keys(LATEST_FAILURES))
    return [entry for entry in found if entry is not None]


def _failure(entry: Entry) -> dict[str, Any]:
    doc = orjson.loads(entry.raw) if entry.raw is not None else {}
    error, source = _object(doc.get("error")), _object(doc.get("input"))
    return {
        "jobKey": entry.key,
        "stage": entry.stage,
        "updatedAt": entry.updated_at,
        "name": _text(source.get("name"), 200),
        "type": _text(error.get("type"), 100),
        "message": _text(error.get("message"), MESSAGE_CHARS),
    }


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    return value if len(value) <= limit else value[: limit - 1] + "\u2026"
