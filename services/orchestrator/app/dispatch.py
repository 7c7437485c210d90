"""Stage calls on worker threads: the tick starts them and later collects their results, never waiting.

Threads are daemons so a stop never hangs on a slow call: an interrupted call leaves its job RUNNING
on disk, and the next start dispatches it again (stage work is idempotent). Tests pass `run_now` instead of
`run_on_thread`: each call then runs inside `start()`, and its result is collected by the next tick.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from services.common.job import Job, JobState, Stage
from services.common.logs import bind_job
from services.common.stage_api import OCR_PATH, PREP_PATH

from .config import Config
from .stages import Outcome, StageResult, call_stage

log = logging.getLogger(__name__)

# While a service is down we probe it with one job at a time, at most this often.
PROBE_INTERVAL_MAX_S = 15.0


# Runs one stage call (a blocking function) somewhere; the name is the thread's, for debuggers and tracebacks.
Runner = Callable[[Callable[[], None], str], None]


def run_on_thread(call: Callable[[], None], name: str) -> None:
    threading.Thread(target=call, name=name, daemon=True).start()


def run_now(call: Callable[[], None], name: str) -> None:
    """Synchronous: the call is over when `Dispatcher.start()` returns (for tests and benchmarks)."""
    call()


@dataclass(slots=True)
class Finished:
    job_key: str
    stage: Stage
    attempt: int
    result: StageResult

    def is_for(self, job: Job) -> bool:
        """Whether this answers the call the job is waiting for (not a stale one for a job that moved on)."""
        return job.state is JobState.RUNNING and (job.stage, job.attempt) == (self.stage, self.attempt)


class ServiceHealth:
    """Whether a stage service answers; an outage is logged once when it starts and once when it ends."""

    def __init__(self, name: str, url: str) -> None:
        self.name, self.url = name, url
        self.down_since: float | None = None
        self.next_probe_at = 0.0
        self._probes = 0

    def may_dispatch(self, now: float) -> bool:
        """Always while the service answers; during an outage, only when the next probe is due."""
        return self.down_since is None or now >= self.next_probe_at

    def probe_started(self, now: float) -> None:
        """During an outage, the next probe waits twice as long as the last (up to PROBE_INTERVAL_MAX_S)."""
        if self.down_since is not None:
            self._probes += 1
            self.next_probe_at = now + min(PROBE_INTERVAL_MAX_S, 2.0**self._probes)

    def record(self, outcome: Outcome, message: str, now: float) -> None:
        """Note a call's outcome (`now` on the monotonic clock): an outage starts or ends here."""
        if outcome is Outcome.UNAVAILABLE:
            if self.down_since is None:
                self.down_since, self._probes = now, 0
                self.next_probe_at = now + 1.0
                log.error(
                    "%s service is unreachable (%s); jobs wait and it is probed until it is back",
                    self.name,
                    message,
                    extra={"service_url": self.url, "event": "outage_start"},
                )
        elif self.down_since is not None:
            log.warning(
                "%s service is back after %.1fs",
                self.name,
                now - self.down_since,
                extra={"service_url": self.url, "event": "outage_end"},
            )
            self.down_since = None


class Dispatcher:
    """Starts stage calls within PREP_CONCURRENCY and OCR_CONCURRENCY and hands back their results."""

    def __init__(self, config: Config, run: Runner = run_on_thread) -> None:
        self.config = config
        self._run = run
        self.health = {
            Stage.PREP: ServiceHealth("prep", config.prep_url),
            Stage.OCR: ServiceHealth("ocr", config.ocr_url),
        }
        self.running: dict[Stage, set[str]] = {Stage.PREP: set(), Stage.OCR: set()}
        self._results: queue.SimpleQueue[Finished] = queue.SimpleQueue()

    def capacity(self, stage: Stage) -> int:
        limit = self.config.prep_concurrency if stage is Stage.PREP else self.config.ocr_concurrency
        return limit - len(self.running[stage])

    @property
    def in_flight(self) -> int:
        return sum(len(keys) for keys in self.running.values())

    def start(self, job: Job) -> None:
        """Start the job's current stage on a daemon thread; the job must already be marked RUNNING."""
        stage = job.stage
        self.running[stage].add(job.job_key)
        self.health[stage].probe_started(time.monotonic())
        url, payload, timeout_s = self._request_for(job)
        ctx = contextvars.copy_context()
        key, attempt = job.job_key, job.attempt
        self._run(
            lambda: ctx.run(self._call, key, stage, attempt, url, payload, timeout_s),
            f"{stage.value.lower()}-{key[:12]}",
        )

    def _request_for(self, job: Job) -> tuple[str, dict[str, object], float]:
        if job.stage is Stage.PREP:
            return (
                self.config.prep_url + PREP_PATH,
                {"jobKey": job.job_key, "input": job.input["path"]},
                self.config.prep_timeout_s,
            )
        return self.config.ocr_url + OCR_PATH, {"jobKey": job.job_key}, self.config.ocr_timeout_s

    def _call(
        self, job_key: str, stage: Stage, attempt: int, url: str, payload: dict[str, object], timeout_s: float
    ) -> None:
        with bind_job(job_key, stage.value, attempt):
            result = call_stage(self.health[stage].name, url, payload, job_key, stage.value, attempt, timeout_s)
        self._results.put(Finished(job_key, stage, attempt, result))

    def collect(self) -> list[Finished]:
        """Results of calls that finished since the last tick."""
        done: list[Finished] = []
        while True:
            try:
                item = self._results.get_nowait()
            except queue.Empty:
                return done
            self.running[item.stage].discard(item.job_key)
            self.health[item.stage].record(item.result.outcome, item.result.error.get("message", ""), time.monotonic())
            done.append(item)

    def wait_idle(self, timeout_s: float) -> list[Finished]:
        """At shutdown: collect results until no call runs or the grace period ends."""
        deadline = time.monotonic() + timeout_s
        done: list[Finished] = []
        while self.in_flight and time.monotonic() < deadline:
            done.extend(self.collect())
            time.sleep(0.05)
        return done + self.collect()
