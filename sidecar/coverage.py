"""What covers the changes events do not: the bookkeeping behind watch mode, staleness and the log lines about them.

Staleness is the age of the oldest change the sidecar may not have seen: 0 while inotify watches every job; while
some jobs are polled, the time since the last pass over them started; while polling, since the last clean read of
the change journal (or the last rescan without one); after lost events, since the last drain before the loss,
until a rescan started later has finished. It is reported at each polling period, so polled modes add one period:
the figure holds until the next report. Each degradation is logged once when it starts and once when it ends.
"""

from __future__ import annotations

import errno
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from services.common.journal import JournalReader

from .config import Config
from .status import JOURNAL, NATIVE, PARTIAL, POLLING, SidecarStatus

if TYPE_CHECKING:
    from .native import NativeWatch

log = logging.getLogger(__name__)

# While polling without a journal, a rescan every few polls (at least a second apart): the only way to see changes.
POLLS_PER_RESCAN = 3
MIN_POLLING_RESCAN_S = 1.0
# Polling the jobs that have no watch takes about this share of a core (passes are spaced out accordingly)...
UNWATCHED_POLL_DUTY = 0.2
# ...but passes start at most this far apart: a change must show within about 2 s even on a loaded machine.
MAX_UNWATCHED_INTERVAL_S = 1.0
# The same journal problem is logged at most this often (a broken writer must not flood the log).
JOURNAL_PROBLEM_LOG_S = 60.0
SYSCTL = Path("/proc/sys/fs/inotify")


def inotify_limit(name: str) -> str:
    try:
        return (SYSCTL / name).read_text().strip()
    except OSError:
        return "?"


class Coverage:
    def __init__(self, config: Config, status: SidecarStatus, journal: JournalReader) -> None:
        self.config, self.status, self.journal = config, status, journal
        self.poll_s = config.poll_delay_ms / 1000
        self.cover_interval_s = self.poll_s
        self.drained_at = time.monotonic()
        """When the inotify queue was last read empty: events lost in an overflow came after it."""
        self._polling_reason: str | None = None
        self._covered_at = time.monotonic()
        self._unwatched_at: float | None = None
        self._stale_since: float | None = None
        self._last_rescan_started = time.monotonic()
        self._journal_said: dict[str, float] = {}

    def native_started(self) -> None:
        self._polling_reason = None
        self.cover_interval_s = self.poll_s
        self.journal.close()
        self.status.journal = None

    def polling(self, reason: str, since: float) -> None:
        self._polling_reason = reason
        self._mark_stale(since)
        self._covered_at = since
        problem = self.journal.start()
        log.warning("watching by polling every %d ms: %s", self.config.poll_delay_ms, reason)
        if problem is not None:
            self._say_journal(problem)

    def _mark_stale(self, since: float) -> None:
        self._stale_since = since if self._stale_since is None else min(self._stale_since, since)

    def overflowed(self, since: float) -> bool:
        """The kernel dropped events; returns True: a rescan must follow (one per episode is enough)."""
        self.status.overflows_total += 1
        if self._stale_since is None:
            log.warning(
                "inotify queue overflowed (fs.inotify.max_queued_events=%s): events were lost; rescanning now",
                inotify_limit("max_queued_events"),
            )
        self._mark_stale(since)
        return True

    def before_rescan(self) -> None:
        self._last_rescan_started = time.monotonic()

    def after_rescan(self, started: float) -> None:
        if self._stale_since is not None and started >= self._stale_since:
            self._stale_since = None
            if self._polling_reason is None:
                log.info("rescan done after lost events: the index is current again")
        if self._polling_reason is not None and not self.journal.following:
            self._covered_at = max(self._covered_at, started)

    def _polling_rescan_s(self) -> float:
        return min(self.config.rescan_s, max(MIN_POLLING_RESCAN_S, POLLS_PER_RESCAN * self.poll_s))

    def rescan_interval_s(self, native: NativeWatch | None) -> float:
        """`SIDECAR_RESCAN_S`, or much sooner while polling without a journal (rescans are all it has then)."""
        if native is None and not self.journal.following:
            return self._polling_rescan_s()
        return self.config.rescan_s

    def read_journal(self) -> tuple[set[str], bool]:
        """The jobs the journal names since the last poll, and whether a rescan is needed now."""
        read_at = time.monotonic()
        was_following = self.journal.following
        batch = self.journal.read()
        if not was_following and self.journal.following:  # it (re)appeared: one rescan covers what came before it
            log.info("following the change journal %s", self.journal.path)
            self.status.journal = None
            return batch.keys, True
        if batch.problem is None:
            self._covered_at = max(self._covered_at, read_at)
            self.status.journal = None
            return batch.keys, False
        self._say_journal(batch.problem)
        if self.journal.following:  # still followed: one rescan covers what it cannot vouch for
            return batch.keys, True
        return batch.keys, time.monotonic() - self._last_rescan_started >= self._polling_rescan_s()

    def _say_journal(self, problem: str) -> None:
        self.status.journal = problem
        kind = " ".join(problem.split()[:3])
        now = time.monotonic()
        if now - self._journal_said.get(kind, -JOURNAL_PROBLEM_LOG_S) >= JOURNAL_PROBLEM_LOG_S:
            self._journal_said[kind] = now
            log.warning("change journal: %s; falling back to rescans", problem)

    def unwatched_polled(self, started: float, took_s: float) -> None:
        self._unwatched_at = started
        spaced = min(MAX_UNWATCHED_INTERVAL_S, took_s / UNWATCHED_POLL_DUTY)
        self.cover_interval_s = max(self.poll_s, spaced)

    def staleness_s(self, native: NativeWatch | None) -> float:
        """An upper bound until the next report (one polling period away): what may be unseen by then."""
        now = time.monotonic()
        ages = [] if self._stale_since is None else [now - self._stale_since]
        if native is None:
            ages.append(now - self._covered_at + self.cover_interval_s)
        elif native.unwatched and self._unwatched_at is not None:
            ages.append(now - self._unwatched_at + self.cover_interval_s)
        return round(max(0.0, *ages), 3) if ages else 0.0

    def report(self, native: NativeWatch | None, jobs: int) -> None:
        """Bring `status` up to date (and log a watch limit reached or left)."""
        status = self.status
        if native is None:
            mode = JOURNAL if self.journal.following else POLLING
            unwatched, degraded = jobs, self._polling_degraded()
        else:
            self._say_unwatched(native)
            mode, unwatched = (PARTIAL if native.unwatched else NATIVE), len(native.unwatched)
            degraded = self._partial_degraded(native) if native.unwatched else None
        if self._stale_since is not None and degraded is None:
            degraded = "inotify events were lost (queue overflow): a rescan is repairing the index"
        found = (mode, self._polling_reason, degraded, unwatched, self.staleness_s(native))
        if found != (
            status.watch_mode,
            status.polling_reason,
            status.degraded,
            status.unwatched_jobs,
            status.staleness_s,
        ):
            status.watch_mode, status.polling_reason, status.degraded, status.unwatched_jobs, status.staleness_s = found
            status.touch()

    def _polling_degraded(self) -> str | None:
        if self._polling_reason is not None and self._polling_reason.startswith("native watching failed"):
            return self._polling_reason
        if not self.journal.following:
            return f"no change journal ({self.status.journal}): rescanning every {self._polling_rescan_s():.1f} s"
        return None

    def _partial_degraded(self, native: NativeWatch) -> str:
        return (
            f"{len(native.unwatched)} job folders cannot be watched ({_why(native.limit_error)}): "
            f"polled every {self.cover_interval_s:.1f} s"
        )

    def _say_unwatched(self, native: NativeWatch) -> None:
        if native.unwatched and self._unwatched_at is None:
            self._unwatched_at = time.monotonic()
            log.warning(
                "%d job folders cannot be watched (%s): polling them; raise fs.inotify.max_user_watches (now %s)",
                len(native.unwatched),
                _why(native.limit_error),
                inotify_limit("max_user_watches"),
                extra={"unwatchedJobs": len(native.unwatched)},
            )
        elif not native.unwatched and self._unwatched_at is not None:
            self._unwatched_at = None
            log.info("every job folder is watched again")


def _why(error: OSError | None) -> str:
    if error is None or error.errno == errno.EACCES:
        return "permission denied"
    if error.errno == errno.ENOSPC:
        return "the inotify watch limit is reached"
    return error.strerror or str(error)
