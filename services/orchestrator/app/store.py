"""The job store: every job's state, in memory for speed, on disk (`jobs/<jobKey>/state.json`) for truth.

Active jobs live in memory as full `Job` objects; finished jobs are kept only as their final state, so
a tick costs what the active jobs cost, not every job ever seen. Disk is read once, at start.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson

from services.common.atomic import atomic_write_bytes, is_disk_error, remove_temp_files
from services.common.job import Job, JobState, end_attempt, is_valid_job_key, new_job, requeue
from services.common.journal import JournalWriter
from services.common.paths import STATE_FILE, DataPaths
from services.common.stage_api import SOURCE_STEM

log = logging.getLogger(__name__)

HASH_CHUNK_BYTES = 1 << 20
# The outcome recorded for an attempt that was running when the orchestrator stopped.
INTERRUPTED = "INTERRUPTED"

DiskErrorHook = Callable[[Path, OSError], None]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def find_source(job_dir: Path) -> Path | None:
    for entry in job_dir.iterdir():
        if entry.name.split(".", 1)[0] == SOURCE_STEM and entry.is_file() and not entry.is_symlink():
            return entry
    return None


class JobStore:
    """Holds every job and writes each change atomically; a failed write is redone on the next `flush()`."""

    def __init__(self, paths: DataPaths, on_disk_error: DiskErrorHook) -> None:
        self.paths = paths
        self.active: dict[str, Job] = {}
        self.finished: dict[str, JobState] = {}
        self.finished_counts: Counter[JobState] = Counter()
        self.pages_done = 0
        self._dirty: dict[str, Job] = {}
        self._on_disk_error = on_disk_error
        # One line per state change, for readers that cannot see inotify events (shared volumes; see journal.py).
        self.journal = JournalWriter(paths.jobs_dir)

    def __contains__(self, job_key: str) -> bool:
        return job_key in self.active or job_key in self.finished

    def __len__(self) -> int:
        return len(self.active) + len(self.finished)

    def add(self, job: Job) -> None:
        self.active[job.job_key] = job
        self.save(job)

    def save(self, job: Job) -> bool:
        """Persist `job` now; returns False (and keeps it for the next flush) if the disk refused."""
        if job.is_terminal and job.job_key in self.active:
            del self.active[job.job_key]
            self._record_finished(job)
        path = self.paths.state_path(job.job_key)
        try:
            atomic_write_bytes(path, job.to_bytes())
        except OSError as e:
            if not is_disk_error(e):
                raise
            self._dirty[job.job_key] = job
            self._on_disk_error(path, e)
            return False
        self._dirty.pop(job.job_key, None)
        self.journal.append(job.job_key, job.state.value)
        return True

    def _record_finished(self, job: Job) -> None:
        self.finished[job.job_key] = job.state
        self.finished_counts[job.state] += 1
        if job.state is JobState.DONE and job.result:
            self.pages_done += int(job.result.get("pages", 0))

    def reopen(self, job_key: str) -> Job | None:
        """A finished job back in memory in full (read from its state.json) so it can change again; None if the
        key is not a finished job or its file cannot be read."""
        if job_key not in self.finished or job_key in self._dirty:
            return None
        job = self._load_one(self.paths.job_dir(job_key))
        if job is None or not job.is_terminal:
            return None
        state = self.finished.pop(job_key)
        self.finished_counts[state] -= 1
        if state is JobState.DONE and job.result:
            self.pages_done -= int(job.result.get("pages", 0))
        self.active[job_key] = job
        return job

    def flush(self) -> None:
        """Redo failed writes from the in-memory job (the source), never by re-syncing a failed file."""
        for job in list(self._dirty.values()):
            if not self.save(job):
                return

    @property
    def pending_writes(self) -> int:
        return len(self._dirty)

    def load(self) -> None:
        """Read every job folder once, at start; RUNNING jobs were interrupted and are queued again."""
        self.paths.jobs_dir.mkdir(parents=True, exist_ok=True)
        for job_dir in self._job_dirs():
            job = self._load_one(job_dir)
            if job is None:
                continue
            if job.is_terminal:
                self._record_finished(job)
                continue
            self.active[job.job_key] = job
            if job.state is JobState.RUNNING:
                # Its end is unknown: timed until now, so the attempt's duration includes the time we were down.
                end_attempt(job, INTERRUPTED, None)
                requeue(job, "redispatched after orchestrator restart")
                self.save(job)
        log.info("loaded %d jobs (%d active)", len(self), len(self.active))

    def _job_dirs(self) -> Iterator[Path]:
        with os.scandir(self.paths.jobs_dir) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False) and is_valid_job_key(entry.name):
                    yield Path(entry.path)

    def _load_one(self, job_dir: Path) -> Job | None:
        _remove_own_temp_files(job_dir)
        state_path = job_dir / STATE_FILE
        try:
            return Job.from_json(orjson.loads(state_path.read_bytes()))
        except FileNotFoundError:
            return self._recover_unregistered(job_dir)
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.error("skipping job folder %s: unreadable state.json (%s)", job_dir, e, extra={"path": str(state_path)})
            return None

    def _recover_unregistered(self, job_dir: Path) -> Job | None:
        """A crash between moving the input in and writing state.json: register the job now."""
        source = find_source(job_dir)
        if source is None:
            return None
        stat = source.stat()
        info = {"name": source.name, "path": source.name, "sha256": sha256_of(source), "bytes": stat.st_size}
        job = new_job(job_dir.name, info)
        log.warning("recovered job folder without state.json", extra={"jobKey": job.job_key})
        self.save(job)
        return job


def _remove_own_temp_files(job_dir: Path) -> None:
    """Temp files of state.json left by a killed orchestrator; the stage services clean their own."""
    remove_temp_files(job_dir, STATE_FILE)
