"""Native watching: one watch per job folder, nothing under pages/ or ocr/, and no loss left unnoticed."""

import logging
import shutil
import time

from sidecar.keys import STATUS

from .conftest import equal_to_disk, eventually, inotify_watches, replace_file


async def test_each_job_folder_costs_one_watch_and_pages_or_ocr_none(start_sidecar, write_production_job):
    before = inotify_watches()
    for n in range(20):
        write_production_job(f"job-{n:02d}")
    await start_sidecar()
    # The jobs folder, the folder of metrics.json, and one per job: none for pages/ or ocr/.
    assert inotify_watches() - before == 2 + 20


async def test_writing_page_images_and_ocr_outputs_does_not_wake_the_sidecar(
    start_sidecar, write_production_job, write_job, jobs_dir
):
    write_production_job("busy", state="RUNNING", stage="OCR")
    sidecar = await start_sidecar()
    events_before = sidecar.app[STATUS].events_total
    for page in range(2, 52):
        (jobs_dir / "busy" / "pages" / f"page-{page:04d}.png").write_bytes(b"png")
        (jobs_dir / "busy" / "ocr" / f"page-{page:04d}.txt").write_bytes(b"text")
    write_job("marker")  # a change that does raise events, to know the others had their chance
    await eventually(lambda: _visible(sidecar, "marker"))
    # The marker alone: its folder created, its temp file closed, its state.json renamed in.
    assert sidecar.app[STATUS].events_total - events_before <= 3


async def test_a_queue_overflow_is_noticed_at_once_repaired_and_said_once(
    start_sidecar, write_job, jobs_dir, tiny_inotify_queue, caplog
):
    caplog.set_level(logging.INFO)
    keys = [f"job-{n:03d}" for n in range(100)]
    for key in keys:
        write_job(key)
    try:
        sidecar = await start_sidecar(rescan_s=600)  # the periodic rescan cannot be what repairs it
    finally:
        tiny_inotify_queue()
    # The event loop is held while 200 changes happen, so the 16-event queue overflows and the kernel drops events.
    for key in keys:
        write_job(key, state="RUNNING", stage="OCR")
    for key in keys[:50]:
        shutil.rmtree(jobs_dir / key)
    for n in range(50):
        write_job(f"new-{n:03d}")
    await eventually(lambda: equal_to_disk(sidecar, jobs_dir), timeout_s=10, interval_s=0.2)
    status = sidecar.app[STATUS]
    assert status.overflows_total >= 1
    assert status.rescans_total >= 2  # the initial scan and the one the overflow asked for
    said = [r.message for r in caplog.records if "overflowed" in r.message]
    assert len(said) == 1 and "events were lost" in said[0]


async def test_a_job_folder_deleted_and_made_again_is_watched_again(start_sidecar, write_job, jobs_dir):
    write_job("phoenix", state="QUEUED")
    sidecar = await start_sidecar()
    shutil.rmtree(jobs_dir / "phoenix")
    await eventually(lambda: _gone(sidecar, "phoenix"))
    write_job("phoenix", state="DONE", stage="OCR")
    await eventually(lambda: _state(sidecar, "phoenix", "DONE"))
    write_job("phoenix", state="ERROR", stage="OCR")  # seen through the new folder's own watch
    await eventually(lambda: _state(sidecar, "phoenix", "ERROR"))


async def test_a_dying_watcher_is_noticed_covered_and_restarted(start_sidecar, write_job, data_dir, caplog):
    caplog.set_level(logging.INFO)
    jobs_dir = data_dir / "jobs"
    write_job("before")
    sidecar = await start_sidecar(rescan_s=600)
    # The jobs folder itself goes away (a volume remounted, a folder restored from backup): its watch dies with it.
    shutil.rmtree(jobs_dir)
    jobs_dir.mkdir()
    started = time.monotonic()
    (jobs_dir / "after").mkdir()
    replace_file(jobs_dir / "after" / "state.json", b'{"state": "QUEUED", "jobKey": "after"}')
    await eventually(lambda: equal_to_disk(sidecar, jobs_dir), timeout_s=10, interval_s=0.1)
    assert time.monotonic() - started < 5
    status = sidecar.app[STATUS]
    assert status.watcher_restarts_total >= 1
    await eventually(lambda: _mode(sidecar, "native"))
    await eventually(lambda: _said(caplog, "native watching is back"))
    assert any("native watching failed: the jobs folder's watch is gone" in r.message for r in caplog.records)
    write_job("later", **{"state": "RUNNING"})  # events again, not rescans (the next one is 600 s away)
    await eventually(lambda: _visible(sidecar, "later"), timeout_s=2)


async def test_readyz_and_metrics_say_native_with_nothing_stale(start_sidecar, write_job):
    write_job("one")
    sidecar = await start_sidecar()
    _, ready = await sidecar.json("/readyz")
    assert {k: ready[k] for k in ("watchMode", "degraded", "unwatchedJobs", "stalenessS")} == {
        "watchMode": "native",
        "degraded": None,
        "unwatchedJobs": 0,
        "stalenessS": 0.0,
    }
    _, _, body = await sidecar.get("/metrics?format=prometheus")
    text = body.decode()
    assert 'ocr_sidecar_watch_mode{mode="native"} 1.0' in text
    assert "ocr_sidecar_unwatched_jobs 0.0" in text
    assert "ocr_sidecar_staleness_seconds 0.0" in text


async def _said(caplog, text):
    return any(text in r.message for r in caplog.records)


async def _visible(sidecar, key):
    return (await sidecar.get(f"/jobs/{key}"))[0] == 200


async def _gone(sidecar, key):
    return (await sidecar.get(f"/jobs/{key}"))[0] == 404


async def _state(sidecar, key, state):
    status, body = await sidecar.json(f"/jobs/{key}")
    return status == 200 and body["state"] == state


async def _mode(sidecar, mode):
    return (await sidecar.json("/readyz"))[1]["watchMode"] == mode
