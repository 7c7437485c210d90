"""The process pool the CPU work runs in: PREP_WORKERS warm workers, replaced as a whole if one of them dies.

`ProcessPoolExecutor` suits prep (unlike OCR, a page cannot hang for long: every size is bounded before
decoding), but a worker killed mid-page breaks the executor; `run()` then starts a fresh one and reports the
failure as retryable, so the orchestrator's retry finds warm workers and the pages already written.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from services.common.errors import ServiceUnavailable, StageFailed

from .config import Config
from .worker import init_worker

log = logging.getLogger(__name__)

T = TypeVar("T")


# A warm-up call holds its worker this long, so that a round of calls spreads over idle workers instead of one
# fast worker answering them all (the pool then looked like "1 workers" with PREP_WORKERS=2).
WARM_UP_HOLD_S = 0.05
WARM_UP_ROUNDS = 20


def _ready() -> int:
    time.sleep(WARM_UP_HOLD_S)
    return os.getpid()


class PrepPool:
    """Runs worker functions on warm workers; `run()` raises StageFailed when a worker died under a call."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._executor: ProcessPoolExecutor | None = None
        self._closed = False

    def _new_executor(self) -> ProcessPoolExecutor:
        # spawn, not fork: the parent runs an event loop and threads, which a forked child must not inherit.
        return ProcessPoolExecutor(
            max_workers=self._config.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=init_worker,
            initargs=(self._config.limits,),
        )

    async def start(self) -> list[int]:
        """Start every worker and wait until each has run its warm-up; returns their pids."""
        self._executor = self._new_executor()
        loop = asyncio.get_running_loop()
        # One call per worker: with the spawn context the executor starts a process for each call that finds
        # no idle worker, so these start them all now rather than on the first document.
        seen: set[int] = set()
        for _ in range(WARM_UP_ROUNDS):
            calls = [loop.run_in_executor(self._executor, _ready) for _ in range(self._config.workers)]
            seen.update(await asyncio.gather(*calls))
            if len(seen) >= self._config.workers:
                break
        return sorted(seen)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run `fn(*args)` in a worker; StageFailed if the worker died (the pool is then replaced)."""
        if self._closed or self._executor is None:
            raise ServiceUnavailable("the prep service is shutting down")
        executor = self._executor
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
        except BrokenProcessPool as e:
            self._replace(executor)
            raise StageFailed("a prep worker died while preparing the document") from e

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        if self._executor is not broken or self._closed:
            return  # another failed call already replaced it
        log.error("a prep worker died: starting a new pool")
        broken.shutdown(wait=False, cancel_futures=True)
        self._executor = self._new_executor()

    async def close(self) -> None:
        """Let running pages finish, drop queued ones, and wait for the workers to exit."""
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
