"""Full scans of the jobs folder and the updates of single jobs, both applied to the index in one place.

A full scan runs in a worker thread and only computes what differs from a snapshot of the index's signatures;
the event loop then applies the difference, skipping any job an event refreshed in the meantime (the event read
the file later, so it wins). The same code serves the start-up scan (empty snapshot) and the periodic rescan.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.common.job import is_valid_job_key

from .index import JobIndex
from .state_file import SKIP_SYMLINK, Entry, Missing, Signature, Skipped, Unchanged, open_jobs_dir, read_state

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ScanResult:
    changed: dict[str, Entry] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)


def scan_jobs(jobs_dir: Path, max_bytes: int, known: Mapping[str, Signature]) -> ScanResult:
    """Everything under `jobs_dir` that differs from `known` (safe to run in a thread: touches no shared state)."""
    result = ScanResult()
    seen: set[str] = set()
    with open_jobs_dir(jobs_dir) as jobs_fd, os.scandir(jobs_fd) as it:
        for dirent in it:
            key = dirent.name
            if key.startswith(".") or not is_valid_job_key(key):
                continue  # temp files and anything that is not a job folder
            seen.add(key)
            if dirent.is_symlink():
                result.skipped[key] = SKIP_SYMLINK
                continue
            found = read_state(jobs_fd, key, max_bytes, known.get(key))
            if isinstance(found, Entry):
                result.changed[key] = found
            elif isinstance(found, Skipped):
                result.skipped[key] = found.reason
            elif isinstance(found, Missing):
                seen.discard(key)
    result.removed = [key for key in known if key not in seen]
    return result


def apply_scan(index: JobIndex, result: ScanResult, snapshot: Mapping[str, Signature]) -> int:
    """Apply a scan computed against `snapshot`; returns how many jobs it changed (what events had missed)."""
    repairs = 0
    for key, entry in result.changed.items():
        if index.signature(key) == snapshot.get(key):
            index.put(entry)
            repairs += 1
    for key in result.removed:
        if index.signature(key) == snapshot.get(key):
            index.remove(key)
            repairs += 1
    for key, reason in result.skipped.items():
        if index.signature(key) == snapshot.get(key):
            repairs += index.get(key) is not None
            index.skip(key, reason)
    for key in index.skipped_keys():
        if key not in result.skipped and key not in result.changed:
            index.remove(key)  # a skipped folder that is gone
    return repairs


def refresh_jobs(index: JobIndex, jobs_dir: Path, keys: Iterable[str], max_bytes: int) -> int:
    """Re-read the named jobs now (the watcher's path); returns how many changed."""
    changed = 0
    with open_jobs_dir(jobs_dir) as jobs_fd:
        for key in keys:
            changed += refresh_job(index, jobs_fd, key, max_bytes)
    return changed


def refresh_job(index: JobIndex, jobs_fd: int, key: str, max_bytes: int) -> bool:
    found = read_state(jobs_fd, key, max_bytes, index.signature(key))
    if isinstance(found, Unchanged):
        return False
    if isinstance(found, Entry):
        index.put(found)
    elif isinstance(found, Skipped):
        index.skip(key, found.reason)
    else:
        index.remove(key)
    return True
