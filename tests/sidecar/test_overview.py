"""`GET /overview`, the status page's one data request: bounded and right with 100k jobs indexed."""

import orjson

from services.common.clock import from_epoch
from sidecar.keys import INDEX
from sidecar.state_file import parse_state

from .conftest import state_doc

JOBS = 100_000


def _entries():
    """100k entries as the watcher would index them: a tenth failed, the rest done, one second apart."""
    for i in range(JOBS):
        at = from_epoch(1_700_000_000 + i)
        if i % 10 == 0:
            error = {"type": "BadDocument", "message": f"<b>bad</b> {i} " + "z" * 5000, "retryable": False}
            doc = state_doc(f"job{i:06d}", state="ERROR", updated_at=at, error=error)
        else:
            doc = state_doc(f"job{i:06d}", state="DONE", stage="OCR", updated_at=at)
        yield parse_state(doc["jobKey"], (i, 1, 1, 1), orjson.dumps(doc), 0.0)


async def test_with_100k_jobs_the_overview_stays_small_and_shows_the_newest(start_sidecar):
    sidecar = await start_sidecar()
    index = sidecar.app[INDEX]
    for entry in _entries():
        index.put(entry)
    status, headers, body = await sidecar.get("/overview")
    assert status == 200 and len(body) < 16_000
    view = orjson.loads(body)
    assert view["jobs"]["total"] == JOBS
    assert view["jobs"]["byState"] == {"DONE": 90_000, "ERROR": 10_000}
    assert [job["jobKey"] for job in view["latestJobs"][:2]] == ["job099999", "job099998"]
    assert len(view["latestJobs"]) == 15
    failures = view["latestFailures"]
    assert [f["jobKey"] for f in failures[:2]] == ["job099990", "job099980"] and len(failures) == 10
    assert failures[0]["message"].startswith("<b>bad</b> 99990") and len(failures[0]["message"]) == 500
    assert (await sidecar.get("/"))[0] == 200
