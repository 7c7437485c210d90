import orjson
import pytest

from sidecar.keys import INDEX


@pytest.fixture
async def sidecar(start_sidecar, write_job):
    write_job("done-job", state="DONE", stage="OCR")
    write_job("queued-job")
    return await start_sidecar()


async def test_metrics_has_jobs_done(sidecar):
    status, body = await sidecar.json("/metrics")
    assert status == 200
    assert body["jobs_done"] == 1


async def test_unknown_job_is_404_with_a_json_error(sidecar):
    status, body = await sidecar.json("/jobs/no-such-job")
    assert status == 404
    assert body["error"]["type"] == "NotFound"


async def test_job_detail_is_the_state_json_bytes_as_on_disk(sidecar, jobs_dir):
    status, headers, body = await sidecar.get("/jobs/done-job")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert body == (jobs_dir / "done-job" / "state.json").read_bytes()


async def test_job_detail_answers_304_to_its_etag(sidecar):
    _, headers, _ = await sidecar.get("/jobs/done-job")
    status, _, body = await sidecar.get("/jobs/done-job", headers={"If-None-Match": headers["ETag"]})
    assert (status, body) == (304, b"")


async def test_every_answer_is_marked_no_store(sidecar):
    for path in ("/metrics", "/jobs", "/jobs/done-job", "/jobs/nope", "/healthz", "/readyz", "/openapi.json", "/x"):
        _, headers, _ = await sidecar.get(path)
        assert headers["Cache-Control"] == "no-store", path


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_anything_but_get_and_head_is_405(sidecar, method):
    for path in ("/jobs", "/jobs/done-job", "/metrics", "/elsewhere"):
        async with sidecar.session.request(method, sidecar.url + path) as response:
            assert response.status == 405
            assert response.headers["Allow"] == "GET, HEAD"
            assert (await response.json())["error"]["type"] == "MethodNotAllowed"


async def test_head_answers_like_get_without_a_body(sidecar):
    async with sidecar.session.head(sidecar.url + "/jobs/done-job") as response:
        assert response.status == 200
        assert await response.read() == b""


async def test_unknown_path_is_404_json(sidecar):
    status, body = await sidecar.json("/nothing/here")
    assert status == 404
    assert body["error"]["type"] == "NotFound"


async def test_healthz_and_readyz_answer_once_ready(sidecar):
    assert (await sidecar.json("/healthz")) == (200, {"status": "ok"})
    status, body = await sidecar.json("/readyz")
    assert (status, body["status"], body["jobs"]) == (200, "ready", 2)


async def test_readyz_is_503_until_the_jobs_folder_exists(start_sidecar, jobs_dir):
    jobs_dir.rmdir()
    sidecar = await start_sidecar(wait_ready=False)
    status, body = await sidecar.json("/readyz")
    assert (status, body["status"]) == (503, "starting")
    assert (await sidecar.get("/healthz"))[0] == 200


async def test_openapi_document_describes_every_route(sidecar):
    status, doc = await sidecar.json("/openapi.json")
    assert status == 200
    assert set(doc["paths"]) >= {"/metrics", "/jobs", "/jobs/{jobKey}", "/healthz", "/readyz", "/openapi.json"}


async def test_an_unreadable_job_is_a_clear_error_and_listed_as_unreadable(start_sidecar, write_job):
    write_job("broken", raw=b'{"state": "DONE", ')
    sidecar = await start_sidecar()
    status, body = await sidecar.json("/jobs/broken")
    assert status == 422
    assert body["error"]["type"] == "UnreadableState"
    assert "not valid JSON" in body["error"]["message"]
    _, listing = await sidecar.json("/jobs")
    [job] = listing["jobs"]
    assert job["jobKey"] == "broken" and job["state"] is None and "not valid JSON" in job["unreadable"]


async def test_metrics_say_which_values_come_from_where(sidecar, data_dir):
    _, body = await sidecar.json("/metrics")
    assert "jobs_done" in body["sources"]["index"]
    assert "disk_error" in body["sources"]["orchestrator"]
    assert body["orchestrator"]["status"] == "missing"
    assert body["disk_error"] is None


async def test_metrics_carry_the_orchestrator_counters(start_sidecar, data_dir):
    (data_dir / "metrics.json").write_bytes(orjson.dumps({"schemaVersion": 1, "disk_error": 3, "jobs_done": 99}))
    sidecar = await start_sidecar()
    _, body = await sidecar.json("/metrics")
    assert body["disk_error"] == 3
    assert body["jobs_done"] == 0  # live from the index, not the orchestrator's 99
    assert body["orchestrator"]["metrics"]["jobs_done"] == 99


async def test_metrics_answer_from_the_index_when_metrics_json_is_corrupt(start_sidecar, data_dir, write_job):
    write_job("one", state="ERROR")
    (data_dir / "metrics.json").write_bytes(b"\xff\xfe not json")
    sidecar = await start_sidecar()
    status, body = await sidecar.json("/metrics")
    assert status == 200
    assert (body["jobs_error"], body["jobs_running"], body["disk_error"]) == (1, 0, None)
    assert body["orchestrator"]["status"] == "corrupt"


async def test_the_detail_follows_the_index_not_the_path(sidecar):
    sidecar.app[INDEX].remove("done-job")
    assert (await sidecar.get("/jobs/done-job"))[0] == 404
