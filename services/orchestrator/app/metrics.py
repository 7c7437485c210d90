"""Writes `metrics.json` (its fields: `services.common.metrics`) when a value changed, and on a heartbeat."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import orjson

from services.common.atomic import atomic_write_bytes
from services.common.clock import now_iso
from services.common.metrics import metrics_document

log = logging.getLogger(__name__)


class MetricsWriter:
    """Rewrites metrics.json atomically when a value changed, and at least every heartbeat (liveness)."""

    def __init__(self, path: Path, heartbeat_s: float) -> None:
        self.path = path
        self.heartbeat_s = heartbeat_s
        self.started_at = now_iso()
        self._last_values: dict[str, Any] | None = None
        self._last_write = 0.0

    def write(self, values: dict[str, Any]) -> None:
        """May raise OSError; the caller counts disk errors and the next tick writes again."""
        now = time.monotonic()
        if values == self._last_values and now - self._last_write < self.heartbeat_s:
            return
        doc = metrics_document(values, self.started_at, now_iso(), self.heartbeat_s)
        atomic_write_bytes(self.path, orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
        self._last_values, self._last_write = values, now
