"""The job's verbs: each transition sets state, stage, attempt, error and retry time, and leaves a history line."""

from __future__ import annotations

import pytest

from services.common.clock import parse_time
from services.common.job import (
    ATTEMPTS_LIMIT,
    HISTORY_LIMIT,
    SCHEMA_VERSION,
    UNAVAILABLE_OUTCOME,
    Job,
    JobState,
    Stage,
    complete_ocr,
    complete_prep,
    end_attempt,
    mark_running,
    new_job,
    postpone,
    record_failure,
    requeue,
    restart_failed,
    schedule_retry,
)

ERROR = {"type": "StageFailed", "message": "worker died", "retryable": True}
RETRY_AT = 1_900_000_000.25


def a_job():
    return new_job("k" * 32, {"name": "a.pdf", "path": "source.pdf", "sha256": "0" * 64, "bytes": 3})


def where(job):
    return job.state, job.stage, job.attempt


def test_a_new_job_is_queued_for_its_first_prep_attempt(state_schema):
    job = a_job()
    assert where(job) == (JobState.QUEUED, Stage.PREP, 1)
    assert job.history[-1]["note"] == "created"
    state_schema.validate(job.to_json())


def test_mark_running_clears_the_retry_time_and_stamps_the_stage_start():
    job = a_job()
    schedule_retry(job, ERROR, RETRY_AT)
    mark_running(job)
    assert where(job) == (JobState.RUNNING, Stage.PREP, 2)
    assert job.next_attempt_unix_s is None and "startedAt" in job.stage_info["prep"]


def test_schedule_retry_moves_to_the_next_attempt_at_the_given_time(state_schema):
    job = a_job()
    mark_running(job)
    schedule_retry(job, ERROR, RETRY_AT)
    assert where(job) == (JobState.QUEUED, Stage.PREP, 2)
    assert (job.error, job.next_attempt_unix_s) == (ERROR, RETRY_AT)
    assert job.history[-1]["note"] == "retry after StageFailed"
    state_schema.validate(job.to_json())


def test_postpone_keeps_the_attempt_and_records_why():
    job = a_job()
    mark_running(job)
    postpone(job, ERROR, RETRY_AT, "stage service unavailable")
    assert where(job) == (JobState.QUEUED, Stage.PREP, 1)
    assert (job.error, job.next_attempt_unix_s) == (ERROR, RETRY_AT)
    assert job.history[-1]["note"] == "stage service unavailable"


def test_requeue_after_a_restart_is_due_at_once_on_the_same_attempt():
    job = a_job()
    mark_running(job)
    requeue(job, "redispatched after orchestrator restart")
    assert where(job) == (JobState.QUEUED, Stage.PREP, 1)
    assert job.next_attempt_unix_s is None and job.is_due(0.0)


def test_record_failure_is_final_and_keeps_the_error(state_schema):
    job = a_job()
    schedule_retry(job, ERROR, RETRY_AT)
    record_failure(job, ERROR)
    assert (job.state, job.is_terminal, job.error, job.next_attempt_unix_s) == (JobState.ERROR, True, ERROR, None)
    state_schema.validate(job.to_json())


def test_complete_prep_starts_ocr_at_attempt_one_and_clears_the_error():
    job = a_job()
    schedule_retry(job, ERROR, RETRY_AT)
    mark_running(job)
    complete_prep(job, pages=3, duration_s=1.23456)
    assert where(job) == (JobState.QUEUED, Stage.OCR, 1)
    assert (job.error, job.input["pages"], job.stage_info["prep"]["durationS"]) == (None, 3, 1.235)


def test_complete_ocr_is_done_with_the_result_and_both_durations(state_schema):
    job = a_job()
    complete_prep(job, pages=1, duration_s=1.0)
    mark_running(job)
    answer = {"pages": 1, "meanConfidence": 90.0, "outputs": {"text": "document.txt", "pdf": "document.pdf"}}
    complete_ocr(job, answer, duration_s=2.0)
    assert (job.state, job.is_terminal) == (JobState.DONE, True)
    assert job.result == {**answer, "durationsS": {"prep": 1.0, "ocr": 2.0}}
    state_schema.validate(job.to_json())


@pytest.mark.parametrize(("retry_at", "now", "due"), [(None, 0.0, True), (100.0, 99.9, False), (100.0, 100.0, True)])
def test_a_queued_job_is_due_once_its_retry_time_has_come(retry_at, now, due):
    job = a_job()
    job.next_attempt_unix_s = retry_at
    assert job.is_due(now) is due


def test_a_running_job_is_never_due():
    job = a_job()
    mark_running(job)
    assert not job.is_due(float("inf"))


def test_the_retry_time_is_rfc3339_on_disk_and_survives_a_round_trip():
    job = a_job()
    schedule_retry(job, ERROR, RETRY_AT)
    doc = job.to_json()
    assert parse_time(doc["nextAttemptAt"]).timestamp() == RETRY_AT
    assert Job.from_json(doc) == job


def test_history_keeps_only_the_last_transitions():
    job = a_job()
    for _ in range(HISTORY_LIMIT):
        postpone(job, ERROR, RETRY_AT, "again")
    assert len(job.history) == HISTORY_LIMIT
    assert {entry["note"] for entry in job.history} == {"again"}, "the oldest entry (created) is gone"


# --- attempts (schemaVersion 2) ---------------------------------------------------------------------


def test_each_attempt_is_recorded_with_its_outcome_and_a_new_attempt_clears_the_error():
    job = a_job()
    mark_running(job)
    end_attempt(job, "FAILED", 3.0, ERROR)
    schedule_retry(job, ERROR, RETRY_AT)
    assert job.error == ERROR  # why it waits
    mark_running(job)
    assert job.error is None  # a new attempt started: the old error lives on in `attempts`
    end_attempt(job, "OK", 1.5)
    complete_prep(job, pages=2, duration_s=1.5)
    first, second = job.attempts
    assert (first["stage"], first["attempt"], first["outcome"], first["durationS"], first["error"]) == (
        "PREP",
        1,
        "FAILED",
        3.0,
        ERROR,
    )
    assert (second["attempt"], second["outcome"], "error" in second) == (2, "OK", False)
    assert job.stage_info["prep"]["durationS"] == 1.5 and job.stage_info["prep"]["totalS"] == 4.5


def test_calls_that_find_the_service_down_are_merged_into_one_attempt_entry():
    job = a_job()
    for _ in range(3):
        mark_running(job)
        end_attempt(job, UNAVAILABLE_OUTCOME, 0.01, {"type": "ServiceUnavailable", "message": "x", "retryable": True})
        postpone(job, {"type": "ServiceUnavailable", "message": "x", "retryable": True}, RETRY_AT, "down")
    [entry] = job.attempts
    assert (entry["calls"], entry["durationS"]) == (3, 0.03)


def test_attempts_are_bounded_like_history():
    job = a_job()
    for _ in range(ATTEMPTS_LIMIT + 10):
        mark_running(job)
        end_attempt(job, "FAILED", 0.1, ERROR)
        schedule_retry(job, ERROR, RETRY_AT)
    assert len(job.attempts) == ATTEMPTS_LIMIT and job.attempts[-1]["attempt"] == ATTEMPTS_LIMIT + 10


def test_a_version_1_state_is_migrated_on_read_and_written_back_as_version_2(state_schema):
    job = a_job()
    doc = job.to_json()
    del doc["attempts"]
    doc["schemaVersion"] = 1
    state_schema.validate(doc)  # old files stay valid
    migrated = Job.from_json(doc)
    assert migrated.attempts == [] and migrated.to_json()["schemaVersion"] == SCHEMA_VERSION == 2
    state_schema.validate(migrated.to_json())


def test_a_state_from_a_newer_version_is_refused_not_misread():
    doc = {**a_job().to_json(), "schemaVersion": SCHEMA_VERSION + 1}
    with pytest.raises(ValueError, match="newer"):
        Job.from_json(doc)


def test_restart_failed_starts_a_fresh_series_keeping_name_history_and_attempts():
    job = a_job()
    mark_running(job)
    end_attempt(job, "FAILED", 2.0, ERROR)
    record_failure(job, ERROR)
    before = list(job.history)
    restart_failed(job, "retry requested by ops@host")
    assert (job.state, job.stage, job.attempt, job.input["name"]) == (JobState.QUEUED, Stage.PREP, 1, "a.pdf")
    assert job.history[: len(before)] == before and job.history[-1]["note"] == "retry requested by ops@host"
    assert len(job.attempts) == 1


def test_restart_failed_refuses_a_job_that_is_not_in_error():
    job = a_job()
    with pytest.raises(ValueError, match="not ERROR"):
        restart_failed(job, "retry")
