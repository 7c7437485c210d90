"""Bugs the reliability suite found, each pinned by the smallest real reproduction."""

from __future__ import annotations

from services.common.atomic import TEMP_PREFIX
from services.common.paths import DataPaths
from sidecar.app import create_app
from sidecar.config import Config
from tests.conftest import wait_for

from .conftest import tiny_document
from .invariants import sha256


def test_a_document_whose_job_folder_was_left_empty_by_a_kill_still_becomes_a_job(tmp_path, stack_at):
    """A kill between `mkdir jobs/<key>` and the rename of the original left an empty folder; the document was
    then parked in duplicates/ of a job that never existed, and never ended DONE or ERROR."""
    stack = stack_at(tmp_path, services=())
    source = tiny_document(tmp_path, 1)
    stack.paths.jobs_dir.mkdir(parents=True)
    (stack.paths.jobs_dir / sha256(source)[:32]).mkdir()
    stack.drop(source)
    for name in ("prep", "ocr", "orchestrator"):
        stack.start(name)
    state = stack.wait_terminal(source.name, timeout_s=60)
    assert state["state"] == "DONE"
    assert not (stack.paths.job_dir(state["jobKey"]) / "duplicates").exists()


async def test_an_unknown_metrics_format_is_refused_with_a_400(tmp_path, aiohttp_client):
    """`/metrics?format=xml` answered JSON with a 200, though the OpenAPI document allows only its enum."""
    (tmp_path / "data" / "jobs").mkdir(parents=True)
    config = Config(paths=DataPaths.from_env({"DATA_DIR": str(tmp_path / "data")}), access_log=False)
    client = await aiohttp_client(create_app(config))
    response = await client.get("/metrics", params={"format": "xml"})
    assert response.status == 400
    assert (await response.json())["error"]["type"] == "BadRequest"
    assert (await client.get("/metrics", params={"format": "json"})).status == 200


def test_a_metrics_temp_file_left_by_a_killed_orchestrator_is_removed_at_start(tmp_path, stack_at):
    """A SIGKILL during the metrics write left `.tmp-metrics.json.<pid>.<tag>` in DATA_DIR for good: the restart
    cleaned the temp files of every state.json but not those of metrics.json."""
    stack = stack_at(tmp_path, services=())
    leftover = stack.paths.metrics_path.with_name(f"{TEMP_PREFIX}{stack.paths.metrics_path.name}.4242.deadbeef")
    leftover.write_bytes(b'{"jobs_done": 1')
    stack.start("orchestrator")
    wait_for(lambda: stack.paths.metrics_path.exists(), timeout_s=10, what="metrics.json")
    assert not leftover.exists()
