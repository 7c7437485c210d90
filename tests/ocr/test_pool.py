"""The worker pool: real worker processes, a real timeout on a big page, a real SIGKILL of a busy worker."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import pytest

from services.common.errors import StageFailed
from services.ocr.app.page import PageTask
from services.ocr.app.pool import OcrPool
from tests.conftest import wait_for

A4 = (2480, 3508)
BIG_PAGE = [["Le château de la forêt", "The quick brown fox"] * 8]


def is_gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
async def pool_for(config_for):
    """`await create(**env)`: a started pool, closed after the test."""
    pools = []

    async def create(**env):
        pool = OcrPool(config_for(**env))
        pools.append(pool)
        await pool.start()
        return pool

    yield create
    for pool in pools:
        await pool.close()


def big_page_task(make_job):
    job_dir = make_job(pages=BIG_PAGE, size=A4)
    (job_dir / "ocr").mkdir()
    return PageTask(page=1, image=job_dir / "pages" / "page-0001.png", out_dir=job_dir / "ocr")


async def test_page_over_the_timeout_fails_and_its_worker_is_replaced(pool_for, make_job):
    pool = await pool_for(OCR_WORKERS="1", OCR_PAGE_TIMEOUT_S="0.01")
    [old_pid] = pool.pids
    with pytest.raises(StageFailed, match="OCR_PAGE_TIMEOUT_S"):
        await pool.run(big_page_task(make_job))
    await pool.start()
    assert pool.pids != [old_pid]
    wait_for(lambda: is_gone(old_pid), what="the timed-out worker to be killed")


async def test_killed_worker_leaves_no_temp_files(pool_for, make_job):
    pool = await pool_for(OCR_WORKERS="1", OCR_PAGE_TIMEOUT_S="0.01")
    task = big_page_task(make_job)
    with pytest.raises(StageFailed):
        await pool.run(task)
    wait_for(lambda: not list(task.out_dir.iterdir()), what="temp files to be removed")


async def test_worker_killed_by_a_signal_mid_page_fails_that_page_only(pool_for, make_job):
    pool = await pool_for(OCR_WORKERS="1")
    [pid] = pool.pids
    running = asyncio.create_task(pool.run(big_page_task(make_job)))
    await asyncio.sleep(0)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(StageFailed, match="died"):
        await running
    other = make_job(pages=[["Bonjour"]], key="job2")
    (other / "ocr").mkdir()
    result = await pool.run(PageTask(page=1, image=other / "pages" / "page-0001.png", out_dir=other / "ocr"))
    assert result.ok


async def test_timed_out_page_is_retried_then_the_stage_fails(ocr_client, make_job, caplog):
    caplog.set_level(logging.WARNING, logger="services.ocr")
    job_dir = make_job(pages=BIG_PAGE, size=A4)
    client = await ocr_client(OCR_WORKERS="1", OCR_PAGE_TIMEOUT_S="0.01", OCR_PAGE_RETRIES="1")
    resp = await client.post("/v1/ocr", json={"jobKey": "job1"})
    assert resp.status == 500
    assert (await resp.json())["error"]["retryable"] is True
    tries = [r.getMessage() for r in caplog.records if "try" in r.getMessage()]
    assert [m.split(":")[0] for m in tries] == ["page 1, try 1 of 2", "page 1, try 2 of 2"]
    assert "OCR_PAGE_TIMEOUT_S" in (job_dir / "ocr" / "page-0001.json").read_text()
    assert not (job_dir / "document.txt").exists()


async def test_close_stops_every_worker(config_for):
    pool = OcrPool(config_for(OCR_WORKERS="2"))
    await pool.start()
    pids = pool.pids
    await pool.close()
    assert all(is_gone(pid) for pid in pids)


async def test_pages_waiting_for_a_timed_out_worker_get_its_replacement(pool_for, make_job):
    pool = await pool_for(OCR_WORKERS="1", OCR_PAGE_TIMEOUT_S="0.01")
    task = big_page_task(make_job)
    # Both pages queue for the single worker; the second must not wait forever once the first kills it.
    results = await asyncio.wait_for(asyncio.gather(pool.run(task), pool.run(task), return_exceptions=True), 120)
    assert [type(r) for r in results] == [StageFailed, StageFailed]
