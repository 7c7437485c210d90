"""Is the orchestrator alive? Judged from its metrics.json by every reader (the sidecar, `ocr-stack`) the same way.

The orchestrator writes `lastTickAt` (the end of its last tick) and `heartbeatS` (it rewrites the file at least
that often, even when nothing changed). A file older than a few heartbeats means a process that stopped ticking:
SIGSTOPped, hung on a disk, stuck in a loop, or gone.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .clock import parse_time
from .metrics import HEARTBEAT_S, LAST_TICK_AT, UPDATED_AT

# Missed heartbeats before the orchestrator is called stale: one late write is a slow tick, three is a hang.
STALE_AFTER_HEARTBEATS = 3
# Added to the bound so that a tiny heartbeat (tests use 0.2 s) does not flag an ordinary slow tick.
STALE_SLACK_S = 1.0
DEFAULT_HEARTBEAT_S = 5.0


def last_tick_unix_s(doc: Mapping[str, Any]) -> float | None:
    """When the orchestrator last ticked (`lastTickAt`, else `updatedAt` of an older writer), in Unix seconds."""
    for name in (LAST_TICK_AT, UPDATED_AT):
        value = doc.get(name)
        if isinstance(value, str):
            try:
                return parse_time(value).timestamp()
            except ValueError:
                continue
    return None


def stale_after_s(doc: Mapping[str, Any]) -> float:
    heartbeat = doc.get(HEARTBEAT_S)
    heartbeat_s = float(heartbeat) if isinstance(heartbeat, int | float) and heartbeat > 0 else DEFAULT_HEARTBEAT_S
    return STALE_AFTER_HEARTBEATS * heartbeat_s + STALE_SLACK_S


def tick_age_s(doc: Mapping[str, Any], now_unix_s: float | None = None) -> float | None:
    """Seconds since the last tick, or None when the document does not say."""
    last = last_tick_unix_s(doc)
    if last is None:
        return None
    return max(0.0, (time.time() if now_unix_s is None else now_unix_s) - last)


def is_stale(doc: Mapping[str, Any], now_unix_s: float | None = None) -> bool:
    """True when the orchestrator has not ticked for longer than its own heartbeat promises."""
    age = tick_age_s(doc, now_unix_s)
    return age is not None and age > stale_after_s(doc)
