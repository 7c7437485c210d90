"""The retry policy: a pure function, so each case states the exact decision, retry time included."""

from __future__ import annotations

import dataclasses

import pytest

from services.common.job import new_job
from services.common.paths import DataPaths
from services.orchestrator.app import Config
from services.orchestrator.app.policy import UNAVAILABLE_RETRY_S, Action, Decision, backoff_s, decide, jitter
from services.orchestrator.app.stages import Outcome, StageResult

NOW = 1_800_000_000.0
CONFIG = Config(paths=DataPaths.from_env({"DATA_DIR": "/nonexistent"}), max_attempts=3, retry_base_s=2, retry_max_s=30)


def job_at(attempt):
    job = new_job("k" * 32, {"name": "a.pdf", "path": "source.pdf", "sha256": "0" * 64, "bytes": 3})
    job.attempt = attempt
    return job


def failed(outcome, kind="StageFailed"):
    return StageResult(outcome, 1.0, error={"type": kind, "message": "it broke", "retryable": outcome.retryable})


def test_ok_completes_the_stage():
    assert decide(job_at(1), StageResult(Outcome.OK, 1.0, body={"pages": 1}), CONFIG, NOW) == Decision(Action.COMPLETE)


def test_a_bad_document_fails_at_once_whatever_the_attempts_left():
    result = failed(Outcome.BAD_DOCUMENT, "BadDocument")
    assert decide(job_at(1), result, CONFIG, NOW) == Decision(Action.FAIL, result.error)


@pytest.mark.parametrize("outcome", [Outcome.FAILED, Outcome.REJECTED])
def test_a_failed_attempt_is_retried_after_the_backoff(outcome):
    result = failed(outcome)
    decision = decide(job_at(2), result, CONFIG, NOW)
    assert decision == Decision(Action.RETRY, result.error, NOW + backoff_s(2, CONFIG, "k" * 32))


@pytest.mark.parametrize("outcome", [Outcome.FAILED, Outcome.REJECTED])
def test_the_last_attempt_fails_saying_it_gave_up(outcome):
    decision = decide(job_at(3), failed(outcome), CONFIG, NOW)
    assert decision.action is Action.FAIL
    assert decision.error == {"type": "StageFailed", "message": "gave up after 3 attempts: it broke", "retryable": True}


def test_an_unavailable_service_waits_without_using_an_attempt_even_on_the_last_one():
    result = failed(Outcome.UNAVAILABLE, "ServiceUnavailable")
    decision = decide(job_at(3), result, CONFIG, NOW)
    assert decision == Decision(Action.WAIT, result.error, NOW + UNAVAILABLE_RETRY_S, "stage service unavailable")


def test_a_disk_error_waits_the_first_backoff_step_whatever_the_attempt():
    result = failed(Outcome.DISK_ERROR, "DiskError")
    decision = decide(job_at(3), result, CONFIG, NOW)
    expected = NOW + backoff_s(1, CONFIG, "k" * 32)
    assert decision == Decision(Action.WAIT, result.error, expected, "stage service hit a disk error")


def test_decide_changes_nothing_on_the_job():
    job = job_at(2)
    before = dataclasses.replace(job, history=list(job.history))
    decide(job, failed(Outcome.FAILED), CONFIG, NOW)
    assert job == before


def test_backoff_doubles_per_attempt_then_stops_at_the_maximum():
    bare = [backoff_s(a, CONFIG, "k") / jitter("k", a) for a in range(1, 7)]
    assert bare == pytest.approx([2, 4, 8, 16, 30, 30])


def test_jitter_stays_within_half_and_one_and_a_half_and_spreads_jobs():
    factors = [jitter(f"job{i}", 1) for i in range(1000)]
    assert all(0.5 <= f < 1.5 for f in factors)
    assert min(factors) < 0.6 and max(factors) > 1.4, "retries of jobs failing together spread out"
    assert jitter("job1", 1) == jitter("job1", 1) != jitter("job1", 2)
