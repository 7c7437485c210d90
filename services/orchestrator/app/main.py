"""The orchestrator's loop: `process_loop()` calls `process_tick()` until SIGTERM/SIGINT.

One tick: redo failed writes, check free disk space, take complete files from the inbox, collect
finished stage calls, dispatch queued work within the concurrency limits, write metrics.json.
A tick never waits on a stage call; stage calls run on worker threads (see `dispatch`).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from services.common.atomic import remove_temp_files
from services.common.clock import from_epoch, parse_time
from services.common.errors import ConfigError
from services.common.job import (
    Job,
    JobState,
    Stage,
    complete_ocr,
    complete_prep,
    mark_running,
    record_failure,
    requeue,
    schedule_retry,
)
from services.common.logs import bind_job, configure_logging

from .config import Config
from .dispatch import Dispatcher, Finished, backoff_s
from .intake import Inbox
from .metrics import Counters, MetricsWriter, counters_dict
from .stages import Outcome
from .store import JobStore

log = logging.getLogger(__name__)

# A failing path is logged again at most this often, so a full disk does not flood the log.
DISK_ERROR_LOG_INTERVAL_S = 30.0
# How long a job waits before probing a stage service that was unreachable.
UNAVAILABLE_RETRY_S = 1.0


class Orchestrator:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.counters = Counters.load(config.paths.metrics_path)
        self.store = JobStore(config.paths, self._on_disk_error)
        self.inbox = Inbox(config.paths.inbox_dir, self.store, config.inbox_settle_s, config.intake_batch)
        self.dispatcher = Dispatcher(config)
        self.metrics = MetricsWriter(config.paths.metrics_path, config.metrics_heartbeat_s)
        self.due: dict[str, float] = {}
        self.paused = False
        self._disk_error_logged: dict[Path, float] = {}

    def start(self) -> None:
        """Load every job from disk once; interrupted jobs are queued again."""
        self.config.paths.inbox_dir.mkdir(parents=True, exist_ok=True)
        self.config.paths.metrics_path.parent.mkdir(parents=True, exist_ok=True)
        # Only this process writes metrics.json, so any temp file of it was left by a killed predecessor.
        remove_temp_files(self.config.paths.metrics_path.parent, self.config.paths.metrics_path.name)
        self.store.load()
        for job in self.store.active.values():
            if job.next_attempt_at:
                self.due[job.job_key] = parse_time(job.next_attempt_at).timestamp()

    def tick(self) -> None:
        self.store.flush()
        self.paused = self._disk_is_short()
        if not self.paused:
            self._take_inbox()
        for finished in self.dispatcher.collect():
            self._apply(finished)
        if not self.paused:
            self._dispatch()
        self._write_metrics()

    def shutdown(self) -> None:
        """Let running calls finish within the grace period; anything still running is redone at next start."""
        if self.dispatcher.in_flight:
            log.info(
                "stopping: waiting up to %.0fs for %d stage calls",
                self.config.shutdown_grace_s,
                self.dispatcher.in_flight,
            )
        for finished in self.dispatcher.wait_idle(self.config.shutdown_grace_s):
            self._apply(finished)
        self.store.flush()
        self._write_metrics()
        log.info("orchestrator stopped", extra={"unfinishedCalls": self.dispatcher.in_flight})

    # --- intake -------------------------------------------------------------------------------------

    def _take_inbox(self) -> None:
        try:
            ready = self.inbox.ready_files()
        except OSError as e:
            log.error("cannot read the inbox: %s", e, extra={"path": str(self.config.paths.inbox_dir)})
            return
        for path in ready:
            try:
                if self.inbox.adopt(path) is None:
                    self.counters.duplicates += 1
            except FileNotFoundError:
                continue  # taken away while we looked at it
            except OSError as e:
                self._on_disk_error(path, e)
                return

    # --- results ------------------------------------------------------------------------------------

    def _apply(self, finished: Finished) -> None:
        job = self.store.active.get(finished.job_key)
        if job is None or job.state is not JobState.RUNNING or job.stage is not finished.stage:
            return  # a stale answer for a job that moved on
        with bind_job(job.job_key, job.stage.value, job.attempt):
            self._apply_result(job, finished)
        self.store.save(job)

    def _apply_result(self, job: Job, finished: Finished) -> None:
        result = finished.result
        if result.outcome is Outcome.OK:
            self._complete(job, result.body, result.duration_s)
        elif result.outcome is Outcome.BAD_DOCUMENT:
            record_failure(job, result.error)
            log.warning("job failed: %s", result.error["message"], extra={"errorType": result.error["type"]})
        elif result.outcome is Outcome.UNAVAILABLE:
            self.counters.stage_unavailable += 1
            job.error = result.error
            self._set_due(job, UNAVAILABLE_RETRY_S)
            requeue(job, "stage service unavailable", job.next_attempt_at)
        elif result.outcome is Outcome.DISK_ERROR:
            self.counters.disk_error += 1
            job.error = result.error
            self._set_due(job, backoff_s(1, self.config.retry_base_s, self.config.retry_max_s))
            requeue(job, "stage service hit a disk error", job.next_attempt_at)
            log.error("stage could not write: %s", result.error["message"], extra={"errorType": "DiskError"})
        elif job.attempt >= self.config.max_attempts:
            error = {**result.error, "message": f"gave up after {job.attempt} attempts: {result.error['message']}"}
            record_failure(job, error)
            log.error("job failed: %s", error["message"], extra={"errorType": error["type"]})
        else:
            delay_s = backoff_s(job.attempt, self.config.retry_base_s, self.config.retry_max_s)
            self._set_due(job, delay_s)
            self.counters.retries += 1
            schedule_retry(job, result.error, job.next_attempt_at or "")
            log.warning(
                "attempt failed (%s), retry in %.1fs",
                result.error["message"],
                delay_s,
                extra={"errorType": result.error["type"], "retryInS": round(delay_s, 2)},
            )

    def _complete(self, job: Job, body: dict[str, object], duration_s: float) -> None:
        if job.stage is Stage.PREP:
            complete_prep(job, int(str(body.get("pages", 0))), duration_s)
            log.info("prep done: %s pages in %.2fs", body.get("pages"), duration_s)
            return
        result = {k: v for k, v in body.items() if k != "durationS"}
        complete_ocr(job, result, duration_s)
        log.info("job done: %s pages, mean confidence %s", body.get("pages"), body.get("meanConfidence"))

    def _set_due(self, job: Job, delay_s: float) -> None:
        due = time.time() + delay_s
        self.due[job.job_key] = due
        job.next_attempt_at = from_epoch(due)

    # --- dispatch -----------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        now, mono = time.time(), time.monotonic()
        queued = [
            j for j in self.store.active.values() if j.state is JobState.QUEUED and self.due.get(j.job_key, 0) <= now
        ]
        if not queued:
            return
        # Finish what was started before starting new documents: OCR first, then oldest first.
        queued.sort(key=lambda j: (j.stage is not Stage.OCR, j.created_at))
        admitted = sum(1 for j in self.store.active.values() if _is_admitted(j))
        for job in queued:
            stage = job.stage
            if self.dispatcher.capacity(stage) <= 0 or not self.dispatcher.health[stage].may_dispatch(mono):
                continue
            if not _is_admitted(job):
                if admitted >= self.config.max_jobs_in_flight:
                    continue
                admitted += 1
            self.due.pop(job.job_key, None)
            mark_running(job)
            self.store.save(job)
            with bind_job(job.job_key, stage.value, job.attempt):
                log.info("dispatching %s (attempt %d)", stage.value, job.attempt)
                self.dispatcher.start(job)

    # --- disk and metrics ---------------------------------------------------------------------------

    def _disk_is_short(self) -> bool:
        try:
            st = os.statvfs(self.config.paths.jobs_dir)
        except OSError as e:
            self._on_disk_error(self.config.paths.jobs_dir, e)
            return True
        free_mb = st.f_bavail * st.f_frsize / (1 << 20)
        short = free_mb < self.config.min_free_disk_mb or self.store.pending_writes > 0
        if short != self.paused:
            if short:
                log.error(
                    "pausing intake and dispatch: %.0f MB free on the jobs volume (minimum %d), %d writes pending",
                    free_mb,
                    self.config.min_free_disk_mb,
                    self.store.pending_writes,
                    extra={"path": str(self.config.paths.jobs_dir), "event": "paused"},
                )
            else:
                log.warning("resuming intake and dispatch: %.0f MB free", free_mb, extra={"event": "resumed"})
        return short

    def _on_disk_error(self, path: Path, error: OSError) -> None:
        self.counters.disk_error += 1
        now = time.monotonic()
        if now - self._disk_error_logged.get(path, -DISK_ERROR_LOG_INTERVAL_S) >= DISK_ERROR_LOG_INTERVAL_S:
            self._disk_error_logged[path] = now
            log.error(
                "disk error on %s: %s", path, error.strerror or error, extra={"path": str(path), "errno": error.errno}
            )

    def metric_values(self) -> dict[str, object]:
        states = {state: self.store.finished_counts[state] for state in JobState}
        for job in self.store.active.values():
            states[job.state] += 1
        return {
            "jobs_done": states[JobState.DONE],
            "jobs_error": states[JobState.ERROR],
            "jobs_running": states[JobState.RUNNING],
            "jobs_queued": states[JobState.QUEUED],
            "prep_running": len(self.dispatcher.running[Stage.PREP]),
            "ocr_running": len(self.dispatcher.running[Stage.OCR]),
            "intake_paused": self.paused,
            # Derived from the jobs, so a kill between a state write and a metrics write cannot lose them.
            "pages_done": self.store.pages_done,
            "jobs_created": len(self.store),
            **counters_dict(self.counters),
        }

    def _write_metrics(self) -> None:
        try:
            self.metrics.write(self.metric_values())
        except OSError as e:
            self._on_disk_error(self.metrics.path, e)


def _is_admitted(job: Job) -> bool:
    """A job counts against MAX_JOBS_IN_FLIGHT once its first stage has been dispatched."""
    return job.stage is Stage.OCR or job.state is JobState.RUNNING or "prep" in job.stage_info


def process_tick(orchestrator: Orchestrator) -> None:
    """One pass of the loop; tests call it directly, like a burst mode."""
    orchestrator.tick()


def process_loop(config: Config | None = None, stop: threading.Event | None = None) -> None:
    """Tick every TICK_INTERVAL_S until `stop` is set (SIGTERM/SIGINT set it), then shut down cleanly."""
    config = config or Config.from_env()
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    orchestrator = Orchestrator(config)
    orchestrator.start()
    log.info("orchestrator started", extra={"pid": os.getpid(), "jobs": len(orchestrator.store)})
    while not stop.is_set():
        started = time.monotonic()
        try:
            process_tick(orchestrator)
        except Exception:
            log.exception("tick failed; continuing")
        stop.wait(max(0.0, config.tick_interval_s - (time.monotonic() - started)))
    orchestrator.shutdown()


def main() -> None:
    configure_logging("orchestrator")
    try:
        config = Config.from_env()
    except ConfigError as e:
        log.error("invalid configuration: %s", e)
        sys.exit(2)
    log.info("orchestrator starting", extra={"config": config.to_log()})
    process_loop(config)
