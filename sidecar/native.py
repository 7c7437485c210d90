"""Native watching: one inotify instance, one watch per job folder, read on the event loop.

watchfiles (Rust notify) watches a tree recursively or not at all: three watches per job (`jobs/<key>/`, `pages/`,
`ocr/`), every page image and OCR output waking the sidecar, and a watch that cannot be added or a queue that
overflows goes unreported. Here the jobs folder and each `jobs/<key>/` folder get one watch each, with a mask that
only names what can change a job (its state.json replaced, written or removed; the folder created, moved or
removed): writes under `pages/` and `ocr/` raise no event at all. inotify_simple is a small ctypes wrapper; the
instance is non-blocking and its descriptor is read by `loop.add_reader`, so no thread holds the GIL.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

from inotify_simple import INotify, flags, parse_events

from services.common.job import is_valid_job_key
from services.common.paths import STATE_FILE

# The jobs folder: job folders appearing and disappearing, and the folder itself going away.
JOBS_DIR_MASK = (
    flags.CREATE | flags.DELETE | flags.MOVED_FROM | flags.MOVED_TO | flags.DELETE_SELF | flags.MOVE_SELF
) | flags.ONLYDIR
# A job folder: its state.json replaced (the orchestrator's rename), written in place, removed; the folder removed.
JOB_MASK = (
    (flags.CLOSE_WRITE | flags.MOVED_TO | flags.MOVED_FROM | flags.DELETE | flags.DELETE_SELF)
    | flags.ONLYDIR
    | flags.DONT_FOLLOW
    | flags.EXCL_UNLINK
)
# The folder of metrics.json (usually the data folder): the file replaced or written.
METRICS_MASK = flags.CLOSE_WRITE | flags.MOVED_TO | flags.MOVED_FROM | flags.DELETE | flags.ONLYDIR
_JOBS_DIR_GONE = flags.DELETE_SELF | flags.MOVE_SELF | flags.IGNORED | flags.UNMOUNT
_APPEARED = flags.CREATE | flags.MOVED_TO
_LEFT = flags.DELETE | flags.MOVED_FROM
READ_BYTES = 1 << 16
# Errors of inotify_add_watch that mean "cannot watch this one, poll it" rather than "there is nothing to watch".
_CANNOT_WATCH = frozenset({errno.ENOSPC, errno.EACCES, errno.ENOMEM})


@dataclass(slots=True)
class Changes:
    """What one drain of the inotify queue says."""

    keys: set[str] = field(default_factory=set)
    events: int = 0
    metrics: bool = False
    overflow: bool = False
    jobs_dir_lost: bool = False


class NativeWatch:
    """The watches and what their events mean; raises OSError when the jobs folder itself cannot be watched."""

    def __init__(self, jobs_dir: Path, metrics_path: Path) -> None:
        self._inotify = INotify(nonblocking=True)
        self._jobs_prefix = os.fsencode(jobs_dir) + b"/"
        self._metrics_dir, self._metrics_name = metrics_path.parent, metrics_path.name
        self._wd_key: dict[int, str] = {}
        self._key_wd: dict[str, int] = {}
        self.unwatched: set[str] = set()
        """Job folders that exist but could not be watched (watch limit, permissions): the watcher polls them."""
        self.limit_error: OSError | None = None
        """Set by the first refused watch, cleared when a watch is freed (so 100k refusals cost one syscall)."""
        self.metrics_wd: int | None = None
        try:
            same = self._metrics_dir.absolute() == jobs_dir.absolute()
            self.jobs_wd = self._inotify.add_watch(jobs_dir, JOBS_DIR_MASK | (METRICS_MASK if same else 0))
            if same:
                self.metrics_wd = self.jobs_wd
        except OSError:
            self._inotify.close()
            raise

    def fileno(self) -> int:
        return int(self._inotify.fileno())

    @property
    def watched_jobs(self) -> int:
        return len(self._key_wd)

    def watch_metrics(self) -> bool:
        """Watch metrics.json's folder (it may not exist yet); True once watched."""
        if self.metrics_wd is None:
            try:
                self.metrics_wd = self._inotify.add_watch(self._metrics_dir, METRICS_MASK)
            except OSError:
                return False
        return True

    def watch_job(self, key: str) -> None:
        """Watch `jobs/<key>/`: nothing if already watched, gone or not a folder; remembered as unwatched if refused."""
        if key in self._key_wd:
            return
        if self.limit_error is not None:
            self.unwatched.add(key)
            return
        try:
            wd = self._inotify.add_watch(self._jobs_prefix + key.encode(), JOB_MASK)
        except OSError as e:
            if e.errno in _CANNOT_WATCH:
                self.unwatched.add(key)
                if e.errno != errno.EACCES:
                    self.limit_error = e
            return
        self.unwatched.discard(key)
        self._wd_key[wd] = key
        self._key_wd[key] = wd

    def _forget(self, key: str) -> None:
        """A job folder moved away: its watch would follow the inode to the new name, so drop it."""
        self.unwatched.discard(key)
        wd = self._key_wd.pop(key, None)
        if wd is not None:
            self._wd_key.pop(wd, None)
            with contextlib.suppress(OSError):  # already gone with its folder
                self._inotify.rm_watch(wd)
            self.limit_error = None

    def read(self) -> Changes:
        """Drain the queue (non-blocking) and translate its events into jobs to re-read."""
        changes = Changes()
        while True:
            try:
                data = os.read(self.fileno(), READ_BYTES)
            except BlockingIOError:
                return changes
            for event in parse_events(data):
                changes.events += 1
                self._translate(event.wd, event.mask, event.name, changes)

    def _translate(self, wd: int, mask: int, name: str, changes: Changes) -> None:
        if mask & flags.Q_OVERFLOW:
            changes.overflow = True
        elif wd == self.metrics_wd and name == self._metrics_name:
            changes.metrics = True
        elif wd == self.metrics_wd and wd != self.jobs_wd and mask & flags.IGNORED:
            self.metrics_wd = None  # its folder is gone: watched again once it is back
        elif wd == self.jobs_wd:
            self._in_jobs_dir(mask, name, changes)
        elif (key := self._wd_key.get(wd)) is not None:
            self._in_job(wd, key, mask, name, changes)

    def _in_jobs_dir(self, mask: int, name: str, changes: Changes) -> None:
        if mask & _JOBS_DIR_GONE:
            changes.jobs_dir_lost = True
        elif not name.startswith(".") and is_valid_job_key(name):
            if mask & _LEFT and mask & flags.ISDIR:
                self._forget(name)
            elif mask & _APPEARED and mask & flags.ISDIR:
                self.watch_job(name)  # before the job is read, so no later write can be missed
            changes.keys.add(name)

    def _in_job(self, wd: int, key: str, mask: int, name: str, changes: Changes) -> None:
        if mask & flags.IGNORED:  # the folder is gone (or unmounted): its watch was freed
            del self._wd_key[wd]
            if self._key_wd.get(key) == wd:
                del self._key_wd[key]
            self.limit_error = None
            changes.keys.add(key)
        elif name == STATE_FILE or mask & flags.DELETE_SELF:
            changes.keys.add(key)

    def close(self) -> None:
        self._inotify.close()
