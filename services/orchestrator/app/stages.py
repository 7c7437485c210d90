"""Calls to the stage services, and what their answers mean for the job.

Four outcomes: the stage succeeded; the document is bad (no retry helps); the attempt failed (a crash,
a timeout, a 5xx: retry with backoff, up to MAX_ATTEMPTS); the service could not be reached at all
(the job waits without using up an attempt).
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

from services.common.web import job_headers

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    OK = "OK"
    """The stage finished; `body` is its answer."""
    BAD_DOCUMENT = "BAD_DOCUMENT"
    """The service refused the document (4xx): final."""
    FAILED = "FAILED"
    """The attempt failed after reaching the service (5xx, timeout, connection lost): retryable."""
    UNAVAILABLE = "UNAVAILABLE"
    """Nothing answered (connection refused, unknown host, 503): the service is down, not the job."""
    DISK_ERROR = "DISK_ERROR"
    """The service could not write to the jobs volume (507): the disk is at fault, not the job."""


@dataclass(slots=True)
class StageResult:
    outcome: Outcome
    duration_s: float
    body: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] = field(default_factory=dict)


def _error(kind: str, message: str, retryable: bool) -> dict[str, Any]:
    return {"type": kind, "message": message, "retryable": retryable}


def _from_http_error(e: urllib.error.HTTPError, service: str) -> tuple[Outcome, dict[str, Any]]:
    try:
        detail = orjson.loads(e.read()).get("error", {})
    except Exception:  # noqa: BLE001 - an unreadable error body still tells us the status
        detail = {}
    message = str(detail.get("message") or f"{service} answered HTTP {e.code}")
    kind = str(detail.get("type") or f"HTTP{e.code}")
    if e.code == 507:
        return Outcome.DISK_ERROR, _error("DiskError", message, True)
    if e.code == 503:
        return Outcome.UNAVAILABLE, _error("ServiceUnavailable", message, True)
    if 400 <= e.code < 500:
        return Outcome.BAD_DOCUMENT, _error(kind, message, False)
    return Outcome.FAILED, _error(kind, message, True)


def _from_url_error(e: urllib.error.URLError, service: str, url: str) -> tuple[Outcome, dict[str, Any]]:
    reason = e.reason
    if isinstance(reason, ConnectionRefusedError | socket.gaierror | FileNotFoundError):
        return Outcome.UNAVAILABLE, _error("ServiceUnavailable", f"{service} unreachable at {url}: {reason}", True)
    if isinstance(reason, TimeoutError):
        return Outcome.FAILED, _error("StageTimeout", f"{service} did not answer in time", True)
    return Outcome.FAILED, _error("StageFailed", f"{service} call failed: {reason}", True)


def call_stage(
    service: str, url: str, payload: dict[str, Any], job_key: str, stage: str, attempt: int, timeout_s: float
) -> StageResult:
    """POST `payload` to a stage service and classify the answer; never raises."""
    headers = {"Content-Type": "application/json", **job_headers(job_key, stage, attempt)}
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
        outcome, error = Outcome.FAILED, _error("StageTimeout", f"{service} did not answer in {timeout_s:g}s", True)
    except (http.client.HTTPException, ConnectionError, orjson.JSONDecodeError) as e:
        outcome, error = Outcome.FAILED, _error("StageFailed", f"{service} call failed: {e!r}", True)
    except Exception as e:  # noqa: BLE001 - runs on a worker thread: every failure must come back as a result
        log.exception("unexpected error calling %s", service)
        outcome, error = Outcome.FAILED, _error("StageFailed", f"{service} call failed: {e!r}", True)
    return StageResult(outcome, time.monotonic() - started, error=error)
