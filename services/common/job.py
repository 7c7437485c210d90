"""The job: its states, its `state.json` form, and the verb functions that move it along."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from .clock import from_epoch, now_iso, parse_time

# 2: `attempts` (every stage attempt, timed). Older files are migrated on read (`migrate`).
SCHEMA_VERSION = 2
JOB_KEY_PATTERN = r"^[A-Za-z0-9._-]{1,128}$"
_JOB_KEY_RE = re.compile(JOB_KEY_PATTERN)
# Bounded so that a job that bounces between retries for days keeps a small state.json.
HISTORY_LIMIT = 50
# Same bound for the attempts: MAX_ATTEMPTS per stage, plus every retry a person asked for.
ATTEMPTS_LIMIT = 50
# The outcome of a call that found its service down (services.orchestrator.app.stages.Outcome.UNAVAILABLE).
UNAVAILABLE_OUTCOME = "UNAVAILABLE"
# 128 bits of the sha256: unique in practice, short enough to type in a curl command.
JOB_KEY_HEX_CHARS = 32


class JobState(StrEnum):
    QUEUED = "QUEUED"
    """Waiting for its stage to be dispatched (now, or at `nextAttemptAt`)."""
    RUNNING = "RUNNING"
    """Its stage call is in flight on a prep or ocr service."""
    DONE = "DONE"
    """Both stages succeeded; `result` holds the outputs."""
    ERROR = "ERROR"
    """Gave up: a bad document, or attempts exhausted; `error` says why."""


class Stage(StrEnum):
    PREP = "PREP"
    """Render and normalise the pages."""
    OCR = "OCR"
    """Recognise the text and write the searchable PDF."""


TERMINAL_STATES = frozenset({JobState.DONE, JobState.ERROR})


def is_valid_job_key(key: str) -> bool:
    return bool(_JOB_KEY_RE.match(key)) and key not in {".", ".."}


def job_key_for(sha256_hex: str) -> str:
    """Stable for the same content, so dropping a file twice maps to one job."""
    return sha256_hex[:JOB_KEY_HEX_CHARS]


@dataclass(slots=True)
class Job:
    job_key: str
    input: dict[str, Any]
    state: JobState = JobState.QUEUED
    stage: Stage = Stage.PREP
    attempt: int = 1
    created_at: str = field(default_factory=now_iso)
    updated_at: str = ""
    # When a scheduled retry is due, in Unix seconds: the one form the program uses (state.json shows RFC 3339).
    next_attempt_unix_s: float | None = None
    error: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    stage_info: dict[str, Any] = field(default_factory=dict)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    """Every stage attempt: stage, attempt, startedAt, then endedAt, durationS, outcome and error once it ended."""

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    def is_due(self, now_unix_s: float) -> bool:
        """Queued, and its scheduled retry (if any) has come."""
        return self.state is JobState.QUEUED and (self.next_attempt_unix_s or 0.0) <= now_unix_s

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "schemaVersion": SCHEMA_VERSION,
            "jobKey": self.job_key,
            "state": self.state.value,
            "stage": self.stage.value,
            "attempt": self.attempt,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at or self.created_at,
            "input": self.input,
            "history": self.history,
            "attempts": self.attempts,
        }
        if self.next_attempt_unix_s is not None:
            doc["nextAttemptAt"] = from_epoch(self.next_attempt_unix_s)
        if self.error is not None:
            doc["error"] = self.error
        if self.result is not None:
            doc["result"] = self.result
        if self.stage_info:
            doc["stages"] = self.stage_info
        return doc

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_json(), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Job:
        doc = migrate(doc)
        return cls(
            job_key=doc["jobKey"],
            input=doc["input"],
            state=JobState(doc["state"]),
            stage=Stage(doc["stage"]),
            attempt=int(doc["attempt"]),
            created_at=doc["createdAt"],
            updated_at=doc["updatedAt"],
            next_attempt_unix_s=parse_time(doc["nextAttemptAt"]).timestamp() if doc.get("nextAttemptAt") else None,
            error=doc.get("error"),
            history=list(doc.get("history", [])),
            result=doc.get("result"),
            stage_info=dict(doc.get("stages", {})),
            attempts=list(doc.get("attempts", [])),
        )


def migrate(doc: dict[str, Any]) -> dict[str, Any]:
    """A state.json of any version this code knows, in the current form; ValueError for a newer one.

    Version 1 had no `attempts`: its attempts were never recorded, so the list starts empty (history keeps them).
    """
    version = doc.get("schemaVersion", 1)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ValueError(f"schemaVersion {version!r} is newer than this orchestrator's ({SCHEMA_VERSION})")
    if version < 2:
        doc = {**doc, "schemaVersion": 2, "attempts": []}
    return doc


def new_job(job_key: str, input_info: dict[str, Any]) -> Job:
    job = Job(job_key=job_key, input=input_info)
    _transition(job, JobState.QUEUED, Stage.PREP, 1, "created")
    return job


def _transition(job: Job, state: JobState, stage: Stage, attempt: int, note: str | None = None) -> None:
    now = now_iso()
    job.state, job.stage, job.attempt, job.updated_at = state, stage, attempt, now
    entry: dict[str, Any] = {"at": now, "state": state.value, "stage": stage.value, "attempt": attempt}
    if note:
        entry["note"] = note
    job.history.append(entry)
    del job.history[:-HISTORY_LIMIT]


def mark_running(job: Job) -> None:
    """A new attempt starts: the error of the previous one is history now (it stays in `attempts`)."""
    job.next_attempt_unix_s = None
    job.error = None
    started = now_iso()
    job.stage_info.setdefault(job.stage.value.lower(), {})["startedAt"] = started
    job.attempts.append({"stage": job.stage.value, "attempt": job.attempt, "startedAt": started})
    del job.attempts[:-ATTEMPTS_LIMIT]
    _transition(job, JobState.RUNNING, job.stage, job.attempt)


def end_attempt(job: Job, outcome: str, duration_s: float | None, error: dict[str, Any] | None = None) -> None:
    """Close the running attempt with its outcome; `duration_s` None means: from its start until now."""
    current = job.attempts[-1] if job.attempts else None
    if current is None or "endedAt" in current or (current["stage"], current["attempt"]) != (job.stage, job.attempt):
        return  # a v1 job, or an attempt closed already
    ended = now_iso()
    if duration_s is None:
        duration_s = max(0.0, parse_time(ended).timestamp() - parse_time(current["startedAt"]).timestamp())
    current.update({"endedAt": ended, "durationS": round(duration_s, 3), "outcome": outcome})
    if error:
        current["error"] = error
    _merge_repeated_unavailable(job)


def _merge_repeated_unavailable(job: Job) -> None:
    """Probes of a service that stays down are one entry (with `calls`), so an outage cannot push out the rest."""
    if len(job.attempts) < 2:
        return
    previous, current = job.attempts[-2], job.attempts[-1]
    same_attempt = (previous["stage"], previous["attempt"]) == (current["stage"], current["attempt"])
    if not (same_attempt and previous.get("outcome") == current.get("outcome") == UNAVAILABLE_OUTCOME):
        return
    previous["calls"] = previous.get("calls", 1) + 1
    previous["endedAt"] = current["endedAt"]
    previous["durationS"] = round(previous["durationS"] + current["durationS"], 3)
    previous["error"] = current.get("error", previous.get("error"))
    job.attempts.pop()


def stage_total_s(job: Job, stage: Stage, last_s: float) -> float:
    """Time spent in all the recorded attempts of `stage` (failed and interrupted ones included); `last_s`, the
    duration of the attempt that succeeded, when none was recorded (a job begun before schemaVersion 2)."""
    closed = [a["durationS"] for a in job.attempts if a["stage"] == stage.value and "durationS" in a]
    return round(float(sum(closed)) if closed else last_s, 3)


def restart_failed(job: Job, note: str) -> None:
    """A person asked for another go: QUEUED again at the stage that failed, a fresh series of attempts.

    Key, input (name), history and attempts are kept; the error stays until the new attempt starts.
    """
    if job.state is not JobState.ERROR:
        raise ValueError(f"job {job.job_key} is {job.state.value}, not ERROR")
    job.next_attempt_unix_s = None
    job.result = None
    _transition(job, JobState.QUEUED, job.stage, 1, note)


def requeue(job: Job, note: str) -> None:
    """Back to QUEUED on the same attempt, due now: the call was cut short by an orchestrator restart."""
    job.next_attempt_unix_s = None
    _transition(job, JobState.QUEUED, job.stage, job.attempt, note)


def postpone(job: Job, error: dict[str, Any], next_attempt_unix_s: float, note: str) -> None:
    """Back to QUEUED on the same attempt, due later: the service or the disk was at fault, not the job."""
    job.error = error
    job.next_attempt_unix_s = next_attempt_unix_s
    _transition(job, JobState.QUEUED, job.stage, job.attempt, note)


def schedule_retry(job: Job, error: dict[str, Any], next_attempt_unix_s: float) -> None:
    """Back to QUEUED on the next attempt of the same stage, due at `next_attempt_unix_s`."""
    job.error = error
    job.next_attempt_unix_s = next_attempt_unix_s
    _transition(job, JobState.QUEUED, job.stage, job.attempt + 1, f"retry after {error['type']}")


def record_failure(job: Job, error: dict[str, Any]) -> None:
    """ERROR, final: `error` says why (kept in state.json)."""
    job.error = error
    job.next_attempt_unix_s = None
    _transition(job, JobState.ERROR, job.stage, job.attempt, error["type"])


def complete_prep(job: Job, pages: int, duration_s: float) -> None:
    job.input = {**job.input, "pages": pages}
    job.error = None
    info = {"durationS": round(duration_s, 3), "totalS": stage_total_s(job, Stage.PREP, duration_s), "pages": pages}
    job.stage_info.setdefault("prep", {}).update(info)
    _transition(job, JobState.QUEUED, Stage.OCR, 1, "prep done")


def complete_ocr(job: Job, result: dict[str, Any], duration_s: float) -> None:
    job.error = None
    job.stage_info.setdefault("ocr", {}).update(
        {"durationS": round(duration_s, 3), "totalS": stage_total_s(job, Stage.OCR, duration_s)}
    )
    # Each stage's time over all its attempts: a document resumed after a restart shows what it really cost.
    durations = {name: info.get("totalS", info.get("durationS")) for name, info in job.stage_info.items()}
    job.result = {**result, "durationsS": durations}
    _transition(job, JobState.DONE, Stage.OCR, job.attempt, "ocr done")
