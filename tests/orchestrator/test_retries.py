"""Retry requests applied on the tick, counters that never go back, and what a restart records about attempts."""

from __future__ import annotations

import logging
import shutil

import orjson

from services.common.atomic import atomic_write_bytes
from services.common.job import JobState, complete_ocr, complete_prep, end_attempt, mark_running, new_job
from services.common.job import record_failure as fail
from services.common.retry_requests import REJECTED_DIR, write_retry_request
from services.orchestrator.app import process_tick

TIMEOUT = {"type": "StageTimeout", "message": "ocr did not answer in 3s", "retryable": True}


def _on_disk(paths, key, end, name="a.pdf"):
    """A job as an orchestrator left it: ERROR at OCR, DONE with 2 pages, or RUNNING."""
    job = new_job(key, {"name": name, "path": "source.pdf", "sha256": "0" * 64, "bytes": 3})
    mark_running(job)
    end_attempt(job, "OK", 1.0)
    complete_prep(job, 2, 1.0)
    mark_running(job)
    if end == "ERROR":
        end_attempt(job, "FAILED", 3.0, TIMEOUT)
        fail(job, TIMEOUT)
    elif end == "DONE":
        end_attempt(job, "OK", 2.0)
        complete_ocr(job, {"pages": 2, "meanConfidence": 90.0, "outputs": {"text": "t", "pdf": "p"}}, 2.0)
    (paths.jobs_dir / key).mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(paths.state_path(key), job.to_bytes())
    return job


def _state(paths, key):
    return orjson.loads(paths.state_path(key).read_bytes())


def _metrics(paths):
    return orjson.loads(paths.metrics_path.read_bytes())


def test_a_retry_request_queues_an_error_job_again_keeping_its_name_and_history(
    make_orchestrator, data_paths, state_schema, metrics_schema
):
    before = _on_disk(data_paths, "e" * 32, "ERROR", name="Facture 2024.pdf")
    orch = make_orchestrator()
    process_tick(orch)
    assert _metrics(data_paths)["jobs_error"] == 1
    request = write_retry_request(data_paths.requests_dir, "e" * 32)
    process_tick(orch)
    state = _state(data_paths, "e" * 32)
    assert state["state"] != "ERROR" and (state["stage"], state["attempt"]) == ("OCR", 1)
    assert state["input"]["name"] == "Facture 2024.pdf"
    assert state["history"][: len(before.history)] == before.history
    assert any(h.get("note", "").startswith("retry requested by ") for h in state["history"])
    assert state["attempts"][: len(before.attempts)] == before.attempts  # the failed attempt stays on record
    assert not request.exists()
    metrics = _metrics(data_paths)
    assert (metrics["jobs_error"], metrics["retries_requested"], metrics["jobs_created"]) == (0, 1, 1)
    state_schema.validate(state)
    metrics_schema.validate(metrics)


def test_a_retry_request_for_a_job_not_in_error_is_dropped_with_a_warning(make_orchestrator, data_paths, caplog):
    _on_disk(data_paths, "d" * 32, "DONE")
    orch = make_orchestrator()
    request = write_retry_request(data_paths.requests_dir, "d" * 32)
    unknown = write_retry_request(data_paths.requests_dir, "u" * 32)
    with caplog.at_level(logging.WARNING):
        process_tick(orch)
    assert _state(data_paths, "d" * 32)["state"] == "DONE"
    assert not request.exists() and not unknown.exists()
    messages = [r.getMessage() for r in caplog.records]
    assert any("ignored: the job is DONE, not ERROR" in m for m in messages)
    assert any("ignored: no such job" in m for m in messages)


def test_a_request_file_that_cannot_be_read_is_moved_aside_not_lost(make_orchestrator, data_paths, caplog):
    orch = make_orchestrator()
    data_paths.requests_dir.mkdir(parents=True, exist_ok=True)
    (data_paths.requests_dir / "retry-bad.json").write_bytes(b"{not json")
    with caplog.at_level(logging.WARNING):
        process_tick(orch)
    [kept] = (data_paths.requests_dir / REJECTED_DIR).iterdir()
    assert kept.read_bytes() == b"{not json"
    assert any("retry request retry-bad.json rejected: not JSON" in r.getMessage() for r in caplog.records)


def test_counters_never_go_back_when_job_folders_are_deleted_across_a_restart(make_orchestrator, data_paths):
    for key in ("a" * 32, "b" * 32):
        _on_disk(data_paths, key, "DONE")
    first = make_orchestrator()
    process_tick(first)
    assert (_metrics(data_paths)["jobs_created"], _metrics(data_paths)["pages_done"]) == (2, 4)
    first.shutdown()
    shutil.rmtree(data_paths.jobs_dir / ("a" * 32))
    second = make_orchestrator()
    (data_paths.inbox_dir / "new.pdf").write_bytes(b"a new document")
    process_tick(second)
    metrics = _metrics(data_paths)
    assert (metrics["jobs_created"], metrics["pages_done"], metrics["jobs_done"]) == (3, 4, 1)


def test_an_attempt_cut_short_by_a_restart_is_recorded_as_interrupted(make_orchestrator, data_paths):
    _on_disk(data_paths, "r" * 32, "RUNNING")
    orch = make_orchestrator()
    job = orch.store.active["r" * 32]  # loaded, not ticked yet
    last = job.attempts[-1]
    assert (last["stage"], last["attempt"], last["outcome"]) == ("OCR", 1, "INTERRUPTED") and "endedAt" in last
    assert job.state is JobState.QUEUED


def test_ignored_inbox_entries_are_counted_in_metrics(make_orchestrator, data_paths):
    orch = make_orchestrator()
    (data_paths.inbox_dir / "a-folder").mkdir()
    (data_paths.inbox_dir / "a-link.pdf").symlink_to("/etc/hostname")
    process_tick(orch)
    assert _metrics(data_paths)["inbox_ignored"] == 2
    (data_paths.inbox_dir / "a-folder").rmdir()
    process_tick(orch)
    assert _metrics(data_paths)["inbox_ignored"] == 1
