import orjson
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families

# What Prometheus 2.x/3.x sends when it scrapes.
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


@pytest.fixture
async def sidecar(start_sidecar, write_job, data_dir):
    write_job("a", state="DONE", stage="OCR")
    write_job("b", state="DONE", stage="OCR")
    write_job("c", state="ERROR")
    metrics = {
        "schemaVersion": 1,
        "disk_error": 2,
        "retries": 5,
        "prep_running": 1,
        "ocr_running": 0,
        "intake_paused": False,
        "pages_done": 10,
        "jobs_created": 3,
        "duplicates": 0,
        "stage_unavailable": 1,
    }
    (data_dir / "metrics.json").write_bytes(orjson.dumps(metrics))
    return await start_sidecar()


def _samples(text):
    families = text_string_to_metric_families(text)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


async def test_format_prometheus_gives_text_that_parses_with_a_versioned_content_type(sidecar):
    status, headers, body = await sidecar.get("/metrics?format=prometheus")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = _samples(body.decode())
    assert samples["ocr_jobs", (("state", "DONE"),)] == 2
    assert samples["ocr_jobs", (("state", "ERROR"),)] == 1
    assert samples["ocr_jobs", (("state", "RUNNING"),)] == 0
    assert samples["ocr_disk_errors_total", ()] == 2
    assert samples["ocr_stage_calls_running", (("stage", "prep"),)] == 1


async def test_prometheus_scrape_header_gets_openmetrics(sidecar):
    status, headers, body = await sidecar.get("/metrics", headers={"Accept": PROMETHEUS_ACCEPT})
    assert status == 200
    assert headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    families = {f.name: f for f in parse_openmetrics(body.decode())}
    assert families["ocr_retries"].type == "counter"
    assert body.endswith(b"# EOF\n")


async def test_counters_end_in_total_and_no_label_is_unbounded(sidecar):
    _, _, body = await sidecar.get("/metrics?format=prometheus")
    families = list(text_string_to_metric_families(body.decode()))
    for family in families:
        for sample in family.samples:
            if family.type == "counter" and not sample.name.endswith("_created"):
                assert sample.name.endswith("_total"), sample.name
            assert set(sample.labels) <= {"state", "stage", "reason", "outcome", "le", "mode"}, sample


async def test_a_plain_client_gets_json(sidecar):
    _, headers, _ = await sidecar.get("/metrics", headers={"Accept": "*/*"})
    assert headers["Content-Type"] == "application/json"
    _, headers, _ = await sidecar.get("/metrics", headers={"Accept": "text/html,application/json"})
    assert headers["Content-Type"] == "application/json"
