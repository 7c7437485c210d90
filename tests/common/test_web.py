import errno

from services.common.errors import BadDocument
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
