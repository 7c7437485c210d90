"""Retry requests from `ocr-stack retry`, applied on the tick: a job in ERROR starts a fresh series of attempts.

The request files are the only way in (see `services.common.retry_requests`): the orchestrator stays the only
writer of state.json. A request is removed once handled; one for a job that is not in ERROR is dropped with a log
line (the CLI refuses those up front, this covers a race), one that cannot be parsed is moved to `rejected/`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from services.common.errors import BadRequest
from services.common.job import JobState, restart_failed
from services.common.logs import bind_job
from services.common.retry_requests import RetryRequest, pending_requests, reject

from .store import JobStore

log = logging.getLogger(__name__)


def apply_retry_requests(store: JobStore, requests_dir: Path) -> int:
    """Handle every waiting request; returns how many jobs were queued again."""
    applied = 0
    for path in pending_requests(requests_dir):
        try:
            request = RetryRequest.from_bytes(path.read_bytes())
        except FileNotFoundError:
            continue
        except BadRequest as e:
            log.warning("retry request %s rejected: %s; moved to %s", path.name, e, reject(path).parent)
            continue
        except OSError as e:
            log.error("cannot read retry request %s: %s", path, e.strerror or e, extra={"path": str(path)})
            continue
        with bind_job(request.job_key):
            applied += _retry(store, request)
        # Removed after the job was saved: a crash in between applies it again, to a job no longer in ERROR.
        path.unlink(missing_ok=True)
    return applied


def _retry(store: JobStore, request: RetryRequest) -> bool:
    key = request.job_key
    state = store.active[key].state if key in store.active else store.finished.get(key)
    if state is not JobState.ERROR:
        why = "no such job" if state is None else f"the job is {state.value}, not ERROR"
        log.warning("retry requested by %s ignored: %s", request.requested_by, why)
        return False
    job = store.reopen(key)
    if job is None:
        log.error("retry requested by %s failed: the job's state.json cannot be read", request.requested_by)
        return False
    restart_failed(job, f"retry requested by {request.requested_by}")
    store.save(job)
    log.info(
        "retry requested by %s: queued again at %s, attempt 1",
        request.requested_by,
        job.stage.value,
        extra={"event": "retry_requested"},
    )
    return True
