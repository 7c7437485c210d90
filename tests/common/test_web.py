import errno
import logging

import orjson
import pytest

from services.common.errors import BadDocument, StageFailed
from services.common.logs import configure_logging
from services.common.web import create_stage_app


def _app_raising(exc):
    app = create_stage_app()

    async def handler(request):
        raise exc

    app.router.add_post("/v1/x", handler)
    return app


async def test_a_disk_error_is_answered_507_so_the_job_keeps_its_attempts(aiohttp_client):
    client = await aiohttp_client(_app_raising(OSError(errno.ENOSPC, "No space left on device", "/data/jobs/k/p.png")))
    response = await client.post("/v1/x")
    assert response.status == 507
    error = (await response.json())["error"]
    assert error["type"] == "DiskError" and error["retryable"] is True
    assert "/data/jobs/k/p.png" in error["message"]


async def test_a_bad_document_is_answered_422_with_its_message(aiohttp_client):
    client = await aiohttp_client(_app_raising(BadDocument("the PDF is password-protected")))
    response = await client.post("/v1/x")
    assert response.status == 422
    assert (await response.json())["error"] == {
        "type": "BadDocument",
        "message": "the PDF is password-protected",
        "retryable": False,
    }


async def test_an_unexpected_error_is_a_retryable_500_without_a_stack_in_the_body(aiohttp_client):
    client = await aiohttp_client(_app_raising(KeyError("boom")))
    response = await client.post("/v1/x")
    assert response.status == 500
    body = await response.json()
    assert body["error"]["retryable"] is True and "Traceback" not in str(body)


async def test_healthz_answers(aiohttp_client):
    client = await aiohttp_client(create_stage_app())
    assert (await client.get("/healthz")).status == 200


@pytest.fixture
def json_lines(capsys):
    configure_logging("prep", {"LOG_JSON": "true"})
    yield lambda: [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    logging.getLogger().handlers.clear()


async def test_the_access_line_of_a_stage_call_carries_the_job_context_and_a_bad_document_is_info(
    aiohttp_client, json_lines
):
    client = await aiohttp_client(_app_raising(BadDocument("not a PDF")))
    await client.post("/v1/x", headers={"X-Job-Key": "k1", "X-Job-Stage": "PREP", "X-Job-Attempt": "2"})
    lines = json_lines()
    [access] = [line for line in lines if line["logger"] == "access"]
    assert (access["jobKey"], access["stage"], access["attempt"], access["status"]) == ("k1", "PREP", 2, 422)
    [failed] = [line for line in lines if line["message"].startswith("request failed")]
    assert failed["level"] == "INFO"  # an expected answer; the orchestrator logs the job's failure


async def test_a_retryable_failure_of_the_service_is_logged_as_an_error(aiohttp_client, json_lines):
    client = await aiohttp_client(_app_raising(StageFailed("worker died")))
    await client.post("/v1/x")
    [failed] = [line for line in json_lines() if line["message"].startswith("request failed")]
    assert failed["level"] == "ERROR"
