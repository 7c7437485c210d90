"""Keeps the index equal to the disk, and says how far behind it may be.

Native mode: inotify events (see `native`) name the jobs to re-read; a job folder that cannot be watched (the watch
limit) is polled instead; a queue overflow or a dying watcher triggers a rescan at once, and the watcher restarts.
Polling mode (forced, network filesystems, native watching down): the change journal names what the orchestrator
changed (see `services.common.journal`); without a journal, frequent rescans. A periodic rescan reconciles
whatever any of these missed. Each degradation is said once in the log and always in `status` (watch mode,
unwatched jobs, staleness: the age of the oldest change that may not have been seen).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Iterator
from pathlib import Path

from services.common.clock import now_iso
from services.common.journal import JournalReader

from .config import Config
from .coverage import Coverage
from .filesystem import filesystem_type, is_network_filesystem
from .index import JobIndex
from .metrics_file import MetricsFileReader
from .native import NativeWatch
from .scan import full_scan, refresh_jobs
from .status import SidecarStatus

log = logging.getLogger(__name__)

# Re-reading a burst of jobs yields to the event loop this often, so requests are served during a burst.
REFRESH_CHUNK = 256
# After a watcher failure: wait, then start it again (and rescan, since events were lost meanwhile).
RESTART_DELAY_S = 1.0
# How often to look for a data folder that does not exist yet (the orchestrator creates it).
MISSING_FOLDER_POLL_S = 1.0


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No garbage collection during the initial scan, and what it built frozen afterwards.

    The scan allocates a few dozen objects per job and frees almost all of them by reference counting (parsed JSON
    holds no cycles); the collector, triggered by allocation counts alone, walked the growing index again and again
    meanwhile: about a sixth of the scan at 100k jobs. The index never becomes garbage as a whole either, so once
    built it is frozen (moved out of the collector's reach) rather than walked by every later full collection.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


class Watcher:
    def __init__(self, config: Config, index: JobIndex, metrics: MetricsFileReader, status: SidecarStatus) -> None:
        self.config, self.index, self.metrics, self.status = config, index, metrics, status
        self.jobs_dir = config.paths.jobs_dir.absolute()
        self.metrics_path = config.paths.metrics_path.absolute()
        self.native: NativeWatch | None = None
        self.coverage = Coverage(config, status, JournalReader(self.jobs_dir))
        self._forced: str | None = "SIDECAR_FORCE_POLLING=true" if config.force_polling else None
        self._pending: set[str] = set()
        self._wake = asyncio.Event()
        self._rescan_lock = asyncio.Lock()
        self._rescan_queued = False
        self._tasks: asyncio.TaskGroup | None = None
        self._restarting: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """Watch, scan (each job watched just before it is read: no catch-up pass needed), then keep current."""
        await self._wait_for_folder(self.jobs_dir)
        if self._forced is None and is_network_filesystem(fs_type := filesystem_type(self.jobs_dir)):
            self._forced = f"the jobs folder is on {fs_type}"
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                tasks.create_task(self._apply_forever())
                if self._forced is not None:
                    self.coverage.polling(self._forced, since=time.monotonic())
                elif (problem := self._start_native()) is not None:
                    self._native_down(f"cannot watch {self.jobs_dir}: {problem}", time.monotonic())
                await self._initial_scan()
                tasks.create_task(self._cover_forever())
                tasks.create_task(self._rescan_forever())
        finally:
            self._stop_native()

    async def _initial_scan(self) -> None:
        started = time.perf_counter()
        self.index.defer_order()
        while True:
            try:
                with _collector_paused():
                    await self.rescan(initial=True)
                break
            except Exception:
                log.exception("initial scan failed; trying again in %.1f s", RESTART_DELAY_S)
                await asyncio.sleep(RESTART_DELAY_S)
        duration_s = round(time.perf_counter() - started, 4)
        status = self.status
        status.scanned, status.initial_scan_duration_s = True, duration_s
        status.initial_scan_phases_s = {"scanAndWatch": duration_s}
        self.coverage.report(self.native, len(self.index))
        log.info("initial scan: %d jobs in %.3f s", len(self.index), duration_s, extra={"jobs": len(self.index)})

    async def rescan(self, initial: bool = False) -> int:
        """Full scan, in chunks on the loop (re-adding any missing watch); returns how many jobs it changed."""
        async with self._rescan_lock:
            self._rescan_queued = False
            started, started_perf = time.monotonic(), time.perf_counter()
            self.coverage.before_rescan()
            native = self.native
            repairs = await full_scan(
                self.index, self.jobs_dir, self.config.max_state_bytes, native.watch_job if native else None
            )
            self.metrics.refresh()
            self.coverage.after_rescan(started)
            duration_s = time.perf_counter() - started_perf
            status = self.status
            if not initial:
                status.repairs_total += repairs
                if repairs:
                    log.warning("rescan repaired %d jobs that events had missed", repairs, extra={"repairs": repairs})
            status.rescans_total += 1
            status.last_rescan_at, status.last_rescan_unix_s = now_iso(), time.time()
            status.last_rescan_duration_s, status.last_rescan_repairs = round(duration_s, 4), repairs
            status.touch()
            return repairs

    def rescan_soon(self) -> None:
        """One rescan as soon as the current one (if any) is done; requests made meanwhile share it."""
        if self._rescan_queued or self._tasks is None:
            return
        self._rescan_queued = True
        self._tasks.create_task(self._rescan_logged())

    async def _rescan_logged(self) -> None:
        try:
            await self.rescan()
        except Exception:
            log.exception("rescan failed")

    async def _rescan_forever(self) -> None:
        while True:
            await asyncio.sleep(self.coverage.rescan_interval_s(self.native))
            await self._rescan_logged()

    def _start_native(self) -> str | None:
        """Start inotify on the jobs folder; returns why it cannot be, or None."""
        try:
            native = NativeWatch(self.jobs_dir, self.metrics_path)
        except OSError as e:
            return e.strerror or str(e)
        native.watch_metrics()
        asyncio.get_running_loop().add_reader(native.fileno(), self._on_readable)
        self.native = native
        self.coverage.native_started()
        return None

    def _stop_native(self) -> None:
        native, self.native = self.native, None
        if native is not None:
            asyncio.get_running_loop().remove_reader(native.fileno())
            native.close()

    def _on_readable(self) -> None:
        native = self.native
        if native is None:
            return
        drained_before = self.coverage.drained_at
        try:
            changes = native.read()
        except Exception as e:  # a dying watcher: never stale in silence
            log.exception("reading inotify events failed")
            self._native_down(f"reading inotify events failed: {e}", drained_before)
            return
        self.coverage.drained_at = time.monotonic()
        self.status.events_total += changes.events
        if changes.metrics and self.metrics.refresh():
            self.status.touch()
        if changes.overflow and self.coverage.overflowed(drained_before):
            self.rescan_soon()
        if changes.jobs_dir_lost:
            self._native_down("the jobs folder's watch is gone (folder deleted, moved or unmounted)", drained_before)
        if changes.keys:
            self._pending |= changes.keys
            self._wake.set()

    def _native_down(self, reason: str, since: float) -> None:
        """Native watching stopped: poll (journal or rescans) from now, rescan, and start it again soon."""
        self._stop_native()
        self.status.watcher_restarts_total += 1
        self.coverage.polling(f"native watching failed: {reason}", since)
        if self.status.scanned:
            self.rescan_soon()
        if self._tasks is not None and (self._restarting is None or self._restarting.done()):
            self._restarting = self._tasks.create_task(self._restart_native())

    async def _restart_native(self) -> None:
        """One at a time (see `_native_down`); a failure during its rescan is picked up by the loop."""
        while self.native is None:
            await asyncio.sleep(RESTART_DELAY_S)
            if self.jobs_dir.is_dir() and self._start_native() is None:
                await self._rescan_logged()  # watches every job again, and reads what changed meanwhile
                if self.native is not None:  # else it failed again meanwhile: keep trying
                    log.info("native watching is back: %d job folders watched", self.native.watched_jobs)

    async def _apply_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            keys, self._pending = list(self._pending), set()
            try:
                await self.refresh(keys)
            except Exception:
                log.exception("re-reading %d changed jobs failed; the rescan will catch up", len(keys))

    async def refresh(self, keys: list[str]) -> None:
        for start in range(0, len(keys), REFRESH_CHUNK):
            if start:
                await asyncio.sleep(0)
            refresh_jobs(self.index, self.jobs_dir, keys[start : start + REFRESH_CHUNK], self.config.max_state_bytes)
        self.status.touch()

    async def _cover_forever(self) -> None:
        """Whatever events do not cover: the journal or rescans while polling, the unwatched jobs in partial mode."""
        while True:
            await asyncio.sleep(self.coverage.cover_interval_s)
            try:
                if self.native is None:
                    await self._poll()
                else:
                    await self._cover_unwatched(self.native)
            except Exception:
                log.exception("polling failed; trying again")
            self.coverage.report(self.native, len(self.index))

    async def _poll(self) -> None:
        if self.metrics.refresh():
            self.status.touch()
        keys, must_rescan = self.coverage.read_journal()
        if keys:
            await self.refresh(list(keys))
        if must_rescan:
            await self._rescan_logged()

    async def _cover_unwatched(self, native: NativeWatch) -> None:
        native.watch_metrics()
        if not native.unwatched:
            return
        started = time.monotonic()
        for key in list(native.unwatched):
            native.watch_job(key)  # a freed watch (a job deleted) lets one of them be watched again
        keys = list(native.unwatched)
        await self.refresh(keys)
        for key in keys:
            if self.index.get(key) is None and not (self.jobs_dir / key).is_dir():
                native.unwatched.discard(key)  # its folder is gone: nothing left to poll
        self.coverage.unwatched_polled(started, time.monotonic() - started)

    async def _wait_for_folder(self, folder: Path) -> None:
        if folder.is_dir():
            return
        log.warning("waiting for %s to exist", folder)
        while not folder.is_dir():
            await asyncio.sleep(MISSING_FOLDER_POLL_S)
