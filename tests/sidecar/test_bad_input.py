import asyncio
import os

import orjson
import pytest
import yarl

from .conftest import eventually

BAD_KEYS = [
    "..",
    "%2e%2e",
    "..%2F..%2Fetc%2Fpasswd",
    "%2Fetc%2Fpasswd",
    "good%00",
    "%00",
    "caf%C3%A9",
    "%FF%FE",
    "%E2%80%AE",
    "a" * 129,
    "k" * 10_000,
    "good%2Fstate.json",
    "good%5C..",
]


@pytest.fixture
async def sidecar(start_sidecar, write_job):
    write_job("good")
    return await start_sidecar()


@pytest.mark.parametrize("key", BAD_KEYS, ids=lambda k: k[:24])
async def test_a_bad_key_gets_a_404_and_nothing_else(sidecar, key):
    # encoded=True: sent as written; a client that normalised `/jobs/..` would ask for `/`, the status page.
    url = yarl.URL(f"{sidecar.url}/jobs/{key}", encoded=True)
    async with sidecar.session.get(url, allow_redirects=False) as response:
        status, headers, body = response.status, response.headers, await response.read()
    assert status == 404
    assert headers["Content-Type"] == "application/json"
    assert orjson.loads(body)["error"]["type"] == "NotFound"
    assert len(body) < 300  # the key is not echoed back in full


async def test_raw_path_traversal_never_reaches_a_file(sidecar):
    # Sent as raw bytes: no client normalises the dots away.
    host, port = sidecar.url.removeprefix("http://").split(":")
    request = b"GET /jobs/../../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    answer = await reader.read()
    writer.close()
    assert b"root:" not in answer
    assert answer.startswith(b"HTTP/1.1 404")


async def test_a_state_json_symlinked_out_of_the_jobs_folder_is_skipped_and_counted(start_sidecar, jobs_dir):
    (jobs_dir / "evil").mkdir()
    (jobs_dir / "evil" / "state.json").symlink_to("/etc/passwd")
    sidecar = await start_sidecar()
    assert (await sidecar.get("/jobs/evil"))[0] == 404
    _, metrics = await sidecar.json("/metrics")
    assert metrics["index"]["skipped"] == {"symlink": 1}
    assert metrics["jobs_total"] == 0


async def test_a_job_folder_symlinked_elsewhere_is_skipped_and_counted(start_sidecar, tmp_path, jobs_dir, write_job):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "state.json").write_bytes(b'{"state": "DONE"}')
    (jobs_dir / "linked").symlink_to(elsewhere)
    sidecar = await start_sidecar()
    assert (await sidecar.get("/jobs/linked"))[0] == 404
    _, metrics = await sidecar.json("/metrics")
    assert metrics["index"]["skipped"] == {"symlink": 1}


async def test_a_symlink_planted_while_running_is_skipped(start_sidecar, jobs_dir):
    sidecar = await start_sidecar()
    (jobs_dir / "late").mkdir()
    (jobs_dir / "late" / "state.json").symlink_to("/etc/passwd")

    async def counted():
        return (await sidecar.json("/metrics"))[1]["index"]["skipped"] == {"symlink": 1}

    await eventually(counted)
    assert (await sidecar.get("/jobs/late"))[0] == 404


async def test_an_oversized_state_json_is_listed_unreadable_without_being_read(start_sidecar, write_job):
    write_job("huge", raw=b'{"pad": "' + b"x" * 5000 + b'"}')
    sidecar = await start_sidecar(max_state_bytes=4096)
    status, body = await sidecar.json("/jobs/huge")
    assert status == 422
    assert "larger than 4096 bytes" in body["error"]["message"]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b'{"state": "caf\xe9"}', "not valid JSON"),
        (b"[1, 2, 3]", "not a JSON object"),
        (b'"just a string"', "not a JSON object"),
        (b"null", "not a JSON object"),
        (b"", "not valid JSON"),
    ],
    ids=["binary", "latin-1", "array", "string", "null", "empty"],
)
async def test_a_state_json_that_is_not_a_utf8_json_object_is_survived(start_sidecar, write_job, raw, problem):
    write_job("odd", raw=raw)
    write_job("fine")
    sidecar = await start_sidecar()
    status, body = await sidecar.json("/jobs/odd")
    assert status == 422 and problem in body["error"]["message"]
    assert (await sidecar.get("/jobs/fine"))[0] == 200


async def test_a_fifo_as_state_json_does_not_hang_the_sidecar(start_sidecar, jobs_dir, write_job):
    (jobs_dir / "fifo").mkdir()
    os.mkfifo(jobs_dir / "fifo" / "state.json")
    write_job("fine")
    sidecar = await start_sidecar()
    assert (await sidecar.get("/jobs/fifo"))[0] == 404
    assert (await sidecar.json("/metrics"))[1]["index"]["skipped"] == {"not_a_file": 1}


async def test_fields_of_the_wrong_type_are_listed_as_null(start_sidecar, write_job):
    write_job("weird", raw=orjson.dumps({"state": 3, "stage": ["OCR"], "attempt": "2", "updatedAt": None}))
    sidecar = await start_sidecar()
    _, listing = await sidecar.json("/jobs")
    [job] = listing["jobs"]
    assert (job["state"], job["stage"], job["attempt"]) == (None, None, None)
    assert (await sidecar.get("/jobs/weird"))[0] == 200


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=1001",
        "limit=abc",
        "state=done",
        "stage=X",
        "since=yesterday",
        "since=2026-01-01T00:00:00",
        "cursor=!!!",
        "cursor=bm90IGpzb24",
    ],
)
async def test_a_bad_listing_parameter_is_a_400_that_says_why(sidecar, query):
    status, body = await sidecar.json(f"/jobs?{query}")
    assert status == 400
    assert body["error"]["type"] == "BadRequest" and body["error"]["message"]


async def test_the_token_guards_everything_but_the_probes(start_sidecar, write_job):
    write_job("secret")
    sidecar = await start_sidecar(token="s3cret")
    assert (await sidecar.get("/jobs/secret"))[0] == 401
    assert (await sidecar.get("/metrics", headers={"Authorization": "Bearer wrong"}))[0] == 401
    assert (await sidecar.get("/jobs/secret", headers={"Authorization": "Bearer s3cret"}))[0] == 200
    assert (await sidecar.get("/healthz"))[0] == 200
    assert (await sidecar.get("/readyz"))[0] == 200
