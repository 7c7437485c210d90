"""The dispatcher: concurrency per stage, results handed to the next tick, and a service's outage probed."""

from __future__ import annotations

import logging

from services.common.job import Stage, mark_running, new_job
from services.common.paths import DataPaths
from services.orchestrator.app import Config
from services.orchestrator.app.dispatch import PROBE_INTERVAL_MAX_S, Dispatcher, ServiceHealth, run_now
from services.orchestrator.app.stages import Outcome
from tests.conftest import free_port


def a_config(**overrides):
    paths = DataPaths.from_env({"DATA_DIR": "/nonexistent"})
    closed = f"http://127.0.0.1:{free_port()}"
    return Config(paths=paths, prep_url=closed, ocr_url=closed, prep_concurrency=2, **overrides)


def running_job(i):
    job = new_job(f"job{i}", {"name": "a.pdf", "path": "source.pdf", "sha256": "0" * 64, "bytes": 1})
    mark_running(job)
    return job


def test_a_started_call_holds_capacity_until_its_result_is_collected():
    dispatcher = Dispatcher(a_config(), run_now)
    dispatcher.start(running_job(1))
    assert (dispatcher.capacity(Stage.PREP), dispatcher.capacity(Stage.OCR), dispatcher.in_flight) == (1, 2, 1)
    (finished,) = dispatcher.collect()
    assert (finished.job_key, finished.stage, finished.attempt) == ("job1", Stage.PREP, 1)
    assert finished.result.outcome is Outcome.UNAVAILABLE
    assert (dispatcher.capacity(Stage.PREP), dispatcher.in_flight, dispatcher.collect()) == (2, 0, [])


def test_an_answer_is_stale_once_the_job_moved_on():
    job = running_job(1)
    dispatcher = Dispatcher(a_config(), run_now)
    dispatcher.start(job)
    (finished,) = dispatcher.collect()
    assert finished.is_for(job)
    job.attempt += 1
    assert not finished.is_for(job)


def test_an_outage_is_logged_once_and_its_end_once(caplog):
    health = ServiceHealth("prep", "http://prep")
    with caplog.at_level(logging.WARNING):
        for now in (10.0, 11.0, 12.0):
            health.record(Outcome.UNAVAILABLE, "refused", now)
        health.record(Outcome.FAILED, "a 500 is an answer", 20.0)
        health.record(Outcome.OK, "", 21.0)
    events = [r.event for r in caplog.records]
    assert events == ["outage_start", "outage_end"]
    # The service came back between the last failed probe (12.0) and the answer (20.0).
    assert "unreachable for 2.0s to 10.0s" in caplog.records[1].getMessage()


def test_a_service_not_listening_within_its_start_up_grace_is_starting_not_an_outage(caplog):
    health = ServiceHealth("prep", "http://prep:18081", startup_grace_s=30.0, started_at=0.0)
    with caplog.at_level(logging.INFO):
        for now in (1.0, 2.0, 5.0):
            health.record(Outcome.UNAVAILABLE, "refused", now)
        assert (health.status, health.starting) == ("starting", True)
        health.record(Outcome.OK, "", 9.0)
    assert [(r.levelname, r.event) for r in caplog.records] == [("INFO", "stage_starting"), ("INFO", "stage_ready")]
    assert health.status == "up"


def test_a_service_still_unreachable_past_its_grace_is_logged_loudly_once_with_its_url(caplog):
    health = ServiceHealth("prep", "http://127.0.0.1:8081", startup_grace_s=30.0, started_at=0.0)
    with caplog.at_level(logging.INFO):
        for now in (1.0, 29.0, 31.0, 45.0, 60.0):
            health.record(Outcome.UNAVAILABLE, "refused", now)
    loud = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(loud) == 1 and loud[0].event == "outage_start"
    assert "http://127.0.0.1:8081" in loud[0].getMessage() or loud[0].service_url == "http://127.0.0.1:8081"
    assert "PREP_URL (or PREP_PORT)" in loud[0].getMessage()
    assert health.status == "down"


def test_after_its_first_answer_a_service_that_goes_away_is_an_outage_even_within_the_grace(caplog):
    health = ServiceHealth("ocr", "http://ocr", startup_grace_s=30.0, started_at=0.0)
    health.record(Outcome.OK, "", 1.0)
    with caplog.at_level(logging.WARNING):
        health.record(Outcome.UNAVAILABLE, "refused", 2.0)
    assert [r.event for r in caplog.records] == ["outage_start"]


def test_during_an_outage_probes_are_spaced_out_up_to_a_maximum():
    health = ServiceHealth("prep", "http://prep")
    assert health.may_dispatch(0.0)
    health.record(Outcome.UNAVAILABLE, "refused", 100.0)
    assert not health.may_dispatch(100.5) and health.may_dispatch(101.0)
    gaps = []
    for _ in range(6):
        health.probe_started(200.0)
        gaps.append(health.next_probe_at - 200.0)
    assert gaps == [2.0, 4.0, 8.0, PROBE_INTERVAL_MAX_S, PROBE_INTERVAL_MAX_S, PROBE_INTERVAL_MAX_S]
