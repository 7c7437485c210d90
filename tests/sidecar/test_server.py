import asyncio

import pytest

from sidecar.config import Config

from .conftest import eventually


async def _open(sidecar):
    host, port = sidecar.url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def test_connections_beyond_the_limit_get_a_503_and_others_still_work(start_sidecar):
    sidecar = await start_sidecar(max_connections=3)
    idle = [await _open(sidecar) for _ in range(3)]
    await eventually(lambda: _connections_at(sidecar, 3))
    reader, writer = await _open(sidecar)
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    assert answer.startswith(b"HTTP/1.1 503")
    assert b"TooManyConnections" in answer
    for _, idle_writer in idle:
        idle_writer.close()
    writer.close()
    await eventually(_answers(sidecar))


async def test_an_idle_connection_is_closed_after_the_keepalive_timeout(start_sidecar):
    sidecar = await start_sidecar(keepalive_timeout_s=0.3)
    reader, writer = await _open(sidecar)
    assert await asyncio.wait_for(reader.read(), timeout=10) == b""  # closed by the server, never sent a byte
    writer.close()


async def test_a_slow_client_does_not_hold_up_others(start_sidecar):
    sidecar = await start_sidecar()
    reader, writer = await _open(sidecar)
    writer.write(b"GET /jobs HTTP/1.1\r\nHost: x\r\n")  # and never finishes its headers
    await writer.drain()
    assert (await sidecar.get("/healthz"))[0] == 200
    writer.close()


async def _connections_at(sidecar, count):
    return _live(sidecar) >= count


def _live(sidecar):
    # The runner's server tracks its connections; the site sits in front of it.
    return len(sidecar.runner.server.connections)


def _answers(sidecar):
    async def check():
        try:
            return (await sidecar.get("/healthz"))[0] == 200
        except OSError:
            return False

    return check


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ({"ORCHESTRATOR_PORT": "9090"}, "port", 9090),
        ({"SIDECAR_RESCAN_S": "5"}, "rescan_s", 5.0),
        ({"SIDECAR_FORCE_POLLING": "true"}, "force_polling", True),
        ({"SIDECAR_POLL_DELAY_MS": "100"}, "poll_delay_ms", 100),
        ({"SIDECAR_MAX_STATE_BYTES": "4096"}, "max_state_bytes", 4096),
        ({"SIDECAR_TOKEN": "t"}, "token", "t"),
        ({"SIDECAR_MAX_CONNECTIONS": "8"}, "max_connections", 8),
    ],
)
def test_config_reads_its_environment(env, field, value):
    assert getattr(Config.from_env(env), field) == value


def test_config_defaults_follow_the_contract():
    config = Config.from_env({"DATA_DIR": "/data"})
    assert (config.host, config.port, config.token) == ("0.0.0.0", 8080, None)
    assert str(config.paths.jobs_dir) == "/data/jobs" and str(config.paths.metrics_path) == "/data/metrics.json"


def test_the_logged_config_never_shows_the_token():
    logged = Config.from_env({"SIDECAR_TOKEN": "hunter2"}).to_log()
    assert "hunter2" not in repr(logged) and logged["token"] == "set"
