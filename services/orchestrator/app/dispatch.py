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
from .replicas import Replicas, parse_urls
from .stages import Outcome, StageResult, call_stage

log = logging.getLogger(__name__)

# While a service is down we probe it with one job at a time, at most this often.
PROBE_INTERVAL_MAX_S = 15.0
# While a service starts, it is probed this often, so the first jobs go as soon as it listens.
STARTUP_PROBE_S = 1.0


# Runs one stage call (a blocking function) somewhere; the name is the thread's, for debuggers and tracebacks.
Runner = Callable[[Callable[[], None], str], None]


def _nothing() -> None:
    pass


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
    during_startup: bool = False
    """The service was not listening yet within its start-up grace: not an outage, not counted."""
    url: str = ""  # the replica that answered (or did not)

    def is_for(self, job: Job) -> bool:
        """Whether this answers the call the job is waiting for (not a stale one for a job that moved on)."""
        return job.state is JobState.RUNNING and (job.stage, job.attempt) == (self.stage, self.attempt)


class ServiceHealth:
    """Whether a stage service answers: `up`, `starting` (not listening yet, within its start-up grace), `down`.

    Nothing answering in the first STAGE_STARTUP_GRACE_S after the orchestrator starts is a service still starting
    (they start together), logged once at INFO and not counted as unavailable. Past the grace it is an outage,
    logged loudly once (with the URL: a wrong port is the usual cause), and once more when it ends.
    """

    def __init__(self, name: str, url: str, startup_grace_s: float = 0.0, started_at: float | None = None) -> None:
        self.name, self.url = name, url
        self.startup_grace_s = startup_grace_s
        self.grace_until = (time.monotonic() if started_at is None else started_at) + startup_grace_s
        self.answered = False
        self.waiting_since: float | None = None
        self.last_failure_at = 0.0
        self.starting = False
        self.next_probe_at = 0.0
        self._probes = 0

    @property
    def status(self) -> str:
        if self.waiting_since is None:
            return "up" if self.answered else "unknown"
        return "starting" if self.starting else "down"

    def may_dispatch(self, now: float) -> bool:
        """Always while the service answers; while it does not, only when the next probe is due."""
        return self.waiting_since is None or now >= self.next_probe_at

    def probe_started(self, now: float) -> None:
        """While down, the next probe waits twice as long as the last (up to PROBE_INTERVAL_MAX_S)."""
        if self.waiting_since is not None:
            self._probes += 1
            interval_s = STARTUP_PROBE_S if self.starting else min(PROBE_INTERVAL_MAX_S, 2.0**self._probes)
            self.next_probe_at = now + interval_s

    def record(self, outcome: Outcome, message: str, now: float) -> None:
        """Note a call's outcome (`now` on the monotonic clock): start-up, outages and their ends are logged here."""
        if outcome is not Outcome.UNAVAILABLE:
            self._answered(now)
            return
        self.last_failure_at = now
        if self.waiting_since is None:
            self.waiting_since, self._probes, self.next_probe_at = now, 0, now + STARTUP_PROBE_S
            self.starting = self.startup_grace_s > 0 and not self.answered and now < self.grace_until
            if self.starting:
                log.info(
                    "%s service is not listening yet at %s; jobs wait until it has started",
                    self.name,
                    self.url,
                    extra={"service_url": self.url, "event": "stage_starting"},
                )
                return
            self._log_outage(message)
        elif self.starting and now >= self.grace_until:
            self.starting = False
            self._log_outage(message, since_start=True)

    def _log_outage(self, message: str, since_start: bool = False) -> None:
        what = "still unreachable after its start-up grace" if since_start else "unreachable"
        log.error(
            "%s service is %s (%s); jobs wait and it is probed until it is back: is it running, and is %s_URL "
            "(or %s_PORT) right?",
            self.name,
            what,
            message,
            self.name.upper(),
            self.name.upper(),
            extra={"service_url": self.url, "event": "outage_start"},
        )

    def _answered(self, now: float) -> None:
        self.answered = True
        if self.waiting_since is None:
            return
        if self.starting:
            log.info("%s service is up", self.name, extra={"service_url": self.url, "event": "stage_ready"})
        else:
            # Between the last failed probe and this answer the service came back: the outage lies in between.
            log.warning(
                "%s service is back: it was unreachable for %.1fs to %.1fs",
                self.name,
                self.last_failure_at - self.waiting_since,
                now - self.waiting_since,
                extra={
                    "service_url": self.url,
                    "event": "outage_end",
                    "downMinS": round(self.last_failure_at - self.waiting_since, 2),
                    "downMaxS": round(now - self.waiting_since, 2),
                },
            )
        self.waiting_since, self.starting = None, False


class Dispatcher:
    """Starts stage calls within PREP_CONCURRENCY and OCR_CONCURRENCY and hands back their results."""

    def __init__(self, config: Config, run: Runner = run_on_thread) -> None:
        self.config = config
        self._run = run
        self.health = {
            Stage.PREP: ServiceHealth("prep", config.prep_url, config.stage_startup_grace_s),
            Stage.OCR: ServiceHealth("ocr", config.ocr_url, config.stage_startup_grace_s),
        }
        self.replicas = {
            Stage.PREP: Replicas(parse_urls(config.prep_url, "PREP_URL")),
            Stage.OCR: Replicas(parse_urls(config.ocr_url, "OCR_URL")),
        }
        self.running: dict[Stage, set[str]] = {Stage.PREP: set(), Stage.OCR: set()}
        self._results: queue.SimpleQueue[Finished] = queue.SimpleQueue()
        # Called on the call's thread once its result is queued: the loop wakes to apply it (wakeup.py).
        self.on_finished: Callable[[], None] = _nothing

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
        base_url = self.replicas[stage].pick(time.monotonic())
        path, payload, timeout_s = self._request_for(job)
        ctx = contextvars.copy_context()
        key, attempt = job.job_key, job.attempt
        self._run(
            lambda: ctx.run(self._call, key, stage, attempt, base_url, path, payload, timeout_s),
            f"{stage.value.lower()}-{key[:12]}",
        )

    def _request_for(self, job: Job) -> tuple[str, dict[str, object], float]:
        if job.stage is Stage.PREP:
            return (
                PREP_PATH,
                {"jobKey": job.job_key, "input": job.input["path"]},
                self.config.prep_timeout_s,
            )
        return OCR_PATH, {"jobKey": job.job_key}, self.config.ocr_timeout_s

    def _call(
        self,
        job_key: str,
        stage: Stage,
        attempt: int,
        base_url: str,
        path: str,
        payload: dict[str, object],
        timeout_s: float,
    ) -> None:
        with bind_job(job_key, stage.value, attempt):
            name = self.health[stage].name
            result = call_stage(name, base_url + path, payload, job_key, stage.value, attempt, timeout_s)
        self._results.put(Finished(job_key, stage, attempt, result, url=base_url))
        self.on_finished()

    def collect(self) -> list[Finished]:
        """Results of calls that finished since the last tick."""
        done: list[Finished] = []
        while True:
            try:
                item = self._results.get_nowait()
            except queue.Empty:
                return done
            self.running[item.stage].discard(item.job_key)
            now = time.monotonic()
            health, replicas = self.health[item.stage], self.replicas[item.stage]
            reached = item.result.outcome is not Outcome.UNAVAILABLE
            replicas.done(item.url, reached, now)
            # One replica down while others answer is no outage of the stage: its jobs go to the others.
            if reached or not replicas.reachable(now):
                health.record(item.result.outcome, item.result.error.get("message", ""), now)
            item.during_startup = health.starting
            done.append(item)

    def wait_idle(self, timeout_s: float) -> list[Finished]:
        """At shutdown: collect results until no call runs or the grace period ends."""
        deadline = time.monotonic() + timeout_s
        done: list[Finished] = []
        while self.in_flight and time.monotonic() < deadline:
            done.extend(self.collect())
            time.sleep(0.05)
        return done + self.collect()
