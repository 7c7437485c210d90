"""Calls to the stage services, and what their answers mean for the job: the one place answers become outcomes.

An error answer names its type (one of `services.common.errors`) and whether a retry can help. The type decides
the outcome; the `retryable` flag decides only for a type this orchestrator does not know. Only a BadDocument is
the document's fault. A BadRequest is the service's: the orchestrator builds every request from the job's own
state, so a service that cannot find the job folder or its input sees another disk than ours (a replica whose
JOBS_DIR is not the shared volume). That is retried on another attempt, and logged as an error.
"""

from __future__ import annotations

import http.client
import logging
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from services.common.errors import (
    BadDocument,
    BadRequest,
    CallAbandoned,
    ConfigError,
    DiskError,
    PipelineError,
    ServiceUnavailable,
    StageFailed,
    StageTimeout,
    error_type_named,
)
from services.common.web import job_headers

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    OK = "OK"
    """The stage finished; `body` is its answer."""
    BAD_DOCUMENT = "BAD_DOCUMENT"
    """The service refused the document (BadDocument, or a type it says no retry helps): final."""
    FAILED = "FAILED"
    """The attempt failed after reaching the service (a crash, a timeout, a 5xx): retried, up to MAX_ATTEMPTS."""
    REJECTED = "REJECTED"
    """The service refused a request built from the job's own state (400): it is misconfigured; retried, loudly."""
    UNAVAILABLE = "UNAVAILABLE"
    """Nothing answered (connection refused, unknown host, 503): the service is down, not the job."""
    DISK_ERROR = "DISK_ERROR"
    """The service could not write to the jobs volume (507): the disk is at fault, not the job."""

    @property
    def retryable(self) -> bool:
        return self not in (Outcome.OK, Outcome.BAD_DOCUMENT)


# Most specific first: a subclass (StageTimeout) finds its own entry before its base's.
_OUTCOME_BY_ERROR: tuple[tuple[type[PipelineError], Outcome], ...] = (
    (BadDocument, Outcome.BAD_DOCUMENT),
    (BadRequest, Outcome.REJECTED),
    (ConfigError, Outcome.REJECTED),
    (ServiceUnavailable, Outcome.UNAVAILABLE),
    (DiskError, Outcome.DISK_ERROR),
    (StageFailed, Outcome.FAILED),
    (CallAbandoned, Outcome.FAILED),
)
_OUTCOME_BY_STATUS = {
    BadDocument.http_status: Outcome.BAD_DOCUMENT,
    ServiceUnavailable.http_status: Outcome.UNAVAILABLE,
    DiskError.http_status: Outcome.DISK_ERROR,
}


def outcome_for(error_type: str, status: int, retryable: object) -> Outcome:
    """What an error answer means for the job, from its type, else its `retryable` flag and status."""
    known = error_type_named(error_type)
    if known is not None:
        return next((outcome for cls, outcome in _OUTCOME_BY_ERROR if issubclass(known, cls)), Outcome.FAILED)
    by_status = _OUTCOME_BY_STATUS.get(status)
    if retryable is False:
        # Not ours, and the service says a retry cannot help: final only when it also blames the document.
        return Outcome.BAD_DOCUMENT if by_status is Outcome.BAD_DOCUMENT else Outcome.REJECTED
    if by_status is not None:
        return by_status
    return Outcome.REJECTED if 400 <= status < 500 else Outcome.FAILED


@dataclass(slots=True)
class StageResult:
    outcome: Outcome
    duration_s: float
    body: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] = field(default_factory=dict)


def _error(outcome: Outcome, kind: str, message: str) -> dict[str, Any]:
    # `retryable` in state.json says what the orchestrator does about it, whatever the service thought.
    return {"type": kind, "message": message, "retryable": outcome.retryable}


def _from_http_error(e: urllib.error.HTTPError, service: str) -> tuple[Outcome, dict[str, Any]]:
    try:
        detail = orjson.loads(e.read()).get("error", {})
    except Exception:  # noqa: BLE001 - an unreadable error body still tells us the status
        detail = {}
    if not isinstance(detail, dict):
        detail = {}
    message = str(detail.get("message") or f"{service} answered HTTP {e.code}")
    kind = str(detail.get("type") or f"HTTP{e.code}")
    if kind == CallAbandoned.__name__:
        # The service ran out of our timeout just before we did (it keeps a margin): for the job, a timeout.
        kind = StageTimeout.__name__
    outcome = outcome_for(kind, e.code, detail.get("retryable"))
    return outcome, _error(outcome, kind, message)


def _from_exception(error: PipelineError) -> tuple[Outcome, dict[str, Any]]:
    outcome = outcome_for(type(error).__name__, error.http_status, error.retryable)
    return outcome, _error(outcome, type(error).__name__, str(error))


def _from_url_error(e: urllib.error.URLError, service: str, url: str) -> tuple[Outcome, dict[str, Any]]:
    reason = e.reason
    if isinstance(reason, ConnectionRefusedError | socket.gaierror | FileNotFoundError):
        return _from_exception(ServiceUnavailable(f"{service} unreachable at {url}: {reason}"))
    if isinstance(reason, TimeoutError):
        return _from_exception(StageTimeout(f"{service} did not answer in time"))
    return _from_exception(StageFailed(f"{service} call failed: {reason}"))


def call_stage(
    service: str, url: str, payload: dict[str, Any], job_key: str, stage: str, attempt: int, timeout_s: float
) -> StageResult:
    """POST `payload` to a stage service and classify the answer; never raises."""
    # The timeout travels with the call: the service commits no output after it (services.common.deadline).
    headers = {"Content-Type": "application/json", **job_headers(job_key, stage, attempt, timeout_s)}
    request = urllib.request.Request(url, data=orjson.dumps(payload), headers=headers, method="POST")
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = orjson.loads(response.read())
        return StageResult(Outcome.OK, time.monotonic() - started, body=body)
    except urllib.error.HTTPError as e:
        outcome, error = _from_http_error(e, service)
    except urllib.error.URLError as e:
        outcome, error = _from_url_error(e, service, url)
    except TimeoutError:
        outcome, error = _from_exception(StageTimeout(f"{service} did not answer in {timeout_s:g}s"))
    except (http.client.HTTPException, ConnectionError, orjson.JSONDecodeError) as e:
        outcome, error = _from_exception(StageFailed(f"{service} call failed: {e!r}"))
    except Exception as e:  # noqa: BLE001 - runs on a worker thread: every failure must come back as a result
        log.exception("unexpected error calling %s", service)
        outcome, error = _from_exception(StageFailed(f"{service} call failed: {e!r}"))
    return StageResult(outcome, time.monotonic() - started, error=error)
