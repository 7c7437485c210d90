import pytest


def _at(second):
    return f"2026-11-29T07:{second // 60:02d}:{second % 60:02d}.000Z"


@pytest.fixture
async def sidecar(start_sidecar, write_job):
    for i in range(50):
        state = ("QUEUED", "RUNNING", "DONE", "ERROR")[i % 4]
        write_job(f"job-{i:02d}", state=state, stage="OCR" if i % 2 else "PREP", updated_at=_at(i % 25))
    return await start_sidecar()


async def _walk(sidecar, query):
    seen, cursor, pages = [], None, 0
    while True:
        path = f"/jobs?{query}" + (f"&cursor={cursor}" if cursor else "")
        status, page = await sidecar.json(path)
        assert status == 200
        seen.extend(page["jobs"])
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            return seen, pages, page["total"]


async def test_pagination_walks_every_job_exactly_once(sidecar):
    seen, pages, total = await _walk(sidecar, "limit=7")
    keys = [job["jobKey"] for job in seen]
    assert sorted(keys) == [f"job-{i:02d}" for i in range(50)]
    assert (pages, total) == (8, 50)


async def test_jobs_are_listed_newest_first(sidecar):
    seen, _, _ = await _walk(sidecar, "limit=1000")
    order = [(job["updatedAt"], job["jobKey"]) for job in seen]
    assert order == sorted(order, reverse=True)


async def test_a_listing_item_has_exactly_the_summary_fields(sidecar):
    _, page = await sidecar.json("/jobs?limit=1")
    assert set(page["jobs"][0]) == {"jobKey", "state", "stage", "attempt", "updatedAt", "name"}
    assert page["count"] == 1 and page["limit"] == 1


async def test_the_limit_defaults_to_100(sidecar):
    _, page = await sidecar.json("/jobs")
    assert (page["limit"], page["count"], page["nextCursor"]) == (100, 50, None)


async def test_state_and_stage_filters_combine_and_count_all_pages(sidecar):
    seen, _, total = await _walk(sidecar, "state=RUNNING&stage=OCR&limit=3")
    assert {(job["state"], job["stage"]) for job in seen} == {("RUNNING", "OCR")}
    assert total == len(seen) == 13


async def test_since_keeps_jobs_updated_strictly_after(sidecar):
    seen, _, total = await _walk(sidecar, f"since={_at(20)}&limit=4")
    assert all(job["updatedAt"] > _at(20) for job in seen)
    assert total == len(seen) == 8


async def test_since_accepts_any_rfc3339_offset(sidecar):
    _, page = await sidecar.json("/jobs?since=2026-11-29T09:00:20%2B02:00")
    assert page["total"] == 8


async def test_since_combines_with_state(sidecar):
    seen, _, total = await _walk(sidecar, f"since={_at(20)}&state=DONE&limit=1")
    assert {job["state"] for job in seen} == {"DONE"}
    assert total == len(seen) == 2


async def test_the_name_filter_finds_jobs_by_part_of_their_input_file_name_ignoring_case(start_sidecar, write_job):
    write_job("a1", input={"name": "Facture 2024-117.PDF", "path": "source.pdf", "sha256": "0" * 64, "bytes": 1})
    write_job("a2", input={"name": "scan-2024.png", "path": "source.png", "sha256": "0" * 64, "bytes": 1})
    write_job(
        "a3", state="ERROR", input={"name": "facture-old.pdf", "path": "source.pdf", "sha256": "0" * 64, "bytes": 1}
    )
    sidecar = await start_sidecar()
    _status, page = await sidecar.json("/jobs?name=FACTURE")
    assert sorted((j["jobKey"], j["name"]) for j in page["jobs"]) == [
        ("a1", "Facture 2024-117.PDF"),
        ("a3", "facture-old.pdf"),
    ]
    assert page["total"] == 2
    _status, page = await sidecar.json("/jobs?name=facture&state=ERROR")
    assert [j["jobKey"] for j in page["jobs"]] == ["a3"] and page["total"] == 1


async def test_an_empty_name_filter_is_refused_with_a_clear_message(start_sidecar, write_job):
    write_job("a1")
    sidecar = await start_sidecar()
    status, body = await sidecar.json("/jobs?name=")
    assert status == 400
    assert "name must be 1 to 512 characters" in body["error"]["message"]
