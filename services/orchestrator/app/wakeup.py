"""What the orchestrator's loop sleeps on between ticks, and what ends the sleep early.

A tick runs every TICK_INTERVAL_S, and sooner when there is something to do: a stage call ended (its job can go
to the next stage at once, not up to a tick later), a file was moved into the inbox (see `arrivals.py`), or a
stop was asked. Each document used to wait a tick or two for nothing between its stages.
"""

from __future__ import annotations

import contextlib
import os
import select
from collections.abc import Sequence


class Wakeup:
    """A self-pipe: `set()` from any thread or a signal handler, `wait()` on the loop's thread."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)

    def set(self) -> None:
        # A full pipe already holds a wake-up: nothing is lost by dropping this one.
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._write, b"!")

    def wait(self, timeout_s: float, also: Sequence[int] = ()) -> None:
        """Sleep until `set()`, one of the file descriptors `also` is readable, or `timeout_s` passed."""
        select.select([self._read, *also], [], [], max(0.0, timeout_s))
        with contextlib.suppress(BlockingIOError, OSError):
            while os.read(self._read, 4096):
                pass

    def close(self) -> None:
        for fd in (self._read, self._write):
            with contextlib.suppress(OSError):
                os.close(fd)
