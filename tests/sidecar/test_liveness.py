"""The orchestrator judged alive or stale from its metrics.json, in /metrics (JSON and Prometheus) and /readyz."""

import time

import orjson
from prometheus_client.parser import text_string_to_metric_families

from services.common.clock import from_epoch
from tests.sidecar.conftest import eventually, replace_file


def _metrics(last_tick_s, heartbeat_s=0.5, **extra):
    doc = {"schemaVersion": 1, "updatedAt": from_epoch(last_tick_s), "startedAt": from_epoch(last_tick_s - 60)}
    return orjson.dumps({**doc, "lastTickAt": from_epoch(last_tick_s), "heartbeatS": heartbeat_s, **extra})


def _prometheus(text):
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


async def test_an_orchestrator_that_stopped_ticking_is_flagged_stale_everywhere(start_sidecar, data_dir):
    replace_file(data_dir / "metrics.json", _metrics(time.time() - 60, inbox_ignored=2))
    sidecar = await start_sidecar()
    _status, metrics = await sidecar.json("/metrics")
    assert metrics["orchestrator"]["stale"] is True and metrics["orchestrator"]["staleAfterS"] == 2.5
    assert metrics["inbox_ignored"] == 2
    status, ready = await sidecar.json("/readyz")
    assert (status, ready["status"], ready["orchestrator"]) == (200, "ready", "stale")
    _status, _headers, body = await sidecar.get("/metrics?format=prometheus")
    samples = _prometheus(body.decode())
    assert samples["ocr_orchestrator_stale"] == 1.0
    assert abs(samples["ocr_orchestrator_last_tick_timestamp_seconds"] - (time.time() - 60)) < 5
    assert samples["ocr_inbox_ignored_entries"] == 2.0


async def test_a_ticking_orchestrator_is_ok_and_a_missing_one_says_missing(start_sidecar, data_dir):
    sidecar = await start_sidecar()
    assert (await sidecar.json("/readyz"))[1]["orchestrator"] == "missing"
    replace_file(data_dir / "metrics.json", _metrics(time.time(), heartbeat_s=30))

    async def ok():
        return (await sidecar.json("/readyz"))[1]["orchestrator"] == "ok"

    await eventually(ok)
    _status, metrics = await sidecar.json("/metrics")
    assert metrics["orchestrator"]["stale"] is False
