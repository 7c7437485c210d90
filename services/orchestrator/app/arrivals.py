"""Files renamed into the inbox: whole the moment they appear, so they need not wait out INBOX_SETTLE_S.

A rename is how careful writers deliver a file (browsers, rsync, upload tools and scanners' "write then move",
our own bench): the file is complete before its name shows in the inbox. inotify says so (IN_MOVED_TO), and the
file's size and mtime at that moment are noted: a later write changes them, and the file then settles as any
other. Files copied straight into the inbox (no rename) and anything inotify cannot see (a write made by another
machine on a network volume, files already there at start) keep the settle rule.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from inotify_simple import INotify, flags

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Arrival:
    size: int
    mtime_ns: int


class Arrivals:
    """The inbox's renamed-in files, read from inotify without blocking; empty when inotify cannot watch it."""

    def __init__(self, inbox_dir: Path) -> None:
        self.inbox_dir = inbox_dir
        self._inotify: INotify | None = None
        self._whole: dict[str, Arrival] = {}
        try:
            inotify = INotify(nonblocking=True)
        except OSError as e:
            log.warning("inbox files wait INBOX_SETTLE_S: no inotify (%s)", e)
            return
        try:
            inotify.add_watch(str(inbox_dir), flags.MOVED_TO)
        except OSError as e:
            inotify.close()
            log.warning("inbox files wait INBOX_SETTLE_S: the inbox cannot be watched (%s)", e)
            return
        self._inotify = inotify

    def fileno(self) -> int | None:
        """Readable when a file was moved in: the loop wakes on it."""
        return self._inotify.fileno() if self._inotify is not None else None

    def is_whole(self, name: str, size: int, mtime_ns: int) -> bool:
        """Whether `name` was renamed into the inbox (as of the last `refresh`) and has not changed since."""
        return self._whole.get(name) == Arrival(size, mtime_ns)

    def forget(self, name: str) -> None:
        self._whole.pop(name, None)

    def keep_only(self, names: Collection[str]) -> None:
        """Drop what left the inbox otherwise (renamed away, or a temp name never taken)."""
        for name in [n for n in self._whole if n not in names]:
            del self._whole[name]

    def refresh(self) -> None:
        """Take in the renames inotify saw since the last look (never blocks)."""
        if self._inotify is None:
            return
        for event in self._inotify.read(timeout=0):
            if not event.name:
                continue
            try:
                st = (self.inbox_dir / event.name).stat(follow_symlinks=False)
            except OSError:
                self._whole.pop(event.name, None)
                continue
            self._whole[event.name] = Arrival(st.st_size, st.st_mtime_ns)

    def close(self) -> None:
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None
