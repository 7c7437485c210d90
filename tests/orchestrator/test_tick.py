import logging

import orjson

from services.orchestrator.app import process_tick
from tests.conftest import wait_for


def _drop(paths, name, content):
    (paths.inbox_dir / name).write_bytes(content)


def _tick_until(orch, condition, what):
    def step():
        process_tick(orch)
        return condition()

    wait_for(step, timeout_s=20, what=what)


def test_an_unreachable_stage_service_does_not_use_up_attempts(make_orchestrator, data_paths, caplog):
    orch = make_orchestrator(max_attempts=2)
    for i in range(3):
        _drop(data_paths, f"doc{i}.pdf", f"document {i}".encode())
    with caplog.at_level(logging.ERROR):
        _tick_until(orch, lambda: orch.counters.stage_unavailable >= 4, "several unavailable calls")
    for job in orch.store.active.values():
        assert job.attempt == 1
        assert job.state.value in ("QUEUED", "RUNNING")
    errored = [j for j in orch.store.active.values() if j.error]
    assert errored and all(j.error["type"] == "ServiceUnavailable" for j in errored)
    outage_lines = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(outage_lines) == 1, "an outage is logged once, not once per job"


def test_metrics_json_is_written_and_valid(make_orchestrator, data_paths, metrics_schema):
    orch = make_orchestrator()
    _drop(data_paths, "a.pdf", b"a")
    process_tick(orch)
    process_tick(orch)
    metrics = orjson.loads(data_paths.metrics_path.read_bytes())
    metrics_schema.validate(metrics)
    assert metrics["jobs_created"] == 1


def test_counters_survive_a_restart(make_orchestrator, data_paths):
    orch = make_orchestrator()
    _drop(data_paths, "a.pdf", b"a")
    _tick_until(orch, lambda: orch.counters.stage_unavailable >= 1, "a call to find prep down")
    process_tick(orch)  # writes metrics.json
    orch.dispatcher.wait_idle(5)
    again = make_orchestrator()
    assert again.counters.stage_unavailable >= 1
    assert again.metric_values()["jobs_created"] == 1


def test_intake_and_dispatch_pause_while_free_space_is_low(make_orchestrator, data_paths):
    orch = make_orchestrator(min_free_disk_mb=10**9)
    _drop(data_paths, "a.pdf", b"a")
    process_tick(orch)
    process_tick(orch)
    assert orch.paused and len(orch.store) == 0
    assert orjson.loads(data_paths.metrics_path.read_bytes())["intake_paused"] is True
