"""The lease's files: `JOBS_DIR/.orchestrator-lease/lease.<N>.json`, what each says, and the liveness check on them.

Written by `lease.py` (exclusive creates only); read by waiting orchestrators and the liveness probe.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from services.common.clock import parse_time

LEASE_DIR_NAME = ".orchestrator-lease"
_LEASE_RE = re.compile(r"^lease\.(\d{12})\.json$")


def boot_id() -> str:
    """Which boot of which machine: containers of one host share it, other hosts differ."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


@dataclass(frozen=True, slots=True)
class Holder:
    """What a lease file says about the orchestrator that wrote it."""

    owner: str
    host: str
    boot_id: str
    pid: int
    ttl_s: float
    renewed_at: str
    released: bool = False

    def to_json(self) -> bytes:
        doc = {
            "owner": self.owner,
            "host": self.host,
            "bootId": self.boot_id,
            "pid": self.pid,
            "ttlS": self.ttl_s,
            "renewedAt": self.renewed_at,
            "released": self.released,
        }
        return orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE)

    @classmethod
    def from_json(cls, data: bytes) -> Holder:
        doc: dict[str, Any] = orjson.loads(data)
        return cls(
            owner=str(doc["owner"]),
            host=str(doc["host"]),
            boot_id=str(doc.get("bootId", "")),
            pid=int(doc["pid"]),
            ttl_s=float(doc["ttlS"]),
            renewed_at=str(doc["renewedAt"]),
            released=bool(doc.get("released", False)),
        )

    def describe(self) -> str:
        return f"{self.owner} (renewed {self.renewed_at} by its clock, TTL {self.ttl_s:g}s)"


def lease_dir_for(jobs_dir: Path) -> Path:
    return jobs_dir / LEASE_DIR_NAME


def generations(folder: Path) -> list[int]:
    """The lease generations on disk, oldest first."""
    try:
        names = [entry.name for entry in folder.iterdir()]
    except FileNotFoundError:
        return []
    return sorted(int(m.group(1)) for name in names if (m := _LEASE_RE.match(name)))


def lease_path(folder: Path, generation: int) -> Path:
    return folder / f"lease.{generation:012d}.json"


def read_holder(folder: Path, generation: int) -> Holder | None:
    """The holder named by one generation, or None if it is gone or not (yet) readable."""
    try:
        return Holder.from_json(lease_path(folder, generation).read_bytes())
    except (OSError, ValueError, KeyError, TypeError):
        return None


def holder_is_stale(jobs_dir: Path, host: str) -> bool:
    """For the liveness probe: whether the lease is held by this host's orchestrator and not renewed in time.

    Compares wall-clock times written and read on one machine (the probe runs beside the orchestrator), so skew
    does not enter. A lease of another host, a released one or none at all is not this container's problem.
    """
    folder = lease_dir_for(jobs_dir)
    newest = max(generations(folder), default=0)
    holder = read_holder(folder, newest) if newest else None
    if holder is None or holder.released or holder.host != host:
        return False
    age_s = time.time() - parse_time(holder.renewed_at).timestamp()
    return age_s > holder.ttl_s
