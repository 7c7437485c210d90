"""`metrics.json`: gauges derived from job states plus counters that survive restarts."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from services.common.atomic import atomic_write_bytes
from services.common.clock import now_iso

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1


@dataclass(slots=True)
class Counters:
    """Cumulative events that no job state can tell afterwards, so they are reloaded at start.

    They reach disk with the metrics write at the end of a tick: a SIGKILL just before it loses that tick's
    increments (best effort). Figures that job states can tell (pages_done, jobs_created) are derived instead.
    """

    disk_error: int = 0
    retries: int = 0
    duplicates: int = 0
    stage_unavailable: int = 0

    @classmethod
    def load(cls, path: Path) -> Counters:
        try:
            doc = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return cls()
        except (OSError, orjson.JSONDecodeError) as e:
            log.warning("metrics.json unreadable (%s): counters start from zero", e, extra={"path": str(path)})
            return cls()
        names = cls.__dataclass_fields__
        return cls(**{k: int(v) for k, v in doc.items() if k in names and isinstance(v, int)})


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
        stamp = now_iso()
        # lastTickAt and heartbeatS let every reader judge liveness the same way (services.common.liveness).
        doc = {
            "schemaVersion": SCHEMA_VERSION,
            "updatedAt": stamp,
            "startedAt": self.started_at,
            "lastTickAt": stamp,
            "heartbeatS": self.heartbeat_s,
            **values,
        }
        atomic_write_bytes(self.path, orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
        self._last_values, self._last_write = values, now


def counters_dict(counters: Counters) -> dict[str, int]:
    return asdict(counters)
