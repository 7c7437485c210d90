import logging

import orjson
import pytest

from services.common.logs import configure_logging


@pytest.fixture
def json_logs(capsys):
    configure_logging("sidecar", {"LOG_JSON": "true"})
    yield lambda: [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    logging.getLogger().handlers.clear()


async def test_json_access_logs_carry_the_expected_fields(json_logs, start_sidecar, write_job):
    write_job("logged")
    sidecar = await start_sidecar()
    json_logs()  # start-up lines
    await sidecar.get("/jobs/logged")
    [line] = [line for line in json_logs() if line.get("path") == "/jobs/logged"]
    assert line["service"] == "sidecar"
    assert line["logger"] == "access"
    assert (line["method"], line["status"]) == ("GET", 200)
    assert isinstance(line["latencyMs"], float)
    assert line["timestamp"].endswith("Z") and line["level"] == "INFO"


async def test_the_access_log_can_be_turned_off(json_logs, start_sidecar):
    sidecar = await start_sidecar(access_log=False)
    json_logs()
    await sidecar.get("/healthz")
    assert [line for line in json_logs() if line.get("logger") == "access"] == []


async def test_the_initial_scan_is_logged_with_its_job_count(json_logs, start_sidecar, write_job):
    write_job("one")
    await start_sidecar()
    [line] = [line for line in json_logs() if line["message"].startswith("initial scan")]
    assert line["jobs"] == 1
