import logging

import orjson

from services.common.job import JobState, Stage
from services.orchestrator.app import process_tick


def _drop(paths, name, content):
    (paths.inbox_dir / name).write_bytes(content)


def _ticks(orch, n):
    for _ in range(n):
        process_tick(orch)


def test_an_unreachable_stage_service_does_not_use_up_attempts(make_orchestrator, data_paths, caplog):
    orch = make_orchestrator(max_attempts=2, retry_base_s=0.0)
    for i in range(3):
        _drop(data_paths, f"doc{i}.pdf", f"document {i}".encode())
    with caplog.at_level(logging.ERROR):
        _ticks(orch, 3)  # intake and a first call; then the service is probed, one job at a time
        orch.dispatcher.health[Stage.PREP].next_probe_at = 0.0  # the next probe is due now (no waiting in tests)
        for job in orch.store.active.values():
            job.next_attempt_unix_s = None
        _ticks(orch, 3)
    assert orch.counters.stage_unavailable >= 2
    for job in orch.store.active.values():
        assert (job.attempt, job.state) == (1, JobState.QUEUED)
    errored = [j for j in orch.store.active.values() if j.error]
    assert errored and all(j.error["type"] == "ServiceUnavailable" for j in errored)
    outage_lines = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(outage_lines) == 1, "an outage is logged once, not once per job"


def test_a_misconfigured_replica_is_retried_loudly_not_a_bad_document(
    make_orchestrator, data_paths, start_prep, tmp_path, caplog
):
    # Bug: a real prep service whose JOBS_DIR is not the orchestrator's answers 400 BadRequest ("no job folder"),
    # and the job ended ERROR as a bad document on its first attempt.
    prep_url = start_prep(DATA_DIR=str(data_paths.data_dir), JOBS_DIR=str(tmp_path / "elsewhere"))
    orch = make_orchestrator(prep_url=prep_url, max_attempts=2, retry_base_s=60.0)
    _drop(data_paths, "a.pdf", b"%PDF-1.4 not really")
    with caplog.at_level(logging.ERROR):
        _ticks(orch, 2)  # intake and dispatch (the call runs in the tick), then its answer applied
    (job,) = orch.store.active.values()
    assert (job.state, job.stage, job.attempt) == (JobState.QUEUED, Stage.PREP, 2)
    assert job.error["type"] == "BadRequest" and job.error["retryable"] is True
    assert any("JOBS_DIR" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    job.next_attempt_unix_s = None  # the retry is due now
    _ticks(orch, 2)  # the second and last attempt fails the same way: ERROR, but not as a bad document
    state = orjson.loads(data_paths.state_path(job.job_key).read_bytes())
    assert state["state"] == "ERROR"
    assert state["error"]["type"] == "BadRequest" and state["error"]["message"].startswith("gave up after 2 attempts")


def test_metrics_json_is_written_and_valid(make_orchestrator, data_paths, metrics_schema):
    orch = make_orchestrator()
    _drop(data_paths, "a.pdf", b"a")
    _ticks(orch, 2)
    metrics = orjson.loads(data_paths.metrics_path.read_bytes())
    metrics_schema.validate(metrics)
    assert metrics["jobs_created"] == 1


def test_counters_survive_a_restart(make_orchestrator, data_paths):
    orch = make_orchestrator()
    _drop(data_paths, "a.pdf", b"a")
    _ticks(orch, 3)  # intake, a call that finds prep down, its result applied and metrics.json written
    assert orch.counters.stage_unavailable == 1
    again = make_orchestrator()
    assert again.counters.stage_unavailable == 1
    assert again.metric_values()["jobs_created"] == 1


def test_intake_and_dispatch_pause_while_free_space_is_low(make_orchestrator, data_paths):
    orch = make_orchestrator(min_free_disk_mb=10**9)
    _drop(data_paths, "a.pdf", b"a")
    _ticks(orch, 2)
    assert orch.paused and len(orch.store) == 0
    assert orjson.loads(data_paths.metrics_path.read_bytes())["intake_paused"] is True
