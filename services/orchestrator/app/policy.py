"""The retry policy: what a stage call's outcome means for its job, as a pure function of what it depends on.

`decide(job, result, config, now)` returns a `Decision` and changes nothing; the tick applies it with the job's
verbs, counts it and logs it. Everything about attempts, backoff and waiting for a service lives here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from services.common.job import Job

from .config import Config
from .stages import Outcome, StageResult

# How long a job waits before probing a stage service that was unreachable.
UNAVAILABLE_RETRY_S = 1.0
# Backoff jitter spans 50% to 150% of the exponential delay, so the retries of many jobs spread out.
JITTER_MIN, JITTER_SPAN = 0.5, 1.0


class Action(StrEnum):
    COMPLETE = "COMPLETE"
    """The stage is done: on to the next stage, or DONE."""
    FAIL = "FAIL"
    """Give up: ERROR, with the error kept."""
    RETRY = "RETRY"
    """Another attempt of the stage, at `retry_at_unix_s`."""
    WAIT = "WAIT"
    """The same attempt again at `retry_at_unix_s`: the service or the disk was at fault, not the job."""


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    error: dict[str, Any] = field(default_factory=dict)
    """What to keep in state.json as the job's error (empty for COMPLETE)."""
    retry_at_unix_s: float = 0.0
    """When the job is due again (RETRY and WAIT)."""
    note: str = ""
    """Why the job waits (WAIT), for its history."""


def jitter(job_key: str, attempt: int) -> float:
    """A factor in [0.5, 1.5) that differs between jobs and attempts, yet is the same for the same pair.

    A hash rather than a random draw keeps `decide` pure (tests can state the exact retry time) while still
    spreading the retries of jobs that failed together.
    """
    digest = hashlib.blake2b(f"{job_key}:{attempt}".encode(), digest_size=8).digest()
    return JITTER_MIN + JITTER_SPAN * int.from_bytes(digest) / 2**64


def backoff_s(attempt: int, config: Config, job_key: str) -> float:
    """Exponential backoff from RETRY_BASE_S, capped at RETRY_MAX_S, with the job's jitter."""
    delay_s = min(config.retry_max_s, config.retry_base_s * 2.0 ** max(0, attempt - 1))
    return delay_s * jitter(job_key, attempt)


def decide(job: Job, result: StageResult, config: Config, now_unix_s: float) -> Decision:
    """What to do with `job` now that the call of its current stage came back with `result`."""
    outcome, error = result.outcome, result.error
    if outcome is Outcome.OK:
        return Decision(Action.COMPLETE)
    if outcome is Outcome.BAD_DOCUMENT:
        return Decision(Action.FAIL, error)
    if outcome is Outcome.UNAVAILABLE:
        return Decision(Action.WAIT, error, now_unix_s + UNAVAILABLE_RETRY_S, "stage service unavailable")
    if outcome is Outcome.DISK_ERROR:
        # Not the job's attempt count: the wait grows with nothing the job did, so it stays at the first step.
        retry_at = now_unix_s + backoff_s(1, config, job.job_key)
        return Decision(Action.WAIT, error, retry_at, "stage service hit a disk error")
    if job.attempt >= config.max_attempts:
        # `retryable` stays as it was: a retry asked for by a person may still succeed.
        message = f"gave up after {job.attempt} attempts: {error['message']}"
        return Decision(Action.FAIL, {**error, "message": message})
    return Decision(Action.RETRY, error, now_unix_s + backoff_s(job.attempt, config, job.job_key))
