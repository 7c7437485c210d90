"""What one job's state.json contributes to the aggregate metrics, extracted once when the file is parsed.

`job_facts(doc)` reads only what the metrics need (stage durations, the failure reason, retries from the history,
pages, confidence, when the job entered its queue) into a small frozen value kept on the index entry, so applying a
change to the aggregates costs a few additions, never a second parse. Labels are folded into bounded vocabularies
here, so a hostile or future state.json can never add a time series.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from services.common.errors import PipelineError

STAGES = ("prep", "ocr")
OTHER = "other"
OUTCOME_OK, OUTCOME_RETRY, OUTCOME_ERROR = "ok", "retry", "error"
OUTCOMES = (OUTCOME_OK, OUTCOME_RETRY, OUTCOME_ERROR)
# The error.type vocabulary: the pipeline's exception classes plus the names the orchestrator writes itself
# (services/orchestrator/app/stages.py). Anything else (HTTP502, a future type, a hostile string) is `other`.
REASONS = tuple(
    sorted(
        {cls.__name__ for cls in PipelineError.__subclasses__()}
        | {"StageTimeout", "StageFailed", "ServiceUnavailable", "DiskError", "BadDocument"}
    )
) + (OTHER,)
_REASON_SET = frozenset(REASONS)
RETRY_NOTE_PREFIX = "retry after "
_RETRY_NOTE_BYTES = RETRY_NOTE_PREFIX.encode()


class JobFacts(NamedTuple):
    """One job's contribution; every field is already a bounded label value or a number.

    A named tuple: built for each of 100k jobs during a scan, where a frozen dataclass costs 5x more.
    """

    stage_durations: tuple[tuple[str, str, float], ...] = ()
    """(stage, outcome, seconds) of each stage attempt the file records as finished."""
    end_to_end_s: float | None = None
    """Intake (input.receivedAt, else createdAt) to DONE."""
    failure: tuple[str, str] | None = None
    """(stage, reason) when the job is ERROR."""
    retries: tuple[tuple[str, str], ...] = ()
    """(stage, reason) of each retry the history records."""
    pages: int = 0
    """Pages of a DONE job."""
    confidence: float | None = None
    """Mean OCR confidence (0-100) of a DONE job."""
    done_at_s: float | None = None
    finished_at_s: float | None = None
    """When the job reached DONE or ERROR (epoch seconds)."""
    queued_since_s: float | None = None
    """When a QUEUED job entered its queue: the first of the QUEUED entries that end its history."""


NO_FACTS = JobFacts()


def stage_label(value: object) -> str:
    return value.lower() if isinstance(value, str) and value.lower() in STAGES else OTHER


def reason_label(value: object) -> str:
    return value if isinstance(value, str) and value in _REASON_SET else OTHER


def epoch_s(value: object) -> float | None:
    """Epoch seconds of an RFC 3339 time with a zone; None for anything else."""
    if not isinstance(value, str):  # a missing field is common: cheaper than raising and catching TypeError
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else None


def job_facts(doc: dict[str, Any], raw: bytes | None = None) -> JobFacts:
    """The facts of a parsed state.json; anything missing or of the wrong type simply contributes nothing.

    `raw`, the bytes `doc` was parsed from, lets most jobs (never retried) skip the walk through their history.
    """
    state, updated_s = doc.get("state"), epoch_s(doc.get("updatedAt"))
    stage = stage_label(doc.get("stage"))
    stages = _dict(doc.get("stages"))
    history = _list(doc.get("history"))
    durations = _ok_durations(stages)
    failed = _failed_attempt(state, stage, stages, updated_s, history)
    if failed is not None:
        durations.append(failed)
    retries = _retries(history) if raw is None or _RETRY_NOTE_BYTES in raw else ()
    if state == "DONE":
        return _done(doc, tuple(durations), retries, updated_s)
    if state == "ERROR":
        failure = (stage, reason_label(_dict(doc.get("error")).get("type")))
        return JobFacts(tuple(durations), None, failure, retries, finished_at_s=updated_s)
    if state == "QUEUED":
        since = _queued_since(history, doc.get("stage"), doc.get("attempt"), updated_s)
        return JobFacts(tuple(durations), retries=retries, queued_since_s=since)
    return JobFacts(tuple(durations), retries=retries)


def _ok_durations(stages: dict[str, Any]) -> list[tuple[str, str, float]]:
    found = []
    for name in STAGES:
        info = stages.get(name)
        seconds = _number(info.get("durationS")) if isinstance(info, dict) else None
        if seconds is not None:
            found.append((name, OUTCOME_OK, seconds))
    return found


def _failed_attempt(
    state: object, stage: str, stages: dict[str, Any], updated_s: float | None, history: list[Any]
) -> tuple[str, str, float] | None:
    """The last attempt, when it failed: an ERROR job, or a QUEUED one whose last transition is a retry."""
    if state == "ERROR":
        outcome = OUTCOME_ERROR
    elif state == "QUEUED" and history and _retry_reason(history[-1]) is not None:
        outcome = OUTCOME_RETRY
    else:
        return None
    info = stages.get(stage)
    started_s = epoch_s(info.get("startedAt")) if isinstance(info, dict) else None
    if started_s is None or updated_s is None or updated_s < started_s:
        return None
    return stage, outcome, updated_s - started_s


def _retry_reason(entry: object) -> str | None:
    note = entry.get("note") if isinstance(entry, dict) else None
    if isinstance(note, str) and note.startswith(RETRY_NOTE_PREFIX):
        return reason_label(note[len(RETRY_NOTE_PREFIX) :])
    return None


def _retries(history: list[Any]) -> tuple[tuple[str, str], ...]:
    found = []
    for entry in history:
        reason = _retry_reason(entry)
        if reason is not None:
            found.append((stage_label(entry.get("stage")), reason))
    return tuple(found)


def _queued_since(history: list[Any], stage: object, attempt: object, updated_s: float | None) -> float | None:
    """When the current attempt was first queued: the first of the history entries of this stage and attempt that end
    the history. A requeue (service down, orchestrator restart) keeps the attempt, so the job's age keeps growing while
    a stage service is down, which is when the alert matters; a retry starts a new attempt and a new wait."""
    first = None
    for entry in reversed(history):
        if not isinstance(entry, dict) or entry.get("stage") != stage or entry.get("attempt") != attempt:
            break
        first = entry
    return (epoch_s(first.get("at")) if first is not None else None) or updated_s


def _done(
    doc: dict[str, Any],
    durations: tuple[tuple[str, str, float], ...],
    retries: tuple[tuple[str, str], ...],
    updated_s: float | None,
) -> JobFacts:
    result = _dict(doc.get("result"))
    pages = result.get("pages")
    confidence = _number(result.get("meanConfidence"))
    received_s = epoch_s(_dict(doc.get("input")).get("receivedAt")) or epoch_s(doc.get("createdAt"))
    end_to_end = updated_s - received_s if updated_s is not None and received_s is not None else None
    return JobFacts(
        durations,
        end_to_end if end_to_end is not None and end_to_end >= 0 else None,
        None,
        retries,
        pages if type(pages) is int and pages >= 0 else 0,
        min(confidence, 100.0) if confidence is not None else None,
        done_at_s=updated_s,
        finished_at_s=updated_s,
    )
