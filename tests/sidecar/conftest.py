import asyncio
import dataclasses
import http.client
import os
import subprocess
import sys
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
from tests.conftest import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent.parent


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


def write_production_files(folder: Path) -> None:
    """What the pipeline leaves beside state.json: the source, the text, pages/ and ocr/ with one page each."""
    (folder / "source.pdf").write_bytes(b"%PDF-1.4\n% a scan\n")
    (folder / "document.txt").write_bytes(b"the recognised text\n")
    (folder / "pages").mkdir(exist_ok=True)
    (folder / "pages" / "manifest.json").write_bytes(b'{"schemaVersion": 1, "pages": [{"number": 1}]}\n')
    (folder / "pages" / "page-0001.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / "ocr").mkdir(exist_ok=True)
    (folder / "ocr" / "page-0001.txt").write_bytes(b"the recognised text of page 1\n")
    (folder / "ocr" / "page-0001.json").write_bytes(b'{"page": 1, "meanConfidence": 91.4}\n')


@pytest.fixture
def write_production_job(write_job, jobs_dir):
    """write_production_job(key, **fields): a job folder in the production layout; returns its state bytes."""

    def write(key, **fields):
        data = write_job(key, **fields)
        write_production_files(jobs_dir / key)
        return data

    return write


def inotify_watches() -> int:
    """Watches held by this process's inotify instances, as the kernel lists them (one `inotify wd:` line each)."""
    total = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            if str(fd.readlink()) == "anon_inode:inotify":
                total += Path(f"/proc/self/fdinfo/{fd.name}").read_text().count("inotify wd:")
        except OSError:
            continue
    return total


async def equal_to_disk(sidecar, jobs_dir) -> bool:
    """Every job on disk served with its exact bytes, and nothing else listed."""
    on_disk = {p.parent.name: p.read_bytes() for p in jobs_dir.glob("*/state.json")}
    _, listed = await sidecar.json("/jobs?limit=1000")
    if {job["jobKey"] for job in listed["jobs"]} != set(on_disk):
        return False
    for key, raw in on_disk.items():
        if (await sidecar.get(f"/jobs/{key}"))[2] != raw:
            return False
    return True


@dataclass
class SidecarProcess:
    proc: subprocess.Popen
    port: int
    log_path: Path

    def get(self, path, timeout_s=5.0):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout_s)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def json(self, path):
        status, body = self.get(path)
        return status, orjson.loads(body)

    def log_lines(self):
        return [orjson.loads(line) for line in self.log_path.read_bytes().splitlines() if line.startswith(b"{")]


@pytest.fixture
def sidecar_process(data_dir, tmp_path):
    """sidecar_process(wrap=(), **env) -> `python -m sidecar` as a real child process (JSON logs to a file), ready.

    `wrap` is an argv prefix the sidecar runs under (a shell line setting a limit first, for instance). The process
    is stopped with SIGTERM at the end of the test (and killed if it does not stop).
    """
    started = []

    def start(wrap=(), wait_ready=True, **env):
        port = free_port()
        log_path = tmp_path / f"sidecar-{port}.log"
        environ = {**os.environ, "DATA_DIR": str(data_dir), "ORCHESTRATOR_PORT": str(port),
                   "SIDECAR_HOST": "127.0.0.1", "LOG_JSON": "true", **env}  # fmt: skip
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([*wrap, sys.executable, "-m", "sidecar"], env=environ, cwd=ROOT, stdout=log,
                                    stderr=subprocess.STDOUT)  # fmt: skip
        sidecar = SidecarProcess(proc, port, log_path)
        started.append(sidecar)
        if wait_ready:
            wait_for(lambda: _process_ready(sidecar), timeout_s=30, what="the sidecar process to be ready")
        return sidecar

    yield start
    for sidecar in started:
        if sidecar.proc.poll() is None:
            sidecar.proc.terminate()
            try:
                sidecar.proc.wait(10)
            except subprocess.TimeoutExpired:
                sidecar.proc.kill()
                sidecar.proc.wait()


def _process_ready(sidecar):
    if sidecar.proc.poll() is not None:
        raise AssertionError(f"the sidecar exited with {sidecar.proc.returncode}: {sidecar.log_path.read_text()}")
    try:
        return sidecar.get("/readyz", 1.0)[0] == 200
    except OSError:
        return False
