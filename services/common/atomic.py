"""Atomic, durable file writes: temp file in the same folder, fsync, `os.replace`, fsync of the folder."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

# Errors that mean "the volume is in trouble", as opposed to a bug in our code.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EIO, errno.EROFS, errno.EDQUOT})

TEMP_PREFIX = ".tmp-"


def is_disk_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_ERRNOS


def temp_path_for(path: Path) -> Path:
    """A temp name beside `path`: dot-prefixed so readers skip it; pid and a random tag keep writers apart
    (two containers sharing the volume can have the same pid)."""
    return path.with_name(f"{TEMP_PREFIX}{path.name}.{os.getpid()}.{secrets.token_hex(4)}")


def remove_temp_files(folder: Path, name: str = "") -> int:
    """Remove temp files a killed writer left in `folder` (of file `name`, or all); only that file's writer calls it."""
    removed = 0
    for leftover in folder.glob(f"{TEMP_PREFIX}{name}*"):
        with contextlib.suppress(OSError):
            leftover.unlink()
            removed += 1
    return removed


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit_temp(tmp: Path, path: Path) -> None:
    """Make a finished temp file durable and put it in place (the caller fsyncs the folder afterwards)."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Give a writer a temp path beside `path`; when the block succeeds, the file replaces `path` atomically.

    A reader sees the old file or the new one, never a mix. On any failure the temp file is removed and the
    error propagates: the caller redoes the write from its source (after a failed fsync the page cache cannot
    be trusted, so we never just retry the fsync).
    """
    tmp = temp_path_for(path)
    try:
        yield tmp
        commit_temp(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data`, atomically and durably."""
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


def atomic_copy(src: Path, dst: Path) -> None:
    """Copy `src` to `dst` through a synced temp file (used when a rename would cross filesystems)."""
    with atomic_output(dst) as tmp:
        shutil.copyfile(src, tmp)


def move_durably(src: Path, dst: Path) -> None:
    """Move `src` to `dst`: a rename on one filesystem, else copy-then-unlink, never a lost file."""
    try:
        src.rename(dst)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        atomic_copy(src, dst)
        src.unlink()
    fsync_dir(dst.parent)
    with contextlib.suppress(OSError):
        fsync_dir(src.parent)
