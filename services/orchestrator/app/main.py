"""The orchestrator's loop: `process_loop()` calls `process_tick()` until SIGTERM/SIGINT, then shuts down.

What one tick does is in `tick.py`; what a stage call's outcome means for its job is in `policy.py`.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

from services.common.errors import ConfigError
from services.common.logs import configure_logging

from .arrivals import Arrivals
from .config import Config
from .lease import Lease, LeaseLost
from .tick import Orchestrator
from .wakeup import Wakeup

log = logging.getLogger(__name__)


def process_tick(orchestrator: Orchestrator) -> None:
    """One pass of the loop; tests call it directly, like a burst mode."""
    orchestrator.tick()


def process_loop(config: Config | None = None, stop: threading.Event | None = None) -> None:
    """Tick every TICK_INTERVAL_S, and as soon as a stage call ends or a file is renamed into the inbox, until
    `stop` is set (SIGTERM/SIGINT set it), then shut down cleanly."""
    config = config or Config.from_env()
    stop = stop or threading.Event()
    wakeup = Wakeup()
    try:
        _run(config, stop, wakeup)
    finally:
        wakeup.close()


def _stop_on_signals(stop: threading.Event, wakeup: Wakeup) -> None:
    def handle(*_: object) -> None:
        stop.set()
        wakeup.set()

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, handle)


def _run(config: Config, stop: threading.Event, wakeup: Wakeup) -> None:
    _stop_on_signals(stop, wakeup)
    # One orchestrator per jobs volume: wait here while another holds the lease (see lease.py).
    lease = Lease(config.paths.jobs_dir, config.lease_ttl_s)
    if not lease.acquire(stop):
        return
    orchestrator = Orchestrator(config)
    with lease.kept_in_background():
        orchestrator.start()
    arrivals = Arrivals(config.paths.inbox_dir)
    orchestrator.inbox.arrivals = arrivals
    orchestrator.dispatcher.on_finished = wakeup.set
    log.info("orchestrator started", extra={"pid": os.getpid(), "jobs": len(orchestrator.store)})
    watched = [fd] if (fd := arrivals.fileno()) is not None else []
    while not stop.is_set():
        started = time.monotonic()
        lease.keep()
        try:
            process_tick(orchestrator)
        except Exception:
            log.exception("tick failed; continuing")
        wakeup.wait(config.tick_interval_s - (time.monotonic() - started), watched)
    with lease.kept_in_background():
        orchestrator.shutdown()
    arrivals.close()
    lease.release()


def main() -> None:
    configure_logging("orchestrator")
    try:
        config = Config.from_env()
    except ConfigError as e:
        log.error("invalid configuration: %s", e)
        sys.exit(2)
    log.info("orchestrator starting", extra={"config": config.to_log()})
    try:
        process_loop(config)
    except LeaseLost as e:
        # Exit without another write; a supervisor restarts us, and we wait for the lease like any newcomer.
        log.error("stopping at once: %s", e, extra={"event": "lease_lost"})
        sys.exit(3)
