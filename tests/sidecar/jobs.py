"""Jobs moved along by the orchestrator's own verbs (services/common/job.py), so tests see real state.json shapes."""

from services.common.clock import parse_time
from services.common.job import (
    Job,
    complete_ocr,
    complete_prep,
    mark_running,
    new_job,
    record_failure,
    requeue,
    schedule_retry,
)


def queued(key: str, name: str = "scan.pdf") -> Job:
    return new_job(key, {"name": name, "path": "source.pdf", "sha256": "0" * 64, "bytes": 100})


def received(key: str) -> Job:
    job = queued(key)
    job.input["receivedAt"] = job.created_at
    return job


def done(key: str, prep_s: float = 1.5, ocr_s: float = 4.0, pages: int = 2, confidence: float = 91.0) -> Job:
    job = received(key)
    mark_running(job)
    complete_prep(job, pages, prep_s)
    mark_running(job)
    complete_ocr(job, {"pages": pages, "meanConfidence": confidence, "outputs": {"text": "t", "pdf": "p"}}, ocr_s)
    return job


def retried(key: str, error_type: str = "StageTimeout") -> Job:
    job = received(key)
    mark_running(job)
    schedule_retry(
        job, {"type": error_type, "message": "slow", "retryable": True}, parse_time(job.updated_at).timestamp()
    )
    return job


def failed(key: str, error_type: str = "BadDocument", message: str = "not a PDF") -> Job:
    job = received(key)
    mark_running(job)
    record_failure(job, {"type": error_type, "message": message, "retryable": False})
    return job


__all__ = ["done", "failed", "mark_running", "queued", "received", "requeue", "retried", "schedule_retry"]
