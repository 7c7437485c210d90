"""Retry requests: how `ocr-stack retry` asks the orchestrator, the only writer of state.json, to run a job again.

A request is one small file, `$REQUESTS_DIR/retry-<jobKey>.json` (default `$DATA_DIR/requests/`), written
atomically under a dotfile temp name. The orchestrator reads the folder on its ticks, applies each request (only
to a job in ERROR), and removes the file; a file it cannot use is moved to `rejected/` with a log line, never
lost. Neither the sidecar nor the CLI ever writes a state.json. Two requests for one job before a tick are one.
"""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import orjson

from .atomic import atomic_write_bytes, move_durably
from .clock import now_iso
from .errors import BadRequest
from .job import is_valid_job_key

REQUEST_VERSION = 1
RETRY_PREFIX = "retry-"
REQUEST_SUFFIX = ".json"
REJECTED_DIR = "rejected"
# A request is a few hundred bytes; a larger file is not one of ours.
MAX_REQUEST_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class RetryRequest:
    job_key: str
    requested_at: str
    requested_by: str

    def to_bytes(self) -> bytes:
        doc = {
            "requestVersion": REQUEST_VERSION,
            "action": "retry",
            "jobKey": self.job_key,
            "requestedAt": self.requested_at,
            "requestedBy": self.requested_by,
        }
        return orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE)

    @classmethod
    def from_bytes(cls, raw: bytes) -> RetryRequest:
        """Raises BadRequest saying what is wrong with the file."""
        if len(raw) > MAX_REQUEST_BYTES:
            raise BadRequest(f"larger than {MAX_REQUEST_BYTES} bytes")
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise BadRequest(f"not JSON: {e}") from e
        if not isinstance(doc, dict) or doc.get("action") != "retry":
            raise BadRequest('not a retry request (expected {"action": "retry", "jobKey": ...})')
        key = doc.get("jobKey")
        if not isinstance(key, str) or not is_valid_job_key(key):
            raise BadRequest(f"invalid jobKey {str(key)[:80]!r}")
        return cls(key, str(doc.get("requestedAt") or now_iso()), str(doc.get("requestedBy") or "unknown"))


def request_path(requests_dir: Path, job_key: str) -> Path:
    return requests_dir / f"{RETRY_PREFIX}{job_key}{REQUEST_SUFFIX}"


def requester() -> str:
    """`user@host`, so the orchestrator's log says who asked."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def write_retry_request(requests_dir: Path, job_key: str) -> Path:
    """Hand the orchestrator a retry of `job_key`; returns the request file."""
    if not is_valid_job_key(job_key):
        raise BadRequest(f"invalid jobKey {job_key[:80]!r}")
    requests_dir.mkdir(parents=True, exist_ok=True)
    path = request_path(requests_dir, job_key)
    atomic_write_bytes(path, RetryRequest(job_key, now_iso(), requester()).to_bytes())
    return path


def pending_requests(requests_dir: Path) -> list[Path]:
    """Request files waiting, oldest first; temp files (dotfiles) and anything else are left alone."""
    try:
        entries = list(os.scandir(requests_dir))
    except FileNotFoundError:
        return []
    found = [
        e
        for e in entries
        if e.name.startswith(RETRY_PREFIX) and e.name.endswith(REQUEST_SUFFIX) and e.is_file(follow_symlinks=False)
    ]
    found.sort(key=lambda e: (e.stat(follow_symlinks=False).st_mtime_ns, e.name))
    return [Path(e.path) for e in found]


def reject(path: Path) -> Path:
    """Move a request that cannot be used aside (kept for a person to read), out of the orchestrator's way."""
    folder = path.parent / REJECTED_DIR
    folder.mkdir(exist_ok=True)
    target = folder / f"{now_iso().replace(':', '')}-{path.name}"
    move_durably(path, target)
    return target
