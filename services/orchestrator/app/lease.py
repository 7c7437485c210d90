"""One orchestrator per jobs volume: a lease held as numbered files in `JOBS_DIR/.orchestrator-lease/`.

Why files and not `flock`: on NFS and most CSI volumes a lock is not seen across machines (or not at all).
What such filesystems do atomically, on the server, is an exclusive create (`O_CREAT | O_EXCL`, NFSv3 and
later). So the lease is a sequence of generations, `lease.<N>.json`, each created exclusively:

- the holder renews by creating generation N+1 every TTL/3; a waiting orchestrator takes over the same way.
  Only one create of N+1 can succeed, so two orchestrators never both hold it, whatever clocks or caches say.
  The last KEEP_GENERATIONS stay on disk, so a waiter whose listing is stale (NFS attribute caching) aims at a
  generation that still exists, and fails;
- a waiter takes over when the newest generation has not changed for the holder's TTL, measured on its own
  monotonic clock (no two machines' clocks are compared, so skew does not matter); at once when the holder
  released it (a clean stop) or is provably dead (same machine, its process gone);
- a holder that could not renew for HOLD_FRACTION of its TTL (paused, volume failing) stops before writing
  anything else: no waiter can have taken over before a full TTL. `keep()` raises LeaseLost then, or when
  its next generation was taken.

Left open, and said in docs/operations.md: a holder frozen in the middle of a tick for longer than its TTL
finishes that tick's writes when it wakes, before its next `keep()`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from services.common.clock import now_iso, parse_time

from .lease_files import Holder, boot_id, generations, lease_dir_for, lease_path, read_holder

log = logging.getLogger(__name__)

# Renewals per TTL: a holder renews at 1/3 and 2/3 of its TTL, before giving up at HOLD_FRACTION.
RENEWALS_PER_TTL = 3
# A holder that has not renewed for this share of its TTL gives up: the margin covers clock rate differences
# and the time a waiter takes to create its generation once it decided.
HOLD_FRACTION = 0.75
# Generations kept on disk: at TTL 30 s, 64 renewals are 10 minutes, far beyond NFS attribute cache timeouts.
KEEP_GENERATIONS = 64
# How often a waiting orchestrator looks at the lease; also the bound on how late it notices a release.
WAIT_POLL_S = 1.0
# A waiter repeats its "still waiting" line at most this often.
WAITING_LOG_INTERVAL_S = 60.0


class LeaseLost(Exception):
    """Another orchestrator holds the lease now, or this one could not prove it still holds it."""


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # EPERM: it exists, owned by someone else
    return False


def _uptime_s() -> float:
    """A clock that also runs while the machine is suspended (a frozen VM must not think no time passed)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME) if hasattr(time, "CLOCK_BOOTTIME") else time.monotonic()


class Lease:
    """The lease of this process: `acquire()` waits for it, `keep()` renews it each tick, `release()` at stop."""

    def __init__(self, jobs_dir: Path, ttl_s: float) -> None:
        self.folder = lease_dir_for(jobs_dir)
        self.ttl_s = ttl_s
        self.host, self.boot_id, self.pid = socket.gethostname(), boot_id(), os.getpid()
        self.owner = f"{self.host}/{self.pid}/{secrets.token_hex(4)}"
        self.generation = 0
        self._renewed_at = 0.0

    @property
    def held(self) -> bool:
        return self.generation > 0

    def _holder(self, released: bool = False) -> Holder:
        return Holder(self.owner, self.host, self.boot_id, self.pid, self.ttl_s, now_iso(), released)

    def _create(self, generation: int, holder: Holder) -> bool:
        """Exclusively create one generation; False if it exists (someone else made it first)."""
        path = lease_path(self.folder, generation)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, holder.to_json())
            os.fsync(fd)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        os.close(fd)
        return True

    def _prune(self) -> None:
        for generation in generations(self.folder):
            if generation <= self.generation - KEEP_GENERATIONS:
                with contextlib.suppress(OSError):
                    lease_path(self.folder, generation).unlink()

    def _take(self, generation: int, started_at: float) -> bool:
        if not self._create(generation, self._holder()):
            return False
        self.generation, self._renewed_at = generation, started_at
        self._prune()
        return True

    def provably_dead(self, holder: Holder) -> bool:
        """Released, or an orchestrator of this very machine whose process is gone (or whose pid we now have)."""
        if holder.released:
            return True
        if holder.host != self.host or holder.boot_id != self.boot_id or not self.boot_id:
            return False
        return holder.pid == self.pid or _process_gone(holder.pid)

    def acquire(self, stop: threading.Event) -> bool:
        """Wait until this process holds the lease; False if `stop` was set first."""
        self.folder.mkdir(parents=True, exist_ok=True)
        waiter = _Waiter(self)
        while not stop.is_set():
            newest = max(max(generations(self.folder), default=0), waiter.known)
            holder = read_holder(self.folder, newest) if newest else None
            if waiter.may_take(newest, holder):
                if self._take(newest + 1, _uptime_s()):
                    waiter.log_taken(newest, holder)
                    return True
                waiter.known = newest + 1  # our listing was stale: that generation exists
                continue
            stop.wait(WAIT_POLL_S)
        return False

    def keep(self) -> None:
        """Renew when due; raises LeaseLost once the lease may be someone else's."""
        started_at = _uptime_s()
        age_s = started_at - self._renewed_at
        if age_s < self.ttl_s / RENEWALS_PER_TTL:
            return
        if age_s >= self.ttl_s * HOLD_FRACTION:
            # Paused or stalled this long, a waiter may be taking over right now: stop before any other write.
            self.generation = 0
            raise LeaseLost(f"the lease was not renewed for {age_s:.1f}s (TTL {self.ttl_s:g}s)")
        try:
            renewed = self._take(self.generation + 1, started_at)
        except OSError as e:
            log.warning("could not renew the lease (%s); retrying next tick", e, extra={"path": str(self.folder)})
            return
        if not renewed:
            taker = read_holder(self.folder, self.generation + 1)
            self.generation = 0
            raise LeaseLost(f"another orchestrator took the lease: {taker.describe() if taker else 'unknown'}")

    @contextlib.contextmanager
    def kept_in_background(self) -> Iterator[None]:
        """Renew from a thread while the block runs: for the start-up load, which may outlast the TTL.

        Only there: in the loop, renewals come from the tick itself, so a hung loop loses its lease."""
        done = threading.Event()

        def renew() -> None:
            while not done.wait(min(1.0, self.ttl_s / RENEWALS_PER_TTL / 2)):
                try:
                    self.keep()
                except LeaseLost as e:
                    log.error("%s", e)
                    return

        thread = threading.Thread(target=renew, name="lease-renewal", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
        if not self.held:
            raise LeaseLost("the lease was lost during start-up")

    def release(self) -> None:
        """At a clean stop: mark the lease released so a waiting orchestrator takes over at once."""
        if not self.held:
            return
        try:
            if self._create(self.generation + 1, self._holder(released=True)):
                log.info("lease released", extra={"generation": self.generation + 1})
        except OSError as e:
            log.warning("could not release the lease (%s): the next orchestrator waits for its TTL", e)
        self.generation = 0


class _Waiter:
    """The waiting side: when the newest generation may be taken, and the log lines that say why not."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self.known = 0  # the newest generation we know exists, even if a stale listing does not show it yet
        self.seen: int | None = None
        self.seen_mono = 0.0
        self.logged_mono: float | None = None

    def may_take(self, newest: int, holder: Holder | None) -> bool:
        now = time.monotonic()
        if newest == 0 or (holder is not None and self.lease.provably_dead(holder)):
            return True
        if newest != self.seen:
            self.seen, self.seen_mono = newest, now
        ttl_s = holder.ttl_s if holder else self.lease.ttl_s
        silent_s = now - self.seen_mono
        if silent_s >= ttl_s:
            return True
        if self.logged_mono is None or now - self.logged_mono >= WAITING_LOG_INTERVAL_S:
            self.logged_mono = now
            log.warning(
                "another orchestrator holds the lease on this jobs volume: waiting; taking over if it stops "
                "renewing for %gs. Holder: %s",
                ttl_s,
                holder.describe() if holder else f"generation {newest} (unreadable)",
                extra={"event": "lease_wait", "path": str(self.lease.folder), "holder": holder.owner if holder else ""},
            )
        return False

    def log_taken(self, newest: int, holder: Holder | None) -> None:
        if holder is None:
            how = "no lease existed" if newest == 0 else "the lease was unreadable and silent"
        elif holder.released:
            how = f"released by {holder.owner}"
        elif self.lease.provably_dead(holder):
            how = f"its holder {holder.owner} is no longer running on this machine"
        else:
            how = f"its holder {holder.owner} stopped renewing it ({self._silence(holder)})"
        log.info(
            "lease acquired: %s",
            how,
            extra={"event": "lease_acquired", "generation": newest + 1, "owner": self.lease.owner},
        )

    def _silence(self, holder: Holder) -> str:
        with contextlib.suppress(ValueError):
            return f"last renewal at {parse_time(holder.renewed_at).isoformat()} by its clock"
        return "renewal time unreadable"
