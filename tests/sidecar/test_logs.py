import http.client
import logging
import signal

import orjson
import pytest

from services.common.logs import JsonFormatter, configure_logging
from sidecar.access_log import AccessLog

from .conftest import eventually


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
    seen = []

    async def logged():
        seen.extend(line for line in json_logs() if line.get("path") == "/jobs/logged")
        return seen

    await eventually(logged, timeout_s=3)  # written in batches, at least every second
    [line] = seen
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


async def test_a_batched_access_line_is_the_line_the_json_formatter_writes(json_logs, start_sidecar):
    sidecar = await start_sidecar()
    json_logs()
    await sidecar.get("/healthz")
    seen = []

    async def logged():
        seen.extend(line for line in json_logs() if line.get("path") == "/healthz")
        return seen

    await eventually(logged, timeout_s=3)
    [line] = seen
    extra = {k: line[k] for k in ("method", "path", "status", "latencyMs", "remote")}
    record = logging.getLogger("access").makeRecord("access", logging.INFO, "", 0, "%s %s %s", ("GET", "/healthz", 200),
                                                    None, extra=extra)  # fmt: skip
    expected = orjson.loads(JsonFormatter("sidecar").format(record))
    assert list(line) == list(expected)  # the same fields in the same order
    assert {k: v for k, v in line.items() if k != "timestamp"} == {
        k: v for k, v in expected.items() if k != "timestamp"
    }


def test_every_access_line_is_written_whole_when_a_real_sidecar_gets_sigterm(sidecar_process):
    requests = 1000
    sidecar = sidecar_process()  # the default configuration: access log on, JSON logs
    connection = http.client.HTTPConnection("127.0.0.1", sidecar.port, timeout=5)
    for n in range(requests):  # one keep-alive connection, answered well within a flush interval
        connection.request("GET", f"/jobs/missing-{n}")
        connection.getresponse().read()
    connection.close()
    sidecar.proc.send_signal(signal.SIGTERM)
    assert sidecar.proc.wait(10) == 0
    raw = sidecar.log_path.read_bytes()
    assert raw.endswith(b"\n")
    lines = [orjson.loads(line) for line in raw.splitlines()]  # each line whole JSON, or this raises
    paths = [line["path"] for line in lines if line.get("logger") == "access" and line["path"].startswith("/jobs/m")]
    assert paths == [f"/jobs/missing-{n}" for n in range(requests)]


@pytest.mark.parametrize(
    ("path", "status", "latency_s", "remote"),
    [
        ("/jobs/0123abcd", 200, 0.00035, "127.0.0.1"),
        ('/jobs/"quoted"\\back\u00e9\n\x01', 404, 1.23456, None),
        ("/a b?c=d", 500, 0.0, "::1"),
        ("/overview", 304, 123.456789, "10.0.0.1"),
    ],
)
def test_the_access_line_template_writes_the_bytes_the_json_formatter_writes(path, status, latency_s, remote):
    at = 1_764_000_000.0271
    line = AccessLog()._json_line((at, "GET", path, status, latency_s, remote))
    extra = {"method": "GET", "path": path, "status": status, "latencyMs": round(latency_s * 1000, 2), "remote": remote}
    record = logging.getLogger("access").makeRecord("access", logging.INFO, "", 0, "%s %s %s", ("GET", path, status),
                                                    None, extra=extra)  # fmt: skip
    record.created, record.msecs = at, (at - int(at)) * 1000
    assert line == JsonFormatter("sidecar").format(record).encode() + b"\n"
