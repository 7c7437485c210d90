from __future__ import annotations

import dataclasses

import pytest

from services.common.paths import DataPaths
from services.orchestrator.app import Config, Orchestrator
from tests.conftest import free_port


@pytest.fixture
def data_paths(tmp_path):
    paths = DataPaths.from_env({"DATA_DIR": str(tmp_path / "data")})
    paths.inbox_dir.mkdir(parents=True)
    return paths


@pytest.fixture
def make_orchestrator(data_paths):
    """Build a started orchestrator on a temp data folder; stage services default to closed ports."""
    made = []

    def create(**overrides):
        config = Config(
            paths=data_paths,
            prep_url=f"http://127.0.0.1:{free_port()}",
            ocr_url=f"http://127.0.0.1:{free_port()}",
            inbox_settle_s=0.0,
            retry_base_s=0.05,
            min_free_disk_mb=0,
        )
        orchestrator = Orchestrator(dataclasses.replace(config, **overrides))
        orchestrator.start()
        made.append(orchestrator)
        return orchestrator

    yield create
    for orchestrator in made:
        orchestrator.dispatcher.wait_idle(5)
