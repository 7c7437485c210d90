"""The process pool: a worker that dies fails its call as retryable, and the next call finds fresh workers."""

from __future__ import annotations

import os

import pytest

from services.common.errors import ServiceUnavailable, StageFailed
from services.prep.app.pool import PrepPool


def die() -> None:
    os._exit(3)


def pid() -> int:
    return os.getpid()


async def test_a_dead_worker_fails_the_call_and_the_pool_recovers(config_for):
    pool = PrepPool(config_for())
    [first] = await pool.start()
    try:
        with pytest.raises(StageFailed, match="a prep worker died"):
            await pool.run(die)
        assert await pool.run(pid) != first
    finally:
        await pool.close()


async def test_a_closed_pool_refuses_work(config_for):
    pool = PrepPool(config_for())
    await pool.start()
    await pool.close()
    with pytest.raises(ServiceUnavailable):
        await pool.run(pid)


async def test_start_warms_every_worker_so_the_ready_line_tells_the_truth(config_for):
    pool = PrepPool(config_for(PREP_WORKERS="2"))
    try:
        pids = await pool.start()
        assert len(pids) == 2
    finally:
        await pool.close()
