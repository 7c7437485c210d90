"""`ocr-stack status | jobs | show | retry` as a user runs them: real CLI processes against a real sidecar process."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest

from services.common.atomic import atomic_write_bytes
from services.common.clock import from_epoch
from services.common.job import complete_ocr, complete_prep, mark_running, new_job, record_failure
from services.common.retry_requests import RetryRequest, pending_requests
from tests.conftest import free_port, is_healthy, wait_for

TIMEOUT = {"type": "StageTimeout", "message": "ocr did not answer in 3s", "retryable": True}
BAD = {"type": "BadDocument", "message": "the PDF is password-protected", "retryable": False}


def _job(key, name, end, error=None):
    job = new_job(key, {"name": name, "path": "source.pdf", "sha256": "0" * 64, "bytes": 10})
    if end == "QUEUED":
        return job
    mark_running(job)
    if end == "ERROR":
        record_failure(job, error)
    elif end == "DONE":
        complete_prep(job, 1, 0.1)
        mark_running(job)
        complete_ocr(job, {"pages": 1, "meanConfidence": 91.0, "outputs": {"text": "t", "pdf": "p"}}, 0.2)
    return job


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A data folder with a few jobs, as the orchestrator leaves them, and a real sidecar reading it."""
    data = tmp_path_factory.mktemp("ops") / "data"
    jobs = [
        _job("a" * 32, "facture-2024.pdf", "DONE"),
        _job("b" * 32, "Facture-old.PDF", "ERROR", TIMEOUT),
        _job("c" * 32, "locked.pdf", "ERROR", BAD),
        _job("d" * 32, "scan.png", "QUEUED"),
    ]
    for job in jobs:
        (data / "jobs" / job.job_key).mkdir(parents=True)
        atomic_write_bytes(data / "jobs" / job.job_key / "state.json", job.to_bytes())
    # An orchestrator that stopped ticking a minute ago.
    metrics = {"schemaVersion": 1, "updatedAt": from_epoch(0), "startedAt": from_epoch(0), "heartbeatS": 5.0}
    atomic_write_bytes(data / "metrics.json", orjson.dumps({**metrics, "lastTickAt": from_epoch(0), "jobs_done": 1}))
    port = free_port()
    env = {**os.environ, "DATA_DIR": str(data), "ORCHESTRATOR_PORT": str(port), "SIDECAR_HOST": "127.0.0.1"}
    sidecar = subprocess.Popen([sys.executable, "-m", "sidecar"], env=env, stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: is_healthy(port), timeout_s=20, what="the sidecar")
        wait_for(lambda: _cli(env, "jobs").stdout.count("\n") >= 5, timeout_s=10, what="the sidecar's index")
        yield env, data
    finally:
        sidecar.terminate()
        sidecar.wait(timeout=10)


def _cli(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "services.stack", *args], env=env, capture_output=True, text=True, timeout=30
    )


def test_status_shows_counts_a_stale_orchestrator_and_the_latest_errors(stack):
    env, _data = stack
    result = _cli(env, "status")
    assert result.returncode == 0, result.stderr
    assert "4 jobs indexed" in result.stdout
    assert "1 done, 2 error, 0 running, 1 queued" in result.stdout
    assert "STALE" in result.stdout
    assert "Facture-old.PDF  StageTimeout: ocr did not answer in 3s" in result.stdout
    assert "locked.pdf  BadDocument: the PDF is password-protected" in result.stdout


def test_jobs_filters_by_part_of_the_input_file_name_and_by_state(stack):
    env, _data = stack
    by_name = _cli(env, "jobs", "--name", "facture", "--json")
    assert sorted(orjson.loads(line)["name"] for line in by_name.stdout.splitlines()) == [
        "Facture-old.PDF",
        "facture-2024.pdf",
    ]
    both = _cli(env, "jobs", "--name", "FACTURE", "--state", "ERROR")
    assert "b" * 32 in both.stdout and "a" * 32 not in both.stdout and "(1 shown)" in both.stdout


def test_show_prints_the_error_and_history_and_an_unknown_key_is_a_clear_error(stack):
    env, _data = stack
    shown = _cli(env, "show", "b" * 32)
    assert shown.returncode == 0
    assert "state     ERROR at PREP, attempt 1" in shown.stdout
    assert "error     StageTimeout: ocr did not answer in 3s" in shown.stdout
    assert "RUNNING PREP#1" in shown.stdout
    missing = _cli(env, "show", "f" * 32)
    assert missing.returncode == 2
    assert f"no job '{'f' * 32}'" in missing.stderr and "Traceback" not in missing.stderr


def test_retry_refuses_a_job_that_is_not_in_error_and_writes_no_request(stack):
    env, data = stack
    result = _cli(env, "retry", "a" * 32, "d" * 32, "--wait", "0")
    assert result.returncode == 1
    assert f"refused: job {'a' * 32} is DONE, not ERROR: only a failed job can be retried" in result.stdout
    assert f"refused: job {'d' * 32} is QUEUED, not ERROR" in result.stdout
    assert pending_requests(data / "requests") == []


def test_retry_failed_of_one_type_hands_the_orchestrator_one_request_file(stack):
    env, data = stack
    result = _cli(env, "retry", "--failed", "--type", "StageTimeout", "--wait", "0.5")
    assert result.returncode == 0, result.stdout + result.stderr
    [path] = pending_requests(data / "requests")
    request = RetryRequest.from_bytes(path.read_bytes())
    assert request.job_key == "b" * 32
    assert "not applied yet" in result.stdout  # nothing ticks here: the request waits, and the user is told
    path.unlink()


def test_retry_takes_keys_or_failed_not_both(stack):
    env, _data = stack
    result = _cli(env, "retry", "b" * 32, "--failed")
    assert result.returncode == 2 and "retry takes KEY... or --failed" in result.stderr


def test_a_sidecar_that_does_not_answer_is_a_clear_error(stack):
    env, _data = stack
    result = _cli({**env, "SIDECAR_URL": f"http://127.0.0.1:{free_port()}"}, "status")
    assert result.returncode == 2
    assert "cannot reach the sidecar" in result.stderr and "Traceback" not in result.stderr
