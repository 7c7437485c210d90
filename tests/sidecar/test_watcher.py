import asyncio
import shutil

import orjson

from sidecar.keys import INDEX, STATUS
from sidecar.state_file import parse_state

from .conftest import eventually, replace_file, state_doc

# The issue asks for changes to show within a second; that bound is the point of these tests.
FRESHNESS_S = 1.0


async def test_a_created_job_shows_up_within_a_second(start_sidecar, write_job):
    sidecar = await start_sidecar()
    write_job("fresh")

    async def visible():
        return (await sidecar.get("/jobs/fresh"))[0] == 200

    assert await eventually(visible, timeout_s=5) < FRESHNESS_S


async def test_a_rewritten_job_changes_within_a_second(start_sidecar, write_job):
    write_job("moving", state="QUEUED")
    sidecar = await start_sidecar()
    write_job("moving", state="RUNNING")

    async def running():
        _, body = await sidecar.json("/jobs/moving")
        return body["state"] == "RUNNING"

    assert await eventually(running, timeout_s=5) < FRESHNESS_S


async def test_a_deleted_job_disappears_within_a_second(start_sidecar, write_job, jobs_dir):
    write_job("doomed")
    sidecar = await start_sidecar()
    shutil.rmtree(jobs_dir / "doomed")

    async def gone():
        return (await sidecar.get("/jobs/doomed"))[0] == 404

    assert await eventually(gone, timeout_s=5) < FRESHNESS_S
    assert (await sidecar.json("/metrics"))[1]["jobs_total"] == 0


async def test_a_burst_of_rewrites_ends_with_the_api_equal_to_the_disk(start_sidecar, write_job, jobs_dir):
    keys = [f"job-{i:04d}" for i in range(500)]
    for key in keys:
        write_job(key)
    sidecar = await start_sidecar()
    for attempt in range(2, 8):  # 3,000 atomic replaces as fast as the disk takes them
        for key in keys:
            write_job(key, attempt=attempt)
        await asyncio.sleep(0)

    async def equal_to_disk():
        for key in keys:
            _, _, body = await sidecar.get(f"/jobs/{key}")
            if body != (jobs_dir / key / "state.json").read_bytes():
                return False
        return True

    await eventually(equal_to_disk, timeout_s=30, interval_s=0.2)


async def test_a_missed_event_is_repaired_by_the_rescan(start_sidecar, write_job):
    write_job("current", attempt=2)
    sidecar = await start_sidecar(rescan_s=0.3)
    # What a dropped inotify event leaves behind: the index holds an older version of the job.
    stale = orjson.dumps(state_doc("current", attempt=1))
    sidecar.app[INDEX].put(parse_state("current", (0, 0, 0, 0), stale, 0.0))
    assert (await sidecar.json("/jobs/current"))[1]["attempt"] == 1

    async def repaired():
        return (await sidecar.json("/jobs/current"))[1]["attempt"] == 2

    await eventually(repaired)
    sidecar_status = (await sidecar.json("/metrics"))[1]["sidecar"]
    assert sidecar_status["repairsTotal"] >= 1
    assert sidecar_status["lastRescanAt"] is not None and sidecar_status["lastRescanDurationS"] is not None


async def test_a_job_missing_from_disk_is_dropped_by_the_rescan(start_sidecar):
    sidecar = await start_sidecar(rescan_s=0.3)
    ghost = orjson.dumps(state_doc("ghost"))
    sidecar.app[INDEX].put(parse_state("ghost", (1, 2, 3, 4), ghost, 0.0))

    async def dropped():
        return (await sidecar.get("/jobs/ghost"))[0] == 404

    await eventually(dropped)


async def test_forced_polling_still_sees_changes_and_says_so(start_sidecar, write_job):
    sidecar = await start_sidecar(force_polling=True, poll_delay_ms=50)
    write_job("polled", state="DONE", stage="OCR")

    async def visible():
        return (await sidecar.get("/jobs/polled"))[0] == 200

    await eventually(visible)
    _, body = await sidecar.json("/metrics")
    assert body["sidecar"]["watchMode"] == "polling"
    assert "SIDECAR_FORCE_POLLING" in body["sidecar"]["pollingReason"]
    assert sidecar.app[STATUS].ready


async def test_a_rewritten_metrics_json_is_served(start_sidecar, data_dir):
    sidecar = await start_sidecar()
    replace_file(data_dir / "metrics.json", orjson.dumps({"schemaVersion": 1, "disk_error": 7}))

    async def seen():
        return (await sidecar.json("/metrics"))[1]["disk_error"] == 7

    await eventually(seen)


async def test_files_deeper_in_a_job_folder_do_not_disturb_the_job(start_sidecar, write_job, jobs_dir):
    write_job("busy", state="RUNNING", stage="OCR")
    sidecar = await start_sidecar()
    (jobs_dir / "busy" / "pages").mkdir()
    for page in range(20):
        (jobs_dir / "busy" / "pages" / f"{page:04d}.png").write_bytes(b"png")
    write_job("marker")
    await eventually(lambda: _visible(sidecar, "marker"))
    _, body = await sidecar.json("/jobs/busy")
    assert body["state"] == "RUNNING"


async def _visible(sidecar, key):
    return (await sidecar.get(f"/jobs/{key}"))[0] == 200
