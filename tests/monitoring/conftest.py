"""A real sidecar process over a jobs folder of real state.json files, for the monitoring tests."""

import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import orjson
import pytest

from services.common.atomic import atomic_write_bytes
from services.common.clock import now_iso
from tests.conftest import free_port, wait_for
from tests.sidecar.jobs import done, failed, queued, retried

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"


def tool(name):
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is needed: run `make test-tools` (apt-get install prometheus)")
    return path


def write_job(jobs_dir, job):
    (jobs_dir / job.job_key).mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(jobs_dir / job.job_key / "state.json", job.to_bytes())


def get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


def _ready(url):
    try:
        return orjson.loads(get(url + "/readyz"))["status"] == "ready"
    except OSError:
        return False


@pytest.fixture(scope="package")
def sidecar(tmp_path_factory):
    """(base url, jobs folder) of a running sidecar: 2 done, 1 failed, 1 retried, 1 queued, and a fresh metrics.json."""
    data = tmp_path_factory.mktemp("monitoring") / "data"
    jobs_dir = data / "jobs"
    for job in (
        done("m1" * 16, prep_s=2.0, ocr_s=40.0, pages=3),
        done("m2" * 16, prep_s=3.0, ocr_s=50.0, pages=5),
        failed("m3" * 16, "BadDocument"),
        retried("m4" * 16, "StageTimeout"),
        queued("m5" * 16),
    ):
        write_job(jobs_dir, job)
    metrics = {"schemaVersion": 1, "updatedAt": now_iso(), "startedAt": now_iso(), "retries": 1, "disk_error": 0}
    atomic_write_bytes(data / "metrics.json", orjson.dumps(metrics))
    port = free_port()
    env = {**os.environ, "DATA_DIR": str(data), "ORCHESTRATOR_PORT": str(port), "SIDECAR_HOST": "127.0.0.1"}
    process = subprocess.Popen([sys.executable, "-m", "sidecar"], env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(url), timeout_s=30, what="the sidecar")
        yield url, jobs_dir
    finally:
        process.terminate()
        process.wait(timeout=10)
