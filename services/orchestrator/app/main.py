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

from .config import Config
from .lease import Lease, LeaseLost
from .tick import Orchestrator

log = logging.getLogger(__name__)


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
    # One orchestrator per jobs volume: wait here while another holds the lease (see lease.py).
    lease = Lease(config.paths.jobs_dir, config.lease_ttl_s)
    if not lease.acquire(stop):
        return
    orchestrator = Orchestrator(config)
    with lease.kept_in_background():
        orchestrator.start()
    log.info("orchestrator started", extra={"pid": os.getpid(), "jobs": len(orchestrator.store)})
    while not stop.is_set():
        started = time.monotonic()
        lease.keep()
        try:
            process_tick(orchestrator)
        except Exception:
            log.exception("tick failed; continuing")
        stop.wait(max(0.0, config.tick_interval_s - (time.monotonic() - started)))
    with lease.kept_in_background():
        orchestrator.shutdown()
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
