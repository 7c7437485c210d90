import orjson
import pytest

from sidecar.facts import NO_FACTS, OTHER, REASONS, job_facts
from sidecar.state_file import parse_state

from .jobs import done, failed, mark_running, queued, requeue, retried


def facts(job):
    return job_facts(orjson.loads(job.to_bytes()))


def test_a_done_job_contributes_its_stage_durations_pages_and_confidence():
    got = facts(done("a", prep_s=1.5, ocr_s=4.0, pages=3, confidence=88.0))
    assert got.stage_durations == (("prep", "ok", 1.5), ("ocr", "ok", 4.0))
    assert (got.pages, got.confidence, got.failure) == (3, 88.0, None)
    assert got.end_to_end_s is not None and got.end_to_end_s >= 0
    assert got.done_at_s == got.finished_at_s is not None


def test_a_failed_job_names_its_stage_and_reason_and_times_the_failed_attempt():
    got = facts(failed("b", "BadDocument"))
    assert got.failure == ("prep", "BadDocument")
    assert [(s, o) for s, o, _ in got.stage_durations] == [("prep", "error")]


@pytest.mark.parametrize("error_type", ["HTTP502", "x" * 10_000, "<script>", "", "retry after"])
def test_an_unknown_error_type_folds_into_other(error_type):
    assert facts(failed("b", error_type)).failure == ("prep", OTHER)
    assert facts(retried("c", error_type)).retries == (("prep", OTHER),)


def test_a_retry_is_counted_from_the_history_with_its_reason():
    got = facts(retried("c", "StageTimeout"))
    assert got.retries == (("prep", "StageTimeout"),)
    assert [(s, o) for s, o, _ in got.stage_durations] == [("prep", "retry")]
    assert "StageTimeout" in REASONS


def test_a_requeue_keeps_the_queued_since_time_of_the_attempt():
    job = queued("d")
    first = facts(job).queued_since_s
    mark_running(job)
    requeue(job, "stage service unavailable")
    assert facts(job).queued_since_s == first


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"state": "DONE", "result": "nope", "stages": [], "history": "x"},
        {"state": "DONE", "result": {"pages": -4, "meanConfidence": "high"}, "updatedAt": 5},
        {"state": "ERROR", "error": ["BadDocument"], "stage": {"x": 1}},
        {"state": "QUEUED", "updatedAt": "yesterday", "history": [None, 3, {"note": 7}]},
        {"state": "DONE", "stages": {"prep": {"durationS": True}, "ocr": {"durationS": -1}}},
    ],
)
def test_odd_documents_contribute_nothing_they_cannot_back(doc):
    got = job_facts(doc)
    assert got.stage_durations == () and got.pages == 0 and got.confidence is None
    assert got.failure in (None, (OTHER, OTHER))


def test_an_unreadable_state_has_no_facts():
    entry = parse_state("k", (1, 2, 3, 4), b"{not json", 0.0)
    assert entry.facts is NO_FACTS
