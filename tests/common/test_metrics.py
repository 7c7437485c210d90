"""`metrics.json`: the fields named in services/common/metrics.py are the ones the schema lists."""

from __future__ import annotations

import json

import orjson

from services.common import metrics
from services.common.metrics import ALL_FIELDS, COUNTER_FIELDS, Counters
from tests.conftest import SCHEMAS


def schema():
    return json.loads((SCHEMAS / "metrics.schema.json").read_text())


def test_every_field_of_the_module_is_in_the_schema_and_every_schema_field_in_the_module():
    header = {metrics.UPDATED_AT, metrics.STARTED_AT, metrics.LAST_TICK_AT, metrics.HEARTBEAT_S, "schemaVersion"}
    assert set(schema()["properties"]) == header | set(ALL_FIELDS)


def test_the_counter_names_are_the_fields_of_counters():
    assert COUNTER_FIELDS == (
        metrics.DISK_ERROR,
        metrics.RETRIES,
        metrics.DUPLICATES,
        metrics.STAGE_UNAVAILABLE,
        metrics.JOBS_CREATED,
        metrics.PAGES_DONE,
        metrics.RETRIES_REQUESTED,
    )


def test_a_document_carries_the_schema_version_its_times_and_heartbeat():
    doc = metrics.metrics_document({metrics.PAGES_DONE: 3}, started_at="s", written_at="w", heartbeat_s=5.0)
    assert doc == {
        "schemaVersion": metrics.SCHEMA_VERSION,
        "updatedAt": "w",
        "startedAt": "s",
        "lastTickAt": "w",
        "heartbeatS": 5.0,
        "pages_done": 3,
    }
    assert schema()["properties"]["schemaVersion"]["const"] == metrics.SCHEMA_VERSION


def test_counters_come_back_from_the_last_document(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_bytes(orjson.dumps({"retries": 4, "disk_error": 1, "jobs_done": 9, "duplicates": "x"}))
    assert Counters.load(path) == Counters(disk_error=1, retries=4)


def test_counters_start_from_zero_without_a_readable_document(tmp_path):
    assert Counters.load(tmp_path / "missing.json") == Counters()
    (tmp_path / "bad.json").write_bytes(b'{"retries": 4')
    assert Counters.load(tmp_path / "bad.json") == Counters()
    (tmp_path / "list.json").write_bytes(b"[1, 2]")
    assert Counters.load(tmp_path / "list.json") == Counters()
