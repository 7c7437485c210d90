from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

from services.common.paths import DataPaths
from services.orchestrator.app import Config, Orchestrator
from services.orchestrator.app.dispatch import Dispatcher, run_now, run_on_thread
from tests.conftest import free_port, is_healthy, wait_for


@pytest.fixture
def data_paths(tmp_path):
    paths = DataPaths.from_env({"DATA_DIR": str(tmp_path / "data")})
    paths.inbox_dir.mkdir(parents=True)
    return paths


@pytest.fixture
def make_orchestrator(data_paths):
    """`create(threaded=False, **config)`: a started orchestrator on a temp data folder; stage services default to
    closed ports. Stage calls run inside the tick that dispatches them (synchronous) unless `threaded`."""
    made = []

    def create(threaded=False, **overrides):
        config = Config(
            paths=data_paths,
            prep_url=f"http://127.0.0.1:{free_port()}",
            ocr_url=f"http://127.0.0.1:{free_port()}",
            inbox_settle_s=0.0,
            retry_base_s=0.05,
            min_free_disk_mb=0,
            stage_startup_grace_s=0.0,  # closed ports are outages here; start-up has its own tests
        )
        config = dataclasses.replace(config, **overrides)
        orchestrator = Orchestrator(config, Dispatcher(config, run_on_thread if threaded else run_now))
        orchestrator.start()
        made.append(orchestrator)
        return orchestrator

    yield create
    for orchestrator in made:
        orchestrator.dispatcher.wait_idle(5)


@pytest.fixture
def start_prep(tmp_path):
    """`create(**env)`: a real prep service process on a free loopback port; returns its URL. Stopped after."""
    procs = []

    def create(**env):
        port = free_port()
        full_env = {**os.environ, "PREP_HOST": "127.0.0.1", "PREP_PORT": str(port), "PREP_WORKERS": "1", **env}
        log_file = open(tmp_path / f"prep-{port}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([sys.executable, "-m", "services.prep"], env=full_env, stdout=log_file, stderr=log_file)
        procs.append((proc, log_file))
        wait_for(lambda: proc.poll() is None and is_healthy(port), timeout_s=30, what="prep /healthz")
        return f"http://127.0.0.1:{port}"

    yield create
    for proc, log_file in procs:
        proc.terminate()
        proc.wait(timeout=15)
        log_file.close()
