"""Full scans of the jobs folder and refreshes of single jobs: one code path, run on the event loop.

A full scan lists the folder (in a thread: it is mostly `getdents`), then refreshes every listed or indexed job
on the loop in small chunks, yielding between them so requests keep being served. Running on the loop (rather
than parsing in a thread) keeps the GIL uncontended, and means no scan result can ever overwrite a newer event.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from services.common.job import is_valid_job_key

from .index import JobIndex
from .state_file import Entry, Skipped, Unchanged, open_jobs_dir, read_state

# About 5-20 ms of work: the longest a scan holds the loop before letting requests through.
SCAN_CHUNK = 512


def list_job_names(jobs_dir: Path) -> list[str]:
    """Names in the jobs folder that can be job keys (temp files and dot-names are never jobs)."""
    with os.scandir(jobs_dir) as it:
        return [e.name for e in it if not e.name.startswith(".") and is_valid_job_key(e.name)]


async def full_scan(index: JobIndex, jobs_dir: Path, max_bytes: int, watch: Callable[[str], None] | None = None) -> int:
    """Bring the index in line with the disk; returns how many jobs changed.

    `watch(key)` is called for each listed job before it is read, so a job changing right after its read raises an
    event: a scan that watches needs no catch-up pass (and costs one dict lookup per job already watched).
    """
    listed = await asyncio.to_thread(list_job_names, jobs_dir)
    keys = list(dict.fromkeys([*listed, *index.keys(), *index.skipped_keys()]))
    changed = 0
    for start in range(0, len(keys), SCAN_CHUNK):
        chunk = keys[start : start + SCAN_CHUNK]
        if watch is not None:
            for key in chunk:
                watch(key)
        changed += refresh_jobs(index, jobs_dir, chunk, max_bytes)
        await asyncio.sleep(0)
    return changed


def refresh_jobs(index: JobIndex, jobs_dir: Path, keys: Iterable[str], max_bytes: int) -> int:
    """Re-read the named jobs now; returns how many changed in the index."""
    changed = 0
    with open_jobs_dir(jobs_dir) as jobs_fd:
        for key in keys:
            changed += refresh_job(index, jobs_fd, key, max_bytes)
    return changed


def refresh_job(index: JobIndex, jobs_fd: int, key: str, max_bytes: int) -> bool:
    found = read_state(jobs_fd, key, max_bytes, index.signature(key))
    if isinstance(found, Unchanged):
        return False
    before = index.generation
    if isinstance(found, Entry):
        index.put(found)
    elif isinstance(found, Skipped):
        index.skip(key, found.reason)
    else:
        index.remove(key)
    return index.generation != before
