import itertools

from services.common.clock import parse_time
from sidecar.aggregate import Aggregates, Histogram
from sidecar.index import JobIndex
from sidecar.state_file import parse_state

from .jobs import done, failed, mark_running, queued, requeue, retried, schedule_retry

_inode = itertools.count(1)


def watched():
    index, aggregates = JobIndex(), Aggregates()
    index.add_listener(aggregates.apply)
    return index, aggregates


def put(index, job):
    """What the watcher does when it reads a rewritten state.json: a new signature, a fresh parse."""
    index.put(parse_state(job.job_key, (next(_inode), 1, 1, 1), job.to_bytes(), 0.0))


def test_histogram_buckets_are_cumulative_and_inclusive_of_their_bound():
    histogram = Histogram((1.0, 10.0))
    for value in (0.5, 1.0, 3.0, 99.0):
        histogram.observe(value)
    assert histogram.cumulative() == [("1.0", 2), ("10.0", 3), ("+Inf", 4)]
    assert (histogram.count, histogram.sum) == (4, 103.5)


def test_a_job_walking_through_its_stages_adds_each_observation_once():
    index, aggregates = watched()
    job = queued("a")
    put(index, job)
    mark_running(job)
    put(index, job)
    finished = done("a", prep_s=2.0, ocr_s=7.0, pages=3, confidence=90.0)
    put(index, finished)
    put(index, finished)  # the same file seen again (a rescan): nothing more
    assert aggregates.stage_durations["prep", "ok"].count == 1
    assert aggregates.stage_durations["ocr", "ok"].sum == 7.0
    assert (aggregates.pages_total, aggregates.end_to_end.count, aggregates.confidence.count) == (3, 1, 1)
    assert aggregates.last_success_s is not None


def test_each_failed_attempt_counts_even_after_the_next_attempt_replaces_it():
    index, aggregates = watched()
    job = retried("r", "StageTimeout")
    put(index, job)
    mark_running(job)
    put(index, job)  # the retry's record of the failed attempt is gone from state.json
    job.stage_info["prep"]["startedAt"] = job.updated_at
    schedule_retry(
        job, {"type": "StageTimeout", "message": "slow", "retryable": True}, parse_time(job.updated_at).timestamp()
    )
    put(index, job)
    assert aggregates.retries["prep", "StageTimeout"] == 2
    assert aggregates.stage_durations["prep", "retry"].count == 2


def test_deleting_jobs_keeps_counters_but_empties_the_live_gauges():
    index, aggregates = watched()
    put(index, done("a"))
    put(index, failed("b", "BadDocument"))
    put(index, queued("c"))
    assert aggregates.finished_last_hour() == {"DONE": 1, "ERROR": 1}
    assert aggregates.oldest_queued_age_s("prep") >= 0 and aggregates.queues["prep"].oldest_s() is not None
    for key in ("a", "b", "c"):
        index.remove(key)
    assert aggregates.failures["prep", "BadDocument"] == 1
    assert aggregates.stage_durations["ocr", "ok"].count == 1
    assert aggregates.finished_last_hour() == {"DONE": 0, "ERROR": 0}
    assert aggregates.queues["prep"].oldest_s() is None
    assert aggregates.oldest_queued_age_s("prep") == 0.0
    assert aggregates.latest_failed_keys(10) == []


def test_the_oldest_queued_job_is_found_after_others_leave_the_queue():
    index, aggregates = watched()
    jobs = [queued(f"j{i}") for i in range(5)]
    for i, job in enumerate(jobs):
        job.history[-1]["at"] = f"2026-01-01T00:00:0{i}.000Z"
        put(index, job)
    assert aggregates.oldest_queued_age_s("prep", now_s=0) == 0.0
    oldest = aggregates.queues["prep"].oldest_s()
    for job in jobs[:3]:
        mark_running(job)
        put(index, job)
    assert aggregates.queues["prep"].oldest_s() == oldest + 3
    mark_running(jobs[3])
    requeue(jobs[3], "stage service unavailable")
    put(index, jobs[3])
    assert aggregates.queues["prep"].oldest_s() == oldest + 3  # a requeue keeps its place


def test_latest_failures_are_newest_first():
    index, aggregates = watched()
    for key in ("f1", "f2", "f3"):
        put(index, failed(key))
    assert aggregates.latest_failed_keys(2) == ["f3", "f2"]
