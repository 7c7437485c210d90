import asyncio
import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
import pytest

from services.common.clock import now_iso
from services.common.paths import DataPaths
from sidecar.app import create_app
from sidecar.config import Config
from sidecar.server import start_server


def state_doc(key, state="QUEUED", stage="PREP", attempt=1, updated_at=None, **extra):
    updated_at = updated_at or now_iso()
    doc = {
        "schemaVersion": 1,
        "jobKey": key,
        "state": state,
        "stage": stage,
        "attempt": attempt,
        "createdAt": updated_at,
        "updatedAt": updated_at,
        "input": {"name": f"{key}.pdf", "sha256": "0" * 64, "bytes": 1234, "path": f"jobs/{key}/source.pdf"},
        "history": [{"at": updated_at, "state": state, "stage": stage, "attempt": attempt}],
    }
    doc.update(extra)
    return doc


def replace_file(path: Path, data: bytes) -> None:
    """What the orchestrator does, minus the fsyncs (they add nothing to what a watcher sees)."""
    tmp = path.with_name(f".tmp-{path.name}.{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(path)


@pytest.fixture
def data_dir(tmp_path):
    (tmp_path / "data" / "jobs").mkdir(parents=True)
    return tmp_path / "data"


@pytest.fixture
def jobs_dir(data_dir):
    return data_dir / "jobs"


@pytest.fixture
def write_job(jobs_dir):
    """write_job(key, raw=None, **fields) -> the bytes now on disk."""

    def write(key, raw=None, **fields):
        folder = jobs_dir / key
        folder.mkdir(exist_ok=True)
        data = raw if raw is not None else orjson.dumps(state_doc(key, **fields), option=orjson.OPT_INDENT_2)
        replace_file(folder / "state.json", data)
        return data

    return write


@dataclass
class Sidecar:
    url: str
    session: aiohttp.ClientSession
    app: object
    runner: object

    async def get(self, path, **kwargs):
        async with self.session.get(self.url + path, **kwargs) as response:
            return response.status, response.headers, await response.read()

    async def json(self, path, **kwargs):
        status, _headers, body = await self.get(path, **kwargs)
        return status, orjson.loads(body)


@pytest.fixture
async def start_sidecar(data_dir):
    """start_sidecar(**config_overrides) -> a running sidecar (real server on 127.0.0.1:0), ready."""
    started = []

    async def start(wait_ready=True, **overrides):
        paths = DataPaths(
            data_dir, data_dir / "inbox", data_dir / "jobs", data_dir / "metrics.json", data_dir / "requests"
        )
        config = dataclasses.replace(Config(paths=paths, host="127.0.0.1", port=0, rescan_s=30.0), **overrides)
        app = create_app(config)
        runner, site = await start_server(app, config)
        session = aiohttp.ClientSession()
        started.append((runner, session))
        sidecar = Sidecar(f"http://127.0.0.1:{site.port}", session, app, runner)
        if wait_ready:
            await eventually(lambda: _is_ready(sidecar))
        return sidecar

    yield start
    for runner, session in started:
        await session.close()
        await runner.cleanup()


async def _is_ready(sidecar):
    status, _, _ = await sidecar.get("/readyz")
    return status == 200


async def eventually(check, timeout_s=10.0, interval_s=0.01):
    """Wait until `await check()` is true; returns the seconds it took (fails the test after `timeout_s`)."""
    started = time.monotonic()
    while True:
        if await check():
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(interval_s)
