"""Inbox intake: find complete files, move each into its own job folder, register the job.

A file is taken only once its size and mtime have stayed the same for `INBOX_SETTLE_S`, so a file
still being copied in is left alone; a file renamed into the inbox is whole when it appears and is taken at
once (see `arrivals.py`). Dotfiles and temp names are skipped; symlinks and folders are ignored with one log
line each.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from services.common.atomic import move_durably
from services.common.clock import now_iso
from services.common.job import Job, job_key_for, new_job
from services.common.stage_api import DUPLICATES_DIR, SOURCE_STEM

from .arrivals import Arrivals
from .store import JobStore, find_source, sha256_of

log = logging.getLogger(__name__)

# Names that browsers, editors and copy tools use while a file is still being written.
_TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".download", ".swp", "~")
_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")


@dataclass(slots=True)
class _Sighting:
    size: int
    mtime_ns: int
    since: float


def is_candidate_name(name: str) -> bool:
    lowered = name.lower()
    return not (name.startswith((".", "~$")) or lowered.endswith(_TEMP_SUFFIXES))


def source_name_for(original: str) -> str:
    """`source.pdf` for `Scan 2024.PDF`; the original name itself never becomes a path."""
    suffix = Path(original).suffix
    return SOURCE_STEM + (suffix.lower() if _SAFE_SUFFIX.match(suffix) else "")


class Inbox:
    def __init__(
        self, inbox_dir: Path, store: JobStore, settle_s: float, batch: int, arrivals: Arrivals | None = None
    ) -> None:
        self.inbox_dir = inbox_dir
        self.store = store
        self.settle_s = settle_s
        self.batch = batch
        self.arrivals = arrivals
        self._sightings: dict[str, _Sighting] = {}
        self._ignored: set[str] = set()

    @property
    def ignored_count(self) -> int:
        """Entries ignored by design (folders, symlinks) seen on the last look: exported as `inbox_ignored`."""
        return len(self._ignored)

    def ready_files(self) -> list[Path]:
        """Files whose size and mtime have not changed for the settle time, or renamed in whole, oldest sighting
        first."""
        if self.arrivals is not None:
            self.arrivals.refresh()
        now = time.monotonic()
        seen: dict[str, _Sighting] = {}
        ready: list[Path] = []
        ignored: set[str] = set()
        with os.scandir(self.inbox_dir) as entries:
            for entry in entries:
                if not is_candidate_name(entry.name):
                    continue
                if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
                    ignored.add(entry.name)
                    if entry.name not in self._ignored:
                        why = "a symlink" if entry.is_symlink() else "not a regular file"
                        log.warning("ignoring inbox entry %r: %s", entry.name, why, extra={"path": entry.path})
                    continue
                st = entry.stat(follow_symlinks=False)
                prev = self._sightings.get(entry.name)
                stable = prev is not None and (prev.size, prev.mtime_ns) == (st.st_size, st.st_mtime_ns)
                seen[entry.name] = prev if stable and prev else _Sighting(st.st_size, st.st_mtime_ns, now)
                whole = self.arrivals is not None and self.arrivals.is_whole(entry.name, st.st_size, st.st_mtime_ns)
                if whole or now - seen[entry.name].since >= self.settle_s:
                    ready.append(Path(entry.path))
        self._sightings, self._ignored = seen, ignored
        if self.arrivals is not None:
            self.arrivals.keep_only(seen)
        return ready[: self.batch]

    def adopt(self, path: Path) -> Job | None:
        """Move one inbox file into its job folder; returns the new job, or None for a duplicate."""
        stat = path.stat()
        sha = sha256_of(path)
        key = job_key_for(sha)
        job_dir = self.store.paths.job_dir(key)
        # A folder without an original is what a kill between mkdir and the rename leaves: adopt into it,
        # or the document would be parked as a "duplicate" of a job that never existed.
        if key in self.store or (job_dir.exists() and find_source(job_dir) is not None):
            self._keep_duplicate(path, job_dir, key)
            return None
        job_dir.mkdir(parents=True, exist_ok=True)
        target = job_dir / source_name_for(path.name)
        move_durably(path, target)
        info = {"name": path.name, "path": target.name, "sha256": sha, "bytes": stat.st_size, "receivedAt": now_iso()}
        job = new_job(key, info)
        self.store.add(job)
        self._forget(path.name)
        log.info("new job from %r", path.name, extra={"jobKey": key, "bytes": stat.st_size})
        return job

    def _keep_duplicate(self, path: Path, job_dir: Path, key: str) -> None:
        """Same content as an existing job: kept beside it (never deleted), no second job."""
        folder = job_dir / DUPLICATES_DIR
        folder.mkdir(parents=True, exist_ok=True)
        stamp = now_iso().replace(":", "").replace("-", "")
        move_durably(path, folder / f"{stamp}-{source_name_for(path.name)}")
        self._forget(path.name)
        log.info("duplicate of an existing job: %r kept in %s/", path.name, DUPLICATES_DIR, extra={"jobKey": key})

    def _forget(self, name: str) -> None:
        self._sightings.pop(name, None)
        if self.arrivals is not None:
            self.arrivals.forget(name)
