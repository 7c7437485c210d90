"""The process pool: a worker that dies fails its call as retryable, and the next call finds fresh workers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from services.common.errors import ServiceUnavailable, StageFailed
from services.prep.app.pool import PrepPool
from tests.conftest import wait_for


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


POOL_SCRIPT = """
import asyncio, os, sys, time
from services.prep.app import Config
from services.prep.app.pool import PrepPool

async def main():
    pool = PrepPool(Config.from_env({"DATA_DIR": sys.argv[1], "PREP_WORKERS": "2"}))
    print(" ".join(map(str, await pool.start())), flush=True)
    time.sleep(600)

asyncio.run(main())
"""


def test_workers_leave_when_the_service_is_killed(tmp_path):
    # Real processes and a real SIGKILL: before, an idle worker outlived its killed parent forever.
    service = subprocess.Popen([sys.executable, "-c", POOL_SCRIPT, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        workers = [int(p) for p in service.stdout.readline().split()]
        assert len(workers) == 2 and all(alive(p) for p in workers)
    finally:
        service.kill()
        service.wait()
        service.stdout.close()
    wait_for(lambda: not any(alive(p) for p in workers), timeout_s=15, what="the orphaned workers to exit")


def alive(pid_: int) -> bool:
    try:
        with open(f"/proc/{pid_}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"  # a zombie has exited, only its entry is left
    except FileNotFoundError:
        return False
