"""The parent side: OCR_WORKERS warm worker processes, one page each at a time, replaced when one hangs or dies.

Why not `concurrent.futures.ProcessPoolExecutor`: it cannot stop one task that hangs, and one worker that dies
breaks the whole executor, failing the pages of every other job in flight. Here each worker has its own pipe,
so a page that outlives `OCR_PAGE_TIMEOUT_S` costs exactly one worker, which is killed and replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from services.common.atomic import remove_temp_files_of
from services.common.errors import ServiceUnavailable, StageFailed

from .config import Config
from .page import PageResult, PageTask
from .pieces import JoinTask, Piece, PieceTask
from .worker import OK, READY, WorkerTask, serve

log = logging.getLogger(__name__)

# After SIGKILL a process is gone at once; this only bounds the join against the unexpected.
KILL_JOIN_TIMEOUT_S = 5.0
# When no worker can start at all (memory exhausted, say), how long to wait before trying again.
RESPAWN_DELAY_S = 5.0


@dataclass(slots=True, eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection

    def call(self, task: WorkerTask, timeout_s: float) -> tuple[str, object]:
        """Blocking: send one task and wait for its answer (TimeoutError, or EOFError if the worker died)."""
        self.conn.send(task)
        if not self.conn.poll(timeout_s):
            raise TimeoutError
        reply: tuple[str, object] = self.conn.recv()
        return reply

    def reap(self, task: WorkerTask | None = None) -> None:
        """Blocking: kill the process, wait for it, and remove the temp files it left beside the page outputs."""
        with contextlib.suppress(OSError, ValueError):
            self.process.kill()
            self.process.join(KILL_JOIN_TIMEOUT_S)
        with contextlib.suppress(OSError):
            self.conn.close()
        if task is not None and self.process.pid is not None:
            # Temp names carry the writer's pid and host (services.common.atomic.temp_path_for).
            remove_temp_files_of(task.out_dir, self.process.pid)


def _spawn(config: Config) -> _Worker:
    """Blocking: start one worker and wait until its models are loaded."""
    # spawn, not fork: the parent runs an event loop and threads, which a forked child must not inherit.
    ctx = multiprocessing.get_context("spawn")
    parent_conn, child_conn = ctx.Pipe()
    args = (child_conn, config.lang, str(config.tessdata_dir))
    process = ctx.Process(target=serve, args=args, name="ocr-worker", daemon=True)
    process.start()
    child_conn.close()
    worker = _Worker(process, parent_conn)
    try:
        if not parent_conn.poll(config.worker_start_timeout_s):
            raise StageFailed(f"OCR worker did not start within {config.worker_start_timeout_s} s")
        kind, payload = parent_conn.recv()
    except EOFError as e:
        worker.reap()
        raise StageFailed(f"OCR worker exited during start-up (exit code {process.exitcode})") from e
    except BaseException:
        worker.reap()
        raise
    if kind != READY:
        worker.reap()
        raise StageFailed(f"OCR worker could not load Tesseract: {payload}")
    log.info("OCR worker %s ready", process.pid)
    return worker


class OcrPool:
    """Runs `PageTask`s on warm workers; `run()` raises StageFailed for a page that failed, hung or crashed."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._workers: set[_Worker] = set()
        self._starting = 0
        self._waiting = 0
        self._closed = False
        self._replacing: set[asyncio.Future[None]] = set()
        # Each busy worker holds one thread waiting on its pipe: a pool of its own, so pages never queue behind
        # the default executor's file I/O, nor starve it.
        self._waiters = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="ocr-wait")

    @property
    def spare_workers(self) -> int:
        """Idle workers that no call is waiting for: what a page may be read in pieces on."""
        return max(0, self._idle.qsize() - self._waiting)

    @property
    def pids(self) -> list[int]:
        return sorted(w.process.pid for w in self._workers if w.process.pid is not None)

    async def start(self) -> list[int]:
        """Start (and warm) the missing workers: all of them at first, replacements later. Safe to repeat.

        Returns the workers' pids."""
        await self._top_up()
        return self.pids

    async def _top_up(self) -> None:
        """Start workers until there are OCR_WORKERS again (after a kill, or a failed restart earlier)."""
        missing = self._config.workers - len(self._workers) - self._starting
        if missing <= 0:
            return
        self._starting += missing
        try:
            started = await asyncio.gather(
                *(asyncio.to_thread(_spawn, self._config) for _ in range(missing)), return_exceptions=True
            )
        finally:
            self._starting -= missing
        failures = [r for r in started if isinstance(r, BaseException)]
        for worker in started:
            if isinstance(worker, _Worker) and self._closed:
                await asyncio.to_thread(worker.reap)
            elif isinstance(worker, _Worker):
                self._workers.add(worker)
                self._idle.put_nowait(worker)
        if failures and not self._workers:
            raise StageFailed(f"no OCR worker could start: {failures[0]}") from failures[0]
        for failure in failures:
            log.error("an OCR worker could not start: %s", failure)

    def _retire(self, worker: _Worker, task: WorkerTask) -> None:
        """Kill a worker now (a signal, not blocking) and start its replacement in the background.

        In the background, because pages may be waiting for a worker while no other call would start one (the
        page that lost this worker may have no retry left), and because a cancelled caller cannot wait.
        """
        self._workers.discard(worker)
        with contextlib.suppress(OSError, ValueError):
            worker.process.kill()
        reaped = asyncio.get_running_loop().run_in_executor(None, worker.reap, task)
        replacement = asyncio.ensure_future(self._replace(reaped))
        self._replacing.add(replacement)
        replacement.add_done_callback(self._replacing.discard)

    async def _replace(self, reaped: asyncio.Future[None]) -> None:
        await reaped
        while not self._closed:
            try:
                await self._top_up()
                return
            except StageFailed as e:
                log.error("no OCR worker is running: %s; trying again in %g s", e, RESPAWN_DELAY_S)
                await asyncio.sleep(RESPAWN_DELAY_S)

    async def run(self, task: PageTask | JoinTask) -> PageResult:
        """The page's result (recognised, or its own text kept)."""
        result = await self._call(task)
        if not isinstance(result, PageResult):
            raise StageFailed(f"page {task.page}: the worker answered {type(result).__name__}")
        return result

    async def read_piece(self, piece: PieceTask) -> Piece:
        """A piece of a page, read (its temp outputs for `JoinTask`)."""
        result = await self._call(piece)
        if not isinstance(result, Piece):
            raise StageFailed(f"page {piece.page}: the worker answered {type(result).__name__}")
        return result

    async def _call(self, task: WorkerTask) -> object:
        if self._closed:
            raise ServiceUnavailable("the OCR service is shutting down")
        await self._top_up()
        self._waiting += 1
        try:
            worker = await self._idle.get()
        finally:
            self._waiting -= 1
        timeout_s = self._config.page_timeout_s
        try:
            loop = asyncio.get_running_loop()
            kind, payload = await loop.run_in_executor(self._waiters, worker.call, task, timeout_s)
        except TimeoutError as e:
            self._retire(worker, task)
            raise StageFailed(f"page {task.page} took longer than OCR_PAGE_TIMEOUT_S={timeout_s:g} s") from e
        except (EOFError, OSError) as e:
            self._retire(worker, task)
            raise StageFailed(f"the OCR worker died on page {task.page}") from e
        except BaseException:
            # Cancelled while the worker is busy: its answer would reach the next task, so it goes.
            self._retire(worker, task)
            raise
        self._idle.put_nowait(worker)
        if kind == OK:
            return payload
        raise StageFailed(f"page {task.page}: {payload}")

    async def close(self) -> None:
        """Ask every worker to stop, then kill those still running after the grace period."""
        self._closed = True
        # Not cancelled: a worker being started in a thread would be lost; closed, _top_up reaps it instead.
        await asyncio.gather(*self._replacing, return_exceptions=True)
        workers, self._workers = list(self._workers), set()
        await asyncio.to_thread(_stop_all, workers, self._config.worker_stop_grace_s)
        self._waiters.shutdown(wait=False)


def _stop_all(workers: list[_Worker], grace_s: float) -> None:
    for worker in workers:
        with contextlib.suppress(OSError, ValueError):
            worker.conn.send(None)
    deadline = time.monotonic() + grace_s
    for worker in workers:
        worker.process.join(max(0.0, deadline - time.monotonic()))
        if worker.process.is_alive():
            log.warning("OCR worker %s did not stop within %g s: killing it", worker.process.pid, grace_s)
        worker.reap()
