"""Keeps the index equal to the disk: watchfiles events for freshness, a periodic full rescan for truth.

Events are hints: each names a job whose state.json is then re-read (one `fstat` when nothing changed). watchfiles
reports nothing when the kernel's inotify queue overflows, so the rescan every `rescan_s` reconciles whatever an
event stream missed. When native watching is impossible (watch limit, network filesystem, forced) the watcher
polls instead and says so once.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from watchfiles import Change, awatch

from services.common.clock import now_iso
from services.common.job import is_valid_job_key
from services.common.paths import STATE_FILE

from .config import Config
from .filesystem import filesystem_type, is_network_filesystem
from .index import JobIndex
from .metrics_file import MetricsFileReader
from .scan import full_scan, refresh_jobs
from .status import POLLING, SidecarStatus

log = logging.getLogger(__name__)

# Re-reading a burst of jobs yields to the event loop this often, so requests are served during a burst.
REFRESH_CHUNK = 256
# While polling, a rescan every few polls catches what the poller cannot see (see `rescan_interval_s`).
POLLS_PER_RESCAN = 3
MIN_POLLING_RESCAN_S = 1.0
# After a watcher failure: wait, then start it again (and rescan, since events were lost meanwhile).
RESTART_DELAY_S = 1.0
# How often to look for a data folder that does not exist yet (the orchestrator creates it).
MISSING_FOLDER_POLL_S = 1.0


class _StartSignal:
    """The stop event handed to watchfiles; its first check (by the watch thread) proves the watches are in place."""

    def __init__(self, on_start: Callable[[], object]) -> None:
        self._on_start: Callable[[], object] | None = on_start
        self._stopped = False

    def is_set(self) -> bool:
        if self._on_start is not None:
            on_start, self._on_start = self._on_start, None
            on_start()
        return self._stopped

    def set(self) -> None:
        self._stopped = True


class Watcher:
    def __init__(self, config: Config, index: JobIndex, metrics: MetricsFileReader, status: SidecarStatus) -> None:
        self.config, self.index, self.metrics, self.status = config, index, metrics, status
        self.jobs_dir = config.paths.jobs_dir.absolute()
        self.metrics_path = config.paths.metrics_path.absolute()
        self._jobs_prefix = f"{self.jobs_dir}/"
        self._rescan_lock = asyncio.Lock()
        self._polling = config.force_polling
        if config.force_polling:
            self._use_polling("SIDECAR_FORCE_POLLING=true")

    async def run(self) -> None:
        """Scan, start watching, catch up, then rescan forever.

        The first scan runs before any watch exists, so its own thousands of opens raise no inotify events for the
        watch thread to chew on. The catch-up pass after the watches are in place finds whatever changed during the
        scan; it costs one `stat` per unchanged job, and only then is the sidecar ready.
        """
        await self._wait_for_folder(self.jobs_dir)
        fs_type = filesystem_type(self.jobs_dir)
        if not self._polling and is_network_filesystem(fs_type):
            self._use_polling(f"the jobs folder is on {fs_type}")
        phases = [time.perf_counter()]
        self.index.defer_order()
        await self._scan_until_done()
        phases.append(time.perf_counter())
        jobs_started, metrics_started = asyncio.Event(), asyncio.Event()
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._watch_jobs(jobs_started))
            tasks.create_task(self._watch_metrics(metrics_started))
            await jobs_started.wait()
            await metrics_started.wait()
            phases.append(time.perf_counter())
            await self._scan_until_done()
            phases.append(time.perf_counter())
            self._record_initial_scan(phases)
            tasks.create_task(self._rescan_forever())

    async def _scan_until_done(self) -> None:
        while True:
            try:
                await full_scan(self.index, self.jobs_dir, self.config.max_state_bytes)
                self.metrics.refresh()
                return
            except Exception:
                log.exception("initial scan failed; trying again in %.1f s", RESTART_DELAY_S)
                await asyncio.sleep(RESTART_DELAY_S)

    def _record_initial_scan(self, phases: list[float]) -> None:
        duration_s = phases[-1] - phases[0]
        status = self.status
        status.scanned, status.initial_scan_duration_s = True, round(duration_s, 4)
        steps = zip(("scan", "watchSetup", "catchUp"), itertools.pairwise(phases), strict=True)
        status.initial_scan_phases_s = {name: round(end - start, 4) for name, (start, end) in steps}
        # 100k entries never become garbage as a whole: keep the collector from walking them again and again.
        gc.freeze()
        status.last_rescan_at, status.last_rescan_unix_s = now_iso(), time.time()
        status.last_rescan_duration_s = round(duration_s, 4)
        status.rescans_total += 1
        status.touch()
        log.info("initial scan: %d jobs in %.3f s", len(self.index), duration_s, extra={"jobs": len(self.index)})

    async def rescan(self) -> int:
        """Full scan, in chunks on the loop; returns how many jobs it changed (what events had missed)."""
        async with self._rescan_lock:
            started = time.perf_counter()
            repairs = await full_scan(self.index, self.jobs_dir, self.config.max_state_bytes)
            self.metrics.refresh()
            duration_s = time.perf_counter() - started
            status = self.status
            status.repairs_total += repairs
            if repairs:
                log.warning("rescan repaired %d jobs that events had missed", repairs, extra={"repairs": repairs})
            status.rescans_total += 1
            status.last_rescan_at, status.last_rescan_unix_s = now_iso(), time.time()
            status.last_rescan_duration_s, status.last_rescan_repairs = round(duration_s, 4), repairs
            status.touch()
            return repairs

    def rescan_interval_s(self) -> float:
        """`SIDECAR_RESCAN_S`, or much sooner while polling: the poller keys on whole-second mtimes and misses a
        state.json rewritten within the second it last saw, and a rescan (one stat per job) costs about a poll."""
        if not self._polling:
            return self.config.rescan_s
        return min(self.config.rescan_s, max(MIN_POLLING_RESCAN_S, POLLS_PER_RESCAN * self.config.poll_delay_ms / 1000))

    async def _rescan_forever(self) -> None:
        while True:
            await asyncio.sleep(self.rescan_interval_s())
            try:
                await self.rescan()
            except Exception:
                log.exception("rescan failed; trying again in %.1f s", self.config.rescan_s)

    async def _watch_jobs(self, started: asyncio.Event) -> None:
        def running(value: bool) -> None:
            self.status.jobs_watch_running = value
            started.set()

        await self._watch_forever(self.jobs_dir, True, self._is_job_change, self._on_job_changes, running)

    async def _watch_metrics(self, started: asyncio.Event) -> None:
        await self._wait_for_folder(self.metrics_path.parent)

        def running(value: bool) -> None:
            self.status.metrics_watch_running = value
            started.set()

        def is_metrics(change: Change, path: str) -> bool:
            return path == str(self.metrics_path)

        await self._watch_forever(self.metrics_path.parent, False, is_metrics, self._on_metrics_changes, running)

    async def _watch_forever(
        self,
        folder: Path,
        recursive: bool,
        keep: Callable[[Change, str], bool],
        on_changes: Callable[[set[tuple[Change, str]]], Awaitable[None]],
        running: Callable[[bool], None],
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            signal = _StartSignal(lambda: loop.call_soon_threadsafe(running, True))
            try:
                async for changes in awatch(
                    folder,
                    watch_filter=keep,
                    debounce=self.config.debounce_ms,
                    step=self.config.step_ms,
                    stop_event=signal,
                    recursive=recursive,
                    force_polling=self._polling,
                    poll_delay_ms=self.config.poll_delay_ms,
                    ignore_permission_denied=True,
                ):
                    await on_changes(changes)
            except OSError as e:
                if self._polling:
                    log.exception("watching %s failed", folder)
                else:
                    self._use_polling(f"native watching failed: {e}")
            except Exception:
                log.exception("watching %s failed", folder)
            running(False)
            await self._after_watch_failure()

    async def _after_watch_failure(self) -> None:
        self.status.watcher_restarts_total += 1
        self.status.touch()
        await asyncio.sleep(RESTART_DELAY_S)
        if self.status.scanned:
            self._rescan_soon()

    def _rescan_soon(self) -> None:
        task = asyncio.ensure_future(self.rescan())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def _use_polling(self, reason: str) -> None:
        self._polling = True
        self.status.watch_mode, self.status.polling_reason = POLLING, reason
        self.status.touch()
        log.warning("watching by polling every %d ms: %s", self.config.poll_delay_ms, reason)

    def _is_job_change(self, change: Change, path: str) -> bool:
        return self._job_key_of(path) is not None

    def _job_key_of(self, path: str) -> str | None:
        """The job a path is about: its folder, or its state.json; anything deeper or a temp file is noise."""
        if not path.startswith(self._jobs_prefix):
            return None
        parts = path[len(self._jobs_prefix) :].split("/")
        key = parts[0]
        if key.startswith(".") or not is_valid_job_key(key):
            return None
        return key if len(parts) == 1 or (len(parts) == 2 and parts[1] == STATE_FILE) else None

    async def _on_job_changes(self, changes: set[tuple[Change, str]]) -> None:
        keys = list({key for _, path in changes if (key := self._job_key_of(path)) is not None})
        self.status.events_total += len(changes)
        for start in range(0, len(keys), REFRESH_CHUNK):
            if start:
                await asyncio.sleep(0)
            refresh_jobs(self.index, self.jobs_dir, keys[start : start + REFRESH_CHUNK], self.config.max_state_bytes)
        self.status.touch()

    async def _on_metrics_changes(self, changes: set[tuple[Change, str]]) -> None:
        self.status.events_total += len(changes)
        if self.metrics.refresh():
            self.status.touch()

    async def _wait_for_folder(self, folder: Path) -> None:
        if folder.is_dir():
            return
        log.warning("waiting for %s to exist", folder)
        while not folder.is_dir():
            await asyncio.sleep(MISSING_FOLDER_POLL_S)
