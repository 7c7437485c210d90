"""The aggregate metrics through a real sidecar over real state.json files."""

from prometheus_client.parser import text_string_to_metric_families

from .conftest import eventually, replace_file
from .jobs import done, failed, queued, retried


def _samples(text):
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def write(jobs_dir, job):
    folder = jobs_dir / job.job_key
    folder.mkdir(exist_ok=True)
    replace_file(folder / "state.json", job.to_bytes())


async def prometheus(sidecar):
    _status, _headers, body = await sidecar.get("/metrics?format=prometheus")
    return _samples(body.decode())


async def test_stage_histograms_failures_retries_and_queues_come_from_the_jobs_on_disk(start_sidecar, jobs_dir):
    write(jobs_dir, done("a", prep_s=2.0, ocr_s=40.0, pages=5, confidence=80.0))
    write(jobs_dir, failed("b", "BadDocument"))
    write(jobs_dir, retried("c", "StageTimeout"))
    write(jobs_dir, queued("d"))
    sidecar = await start_sidecar()
    samples = await prometheus(sidecar)
    assert samples["ocr_stage_duration_seconds_bucket", (("le", "30.0"), ("outcome", "ok"), ("stage", "ocr"))] == 0
    assert samples["ocr_stage_duration_seconds_bucket", (("le", "60.0"), ("outcome", "ok"), ("stage", "ocr"))] == 1
    assert samples["ocr_stage_duration_seconds_sum", (("outcome", "ok"), ("stage", "prep"))] == 2.0
    assert samples["ocr_job_failures_total", (("reason", "BadDocument"), ("stage", "prep"))] == 1
    assert samples["ocr_stage_retries_total", (("reason", "StageTimeout"), ("stage", "prep"))] == 1
    assert samples["ocr_queue_depth", (("stage", "prep"),)] == 2
    assert samples["ocr_queue_depth", (("stage", "ocr"),)] == 0
    assert samples["ocr_queue_oldest_age_seconds", (("stage", "prep"),)] >= 0
    assert samples["ocr_pages_processed_total", ()] == 5
    assert samples["ocr_document_confidence_ratio_bucket", (("le", "0.8"),)] == 1
    assert samples["ocr_job_duration_seconds_count", ()] == 1
    assert samples["ocr_last_success_timestamp_seconds", ()] > 0


async def test_a_change_on_disk_moves_the_metrics_and_json_agrees(start_sidecar, jobs_dir):
    write(jobs_dir, queued("a"))
    sidecar = await start_sidecar()
    write(jobs_dir, done("a", pages=7))

    async def counted():
        return (await prometheus(sidecar)).get(("ocr_pages_processed_total", ())) == 7

    await eventually(counted)
    _status, doc = await sidecar.json("/metrics")
    assert doc["pagesProcessed"] == 7
    assert doc["stages"]["prep"]["queueDepth"] == 0
    assert doc["stages"]["ocr"]["durationS"]["ok"]["count"] == 1
    assert doc["finishedLastHour"] == {"DONE": 1, "ERROR": 0}
    assert "pagesProcessed" in doc["sources"]["index"]


async def test_huge_and_odd_error_types_never_add_a_series(start_sidecar, jobs_dir):
    for i, kind in enumerate(["x" * 100_000, '"}\n# EOF', "HTTP502", "\u202e\u0000", "BadDocument"]):
        write(jobs_dir, failed(f"bad{i}", kind, message="m" * 200_000))
    sidecar = await start_sidecar()
    samples = await prometheus(sidecar)
    reasons = {dict(labels)["reason"] for (name, labels) in samples if name == "ocr_job_failures_total"}
    assert samples["ocr_job_failures_total", (("reason", "other"), ("stage", "prep"))] == 4
    assert samples["ocr_job_failures_total", (("reason", "BadDocument"), ("stage", "prep"))] == 1
    assert all(len(r) < 40 for r in reasons)
    _status, _headers, body = await sidecar.get("/metrics?format=prometheus")
    assert len(body) < 64_000
