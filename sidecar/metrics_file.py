"""The orchestrator's `metrics.json`, read with the same care as a state.json and cached until it changes."""

from __future__ import annotations

import errno
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)

# metrics.json is a few hundred bytes; this only bounds the damage of a wrong file.
MAX_METRICS_BYTES = 1 << 20
_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class MetricsFile:
    """What metrics.json said last time it was read: `status` is ok, missing or corrupt."""

    status: str
    doc: dict[str, Any] | None = None
    problem: str | None = None


MISSING = MetricsFile("missing")


class MetricsFileReader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.current = MISSING
        self.generation = 0
        self._signature: tuple[int, ...] | None = None

    def refresh(self) -> bool:
        """Re-read if the file changed; returns whether what it says changed."""
        try:
            fd = os.open(self.path, _FLAGS)
        except OSError as e:
            found = MISSING if e.errno == errno.ENOENT else MetricsFile("corrupt", problem=e.strerror)
            return self._set(found, None)
        try:
            st = os.fstat(fd)
            signature = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            if signature == self._signature:
                return False
            if not stat.S_ISREG(st.st_mode):
                return self._set(MetricsFile("corrupt", problem="not a regular file"), signature)
            return self._set(_parse(os.read(fd, MAX_METRICS_BYTES + 1)), signature)
        finally:
            os.close(fd)

    def _set(self, found: MetricsFile, signature: tuple[int, ...] | None) -> bool:
        self._signature = signature
        if found == self.current:
            return False
        if found.status != "ok" and found.status != self.current.status:
            log.warning("metrics.json is %s: %s", found.status, found.problem or self.path)
        self.current = found
        self.generation += 1
        return True


def _parse(raw: bytes) -> MetricsFile:
    if len(raw) > MAX_METRICS_BYTES:
        return MetricsFile("corrupt", problem=f"larger than {MAX_METRICS_BYTES} bytes")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        return MetricsFile("corrupt", problem=f"not valid JSON: {e}")
    if not isinstance(doc, dict):
        return MetricsFile("corrupt", problem="not a JSON object")
    return MetricsFile("ok", doc=doc)
