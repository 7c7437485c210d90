"""One tick of the orchestrator: redo failed writes, check free disk space, take complete files from the inbox,
apply finished stage calls (as the policy decides), dispatch queued work within the limits, write metrics.json.

A tick never waits on a stage call; stage calls run on the dispatcher's worker threads (see `dispatch`).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from services.common.atomic import remove_temp_files
from services.common.job import (
    Job,
    JobState,
    Stage,
    complete_ocr,
    complete_prep,
    end_attempt,
    mark_running,
    postpone,
    record_failure,
    schedule_retry,
)
from services.common.logs import bind_job
from services.common.metrics import (
    INBOX_IGNORED,
    INTAKE_PAUSED,
    JOBS_BY_STATE,
    RUNNING_BY_STAGE,
    SERVICE_BY_STAGE,
    Counters,
)

from .config import Config
from .dispatch import Dispatcher, Finished
from .intake import Inbox
from .metrics import MetricsWriter
from .policy import Action, Decision, decide
from .retries import apply_retry_requests
from .stages import Outcome, StageResult
from .store import JobStore

log = logging.getLogger(__name__)

# A failing path is logged again at most this often, so a full disk does not flood the log.
DISK_ERROR_LOG_INTERVAL_S = 30.0


class Orchestrator:
    def __init__(self, config: Config, dispatcher: Dispatcher | None = None) -> None:
        self.config = config
        self.counters = Counters.load(config.paths.metrics_path)
        self.store = JobStore(config.paths, self._on_disk_error)
        self.inbox = Inbox(config.paths.inbox_dir, self.store, config.inbox_settle_s, config.intake_batch)
        self.dispatcher = dispatcher or Dispatcher(config)
        self.metrics = MetricsWriter(config.paths.metrics_path, config.metrics_heartbeat_s)
        self.paused = False
        self._disk_error_logged: dict[Path, float] = {}

    def start(self) -> None:
        """Load every job from disk once; interrupted jobs are queued again."""
        self.config.paths.inbox_dir.mkdir(parents=True, exist_ok=True)
        self.config.paths.metrics_path.parent.mkdir(parents=True, exist_ok=True)
        # Only this process writes metrics.json, so any temp file of it was left by a killed predecessor.
        remove_temp_files(self.config.paths.metrics_path.parent, self.config.paths.metrics_path.name)
        self.store.load()
        self.counters.catch_up(len(self.store), self.store.pages_done)

    def tick(self) -> None:
        self.store.flush()
        self.paused = self._disk_is_short()
        if not self.paused:
            self._take_inbox()
        for finished in self.dispatcher.collect():
            self._apply(finished)
        if not self.paused:
            self.counters.retries_requested += apply_retry_requests(self.store, self.config.paths.requests_dir)
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
                else:
                    self.counters.jobs_created += 1
            except FileNotFoundError:
                continue  # taken away while we looked at it
            except OSError as e:
                self._on_disk_error(path, e)
                return

    # --- results ------------------------------------------------------------------------------------

    def _apply(self, finished: Finished) -> None:
        job = self.store.active.get(finished.job_key)
        if job is None or not finished.is_for(job):
            return  # a stale answer for a job that moved on
        with bind_job(job.job_key, job.stage.value, job.attempt):
            now = time.time()
            decision = decide(job, finished.result, self.config, now)
            self._count(finished, decision)
            _log_decision(job, finished.result.outcome, decision, now)
            end_attempt(job, finished.result.outcome.value, finished.result.duration_s, finished.result.error or None)
            self._carry_out(job, finished.result, decision)
            if job.state is JobState.DONE and job.result:
                self.counters.pages_done += int(job.result.get("pages", 0))
        self.store.save(job)

    def _count(self, finished: Finished, decision: Decision) -> None:
        outcome = finished.result.outcome
        if outcome is Outcome.UNAVAILABLE and not finished.during_startup:
            self.counters.stage_unavailable += 1
        elif outcome is Outcome.DISK_ERROR:
            self.counters.disk_error += 1
        if decision.action is Action.RETRY:
            self.counters.retries += 1

    def _carry_out(self, job: Job, result: StageResult, decision: Decision) -> None:
        """The decision, through the job's verbs."""
        if decision.action is Action.COMPLETE:
            _complete(job, result)
        elif decision.action is Action.FAIL:
            record_failure(job, decision.error)
        elif decision.action is Action.RETRY:
            schedule_retry(job, decision.error, decision.retry_at_unix_s)
        else:
            postpone(job, decision.error, decision.retry_at_unix_s, decision.note)

    # --- dispatch -----------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        now, mono = time.time(), time.monotonic()
        queued = [j for j in self.store.active.values() if j.is_due(now)]
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
            **{name: states[state] for state, name in JOBS_BY_STATE.items()},
            **{name: len(self.dispatcher.running[stage]) for stage, name in RUNNING_BY_STAGE.items()},
            **{name: self.dispatcher.health[stage].status for stage, name in SERVICE_BY_STAGE.items()},
            INTAKE_PAUSED: self.paused,
            INBOX_IGNORED: self.inbox.ignored_count,
            **self.counters.to_json(),
        }

    def _write_metrics(self) -> None:
        try:
            self.metrics.write(self.metric_values())
        except OSError as e:
            self._on_disk_error(self.metrics.path, e)


def _complete(job: Job, result: StageResult) -> None:
    body, duration_s = result.body, result.duration_s
    if job.stage is Stage.PREP:
        complete_prep(job, int(str(body.get("pages", 0))), duration_s)
        log.info("prep done: %s pages in %.2fs", body.get("pages"), duration_s)
        return
    complete_ocr(job, {k: v for k, v in body.items() if k != "durationS"}, duration_s)
    log.info("job done: %s pages, mean confidence %s", body.get("pages"), body.get("meanConfidence"))


def _log_decision(job: Job, outcome: Outcome, decision: Decision, now_unix_s: float) -> None:
    """One line per failed call, at the level it deserves; an outage is logged by the service's health instead."""
    error = decision.error
    extra: dict[str, object] = {"errorType": error.get("type")}
    if decision.action is Action.FAIL:
        level = logging.WARNING if outcome is Outcome.BAD_DOCUMENT else logging.ERROR
        log.log(level, "job failed: %s", error["message"], extra=extra)
    elif decision.action is Action.RETRY:
        delay_s = round(max(0.0, decision.retry_at_unix_s - now_unix_s), 2)
        if outcome is Outcome.REJECTED:
            # A service that cannot find a job the orchestrator made sees another disk: nothing a retry cures alone.
            log.error(
                "the %s service refused a valid request (%s), retry in %.1fs: is its JOBS_DIR the shared jobs volume?",
                job.stage.value.lower(),
                error["message"],
                delay_s,
                extra={**extra, "retryInS": delay_s},
            )
        else:
            log.warning(
                "attempt failed (%s), retry in %.1fs", error["message"], delay_s, extra={**extra, "retryInS": delay_s}
            )
    elif outcome is Outcome.DISK_ERROR:
        log.error("stage could not write: %s", error["message"], extra={"errorType": "DiskError"})


def _is_admitted(job: Job) -> bool:
    """A job counts against MAX_JOBS_IN_FLIGHT once its first stage has been dispatched."""
    return job.stage is Stage.OCR or job.state is JobState.RUNNING or "prep" in job.stage_info
